"""A real control plane for the session: etcd, kube-apiserver and kube-controller-manager built from
their Go modules (scripts/kube-build.sh, cached), started on loopback by tests/support/cluster.py,
stopped (by PID) at the end. kubectl and helm are the real binaries (scripts/kube-tools.sh)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import cluster as control_plane
from support import images
from support.clusterkit import CHART_VERSION, OPERATOR_NAMESPACE, RELEASE_VALUES, ROOT, Kube, real_node_values
from support.images import Buildah


def operator_program() -> str:
    """`tuneforge` of the operator's own environment: the operator image's ENTRYPOINT."""
    venv = subprocess.run([str(ROOT / "scripts" / "env.sh"), "operator"], capture_output=True, text=True, check=True)
    return str(Path(venv.stdout.strip()) / "bin" / "tuneforge")


@pytest.fixture(scope="session")
def kube(tmp_path_factory) -> Kube:
    root = tmp_path_factory.mktemp("cluster")
    tools = Path(subprocess.run([str(ROOT / "scripts" / "kube-tools.sh")], capture_output=True, text=True,
                                check=True).stdout.strip())
    # The node stand-in runs worker images' `python` with this (the main) environment's interpreter and
    # the operator image's entrypoint with the operator environment's `tuneforge`, this checkout first.
    running = control_plane.start(root, worker_python=sys.executable, pythonpath=str(ROOT / "operator"),
                                  entrypoints={"operator": operator_program()})
    try:
        yield Kube(running, tools)
    finally:
        control_plane.stop(root)


@pytest.fixture(scope="session")
def crds(kube: Kube) -> Kube:
    return install_crds(kube)


def install_crds(kube: Kube) -> Kube:
    """The chart's CRDs applied server-side (as the README tells a user to upgrade them) and Established."""
    kube.kubectl("apply", "--server-side", "-f", str(ROOT / "charts" / "tuneforge" / "crds"), check=True)
    for plural in ("finetunejobs", "mergejobs", "quantizejobs"):
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{plural}.tuneforge.io", check=True)
    # The server publishes a new CRD's OpenAPI (what `kubectl explain` reads) a few seconds after it
    # is Established.
    deadline = time.monotonic() + 60
    while any(kube.kubectl("explain", kind).returncode for kind in ("finetunejob", "mergejob", "quantizejob")):
        assert time.monotonic() < deadline, "the CRDs' OpenAPI was not published within 60 s"
        time.sleep(1)
    return kube




@pytest.fixture(scope="session")
def operator(crds: Kube) -> Kube:
    """`helm install` of the chart as a user runs it; its Deployment's pod runs on the node stand-in as
    the chart's ServiceAccount (a token from the TokenRequest API), cluster-wide."""
    crds.helm("install", "tf", str(ROOT / "charts" / "tuneforge"), "-n", OPERATOR_NAMESPACE, "--create-namespace",
              *RELEASE_VALUES, "--wait", "--timeout", "180s")
    return crds


@pytest.fixture(scope="session")
def real_kube(tmp_path_factory) -> Kube:
    """The control plane with a real node (containerd, runc, the kubelet, kube-proxy, CoreDNS,
    kube-scheduler) and the operator image and the quickstart's worker images built by buildah from
    their Dockerfiles (CPU builds on a Debian base), pushed to the node's loopback registry."""
    buildah = Buildah()
    # Bounded: a build that has not ended by then fails the run with its log, not CI's whole budget.
    refs = images.built(timeout=1800)
    root = tmp_path_factory.mktemp("realcluster")
    tools = Path(subprocess.run([str(ROOT / "scripts" / "kube-tools.sh")], capture_output=True, text=True,
                                check=True).stdout.strip())
    running = control_plane.start(root, real_node=True)
    try:
        # As a user publishes them: every image the node runs and the chart, to its registry.
        buildah.publish(f"{running.registry}/tuneforge", tuple(ref.split("/")[-1].split(":")[0] for ref in refs))
        yield Kube(running, tools)
    finally:
        control_plane.stop(root)


@pytest.fixture(scope="session")
def real_operator(real_kube: Kube) -> Kube:
    """The chart installed as a user with a private registry would: `helm install oci://` of the chart
    scripts/publish pushed there, which names that registry's images itself; the operator's own
    container runs the image as a Deployment's pod, probed and scraped."""
    install_crds(real_kube)
    real_kube.helm("install", "tf", f"oci://{real_kube.cluster.registry}/tuneforge/charts/tuneforge",
                   "--version", CHART_VERSION, "--plain-http", "-n", OPERATOR_NAMESPACE, "--create-namespace",
                   *real_node_values(), "--wait", "--timeout", "600s")
    return real_kube
