"""Pure builders of the child objects of a tuneforge resource: the batch/v1 Job (carrying the worker
spec) and (multi-node) the headless Service. Plain dicts in, plain dicts out: the handlers
only create what these return, and tests assert on them directly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from ..api.constants import (
    LABEL_BACKEND, LABEL_COMPONENT, LABEL_INSTANCE, LABEL_JOB, LABEL_KIND, LABEL_KUEUE_QUEUE,
    LABEL_MANAGED_BY, LABEL_NAME, ANNOTATION_PREFIX,
)
from ..api.resource import Resource
from ..api.sources import secret_env
from ..backends.worker_plan import WorkerPlan
from ..contract import (CACHE_DIR, CACHE_ENV, CPU_LIMIT_ENV, EXIT_GATE_FAILED, EXIT_INVALID, PVC_ROOT, PVC_ROOT_ENV, RENDEZVOUS_ENV,
                        SPEC_DIR, SPEC_FILE, WORKER_CONTAINER)
from .settings import Settings

SHORT_KIND = {"FineTuneJob": "ftj", "MergeJob": "mj", "QuantizeJob": "qj"}
ANNOTATION_WORKER_SPEC = f"{ANNOTATION_PREFIX}/worker-spec"


def child_name(resource: Resource) -> str:
    """The one deterministic name of a resource's Job and Service (names are at most 52
    characters, so this stays within the 63 that Pod labels allow)."""
    return f"{resource.metadata.name}-{SHORT_KIND[resource.kind]}"


def labels(resource: Resource, backend: str) -> dict[str, str]:
    return {
        LABEL_NAME: "tuneforge",
        LABEL_INSTANCE: resource.metadata.name,
        LABEL_COMPONENT: "worker",
        LABEL_MANAGED_BY: "tuneforge-operator",
        LABEL_KIND: resource.kind,
        LABEL_JOB: resource.metadata.name,
        LABEL_BACKEND: backend,
    }


def worker_spec_json(worker_spec: dict[str, Any]) -> str:
    """The resource as the worker reads it (fromJob already resolved): a pod template annotation,
    mounted as a file through the downward API. One object to create instead of a ConfigMap and a
    Job: nothing to leave behind between the two, and one API request less per resource."""
    return json.dumps(worker_spec, indent=1, sort_keys=True)


def headless_service(resource: Resource, backend: str) -> dict[str, Any]:
    """Stable DNS names for the pods of a multi-node Indexed Job (<job>-<index>.<service>)."""
    name = child_name(resource)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels(resource, backend)},
        "spec": {"clusterIP": "None", "selector": {LABEL_JOB: resource.metadata.name, LABEL_KIND: resource.kind},
                 "publishNotReadyAddresses": True},
    }


def _secret_env(uri: str | None, secret_ref) -> Iterator[dict[str, Any]]:
    """secretKeyRef env vars for one source; values never pass through the operator."""
    if secret_ref is None:
        return
    for key, optional in secret_ref.keys(uri):
        ref = {"name": secret_ref.name, "key": key, **({"optional": True} if optional else {})}
        yield {"name": secret_env(secret_ref.name, key), "valueFrom": {"secretKeyRef": ref}}


def _sources(node: Any) -> Iterator[Any]:
    """Every source or output anywhere in a spec that may carry a secretRef (models, datasets,
    evaluation and calibration data, the output)."""
    if isinstance(node, BaseModel):
        if getattr(node, "secret_ref", None) is not None:
            yield node
        for name in type(node).model_fields:
            yield from _sources(getattr(node, name))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from _sources(item)


def pvc_claims(node: Any, found: list[str] | None = None) -> list[str]:
    """Every claim named by a pvc:// URI anywhere in the worker spec, in order of appearance."""
    found = [] if found is None else found
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "uri" and isinstance(value, str) and value.startswith("pvc://"):
                claim = value.removeprefix("pvc://").split("/", 1)[0]
                if claim not in found:
                    found.append(claim)
            else:
                pvc_claims(value, found)
    elif isinstance(node, list):
        for value in node:
            pvc_claims(value, found)
    return found


def _resources(resource: Resource, plan: WorkerPlan, defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """The spec's resources over the backend's defaults (the chart's), key by key."""
    r = resource.spec.resources
    limits: dict[str, Any] = dict((defaults or {}).get("limits") or {})
    requests: dict[str, Any] = dict((defaults or {}).get("requests") or {})
    if r.cpu is not None:
        requests["cpu"] = limits["cpu"] = str(r.cpu)
    if r.memory is not None:
        requests["memory"] = limits["memory"] = str(r.memory)
    if r.ephemeral_storage is not None:
        requests["ephemeral-storage"] = limits["ephemeral-storage"] = str(r.ephemeral_storage)
    if plan.gpus:
        requests[r.gpu_resource_name] = limits[r.gpu_resource_name] = plan.gpus
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def restricted_container_security() -> dict[str, Any]:
    """Pod Security "restricted" for a container."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _env(resource: Resource, plan: WorkerPlan, name: str) -> list[dict[str, Any]]:
    """The plan's env, the contract's mounts, each source's credentials (as secretKeyRef) and, for
    several nodes, the rendezvous host."""
    env = [{"name": k, "value": v} for k, v in sorted(plan.env.items())]
    env += [{"name": CACHE_ENV, "value": CACHE_DIR}, {"name": PVC_ROOT_ENV, "value": PVC_ROOT},
            {"name": "HF_HOME", "value": f"{CACHE_DIR}/huggingface"},
            {"name": CPU_LIMIT_ENV, "valueFrom": {"resourceFieldRef": {"containerName": WORKER_CONTAINER, "resource": "limits.cpu"}}}]
    for source in _sources(resource.spec):
        env += [e for e in _secret_env(source.uri, source.secret_ref) if e["name"] not in {x["name"] for x in env}]
    if plan.nodes > 1:
        env.append({"name": RENDEZVOUS_ENV, "value": f"{name}-0.{name}"})
    return env


def _volumes(resource: Resource, plan: WorkerPlan, settings: Settings,
             worker_spec: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, the worker's mounts): the spec file, the model cache, /tmp, every pvc:// claim the
    worker spec names, and shared memory for GPUs."""
    mounts = [{"name": "spec", "mountPath": SPEC_DIR, "readOnly": True}, {"name": "cache", "mountPath": CACHE_DIR},
              {"name": "tmp", "mountPath": "/tmp"}]
    volumes: list[dict[str, Any]] = [
        {"name": "spec", "downwardAPI": {"items": [
            {"path": SPEC_FILE, "fieldRef": {"fieldPath": f"metadata.annotations['{ANNOTATION_WORKER_SPEC}']"}}]}},
        {"name": "cache", **({"persistentVolumeClaim": {"claimName": settings.cache_claim}} if settings.cache_claim else {"emptyDir": {}})},
        {"name": "tmp", "emptyDir": {}},
    ]
    for i, claim in enumerate(pvc_claims(worker_spec)):
        volumes.append({"name": f"pvc-{i}", "persistentVolumeClaim": {"claimName": claim}})
        mounts.append({"name": f"pvc-{i}", "mountPath": f"{PVC_ROOT}/{claim}"})
    shared = resource.spec.resources.shared_memory
    if shared is not None or plan.gpus:
        volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory", **({"sizeLimit": str(shared)} if shared is not None else {})}})
        mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    return volumes, mounts


def _pod_spec(resource: Resource, plan: WorkerPlan, settings: Settings, worker_spec: dict[str, Any],
              name: str) -> dict[str, Any]:
    s, defaults = resource.spec.scheduling, settings.backend_defaults.get(plan.backend, {})
    volumes, mounts = _volumes(resource, plan, settings, worker_spec)
    container = {
        "name": WORKER_CONTAINER,
        "image": settings.images[plan.backend],
        "imagePullPolicy": settings.image_pull_policy,
        "command": list(plan.command),
        "env": _env(resource, plan, name),
        "volumeMounts": mounts,
        "resources": _resources(resource, plan, defaults.get("resources")),
        "securityContext": restricted_container_security(),
        # The result line is written to the termination message; logs are the fallback on crashes.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": settings.run_as_user, "runAsGroup": settings.run_as_user,
            "fsGroup": settings.run_as_user, "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": volumes,
        "enableServiceLinks": False,
    }
    # Each of the spec's nodeSelector, tolerations and affinity, when set, replaces the backend default's.
    chosen = {"nodeSelector": dict(s.node_selector or defaults.get("nodeSelector") or {}),
              "tolerations": list(s.tolerations or defaults.get("tolerations") or []),
              "affinity": s.affinity or defaults.get("affinity"),
              "priorityClassName": s.priority_class_name, "serviceAccountName": s.service_account_name,
              "imagePullSecrets": [{"name": ref.name} for ref in s.image_pull_secrets or []],
              "subdomain": name if plan.nodes > 1 else None}
    pod_spec.update({key: value for key, value in chosen.items() if value})
    checkpoints = getattr(resource.spec, "checkpoints", None)
    if checkpoints is not None:  # the time a preempted trainer gets to save and upload a checkpoint
        pod_spec["terminationGracePeriodSeconds"] = checkpoints.grace_period_seconds
    return pod_spec


def job(resource: Resource, plan: WorkerPlan, settings: Settings, worker_spec: dict[str, Any],
        owner_uid: str | None = None) -> dict[str, Any]:
    """The batch/v1 Job that runs the worker for a resource (worker_spec: what the worker reads)."""
    name, lab = child_name(resource), labels(resource, plan.backend)
    s, rp = resource.spec.scheduling, resource.spec.run_policy
    job_labels = {**lab, **({LABEL_KUEUE_QUEUE: s.queue_name} if s.queue_name else {})}
    job_spec: dict[str, Any] = {
        "backoffLimit": rp.backoff_limit,
        # Kueue admits a queued Job by unsuspending it; a user suspends with runPolicy.suspend.
        "suspend": rp.suspend or bool(s.queue_name),
        "podFailurePolicy": {"rules": [
            {"action": "FailJob", "onExitCodes": {"containerName": WORKER_CONTAINER, "operator": "In",
                                                  "values": [EXIT_INVALID, EXIT_GATE_FAILED]}},
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        ]},
        "template": {"metadata": {"labels": lab, "annotations": {ANNOTATION_WORKER_SPEC: worker_spec_json(worker_spec)}},
                     "spec": _pod_spec(resource, plan, settings, worker_spec, name)},
    }
    if plan.nodes > 1:
        job_spec.update(completionMode="Indexed", completions=plan.nodes, parallelism=plan.nodes)
    if rp.active_deadline_seconds is not None:
        job_spec["activeDeadlineSeconds"] = rp.active_deadline_seconds
    if rp.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = rp.ttl_seconds_after_finished
    metadata: dict[str, Any] = {"name": name, "labels": job_labels}
    if owner_uid:
        metadata["ownerReferences"] = [{
            "apiVersion": resource.api_version, "kind": resource.kind, "name": resource.metadata.name,
            "uid": owner_uid, "controller": True, "blockOwnerDeletion": True,
        }]
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": job_spec}
