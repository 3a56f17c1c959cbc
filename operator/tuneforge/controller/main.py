"""The operator's handlers: registration only; the logic lives in reconcile.py and sync.py."""

from __future__ import annotations

import kopf

from ..api import GROUP, KINDS, VERSION
from ..api.constants import FINALIZER, LABEL_JOB, LABEL_KIND, LABEL_MANAGED_BY
from . import kube, metrics, reconcile, sync
from .settings import Settings

MANAGED = {LABEL_MANAGED_BY: "tuneforge-operator"}


def configure(settings: kopf.OperatorSettings, exact_namespaces: bool = False) -> None:
    settings.persistence.finalizer = FINALIZER
    # kopf's state lives in status.operator, written with the handler's own status update: one PATCH
    # per reconcile. (Annotations would add a metadata PATCH per resource, and drift for GitOps tools.)
    settings.persistence.progress_storage = kopf.StatusProgressStorage(
        field="status.operator.handlers", touch_field="status.operator.touch")
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(field="status.operator.handledSpec")
    # Idle watches that silently stop are kopf's most reported problem: bound them.
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 30
    settings.posting.level = 20  # INFO and above become Events
    settings.queueing.error_delays = [1, 5, 15, 30, 60]
    # Handlers call the synchronous Kubernetes client; asyncio's default pool (CPUs + 4 threads)
    # queues resources behind each other's network round trips when many arrive at once.
    settings.execution.max_workers = kube.CONNECTIONS
    # The watched namespaces as given and the CRDs as discovered at start (helm installs them first),
    # instead of watching both cluster-wide: a namespace-scoped install holds only Roles.
    settings.scanning.disabled = exact_namespaces


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_) -> None:
    """The operator's configuration lives in kopf's memo, built here from the environment (the chart
    sets it) unless whoever started kopf put one there (`tuneforge operator`, the tests). With exact
    namespace names (`--namespace`) the operator needs no permission at cluster scope: kopf would
    otherwise list namespaces and watch CRDs cluster-wide."""
    memo.setdefault("settings", Settings.from_env())
    configure(settings, memo.get("exact_namespaces", False))
    # The client imports each API's modules on first use: do it now, not while the first resources wait.
    kube.batch(), kube.core(), kube.custom()
    metrics.serve(memo.settings.metrics_port)


def _register(kind: str) -> None:
    plural = reconcile.PLURALS[kind]

    @kopf.on.resume(GROUP, VERSION, plural, id=f"{plural}-resume")
    @kopf.on.create(GROUP, VERSION, plural, id=f"{plural}-create")
    def create(body, patch, logger, memo, **_):
        if reconcile.reconcile(body, patch, memo.settings, logger):
            sync.sync(body["metadata"]["namespace"], kind, body["metadata"]["name"], logger)

    @kopf.on.update(GROUP, VERSION, plural, field="spec", id=f"{plural}-spec-changed")
    def spec_changed(body, patch, old, new, logger, memo, **_):
        if (body.get("status") or {}).get("jobName"):
            reconcile.apply_to_started(body, patch, old or {}, new or {}, logger)
            return
        if reconcile.reconcile(body, patch, memo.settings, logger):
            sync.sync(body["metadata"]["namespace"], kind, body["metadata"]["name"], logger)

    # An event handler, not on.delete: that would put a finalizer on every resource.
    @kopf.on.event(GROUP, VERSION, plural, id=f"{plural}-deleted", when=lambda type, **_: type == "DELETED")
    def deleted(body, **_):
        metrics.forget(body["metadata"]["namespace"], kind, body["metadata"]["name"])

    @kopf.timer(GROUP, VERSION, plural, id=f"{plural}-progress", interval=sync.PROGRESS_INTERVAL, idle=0,
                when=lambda body, **_: (body.get("status") or {}).get("phase") == "Running")
    def progress(body, logger, **_):
        meta = body["metadata"]
        sync.sync(meta["namespace"], kind, meta["name"], logger, with_progress=True)

    # Kueue changes its Workload, not the Job, while a Job waits: read its reason now and then.
    @kopf.timer(GROUP, VERSION, plural, id=f"{plural}-queued", interval=sync.QUEUE_INTERVAL, idle=0,
                when=lambda body, **_: (body.get("status") or {}).get("phase") == "Suspended"
                and ((body.get("spec") or {}).get("scheduling") or {}).get("queueName"))
    def queued(body, logger, **_):
        meta = body["metadata"]
        sync.sync(meta["namespace"], kind, meta["name"], logger)


for _kind in KINDS:
    _register(_kind)


def _has_news(body, type, **_) -> bool:
    # A Job or Pod just created has nothing to mirror yet (a listing after a restart has type None).
    # Decided here, in the event loop, rather than in a handler thread: every Job the operator creates
    # comes back as an ADDED event.
    return not (type == "ADDED" and not body.get("status"))


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED, when=_has_news, id="jobs")
@kopf.on.event("", "v1", "pods", labels=MANAGED, when=_has_news, id="pods")
def child_changed(body, logger, **_):
    labels = body["metadata"].get("labels") or {}
    if labels.get(LABEL_KIND) in KINDS and labels.get(LABEL_JOB):
        sync.sync(body["metadata"]["namespace"], labels[LABEL_KIND], labels[LABEL_JOB], logger)
