"""Pure status logic: from the child Job and its Pod to phase, kstatus conditions and a message
that helps (OOMKilled says what to change; an image pull error names the image)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .. import crash
from ..api.constants import LABEL_KUEUE_QUEUE
from ..worker.progress import parse_line

OOM_ADVICE = ("the worker ran out of memory (OOMKilled): raise resources.memory, lower training.batchSize "
              "or training.maxLength, or use method qlora")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _condition(job: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind and cond.get("status") == "True":
            return cond
    return None


def pod_problem(pod: dict[str, Any] | None) -> str | None:
    """A waiting or terminated container state that explains a failure or a stall."""
    if not pod:
        return None
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
            return f"cannot pull the worker image {cs.get('image')}: {waiting.get('message') or waiting['reason']}"
        if waiting.get("reason") == "CreateContainerConfigError":
            return f"the worker container cannot start: {waiting.get('message')} (a missing Secret or key?)"
        for state in ((cs.get("state") or {}).get("terminated"), (cs.get("lastState") or {}).get("terminated")):
            if state and state.get("reason") == "OOMKilled":
                return OOM_ADVICE
            if state and state.get("exitCode") not in (None, 0):
                return container_failure(state)
    return None


def container_failure(state: dict[str, Any]) -> str:
    """A terminated container in words: a signal named with its likely cause (also one that killed a
    torchrun child, read from the log tail the kubelet keeps), else the worker's own error line."""
    message = (state.get("message") or "").strip()
    number = state.get("signal") or crash.signal_of(state.get("exitCode")) or crash.launcher_signal(message)
    if number:
        lines = crash.without_launcher_report(message.splitlines())
        return f"the worker died: {crash.explain_signal(number, rebuild=crash.IMAGE_REBUILD, last_lines=lines)}"
    own = crash.worker_error(message)
    if own:
        return f"the worker failed: {own[len('error:'):].strip()}"
    last = message.splitlines()[-1] if message else f"exit code {state.get('exitCode')}"
    return f"the worker failed: {last}"


def result_of(pod: dict[str, Any] | None) -> dict[str, Any] | None:
    """The worker's result line, from the container's termination message."""
    for cs in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
        message = ((cs.get("state") or {}).get("terminated") or {}).get("message") or ""
        for line in message.splitlines():
            parsed = parse_line(line)
            if parsed and parsed[0] == "result":
                return parsed[1]
    return None


def queue_of(job: dict[str, Any] | None) -> str | None:
    """The Kueue LocalQueue a Job waits in (its label), or None."""
    return (((job or {}).get("metadata") or {}).get("labels") or {}).get(LABEL_KUEUE_QUEUE)


def observe(job: dict[str, Any] | None, pod: dict[str, Any] | None, queued: str | None = None) -> dict[str, Any]:
    """Phase, reason and message of a resource from its Job (and latest Pod); `queued` is Kueue's reason
    for not admitting a Job in a queue yet."""
    if job is None:
        return {"phase": "Pending", "reason": "Creating", "message": "creating the worker Job"}
    status = job.get("status") or {}
    if _condition(job, "Complete") or _condition(job, "SuccessCriteriaMet"):
        return {"phase": "Succeeded", "reason": "Completed", "message": "the worker finished",
                "completionTime": status.get("completionTime") or now(), "result": result_of(pod)}
    failed = _condition(job, "Failed") or _condition(job, "FailureTarget")
    result = result_of(pod) if failed else None
    gate = (result or {}).get("gate") or {}
    if gate and not gate.get("passed"):
        # The worker finished and kept its output, which missed a threshold: say which, with the values.
        return {"phase": "Failed", "reason": "GateFailed", "message": gate.get("message") or "gate failed",
                "completionTime": now(), "result": result}
    if failed:
        detail = pod_problem(pod) or failed.get("message") or failed.get("reason") or "the Job failed"
        return {"phase": "Failed", "reason": failed.get("reason") or "JobFailed", "message": detail,
                "completionTime": now()}
    if (job.get("spec") or {}).get("suspend"):
        queue = queue_of(job)
        if queue:
            return {"phase": "Suspended", "reason": "Queued",
                    "message": f"waiting in Kueue queue {queue}" + (f": {queued}" if queued else "")}
        return {"phase": "Suspended", "reason": "Suspended", "message": "the Job is suspended (runPolicy.suspend)"}
    problem = pod_problem(pod)
    if problem:
        return {"phase": "Pending", "reason": "WorkerProblem", "message": problem}
    if status.get("active") or status.get("ready"):
        return {"phase": "Running", "reason": "Running", "message": "the worker is running",
                "startTime": status.get("startTime")}
    return {"phase": "Pending", "reason": "Scheduling", "message": "waiting for the worker pod to start"}


CONDITIONS = {
    # phase -> (Ready, Reconciling, Stalled, Succeeded, Failed)
    "Pending": ("False", "True", "False", "False", "False"),
    "Running": ("False", "True", "False", "False", "False"),
    "Suspended": ("False", "False", "False", "False", "False"),
    "Succeeded": ("True", "False", "False", "True", "False"),
    "Failed": ("False", "False", "True", "False", "True"),
}


def conditions(previous: list[dict[str, Any]] | None, phase: str, reason: str, message: str,
               generation: int | None) -> list[dict[str, Any]]:
    """kstatus conditions for a phase; lastTransitionTime only moves when a status flips."""
    before = {c["type"]: c for c in previous or []}
    out = []
    for kind, value in zip(CONDITIONS_OF_PHASE, CONDITIONS[phase], strict=True):
        old = before.get(kind)
        changed = old is None or old.get("status") != value
        out.append({
            "type": kind, "status": value, "reason": reason, "message": message,
            "lastTransitionTime": now() if changed else old.get("lastTransitionTime"),
            "observedGeneration": generation,
        })
    # Conditions about something other than the phase (SpecApplied) stay until their owner changes them.
    out += [c for kind, c in before.items() if kind not in CONDITIONS_OF_PHASE]
    return out


CONDITIONS_OF_PHASE = ("Ready", "Reconciling", "Stalled", "Succeeded", "Failed")


def spec_not_applied(previous: list[dict[str, Any]] | None, changed: list[str], generation: int | None) -> list[dict[str, Any]]:
    """The conditions with SpecApplied=False: the resource's spec moved on after its Job started."""
    message = f"spec changed after the job started ({', '.join(changed)}); the change is not applied (create a new resource)"
    kept = [c for c in previous or [] if c["type"] != "SpecApplied"]
    return kept + [{"type": "SpecApplied", "status": "False", "reason": "SpecChangeIgnored", "message": message,
                    "lastTransitionTime": now(), "observedGeneration": generation}]


def stalled(previous: list[dict[str, Any]] | None, reason: str, message: str, generation: int | None) -> list[dict[str, Any]]:
    """An invalid resource: Stalled and Failed, never retried until its spec changes."""
    return conditions(previous, "Failed", reason, message, generation)
