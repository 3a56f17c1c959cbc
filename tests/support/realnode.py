"""A real node beside the control plane: containerd and runc (Debian's packages) with the CNI bridge
plugin, the kubelet, kube-scheduler and kube-proxy built from the same k8s.io/kubernetes module,
and CoreDNS (scripts/addons-build.sh).

Pods get addresses on a bridge of their own (BRIDGE, POD_CIDR), reach the API server through the
`kubernetes` Service as in any cluster (kube-proxy's iptables rules lead 10.0.0.1:443 to the server,
which listens on the bridge's address, not beyond this machine), find each other by name through
CoreDNS, and run the images that `push` puts in a registry on loopback, from which the kubelet
pulls them. No other registry is reachable, so the sandbox ("pause") image is built here too
(tests/support/pause). One real node per machine: the bridge and the iptables rules are the
machine's, and containerd's images are kept in one folder of the cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

BRIDGE, BRIDGE_IP, POD_CIDR = "tf0", "10.88.0.1", "10.88.0.0/16"
NODE = "tuneforge-node"
PAUSE_IMAGE = "localhost/tuneforge/pause:1"
HERE = Path(__file__).resolve().parent


def network_up() -> None:
    """The pods' bridge with the node's address, before the API server binds to it."""
    if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0:
        subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
    addresses = subprocess.run(["ip", "-o", "addr", "show", BRIDGE], capture_output=True, text=True).stdout
    if f" {BRIDGE_IP}/" not in addresses:
        subprocess.run(["ip", "addr", "add", f"{BRIDGE_IP}/16", "dev", BRIDGE], check=True)
    subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)


def containerd_config(root: Path, images: Path, registry: str) -> Path:
    """containerd's configuration: its state under `root`, its snapshots (the images' unpacked layers)
    under `images`, kept across runs; the loopback `registry` reached over plain HTTP."""
    base = root / "containerd"
    cni = root / "cni"
    cni.mkdir(parents=True, exist_ok=True)
    (cni / "10-tuneforge.conflist").write_text(json.dumps({
        "cniVersion": "0.4.0", "name": "tuneforge",
        "plugins": [{"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
                     "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR, "gateway": BRIDGE_IP}]],
                              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(root / "cni-ipam")}}],
    }))
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    config = base / "config.toml"
    base.mkdir(parents=True, exist_ok=True)
    config.write_text(f"""version = 2
root = "{images}"
state = "{base / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "{socket(root)}"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  enable_selinux = false
  # A sandboxed machine may refuse to lower oom_score_adj (runc then fails with "can't get final
  # child's PID from pipe"): no container gets a lower score than containerd's own.
  restrict_oom_score_adj = true
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
  # An image of several GB is kept once, unpacked, not a second time as its pulled layers.
  discard_unpacked_layers = true
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{cni}"
[{cri}.registry.mirrors."{registry}"]
  endpoint = ["http://{registry}"]
""")
    return config


def socket(root: Path) -> Path:
    return root / "containerd" / "containerd.sock"


def ctr(root: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(["ctr", "--address", str(socket(root)), "--namespace", "k8s.io", *args],
                          capture_output=True, text=True, timeout=timeout)


# The registry's address stays the same from run to run where it can: buildah remembers which
# compressed blob each layer became at each address (containers/image's blob-info cache), so a push
# of unchanged layers to the address it knows skips them at once; at a new address it compresses each
# again to learn its digest (about a minute per image of several GB). Below the ephemeral range.
REGISTRY_PORT = 30517


def registry_port() -> int:
    """REGISTRY_PORT, or any free port while another run's registry holds it."""
    import socket as net  # this module's socket() is containerd's

    from support.cluster import free_port

    with net.socket() as probe:
        # As Go's listener does: a port whose last connections are in TIME_WAIT can be bound.
        probe.setsockopt(net.SOL_SOCKET, net.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", REGISTRY_PORT))
        except OSError:
            return free_port()
    return REGISTRY_PORT


def start_registry(cluster, cache: Path) -> str:
    """Debian's docker-registry on loopback, its blobs kept in cache/registry: buildah pushes only the
    layers it lacks, and the kubelet pulls only the layers containerd lacks, so a code change moves
    one small layer, not a whole image. Returns its address."""
    from support.cluster import record, spawn

    address = f"127.0.0.1:{registry_port()}"
    config = cluster.root / "registry.yml"
    config.write_text(json.dumps({
        "version": "0.1", "log": {"level": "warn"}, "http": {"addr": address},
        "storage": {"filesystem": {"rootdirectory": str(cache / "registry")}, "delete": {"enabled": True}}}))
    cluster.pids["registry"] = spawn("registry", ["docker-registry", "serve", str(config)], cluster.root / "logs")
    record(cluster)
    return address


def push(cluster, buildah, ref: str) -> str:
    """An image from buildah's storage to the loopback registry; its name there (what pods run)."""
    remote = f"{cluster.registry}/{ref.split('/', 1)[1]}"
    # zstd: the registry keeps a third of the uncompressed size (about 5 GB for the three images
    # instead of 13), at a few seconds of CPU per GB; containerd 1.6 unpacks zstd layers (OCI format).
    buildah("push", "-q", "--tls-verify=false", "--format", "oci", "--compression-format", "zstd",
            "--compression-level", "3", ref, f"docker://{remote}")
    return remote


def forget_older_images(root: Path) -> None:
    """At the end of a run, containerd keeps this run's images (its registry's names, and the ids the
    kubelet knows them by) and the sandbox image: the layers the next run shares with them stay
    unpacked, the rest are collected."""
    registry = json.loads((root / "registry.yml").read_text())["http"]["addr"]
    listed = [line.split()[:3] for line in ctr(root, "images", "ls").stdout.splitlines()[1:] if line.strip()]
    kept = {digest for ref, _, digest in listed if ref.startswith((f"{registry}/", PAUSE_IMAGE))}
    for ref, _, digest in listed:
        if digest not in kept:
            ctr(root, "images", "rm", ref)


def collect_registry(root: Path) -> None:
    """After the registry stopped: blobs no tag names any more are deleted (an image's older builds)."""
    config = root / "registry.yml"
    if config.exists():
        subprocess.run(["docker-registry", "garbage-collect", "--delete-untagged", str(config)], capture_output=True,
                       timeout=600)


def pause_image(buildah) -> str:
    """The sandbox image: a static Go binary (tests/support/pause) in an image of its own, built once."""
    if buildah.exists(PAUSE_IMAGE):
        return PAUSE_IMAGE
    binary = buildah.storage / "pause"
    subprocess.run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(binary), "."], cwd=HERE / "pause",
                   check=True, capture_output=True, env={**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local"})
    container = buildah("from", "scratch").strip()
    buildah("copy", container, str(binary), "/pause")
    buildah("config", "--entrypoint", '["/pause"]', "--user", "65535:65535", container)
    buildah("commit", "-q", "--rm", container, PAUSE_IMAGE)
    return PAUSE_IMAGE


def kubelet_config(root: Path, pki: Path, port: int, healthz: int) -> Path:
    config = root / "kubelet-config.json"
    config.write_text(json.dumps({
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(pki / "ca.crt")}},
        "authorization": {"mode": "Webhook"},
        "address": BRIDGE_IP, "port": port, "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1", "healthzPort": healthz,
        "tlsCertFile": str(pki / "kubelet-serving.crt"), "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "containerRuntimeEndpoint": f"unix://{socket(root)}",
        # This machine mounts cgroup v1 and runs no systemd: cgroupfs, and v1 allowed explicitly
        # (kubelet 1.35 refuses v1 unless told otherwise).
        "cgroupDriver": "cgroupfs", "failCgroupV1": False, "failSwapOn": False,
        "resolvConf": "", "clusterDomain": "cluster.local", "clusterDNS": [BRIDGE_IP],
        # Images come from the loopback registry when a pod needs them; a
        # test machine's full disk must not evict the pods under test.
        "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        # A moment of pressure while an image of several GB unpacks must not keep pods off the node
        # for the default five minutes.
        "evictionPressureTransitionPeriod": "10s",
        "volumePluginDir": str(root / "kubelet-plugins"), "serializeImagePulls": False,
    }))
    return config


def certificates(pki: Path) -> None:
    """The node's identities: the kubelet (client and serving), the scheduler and kube-proxy."""
    from support.cluster import client_certificate

    if (pki / "kube-proxy.crt").exists():
        return
    (pki / "kubelet-san.cnf").write_text(f"subjectAltName=IP:{BRIDGE_IP},IP:127.0.0.1,DNS:{NODE}\n")
    client_certificate(pki, "kubelet-serving", NODE, extfile="kubelet-san.cnf")
    client_certificate(pki, "kubelet", f"system:node:{NODE}", "system:nodes")
    client_certificate(pki, "scheduler", "system:kube-scheduler")
    client_certificate(pki, "kube-proxy", "system:kube-proxy")
    client_certificate(pki, "coredns", "system:coredns")


def start(cluster, bin_dir: Path, cache: Path, timeout: float = 120) -> None:
    """containerd (its images kept in cache/containerd), the sandbox image, kube-scheduler, the kubelet
    and kube-proxy; returns once the Node is Ready. Each process is recorded in cluster.pids as it
    starts, so `stop` finds it."""
    from support.images import Buildah

    from support.cluster import free_port, kubeconfig, record, settle, spawn

    root, pki, logs = cluster.root, cluster.pki, cluster.root / "logs"
    certificates(pki)
    cluster.registry = start_registry(cluster, cache)
    config = containerd_config(root, cache / "containerd", cluster.registry)
    cluster.pids["containerd"] = spawn("containerd", ["containerd", "--config", str(config)], logs)
    record(cluster)
    deadline = time.monotonic() + 30
    while ctr(root, "version").returncode != 0:
        settle(cluster, "containerd", 0.5)
        if time.monotonic() > deadline:
            raise TimeoutError(f"containerd not answering on {socket(root)}")
    # The sandbox image is named in containerd's configuration: pulled once, kept by that name.
    pause = push(cluster, Buildah(), pause_image(Buildah()))
    for args in (("images", "pull", "--plain-http", pause), ("images", "tag", "--force", pause, PAUSE_IMAGE)):
        result = ctr(root, *args)
        if result.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args)}: {result.stderr}")
    config = {name: kubeconfig(root / f"{name}.kubeconfig", cluster.server, pki, name)
              for name in ("scheduler", "kubelet", "kube-proxy", "coredns")}
    start_dns(cluster, config["coredns"])
    cluster.pids["kube-scheduler"] = spawn("kube-scheduler", [
        str(bin_dir / "kube-scheduler"), f"--kubeconfig={config['scheduler']}", "--leader-elect=false",
        "--bind-address=127.0.0.1", f"--secure-port={free_port()}", "--v=1"], logs)
    cluster.pids["kubelet"] = spawn("kubelet", [
        str(bin_dir / "kubelet"), f"--config={kubelet_config(root, pki, free_port(), free_port())}",
        f"--kubeconfig={config['kubelet']}", f"--root-dir={root / 'kubelet'}", f"--cert-dir={root / 'kubelet-pki'}",
        f"--hostname-override={NODE}", f"--node-ip={BRIDGE_IP}", "--v=1"], logs)
    # iptables mode; no conntrack tuning (a sandbox may refuse the sysctls) and no localhost NodePorts
    # (route_localnet is a host-wide setting this node has no business changing).
    cluster.pids["kube-proxy"] = spawn("kube-proxy", [
        str(bin_dir / "kube-proxy"), f"--kubeconfig={config['kube-proxy']}", f"--hostname-override={NODE}",
        "--proxy-mode=iptables", f"--cluster-cidr={POD_CIDR}", "--conntrack-max-per-core=0",
        "--iptables-localhost-nodeports=false", f"--metrics-bind-address=127.0.0.1:{free_port()}",
        f"--healthz-bind-address=127.0.0.1:{free_port()}", "--v=1"], logs)
    record(cluster)
    wait_node_ready(cluster, timeout)


def addons() -> Path:
    """Kueue's controller and CRDs, CoreDNS (scripts/addons-build.sh, built once)."""
    out = subprocess.run([str(HERE.parents[1] / "scripts" / "addons-build.sh")], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


# What CoreDNS's kubernetes plugin reads, granted to its certificate's user.
DNS_RULES = [{"apiGroups": [""], "resources": ["services", "namespaces", "pods"], "verbs": ["list", "watch"]},
             {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]}]


def start_dns(cluster, kubeconfig_path: Path) -> None:
    """The cluster's DNS on the bridge: Services and the pods of headless Services under
    cluster.local (what the kubelet writes into each pod's resolv.conf); nothing else is answered."""
    from support.cluster import record, spawn

    root = cluster.root
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    admin_call(root, "POST", f"{rbac}/clusterroles", {"metadata": {"name": "system:coredns"}, "rules": DNS_RULES})
    admin_call(root, "POST", f"{rbac}/clusterrolebindings", {
        "metadata": {"name": "system:coredns"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "system:coredns"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:coredns"}]})
    corefile = root / "Corefile"
    corefile.write_text(f"""cluster.local:53 {{
    bind {BRIDGE_IP}
    errors
    kubernetes cluster.local {{
        kubeconfig {kubeconfig_path} test
    }}
}}
""")
    cluster.pids["coredns"] = spawn("coredns", [str(addons() / "bin" / "coredns"), "-conf", str(corefile)], root / "logs")
    record(cluster)


def wait_node_ready(cluster, timeout: float) -> None:
    from support.cluster import settle

    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        for name in ("containerd", "coredns", "kube-scheduler", "kubelet", "kube-proxy"):
            settle(cluster, name, 0)
        status, body = cluster.get(f"/api/v1/nodes/{NODE}")
        if status == 200:
            conditions = {c["type"]: c for c in json.loads(body)["status"].get("conditions", [])}
            ready = conditions.get("Ready", {})
            if ready.get("status") == "True":
                return
            last = f"{ready.get('reason')}: {ready.get('message')}"
        time.sleep(1)
    raise TimeoutError(f"node {NODE} not Ready after {timeout:.0f} s ({last}); see {cluster.root / 'logs' / 'kubelet.log'}")


def admin_call(root: Path, method: str, path: str, body: dict | None = None) -> dict:
    """One call to the API server as the admin of root/kubeconfig (standard library only)."""
    import ssl
    import urllib.request

    config = json.loads((root / "kubeconfig").read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    context = ssl.create_default_context(cafile=cluster["certificate-authority"])
    context.load_cert_chain(user["client-certificate"], user["client-key"])
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(cluster["server"] + path, method=method, data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        return json.loads(response.read() or b"{}")


def drain(root: Path, grace: float = 30) -> None:
    """Before the kubelet stops: every pod deleted through the API, so the kubelet tears each sandbox
    down (CNI DEL frees its address and veth); what is left after `grace` seconds, kill_tasks kills."""
    try:
        for pod in admin_call(root, "GET", "/api/v1/pods")["items"]:
            meta = pod["metadata"]
            admin_call(root, "DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}?gracePeriodSeconds=0")
    except OSError:
        return
    deadline = time.monotonic() + grace
    while ctr(root, "containers", "ls", "-q").stdout.strip() and time.monotonic() < deadline:
        time.sleep(1)


def kill_tasks(root: Path) -> None:
    """While containerd still runs: any container left killed and removed (its shim exits with it),
    so the kept root holds images only."""
    for task in ctr(root, "tasks", "ls", "-q").stdout.split():
        ctr(root, "tasks", "kill", "-s", "SIGKILL", task)
        ctr(root, "tasks", "delete", "-f", task)
    for container in ctr(root, "containers", "ls", "-q").stdout.split():
        ctr(root, "containers", "delete", container)
    forget_older_images(root)


def release(root: Path, bin_dir: Path) -> None:
    """After every process stopped: mounts under `root` released, kube-proxy's iptables rules removed,
    the registry's unnamed blobs collected."""
    mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(str(root))), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], capture_output=True)
    subprocess.run([str(bin_dir / "kube-proxy"), "--cleanup"], capture_output=True, timeout=60)
    for table in ("filter", "nat", "mangle"):  # the kubelet's canary chains, which --cleanup leaves
        subprocess.run(["iptables", "-t", table, "-X", "KUBE-KUBELET-CANARY"], capture_output=True)
    collect_registry(root)
