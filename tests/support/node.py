"""A node that keeps the kubelet's contract, for a control plane without a container runtime.

It registers a Node, binds the pods nobody has scheduled (as a one-node scheduler would), and runs
each pod's container command as a local process, as the kubelet would run it in a container:

- as the pod's `runAsUser`/`runAsGroup` (non-root), with `no_new_privs`, in a private mount namespace
  where every volume is mounted at its `mountPath`: emptyDir and PVC volumes as folders, downward-API
  files written from the pod's own metadata, and `terminationMessagePath` as a file the container's
  user may write (the kubelet creates it; a worker never has to);
- with the pod's env: plain values, `secretKeyRef` read from the Secret, `fieldRef` from the pod;
- in a cgroup with the container's memory limit: an out-of-memory kill is reported as the kubelet
  reports it (reason OOMKilled, exit code 137);
- with `$(VAR)` in command and args expanded from the container's env, as the kubelet expands it;
- with /etc/hosts naming every pod of a headless Service's subdomain on this node (all at 127.0.0.1:
  pods share this machine's network), which cluster DNS would answer for an Indexed Job's ranks;
- then it reports phase, container state, exit code and termination message (`FallbackToLogsOnError`:
  the end of the log when the file is empty and the container failed), and serves the log to
  `kubectl logs` through the API server (/containerLogs), as a kubelet does.

The image is not pulled: `--python` is the `python` of every tuneforge worker image (their commands
start with `python -m tuneforge.worker`, or `torchrun`, found beside that `python`). Nothing here writes a worker's result on its behalf.
Standard library only; run as root (mount namespaces, cgroups, changing user).

    python3 tests/support/node.py --kubeconfig-dir DIR --python PY [--pythonpath P]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.server
import json
import math
import os
import re
import shlex
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

NODE = "tuneforge-node"
STAGE = "/var/lib/tuneforge-node"  # where a pod's mount namespace sees this node's folder
HOST = "/var/lib/tuneforge-node-host"  # and this machine's whole tree, before volumes cover parts of it
CGROUP_V2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()


def cgroup_root() -> Path:
    """Where pods' memory cgroups go: the unified hierarchy, or the v1 memory hierarchy."""
    return Path("/sys/fs/cgroup" if CGROUP_V2 else "/sys/fs/cgroup/memory") / "tuneforge-node"
MESSAGE_LIMIT = 4096  # the kubelet keeps at most 4096 bytes of a termination message
FALLBACK_LINES = 80  # and at most 80 lines of log for FallbackToLogsOnError


def now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expand(text: str, env: dict[str, str]) -> str:
    """The kubelet's expansion of `$(VAR)` in a command or argument: a defined variable is replaced,
    `$$` is a literal `$`, anything else stays as written."""
    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", one, text)


def allocatable() -> tuple[int, int]:
    """What this node offers pods: every CPU and all the memory of the machine."""
    return os.cpu_count() or 1, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def cores(value: str) -> float:
    """CPUs of a Kubernetes CPU quantity (250m, 1.5, 2)."""
    return int(value[:-1]) / 1000 if value.endswith("m") else float(value)


def quantity(value: str) -> int:
    """Bytes of a Kubernetes memory quantity (512Mi, 2G, 1e9)."""
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    for suffix, factor in units.items():
        if value.endswith(suffix):
            return int(float(value[: -len(suffix)]) * factor)
    return int(float(value))


class Api:
    """The API server, over HTTPS with a client certificate."""

    def __init__(self, server: str, ca: Path, cert: Path, key: Path) -> None:
        self.server = server
        self.ctx = ssl.create_default_context(cafile=str(ca))
        self.ctx.load_cert_chain(str(cert), str(key))

    def call(self, method: str, path: str, body: Any = None, content_type: str = "application/json") -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
        with urllib.request.urlopen(req, context=self.ctx, timeout=30) as resp:
            return json.loads(resp.read() or b"{}")

    def patch_status(self, pod: dict[str, Any], status: dict[str, Any]) -> None:
        meta = pod["metadata"]
        self.call("PATCH", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status", {"status": status},
                  "application/strategic-merge-patch+json")


class Pod:
    """One pod's process on this node."""

    def __init__(self, node: Node, pod: dict[str, Any]) -> None:
        self.node, self.pod = node, pod
        meta = pod["metadata"]
        self.uid, self.namespace, self.name = meta["uid"], meta["namespace"], meta["name"]
        self.dir = node.root / "pods" / self.uid
        self.container = pod["spec"]["containers"][0]
        self.log = self.dir / "container.log"
        self.proc: subprocess.Popen | None = None
        self.killed = False

    def user(self) -> tuple[int, int]:
        ctx = {**(self.pod["spec"].get("securityContext") or {}), **(self.container.get("securityContext") or {})}
        uid = ctx.get("runAsUser", 1000)
        return uid, ctx.get("runAsGroup", uid)

    def field(self, path: str) -> str:
        meta = self.pod["metadata"]
        if path.startswith("metadata.annotations['"):
            return (meta.get("annotations") or {}).get(path[len("metadata.annotations['"):-2], "")
        if path.startswith("metadata.labels['"):
            return (meta.get("labels") or {}).get(path[len("metadata.labels['"):-2], "")
        simple = {"metadata.name": meta["name"], "metadata.namespace": meta["namespace"], "metadata.uid": meta["uid"],
                  "spec.nodeName": NODE, "spec.serviceAccountName": self.pod["spec"].get("serviceAccountName", ""),
                  "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1"}
        if path in simple:
            return simple[path]
        if path == "metadata.annotations":
            return "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted((meta.get("annotations") or {}).items()))
        if path == "metadata.labels":
            return "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted((meta.get("labels") or {}).items()))
        raise ValueError(f"fieldRef {path} is not supported by this node")

    def secret(self, name: str, key: str) -> str | None:
        try:
            data = self.node.api.call("GET", f"/api/v1/namespaces/{self.namespace}/secrets/{name}").get("data") or {}
        except urllib.error.HTTPError:
            return None
        return base64.b64decode(data[key]).decode() if key in data else None

    def env(self) -> dict[str, str]:
        # The kubelet tells every container where the API server is; here that is its loopback address
        # (no kube-proxy turns the kubernetes Service's cluster IP into it).
        api = urllib.parse.urlparse(self.node.api.server)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "HOSTNAME": self.name,
               "KUBERNETES_SERVICE_HOST": api.hostname or "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(api.port or 443)}
        for item in self.container.get("env") or []:
            source = item.get("valueFrom")
            if source is None:
                env[item["name"]] = item.get("value", "")
            elif "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                value = self.secret(ref["name"], ref["key"])
                if value is None and not ref.get("optional"):
                    raise LookupError(f"secret \"{ref['name']}\" (key \"{ref['key']}\") not found")
                if value is not None:
                    env[item["name"]] = value
            elif "fieldRef" in source:
                env[item["name"]] = self.field(source["fieldRef"]["fieldPath"])
            elif "resourceFieldRef" in source:
                env[item["name"]] = self.resource_field(source["resourceFieldRef"])
        return env

    def resource_field(self, ref: dict[str, Any]) -> str:
        """The downward API's resourceFieldRef as the kubelet resolves it: the container's request or
        limit (a missing limit is the node's allocatable amount) over the divisor, rounded up."""
        kind, _, name = ref["resource"].partition(".")
        divisor = str(ref.get("divisor") or "1")  # the API server stores an unset divisor as "0", meaning 1
        if name not in ("cpu", "memory") or kind not in ("limits", "requests"):
            raise ValueError(f"resourceFieldRef {ref['resource']} is not supported by this node")
        value = ((self.container.get("resources") or {}).get(kind) or {}).get(name)
        if name == "cpu":
            amount = cores(str(value)) if value is not None else (allocatable()[0] if kind == "limits" else 0)
            return str(math.ceil(amount / (cores(divisor) or 1)))
        amount = quantity(str(value)) if value is not None else (allocatable()[1] if kind == "limits" else 0)
        return str(math.ceil(amount / (quantity(divisor) or 1)))

    def volumes(self) -> dict[str, Path]:
        """Each volume as a folder on this machine, filled as the kubelet fills it."""
        out: dict[str, Path] = {}
        uid, gid = self.user()
        for vol in self.pod["spec"].get("volumes") or []:
            path = self.dir / "volumes" / vol["name"]
            if "persistentVolumeClaim" in vol:
                path = self.node.root / "pvc" / self.namespace / vol["persistentVolumeClaim"]["claimName"]
            path.mkdir(parents=True, exist_ok=True)
            if "downwardAPI" in vol:
                for item in vol["downwardAPI"]["items"]:
                    (path / item["path"]).parent.mkdir(parents=True, exist_ok=True)
                    (path / item["path"]).write_text(self.field(item["fieldRef"]["fieldPath"]))
            elif "projected" in vol:
                self.project(path, vol["projected"])
            elif "secret" in vol:
                secret = self.node.api.call("GET", f"/api/v1/namespaces/{self.namespace}/secrets/{vol['secret']['secretName']}")
                for key, value in (secret.get("data") or {}).items():
                    (path / key).write_bytes(base64.b64decode(value))
            else:  # emptyDir and claims: writable by the pod's user (fsGroup semantics, simplified)
                os.chown(path, uid, gid)
            out[vol["name"]] = path
        return out

    def project(self, path: Path, projected: dict[str, Any]) -> None:
        """A projected volume (the service account's kube-api-access): token, CA bundle, namespace."""
        for source in projected.get("sources") or []:
            if "serviceAccountToken" in source:
                sa = self.pod["spec"].get("serviceAccountName", "default")
                request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
                    "audiences": [source["serviceAccountToken"]["audience"]] if source["serviceAccountToken"].get("audience") else [],
                    "expirationSeconds": source["serviceAccountToken"].get("expirationSeconds", 3607),
                    "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": self.name, "uid": self.uid}}}
                token = self.node.api.call("POST", f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{sa}/token", request)
                (path / source["serviceAccountToken"]["path"]).write_text(token["status"]["token"])
            elif "configMap" in source:
                cm = self.node.api.call("GET", f"/api/v1/namespaces/{self.namespace}/configmaps/{source['configMap']['name']}")
                for item in source["configMap"].get("items") or [{"key": k, "path": k} for k in cm.get("data") or {}]:
                    (path / item["path"]).write_text((cm.get("data") or {}).get(item["key"], ""))
            elif "downwardAPI" in source:
                for item in source["downwardAPI"]["items"]:
                    (path / item["path"]).write_text(self.field(item["fieldRef"]["fieldPath"]))
        uid, gid = self.user()
        for child in path.iterdir():
            os.chown(child, uid, gid)

    def script(self, volumes: dict[str, Path], message: Path, argv: list[str]) -> str:
        """The shell that runs inside the private mount namespace: mounts, cgroup, user, exec.

        Everything is reached through STAGE, a bind of this node's folder made first, so a volume
        mounted over /tmp (or anywhere the node's folder lives) cannot hide the sources of the next."""
        uid, gid = self.user()
        q = shlex.quote

        def staged(path: Path) -> str:
            return q(str(STAGE / path.relative_to(self.node.root)))

        lines = ["set -e", "mount --make-rprivate /", f"mkdir -p {STAGE} {HOST}", f"mount --bind {q(str(self.node.root))} {STAGE}",
                 f"mount --rbind / {HOST}"]
        # /root is private to root on most machines; the worker's interpreter may live under it.
        # Give this namespace a /root the container's user can pass through, holding only what it needs.
        real = self.dir / "realroot"
        real.mkdir(exist_ok=True)
        lines += [f"mount --bind /root {staged(real)}", "mount -t tmpfs -o mode=755 tmpfs /root"]
        for sub in self.node.root_paths:
            lines += [f"mkdir -p {q(str(sub))}", f"mount --bind {staged(real / sub.relative_to('/root'))} {q(str(sub))}"]
        for mount in self.container.get("volumeMounts") or []:
            target = q(mount["mountPath"])
            lines += [f"mkdir -p {target}", f"mount --bind {staged(volumes[mount['name']])} {target}"]
            if mount.get("readOnly"):
                lines.append(f"mount -o remount,bind,ro {target}")
        # The image's code (this checkout, an environment outside /root) stays where it is, even under a
        # folder a volume now covers (a checkout in /tmp, with an emptyDir on /tmp).
        for code in self.node.code_paths:
            lines += [f"mkdir -p {q(str(code))}", f"mount --bind {q(HOST + str(code))} {q(str(code))}"]
        lines.append(f"mount --bind {staged(self.node.hosts)} /etc/hosts")
        target = q(self.container.get("terminationMessagePath", "/dev/termination-log"))
        lines += [f"[ -e {target} ] || touch {target}", f"mount --bind {staged(message)} {target}"]
        if self.node.cgroup(self).exists():
            lines.append(f"echo $$ > {q(str(self.node.cgroup(self) / 'cgroup.procs'))}")
        lines.append(f"cd {q(self.container.get('workingDir', '/'))}")
        lines.append(f"exec setpriv --reuid={uid} --regid={gid} --clear-groups --no-new-privs -- {shlex.join(argv)}")
        return "\n".join(lines)

    def command(self, env: dict[str, str]) -> list[str]:
        """The container's command, or the image's entrypoint (from --entrypoint) with its args."""
        command = [expand(a, env) for a in self.container.get("command") or []]
        if not command:
            image = self.container["image"].rsplit("/", 1)[-1].split(":")[0].split("@")[0]
            if image not in self.node.entrypoints:
                raise LookupError(f"image {self.container['image']}: no command and no --entrypoint for '{image}'")
            command = [self.node.entrypoints[image]]
        argv = [*command, *(expand(a, env) for a in self.container.get("args") or [])]
        if argv[0] in ("python", "python3"):
            argv[0] = self.node.python
        elif "/" not in argv[0] and (Path(self.node.python).parent / argv[0]).exists():
            argv[0] = str(Path(self.node.python).parent / argv[0])  # the image's other programs (torchrun)
        return argv

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a pod the node cannot start fails as the kubelet would fail it
            self.report_terminated(128, "ContainerCannotRun", f"{type(exc).__name__}: {exc}")

    def _run(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        uid, gid = self.user()
        try:
            env = self.env()
        except LookupError as exc:
            self.node.api.patch_status(self.pod, {"phase": "Pending", "containerStatuses": [self.status(
                {"waiting": {"reason": "CreateContainerConfigError", "message": str(exc)}})]})
            return
        volumes = self.volumes()
        message = self.dir / "termination-log"
        message.write_text("")
        os.chown(message, uid, gid)  # the container's user may write it, as the kubelet arranges
        env.setdefault("PYTHONPATH", self.node.pythonpath or "")
        restarts, last = 0, None
        while not self.killed:
            code, reason, text, started = self.run_once(volumes, message, env, restarts, last)
            policy = self.pod["spec"].get("restartPolicy", "Always")
            if self.killed or policy == "Never" or (policy == "OnFailure" and code == 0):
                time.sleep(self.node.report_delay(self.name))
                self.report_terminated(code, reason, text, started, restarts, last)
                return
            # The kubelet restarts the container in place, backing off, and the pod stays Running.
            last = {"terminated": {"exitCode": code, "reason": reason, "message": text, "startedAt": started,
                                   "finishedAt": now()}}
            restarts += 1
            self.node.api.patch_status(self.pod, {"phase": "Running", "containerStatuses": [self.status(
                {"waiting": {"reason": "CrashLoopBackOff", "message": f"back-off restarting failed container ({reason})"}},
                restarts=restarts, last=last)]})
            time.sleep(min(2 ** restarts, 20))

    def run_once(self, volumes: dict[str, Path], message: Path, env: dict[str, str], restarts: int,
                 last: dict[str, Any] | None) -> tuple[int, str, str, str]:
        self.node.make_cgroup(self)
        started = now()
        self.node.api.patch_status(self.pod, {
            "phase": "Running", "startTime": started, "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
            "hostIP": "127.0.0.1", "conditions": [{"type": t, "status": "True", "lastTransitionTime": started}
                                                  for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
            "containerStatuses": [self.status({"running": {"startedAt": started}}, ready=True, restarts=restarts, last=last)]})
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(["unshare", "--mount", "--", "sh", "-c", self.script(volumes, message, self.command(env))],
                                         stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
            # The container's main process (unshare, sh and setpriv exec into it): tests kill it by this.
            (self.dir / "pid").write_text(str(self.proc.pid))
            code = self.proc.wait()
        code = 128 - code if code < 0 else code
        oom = self.node.oom_killed(self)
        self.node.remove_cgroup(self)
        text = message.read_text(errors="replace")[:MESSAGE_LIMIT]
        if not text.strip() and code != 0 and self.container.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            text = "\n".join(self.log.read_text(errors="replace").splitlines()[-FALLBACK_LINES:])[-MESSAGE_LIMIT:]
        reason = "OOMKilled" if oom else ("Completed" if code == 0 else "Error")
        return (137 if oom else code), reason, text, started

    def status(self, state: dict[str, Any], ready: bool = False, last: dict[str, Any] | None = None,
               restarts: int = 0) -> dict[str, Any]:
        return {"name": self.container["name"], "image": self.container["image"], "imageID": "",
                "ready": ready, "started": "running" in state, "restartCount": restarts, "state": state,
                "lastState": last or {}, "containerID": f"standin://{self.uid}"}

    def report_terminated(self, code: int, reason: str, message: str, started: str | None = None, restarts: int = 0,
                          last: dict[str, Any] | None = None) -> None:
        finished = now()
        state = {"terminated": {"exitCode": code, "reason": reason, "message": message,
                                "startedAt": started or finished, "finishedAt": finished}}
        phase = "Succeeded" if code == 0 else "Failed"
        conditions = [{"type": t, "status": "False", "reason": "PodCompleted" if code == 0 else "PodFailed",
                       "lastTransitionTime": finished} for t in ("ContainersReady", "Ready")]
        try:
            self.node.api.patch_status(self.pod, {"phase": phase, "conditions": conditions,
                                                  "containerStatuses": [self.status(state, restarts=restarts, last=last)]})
        except urllib.error.HTTPError as exc:
            if exc.code != 404:  # a pod deleted meanwhile has no status left to report
                raise

    def stop(self, grace: float = 30) -> None:
        self.killed = True
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Node:
    def __init__(self, api: Api, root: Path, python: str, pythonpath: str | None, logs_port: int,
                 entrypoints: dict[str, str] | None = None) -> None:
        self.api, self.root, self.python, self.pythonpath = api, root, python, pythonpath
        self.entrypoints = entrypoints or {}
        self.deleting: set[str] = set()
        self.logs_port = logs_port
        self.pods: dict[str, Pod] = {}
        root.mkdir(parents=True, exist_ok=True)
        self.hosts = root / "hosts"
        self.base_hosts = Path("/etc/hosts").read_text() if Path("/etc/hosts").exists() else "127.0.0.1 localhost\n"
        self.hosts.write_text(self.base_hosts)
        # Folders under /root that a worker needs: its interpreter (a venv and the Python it links to)
        # and the checkout on its PYTHONPATH.
        programs = [python, *self.entrypoints.values()]
        needed = [*(Path(p) for p in programs), *(Path(p).resolve() for p in programs),
                  *(Path(p).resolve() for p in (pythonpath or "").split(":") if p)]
        self.root_paths = sorted({Path("/root", p.parts[2]) for p in needed if p.parts[:2] == ("/", "root") and len(p.parts) > 2})
        environments = {Path(p).parent.parent for p in programs} | {Path(p).resolve().parent.parent for p in programs}
        self.code_paths = sorted({p for p in environments | {Path(p).resolve() for p in (pythonpath or "").split(":") if p}
                                  if p.parts[:2] != ("/", "root")})

    def cgroup(self, pod: Pod) -> Path:
        return cgroup_root() / pod.uid

    def report_delay(self, pod_name: str) -> float:
        """Seconds to wait before reporting that a pod's container ended: ROOT/report-delays.json maps
        a pattern of pod names to seconds, so a test can say which rank of a Job is seen finishing last."""
        try:
            delays = json.loads((self.root / "report-delays.json").read_text())
        except (OSError, ValueError):
            return 0
        return max((float(s) for pattern, s in delays.items() if re.fullmatch(pattern, pod_name)), default=0)

    def update_hosts(self, pods: list[dict[str, Any]]) -> None:
        """What cluster DNS answers for pods with a hostname and a headless Service's subdomain
        (`rank-0.service`, `rank-0.service.ns.svc.cluster.local`): every pod here is 127.0.0.1. The
        file is rewritten in place, so the pods that already mount it see new names."""
        lines = []
        for pod in pods:
            spec, ns = pod["spec"], pod["metadata"]["namespace"]
            if spec.get("hostname") and spec.get("subdomain"):
                name = f"{spec['hostname']}.{spec['subdomain']}"
                lines.append(f"127.0.0.1 {name}.{ns}.svc.cluster.local {name}.{ns}.svc {name}.{ns} {name}")
        text = self.base_hosts + "".join(f"{line}\n" for line in sorted(lines))
        if self.hosts.read_text() != text:
            with open(self.hosts, "r+") as f:
                f.write(text)
                f.truncate()

    def make_cgroup(self, pod: Pod) -> None:
        """The container's memory limit, as the kubelet sets it: cgroup v2 `memory.max`, or v1
        `memory.limit_in_bytes` (with swap included) on machines that still mount v1."""
        limit = ((pod.container.get("resources") or {}).get("limits") or {}).get("memory")
        group = self.cgroup(pod)
        try:
            if CGROUP_V2:
                for parent in (group.parent.parent, group.parent):  # a controller must be on in every parent
                    parent.mkdir(exist_ok=True)
                    (parent / "cgroup.subtree_control").write_text("+memory")
            group.mkdir(parents=True, exist_ok=True)
            if limit:
                value = str(quantity(str(limit)))
                if CGROUP_V2:
                    (group / "memory.max").write_text(value)
                    (group / "memory.swap.max").write_text("0")
                else:
                    (group / "memory.limit_in_bytes").write_text(value)
                    try:
                        (group / "memory.memsw.limit_in_bytes").write_text(value)
                    except OSError:
                        pass  # no swap accounting: there is no swap to escape to either
        except OSError as exc:
            print(f"node: no memory cgroup for {pod.name} ({exc}); it runs without a memory limit", file=sys.stderr, flush=True)

    def oom_killed(self, pod: Pod) -> bool:
        name = "memory.events" if CGROUP_V2 else "memory.oom_control"
        try:
            events = (self.cgroup(pod) / name).read_text()
        except OSError:
            return False
        return any(line.split()[0] == "oom_kill" and int(line.split()[1]) > 0 for line in events.splitlines() if line.strip())

    def remove_cgroup(self, pod: Pod) -> None:
        try:
            self.cgroup(pod).rmdir()
        except OSError:
            pass

    def register(self) -> None:
        node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE, "labels": {
            "kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}}}
        try:
            self.api.call("POST", "/api/v1/nodes", node)
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise
        self.heartbeat()

    def heartbeat(self) -> None:
        cpus, memory = allocatable()
        capacity = {"cpu": str(cpus), "memory": str(memory), "pods": "110", "ephemeral-storage": "100Gi"}
        self.api.call("PATCH", f"/api/v1/nodes/{NODE}/status", {"status": {
            "capacity": capacity, "allocatable": capacity,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": NODE}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.logs_port}},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "stand-in node ready",
                            "lastHeartbeatTime": now(), "lastTransitionTime": now()}],
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "standin",
                         "containerRuntimeVersion": "standin://1", "kernelVersion": os.uname().release,
                         "osImage": "tuneforge node stand-in", "kubeProxyVersion": "", "machineID": "", "systemUUID": "",
                         "bootID": ""}}}, "application/strategic-merge-patch+json")

    def bind_unscheduled(self) -> None:
        selector = urllib.parse.quote("spec.nodeName=,status.phase=Pending")
        for pod in self.api.call("GET", f"/api/v1/pods?fieldSelector={selector}")["items"]:
            meta = pod["metadata"]
            if meta.get("deletionTimestamp") or (pod["spec"].get("schedulingGates")):
                continue
            try:
                self.api.call("POST", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/binding", {
                    "apiVersion": "v1", "kind": "Binding", "metadata": {"name": meta["name"]},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": NODE}})
            except urllib.error.HTTPError as exc:
                if exc.code not in (404, 409):
                    raise

    def sync(self) -> None:
        selector = urllib.parse.quote(f"spec.nodeName={NODE}")
        seen = set()
        pods = self.api.call("GET", f"/api/v1/pods?fieldSelector={selector}")["items"]
        self.update_hosts([p for p in pods if not p["metadata"].get("deletionTimestamp")])
        for pod in pods:
            meta, uid = pod["metadata"], pod["metadata"]["uid"]
            seen.add(uid)
            if meta.get("deletionTimestamp"):
                self.finish_deletion(pod)
            elif uid not in self.pods and (pod.get("status") or {}).get("phase", "Pending") == "Pending":
                self.pods[uid] = Pod(self, pod)
                threading.Thread(target=self.pods[uid].run, name=meta["name"], daemon=True).start()
        for uid in [u for u in self.pods if u not in seen]:
            self.pods.pop(uid).stop()

    def finish_deletion(self, pod: dict[str, Any]) -> None:
        """What the kubelet does for a deleted pod: stop its container (SIGTERM, SIGKILL after the grace
        period), and only then remove the pod for good, so its replacement never overlaps it."""
        meta = pod["metadata"]
        if meta["uid"] in self.deleting:
            return
        self.deleting.add(meta["uid"])
        running = self.pods.pop(meta["uid"], None)
        grace = pod["spec"].get("terminationGracePeriodSeconds", 30)

        def finish() -> None:
            if running:
                running.stop(grace)
            try:
                self.api.call("DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                              {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                               "preconditions": {"uid": meta["uid"]}})
            except urllib.error.HTTPError as exc:
                if exc.code not in (404, 409):
                    raise

        threading.Thread(target=finish, name=f"delete-{meta['name']}", daemon=True).start()

    def logs(self, namespace: str, name: str) -> bytes | None:
        for pod in list(self.pods.values()):
            if pod.namespace == namespace and pod.name == name and pod.log.exists():
                return pod.log.read_bytes()
        return None

    def loop(self, stop: threading.Event) -> None:
        beat = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - beat > 10:
                    self.heartbeat()
                    beat = time.monotonic()
                self.bind_unscheduled()
                self.sync()
            except (urllib.error.URLError, OSError) as exc:
                print(f"node: {exc}", file=sys.stderr, flush=True)
            stop.wait(0.3)


def serve_logs(node: Node, cert: Path, key: Path, port: int) -> http.server.ThreadingHTTPServer:
    """GET /containerLogs/NS/POD/CONTAINER, which the API server proxies for `kubectl logs`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            parts = urllib.parse.urlparse(self.path).path.strip("/").split("/")
            body = node.logs(parts[1], parts[2]) if len(parts) >= 3 and parts[0] == "containerLogs" else None
            if body is None:
                self.send_error(404)
                return
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            if "tailLines" in query:
                body = b"\n".join(body.splitlines()[-int(query["tailLines"][0]):]) + b"\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True)
    parser.add_argument("--pki", required=True, type=Path, help="ca.crt, admin.crt/key, apiserver.crt/key")
    parser.add_argument("--root", required=True, type=Path, help="pods' folders and claims")
    parser.add_argument("--python", required=True, help="the `python` of the worker images")
    parser.add_argument("--pythonpath", help="PYTHONPATH of the workers (a checkout's operator/)")
    parser.add_argument("--logs-port", type=int, required=True)
    parser.add_argument("--entrypoint", action="append", default=[], metavar="IMAGE=PROGRAM",
                        help="the ENTRYPOINT of an image by name (operator=/venv/bin/tuneforge)")
    args = parser.parse_args()
    api = Api(args.server, args.pki / "ca.crt", args.pki / "admin.crt", args.pki / "admin.key")
    node = Node(api, args.root, args.python, args.pythonpath, args.logs_port,
                dict(e.split("=", 1) for e in args.entrypoint))
    serve_logs(node, args.pki / "apiserver.crt", args.pki / "apiserver.key", args.logs_port)
    node.register()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"node {NODE} registered", flush=True)
    node.loop(stop)
    for pod in list(node.pods.values()):
        pod.stop()


if __name__ == "__main__":
    main()
