"""Mirror a child Job (and its newest Pod) into the parent's status: phase, conditions, progress,
output. Called on Job and Pod events and by the progress timer; writes only when something changed."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import kopf
import kubernetes

from ..api import GROUP, VERSION
from ..api.constants import LABEL_JOB, LABEL_KIND
from ..contract import WORKER_CONTAINER
from ..worker.progress import parse_line
from . import kube, metrics, queue, status
from .reconcile import PLURALS, lookup

PROGRESS_INTERVAL = 5.0  # seconds between progress patches per resource
QUEUE_INTERVAL = 10.0  # seconds between readings of Kueue's reason while a Job waits in its queue
_last_progress: dict[tuple[str, str, str], float] = {}
_locks: dict[tuple[str, str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def _raw(response) -> dict[str, Any]:
    # Raw JSON rather than the client's models: status is read, never round-tripped, and the
    # models reject objects with fields they consider mandatory but a server may leave out.
    return json.loads(response.data)


def newest_pod(namespace: str, kind: str, name: str, succeeded: bool = False) -> dict[str, Any] | None:
    pods = _raw(kube.core().list_namespaced_pod(
        namespace, label_selector=f"{LABEL_JOB}={name},{LABEL_KIND}={kind}", _preload_content=False,
        _request_timeout=kube.TIMEOUT)).get("items") or []
    mine = [p for p in pods if (p["metadata"].get("labels") or {}).get(LABEL_JOB) == name
            and (p["metadata"].get("labels") or {}).get(LABEL_KIND) == kind]
    return pod_to_report(mine, succeeded)


COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"


def pod_to_report(pods: list[dict[str, Any]], succeeded: bool = False) -> dict[str, Any] | None:
    """The pod whose state the resource shows. Rank 0 is the only rank of an Indexed Job that prints the
    result (plain Jobs have one rank): for a succeeded Job, its newest pod. Otherwise the newest pod in
    trouble, whatever its rank (a rank that ran out of memory explains the failure), else rank 0's newest."""
    def newest(group: list[dict[str, Any]]) -> dict[str, Any] | None:
        return max(group, key=lambda p: p["metadata"].get("creationTimestamp") or "", default=None)

    rank0 = [p for p in pods if (p["metadata"].get("labels") or {}).get(COMPLETION_INDEX, "0") == "0"] or pods
    if succeeded:
        return newest([p for p in rank0 if not status.pod_problem(p)] or rank0)
    troubled = [p for p in pods if status.pod_problem(p)]
    return newest(troubled or rank0)


def latest_progress(namespace: str, pod: dict[str, Any]) -> dict[str, Any] | None:
    try:
        response = kube.core().read_namespaced_pod_log(pod["metadata"]["name"], namespace, container=WORKER_CONTAINER,
                                                       tail_lines=50, _preload_content=False, _request_timeout=kube.TIMEOUT)
        text = response.data.decode("utf-8", "replace")
    except kubernetes.client.ApiException:
        return None
    found = None
    for line in (text or "").splitlines():
        parsed = parse_line(line)
        if parsed and parsed[0] == "progress":
            found = parsed[1]
    return found


def desired_status(parent: dict[str, Any], job: dict[str, Any] | None, pod: dict[str, Any] | None,
                   progress: dict[str, Any] | None, queued: str | None = None) -> dict[str, Any]:
    seen = status.observe(job, pod, queued)
    current = parent.get("status") or {}
    generation = parent["metadata"].get("generation")
    new: dict[str, Any] = {
        "phase": seen["phase"],
        "message": seen["message"],
        "observedGeneration": generation,
        "conditions": status.conditions(current.get("conditions"), seen["phase"], seen["reason"], seen["message"], generation),
    }
    if seen.get("startTime"):
        new["startTime"] = seen["startTime"]
    if seen.get("completionTime"):
        new["completionTime"] = seen["completionTime"]
    if progress:
        keep = ("step", "totalSteps", "percent", "epoch", "loss", "learningRate", "tokensPerSecond", "etaSeconds", "eta",
                "stage", "resumedFrom", "restarts")
        new["progress"] = {k: progress[k] for k in keep if progress.get(k) is not None}
    result = seen.get("result")
    if result:
        summary = {k: result.get(k) for k in ("uri", "files", "totalBytes", "finalLoss", "mlflowRunId", "gate")}
        new["output"] = {k: v for k, v in summary.items() if v is not None}
        # The finished row of `kubectl get`: complete, with the worker's final loss (the progress timer
        # may never have seen a step's loss in a short run).
        done = {**(new.get("progress") or current.get("progress") or {}), "percent": 100, "etaSeconds": 0, "eta": "0s"}
        if done.get("totalSteps"):
            done["step"] = done["totalSteps"]
        if result.get("finalLoss") is not None:
            done["loss"] = result["finalLoss"]
        new["progress"] = done
    return new


def _changed(current: dict[str, Any], new: dict[str, Any]) -> bool:
    def strip(s):
        return {k: ([{**c, "lastTransitionTime": None} for c in v] if k == "conditions" else v) for k, v in s.items()}
    return any(strip(current).get(k) != v for k, v in strip(new).items())


def _lock_for(key: tuple[str, str, str]) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def sync(namespace: str, kind: str, name: str, logger, with_progress: bool = False) -> None:
    # Job events, Pod events and the progress timer arrive in parallel threads; each must see the
    # status the previous one wrote, or a transition is reported (and counted) several times.
    with _lock_for((namespace, kind, name)):
        _sync(namespace, kind, name, logger, with_progress)


def _sync(namespace: str, kind: str, name: str, logger, with_progress: bool) -> None:
    parent = lookup(namespace)(kind, name)
    if parent is None:  # deleted: forget its throttle state
        _last_progress.pop((namespace, kind, name), None)
        metrics.forget(namespace, kind, name)
        return
    if not (parent.get("status") or {}).get("jobName"):
        return
    job_name = parent["status"]["jobName"]
    try:
        job = _raw(kube.batch().read_namespaced_job(job_name, namespace, _preload_content=False, _request_timeout=kube.TIMEOUT))
    except kubernetes.client.ApiException as exc:
        if exc.status != 404:
            raise
        job = None
        if (parent.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return  # the Job was cleaned up after finishing (ttlSecondsAfterFinished): keep the status
    pod = newest_pod(namespace, kind, name, succeeded=status.observe(job, None)["phase"] == "Succeeded")
    progress = None
    key = (namespace, kind, name)
    if with_progress and pod is not None and time.monotonic() - _last_progress.get(key, 0.0) >= PROGRESS_INTERVAL:
        progress = latest_progress(namespace, pod)
        _last_progress[key] = time.monotonic()
    queued = queue.pending_message(job) if job and job["spec"].get("suspend") and status.queue_of(job) else None
    new = desired_status(parent, job, pod, progress, queued)
    current = parent.get("status") or {}
    if not _changed(current, new):
        return
    kube.custom().patch_namespaced_custom_object_status(GROUP, VERSION, namespace, PLURALS[kind], name, {"status": new},
                                                        _request_timeout=kube.TIMEOUT)
    if new.get("progress"):
        metrics.progress(parent, new["progress"])
    final = new["phase"] in ("Succeeded", "Failed")
    # The pod's end may be seen before the Job's completionTime (and a failed Job gets none).
    if final and (new.get("completionTime") and not current.get("completionTime") or new["phase"] != current.get("phase")):
        metrics.finished(parent, {**current, **new})  # a merge patch: startTime stays from Running
    if new["phase"] != current.get("phase"):
        metrics.TRANSITIONS.labels(kind, new["phase"]).inc()
        metrics.track(parent, new["phase"])
        event = kopf.warn if new["phase"] == "Failed" else kopf.info
        reason = next((c["reason"] for c in new["conditions"] if c["type"] == "Failed" and c["reason"] == "GateFailed"),
                      new["phase"])
        event(parent, reason=reason, message=new["message"])
        logger.info("%s/%s is %s: %s", kind, name, new["phase"], new["message"])
