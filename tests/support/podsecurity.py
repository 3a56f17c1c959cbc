"""Pod Security Standards "restricted" (and baseline) checks for a pod spec, as the admission
controller applies them. Returns the violations; empty means the pod would be admitted."""

from __future__ import annotations

from typing import Any

ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}


def violations(pod_spec: dict[str, Any]) -> list[str]:
    found = []
    pod_sc = pod_spec.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(flag):
            found.append(f"{flag} must be false")
    for vol in pod_spec.get("volumes") or []:
        kinds = set(vol) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            found.append(f"volume {vol['name']}: type {kinds - ALLOWED_VOLUMES} not allowed")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    for c in (pod_spec.get("containers") or []) + (pod_spec.get("initContainers") or []):
        sc = c.get("securityContext") or {}
        where = f"container {c.get('name')}"
        if sc.get("privileged"):
            found.append(f"{where}: privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"{where}: allowPrivilegeEscalation must be false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            found.append(f"{where}: capabilities must drop ALL")
        if set((sc.get("capabilities") or {}).get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"{where}: adds capabilities")
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            found.append(f"{where}: runAsNonRoot must be true")
        if (sc.get("runAsUser", pod_sc.get("runAsUser"))) == 0:
            found.append(f"{where}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"{where}: seccompProfile must be RuntimeDefault or Localhost")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                found.append(f"{where}: hostPort")
    return found
