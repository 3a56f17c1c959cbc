"""A real Kubernetes control plane on loopback: etcd, kube-apiserver and kube-controller-manager, built
from their Go modules by scripts/kube-build.sh, with every file and process under one folder.

    python3 tests/support/cluster.py up DIR      # prints `export KUBECONFIG=DIR/kubeconfig` last
    python3 tests/support/cluster.py down DIR    # stops every process `up` started (by PID)

The tests' session fixture (tests/e2e/conftest.py) uses `start` and `stop` directly. Standard library
and the openssl command only, so it runs with any python3. The flags follow controller-runtime's envtest:
a throwaway CA, client-certificate users (CN = user, O = groups), RBAC and Node authorization, and the
admission plugins a production cluster runs, PodSecurity and OwnerReferencesPermissionEnforcement included.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("TUNEFORGE_CACHE_HOME", Path.home() / ".cache" / "tuneforge")) / "kube"
SERVICE_RANGE = "10.0.0.0/24"
ADMISSION = ("NamespaceLifecycle,LimitRanger,ServiceAccount,PodSecurity,DefaultStorageClass,ResourceQuota,"
             "OwnerReferencesPermissionEnforcement,DefaultTolerationSeconds,Priority,MutatingAdmissionWebhook,"
             "ValidatingAdmissionWebhook,ValidatingAdmissionPolicy,NodeRestriction")
CONTROLLERS = ",".join(f"{c}-controller" for c in (
    "job", "garbage-collector", "ttl-after-finished", "namespace", "serviceaccount", "serviceaccount-token",
    "root-ca-certificate-publisher", "pod-garbage-collector", "deployment", "replicaset"))
# A real node needs the rest of what a cluster runs for pods: the not-ready taint lifted once the
# kubelet reports Ready, Services' endpoints (slices for kube-proxy and DNS, Endpoints for the API
# server's service proxy), claims bound to volumes.
REAL_NODE_CONTROLLERS = "".join(f",{c}-controller" for c in ("node-lifecycle", "endpoints", "endpointslice", "persistentvolume-binder"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binaries() -> Path:
    out = subprocess.run([str(ROOT / "scripts" / "kube-build.sh")], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(pki: Path) -> None:
    """A CA, the API server's serving certificate, and one client certificate per user we act as."""
    pki.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "30",
            "-subj", "/CN=tuneforge-test-ca", cwd=pki)
    # 10.88.0.1: the real node's bridge, where the server listens in that mode (tests/support/realnode.py).
    (pki / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,IP:10.0.0.1,IP:10.88.0.1,DNS:localhost,DNS:kubernetes,"
                                 "DNS:kubernetes.default,DNS:kubernetes.default.svc\n")
    client_certificate(pki, "apiserver", "kube-apiserver", extfile="san.cnf")
    client_certificate(pki, "admin", "admin", "system:masters")
    client_certificate(pki, "controller-manager", "system:kube-controller-manager")
    # What the server presents to a kubelet (logs, exec); the kubelet asks RBAC about this user.
    client_certificate(pki, "apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters")
    openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


def client_certificate(pki: Path, name: str, user: str, *groups: str, extfile: str | None = None) -> None:
    subject = f"/CN={user}" + "".join(f"/O={g}" for g in groups)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=pki)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "30", *(["-extfile", extfile] if extfile else []), cwd=pki)


def kubeconfig(path: Path, server: str, pki: Path, user: str, token: str | None = None) -> Path:
    """A kubeconfig for a client certificate (`user` names the files) or a bearer token."""
    credentials = {"token": token} if token else {"client-certificate": str(pki / f"{user}.crt"),
                                                  "client-key": str(pki / f"{user}.key")}
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "test", "cluster": {"server": server, "certificate-authority": str(pki / "ca.crt")}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": user}}],
    }, indent=1))
    return path


@dataclass
class Cluster:
    """A running control plane; `pids` lists every process it started."""

    root: Path
    server: str
    kubeconfig: Path
    pids: dict[str, int]
    registry: str | None = None  # the real node's loopback registry, host:port

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    def ssl_context(self, user: str = "admin") -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / f"{user}.crt"), str(self.pki / f"{user}.key"))
        return ctx

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.server + path, context=self.ssl_context(), timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


def record(cluster: Cluster) -> None:
    """pids.json: what `stop` (or `down` from another shell) will stop."""
    (cluster.root / "pids.json").write_text(json.dumps(cluster.pids))


def spawn(name: str, args: list[str], logs: Path) -> int:
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
    # A session of its own: `down` from another shell stops it by PID, and Ctrl-C in the shell that ran
    # `up` does not take the cluster down half-way.
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return proc.pid


def start(root: Path, timeout: float = 120, worker_python: str | None = None, pythonpath: str | None = None,
          entrypoints: dict[str, str] | None = None, controllers: bool = True, real_node: bool = False) -> Cluster:
    """Start the control plane in `root`; with `worker_python`, also the node stand-in (tests/support/node.py)
    that runs pods' `python` commands with that interpreter, and images named in `entrypoints`
    (image name -> program, e.g. operator -> the operator environment's `tuneforge`) with that program.
    Without `controllers`, no kube-controller-manager: Jobs stay as created (bench/operator counts them).
    With `real_node`, a real node instead (tests/support/realnode.py): the server listens on the node's
    bridge, where pods reach it through the `kubernetes` Service."""
    root = root.resolve()
    bin_dir = binaries()
    pki, logs = root / "pki", root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    if not (pki / "apiserver-kubelet-client.key").exists():
        make_pki(pki)
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    address = "127.0.0.1"
    if real_node:
        from support import realnode

        realnode.network_up()
        address = realnode.BRIDGE_IP
    server = f"https://{address}:{api_port}"
    pids: dict[str, int] = {}
    cluster = Cluster(root, server, root / "kubeconfig", pids)
    (root / "pids.json").write_text("{}")
    try:
        pids["etcd"] = spawn("etcd", [
            str(bin_dir / "etcd"), "--data-dir", str(root / "etcd"), "--name", "test",
            "--listen-client-urls", f"http://127.0.0.1:{etcd_port}", "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer_port}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
            "--initial-cluster", f"test=http://127.0.0.1:{peer_port}", "--unsafe-no-fsync", "--log-level", "warn",
        ], logs)
        record(cluster)
        pids["kube-apiserver"] = spawn("kube-apiserver", [
            str(bin_dir / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            f"--bind-address={address}", f"--advertise-address={address}", f"--secure-port={api_port}",
            f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
            *([f"--kubelet-certificate-authority={pki / 'ca.crt'}"] if real_node else []),
            f"--cert-dir={pki}", f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}", "--authorization-mode=Node,RBAC", f"--enable-admission-plugins={ADMISSION}",
            f"--service-cluster-ip-range={SERVICE_RANGE}", "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={pki / 'sa.pub'}", f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--allow-privileged=false", "--profiling=false", "--kubelet-preferred-address-types=InternalIP", "--v=1",
        ], logs)
        record(cluster)
        kubeconfig(cluster.kubeconfig, server, pki, "admin")
        cm_config = kubeconfig(root / "controller-manager.kubeconfig", server, pki, "controller-manager")
        wait_ready(cluster, timeout)
        if not controllers:
            return cluster
        pids["kube-controller-manager"] = spawn("kube-controller-manager", [
            str(bin_dir / "kube-controller-manager"), f"--kubeconfig={cm_config}",
            f"--controllers={CONTROLLERS}{REAL_NODE_CONTROLLERS if real_node else ''}",
            "--leader-elect=false", f"--service-account-private-key-file={pki / 'sa.key'}", f"--root-ca-file={pki / 'ca.crt'}",
            "--use-service-account-credentials=true", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            f"--cert-dir={root / 'controller-manager-certs'}", "--concurrent-ttl-after-finished-syncs=5", "--v=1",
        ], logs)
        record(cluster)
        settle(cluster, "kube-controller-manager")
        if real_node:
            realnode.start(cluster, bin_dir, CACHE)
        elif worker_python:
            pids["node"] = spawn("node", [
                sys.executable, str(Path(__file__).with_name("node.py")), "--server", server, "--pki", str(pki),
                "--root", str(root / "node"), "--python", worker_python, "--logs-port", str(free_port()),
                *(["--pythonpath", pythonpath] if pythonpath else []),
                *(a for name, program in (entrypoints or {}).items() for a in ("--entrypoint", f"{name}={program}")),
            ], logs)
            record(cluster)
    except BaseException:
        stop(root)
        raise
    return cluster


def wait_ready(cluster: Cluster, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for name, pid in cluster.pids.items():
            if not alive(pid):
                log = (cluster.root / "logs" / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited while starting; its log ends:\n{log}")
        try:
            status, last = cluster.get("/readyz")
            if status == 200:
                return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise TimeoutError(f"kube-apiserver not ready after {timeout:.0f} s: {last[-2000:]}")


def settle(cluster: Cluster, name: str, seconds: float = 3) -> None:
    """A process that refuses its flags exits at once: say so with its log rather than later in a test."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(cluster.pids[name]):
            log = (cluster.root / "logs" / f"{name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited while starting; its log ends:\n{log}")
        time.sleep(0.2)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of ours is not alive
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def stop(root: Path, grace: float = 10) -> None:
    """Stop every process `start` recorded, newest first: SIGTERM, then SIGKILL after `grace` seconds."""
    saved = root / "pids.json"
    if not saved.exists():
        return
    pids = json.loads(saved.read_text())
    real_node = "kubelet" in pids
    if real_node:
        from support import realnode

        realnode.drain(root)
    for name in reversed(list(pids)):
        pid = pids[name]
        if name == "containerd" and alive(pid):
            realnode.kill_tasks(root)
        if not alive(pid):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    saved.unlink()
    if real_node:
        realnode.release(root, binaries())


def main(argv: list[str]) -> int:
    real_node = "--real-node" in argv
    argv = [a for a in argv if a != "--real-node"]
    if len(argv) not in (2, 3) or argv[0] not in ("up", "down"):
        print("usage: cluster.py up [--real-node] DIR [WORKER_PYTHON] | down DIR", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT / "tests"))  # run as a script: the support package beside this file
    root = Path(argv[1])
    if argv[0] == "down":
        stop(root)
        print(f"stopped the processes started in {root}")
        return 0
    worker_python = None if real_node or len(argv) == 2 else argv[2]
    cluster = start(root, worker_python=worker_python, pythonpath=str(ROOT / "operator"), real_node=real_node)
    print(f"kube-apiserver {cluster.server} ready; logs in {root / 'logs'}; stop with: scripts/kube-cluster.sh down {root}")
    print(f"export KUBECONFIG={cluster.kubeconfig}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
