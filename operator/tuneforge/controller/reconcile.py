"""Reconciling one tuneforge resource, as a list of named steps. Handlers in main.py call these."""

from __future__ import annotations

import json
from typing import Any

import kopf
import kubernetes

from ..api import KINDS, GROUP, VERSION
from ..api.manifest import parse
from ..api.resource import Resource
from ..backends import backend_for
from . import chaining, jobs, kube, metrics, status
from .settings import Settings

PLURALS = {kind: model._meta.plural_name for kind, model in KINDS.items()}  # as the kinds declare them
RETRY_INPUT_SECONDS = 15
RETRY_API_SECONDS = 5
RETRY_REFUSED_SECONDS = 30  # a refused Job (RBAC, admission, quota) waits for a fix made elsewhere


def parse_or_stall(body: dict[str, Any], patch: kopf.Patch, logger) -> Resource | None:
    """Step 1: the pydantic model; an invalid resource is Stalled with every problem, never retried."""
    resource, issues = parse(dict(body))
    if resource is not None:
        return resource
    message = "; ".join(f"{i.path}: {i.message}" if i.path else i.message for i in issues)
    write_status(patch, body, "Failed", "InvalidSpec", message)
    kopf.warn(body, reason="InvalidSpec", message=message)
    metrics.INVALID.labels(body.get("kind", "?")).inc()
    logger.warning("invalid %s: %s", body.get("kind"), message)
    return None


def lookup(namespace: str):
    def find(kind: str, name: str) -> dict[str, Any] | None:
        try:
            response = kube.custom().get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name,
                                                                  _preload_content=False, _request_timeout=kube.TIMEOUT)
            return json.loads(response.data)
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
    return find


def resolve_inputs(body: dict[str, Any], settings: Settings, patch: kopf.Patch) -> dict[str, Any] | None:
    """Step 2: fromJob inputs and the default output; waits (and re-checks) while upstream runs."""
    res = chaining.worker_spec(body, lookup(body["metadata"]["namespace"]), settings)
    if res.failed:
        message = "; ".join(res.failed)
        reason = "UpstreamGateFailed" if res.gated else "InputFailed"
        write_status(patch, body, "Failed", reason, message)
        kopf.warn(body, reason=reason, message=message)
        return None
    if res.missing or res.waiting:
        message = "; ".join([f"waiting for {w} to succeed" for w in res.waiting] +
                            [f"{m} does not exist (yet)" for m in res.missing])
        write_status(patch, body, "Pending", "WaitingForInput", message)
        metrics.INPUT_WAITS.labels(body["kind"]).inc()
        raise kopf.TemporaryError(message, delay=RETRY_INPUT_SECONDS)
    return res.spec


def create_children(resource: Resource, body: dict[str, Any], worker_spec: dict[str, Any], settings: Settings,
                    logger) -> tuple[str, bool]:
    """Step 3: headless Service (several nodes), then the Job carrying the worker spec; adopted, idempotent.
    The Job's name, and whether it was created now (False: it already existed)."""
    namespace = body["metadata"]["namespace"]
    backend = backend_for(resource)
    plan = backend.worker_plan(resource)
    job = jobs.job(resource, plan, settings, worker_spec, body["metadata"].get("uid"))
    if plan.nodes > 1:
        service = jobs.headless_service(resource, backend.name)
        kopf.adopt(service, owner=body)
        kube.create_or_keep(kube.collection("v1", namespace, "services"), service)
    if kube.create_or_keep(kube.collection("batch/v1", namespace, "jobs"), job):
        metrics.JOBS_CREATED.labels(resource.kind, backend.name).inc()
        kopf.info(body, reason="JobCreated", message=f"created Job {job['metadata']['name']} ({backend.name} backend)")
        logger.info("created Job %s", job["metadata"]["name"])
        return job["metadata"]["name"], True
    return job["metadata"]["name"], False


def api_message(exc: kubernetes.client.ApiException) -> str:
    """The API server's own sentence from an error response, else its status line."""
    try:
        return json.loads(exc.body or "{}").get("message") or f"{exc.status} {exc.reason}"
    except ValueError:
        return f"{exc.status} {exc.reason}"


def write_status(patch: kopf.Patch, body: dict[str, Any], phase: str, reason: str, message: str,
                 extra: dict[str, Any] | None = None) -> None:
    current = body.get("status") or {}
    generation = body.get("metadata", {}).get("generation")
    patch.status["phase"] = phase
    patch.status["message"] = message
    patch.status["observedGeneration"] = generation
    patch.status["conditions"] = status.conditions(current.get("conditions"), phase, reason, message, generation)
    for key, value in (extra or {}).items():
        patch.status[key] = value
    metrics.track(body, phase)


def reconcile(body: dict[str, Any], patch: kopf.Patch, settings: Settings, logger) -> bool:
    """True when the resource's Job already existed (an operator died between creating it and recording
    it): it is recorded now, and the caller mirrors its state at once, since its events may all have
    been seen before the resource named it."""
    if (body.get("status") or {}).get("jobName"):
        return False  # the Job exists; its events drive the status from here on
    resource = parse_or_stall(body, patch, logger)
    if resource is None:
        return False
    try:
        worker_spec = resolve_inputs(body, settings, patch)
        if worker_spec is None:
            return False
        job_name, created = create_children(resource, body, worker_spec, settings, logger)
    except kubernetes.client.ApiException as exc:
        if exc.status in (429, 500, 502, 503, 504):
            metrics.API_RETRIES.labels(resource.kind).inc()
            raise kopf.TemporaryError(f"the API server answered {exc.status}; retrying", delay=RETRY_API_SECONDS) from exc
        # Refused (RBAC, admission, a quota): say so in the status, where `kubectl get` shows it, and
        # try again, since the fix (a Role, a quota) is made outside this resource.
        message = f"cannot create the worker Job: {api_message(exc)} (retrying every {RETRY_REFUSED_SECONDS} s)"
        write_status(patch, body, "Pending", "JobRefused", message)
        kopf.warn(body, reason="JobRefused", message=message)
        raise kopf.TemporaryError(message, delay=RETRY_REFUSED_SECONDS) from exc
    if not created:
        meta = body["metadata"]
        kube.custom().patch_namespaced_custom_object_status(
            GROUP, VERSION, meta["namespace"], PLURALS[resource.kind], meta["name"], {"status": {"jobName": job_name}},
            _request_timeout=kube.TIMEOUT)
        kopf.info(body, reason="JobAdopted", message=f"kept Job {job_name}, created before the operator restarted")
        logger.info("adopted Job %s", job_name)
        return True
    if resource.spec.run_policy.suspend or resource.spec.scheduling.queue_name:
        write_status(patch, body, "Suspended", "Suspended", f"created Job {job_name}, suspended "
                     "(runPolicy.suspend or waiting for its Kueue queue)", {"jobName": job_name})
    else:
        write_status(patch, body, "Pending", "JobCreated", f"created Job {job_name}", {"jobName": job_name})
    return False


def changed_paths(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted paths where two specs differ (a whole subtree once it differs in kind or is a list); a
    missing mapping counts as an empty one, so adding runPolicy.suspend is that one field."""
    if isinstance(old, dict) and new is None or old is None and isinstance(new, dict):
        old, new = old or {}, new or {}
    if isinstance(old, dict) and isinstance(new, dict):
        return [p for key in sorted(set(old) | set(new))
                for p in changed_paths(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else key)]
    return [] if old == new else [prefix]


def suspended(spec: dict[str, Any]) -> bool:
    return bool((spec.get("runPolicy") or {}).get("suspend", False))


def apply_to_started(body: dict[str, Any], patch: kopf.Patch, old: dict[str, Any], new: dict[str, Any], logger) -> None:
    """A spec change once the Job exists: runPolicy.suspend reaches the Job (suspending stops its pods,
    resuming starts them again, as batch/v1 does); any other change is reported and not applied."""
    others = [p for p in changed_paths(old, new) if p != "runPolicy.suspend"]
    name, namespace = body["status"]["jobName"], body["metadata"]["namespace"]
    if suspended(old) != suspended(new):
        if (new.get("scheduling") or {}).get("queueName"):
            message = ("runPolicy.suspend is not applied to a job in a Kueue queue: Kueue decides when it runs "
                       "(deactivate its Workload to stop it)")
            kopf.warn(body, reason="SpecChangeIgnored", message=message)
            patch.status["message"] = message
        else:
            kube.batch().patch_namespaced_job(name, namespace, {"spec": {"suspend": suspended(new)}},
                                              _request_timeout=kube.TIMEOUT)
            verb = "suspended" if suspended(new) else "resumed"
            kopf.info(body, reason="Suspended" if suspended(new) else "Resumed", message=f"Job {name} {verb}")
            logger.info("%s Job %s", verb, name)
            if suspended(new):
                write_status(patch, body, "Suspended", "Suspended", f"Job {name} suspended (runPolicy.suspend)")
            else:
                write_status(patch, body, "Pending", "Resumed", f"Job {name} resumed")
    if others:
        current = body.get("status") or {}
        conditions = patch.status.get("conditions") or current.get("conditions")
        patch.status["conditions"] = status.spec_not_applied(conditions, others, body["metadata"].get("generation"))
        message = patch.status["conditions"][-1]["message"]
        kopf.warn(body, reason="SpecChangeIgnored", message=message)
        patch.status["message"] = message
