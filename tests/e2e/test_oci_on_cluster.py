"""oci:// through the operator: a QuantizeJob's pod pushes its GGUF to a registry with the credentials
of a docker-config Secret (`kubectl create secret docker-registry`), which reach the worker as a
secretKeyRef and never pass through the operator; a second QuantizeJob with the wrong Secret fails
with the registry's refusal in words and no credential in its status."""

from __future__ import annotations

import json

import pytest
import yaml
from support import registry as registry_support
from support.builders import quantize
from support.clusterkit import describe, restricted_namespace

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    reg = registry_support.start(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


def docker_secret(operator, ns: str, name: str, address: str, password: str) -> None:
    operator.kubectl("create", "secret", "docker-registry", name, "-n", ns, f"--docker-server={address}",
                     f"--docker-username={registry_support.USER}", f"--docker-password={password}", check=True)


def test_a_quantize_job_pushes_its_image_with_a_docker_config_secret(operator, registry):
    ns = restricted_namespace(operator, "oci")
    docker_secret(operator, ns, "regcred", registry.address, registry_support.PASSWORD)
    docker_secret(operator, ns, "wrong", registry.address, "not-it-8d2c")
    pushed, refused = (quantize(name=name).set("spec.gguf", {"types": ["q4_k_m"]})
                       .set("spec.evaluation", {"enabled": False})
                       .set("spec.output", {"uri": f"oci://{registry.address}/smol:{tag}", "secretRef": {"name": secret},
                                            "sample": "off"})
                       for name, tag, secret in (("pushed", "q4km", "regcred"), ("refused", "never", "wrong")))
    operator.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all([pushed, refused]), check=True)
    done = operator.kubectl("wait", "-n", ns, "--for=condition=Succeeded", "--timeout=600s", "qj/pushed", timeout=660)
    assert done.returncode == 0, done.stderr + describe(operator, ns)
    failed = operator.kubectl("wait", "-n", ns, "--for=condition=Failed", "--timeout=300s", "qj/refused", timeout=360)
    assert failed.returncode == 0, failed.stderr + describe(operator, ns)

    status = operator.json("get", "qj", "pushed", "-n", ns)["status"]
    assert status["output"]["uri"] == f"oci://{registry.address}/smol:q4km"
    manifest = json.loads(registry.get("smol/manifests/q4km")[0])
    assert manifest["annotations"]["io.tuneforge.job"] == "QuantizeJob/pushed"
    message = operator.json("get", "qj", "refused", "-n", ns)["status"]["message"]
    assert "the registry refused the credentials of Secret wrong" in message and "not-it-8d2c" not in message
    job = operator.json("get", "job", "pushed-qj", "-n", ns)
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    refs = [e["valueFrom"]["secretKeyRef"] for e in env if "secretKeyRef" in e.get("valueFrom", {})]
    assert {"name": "regcred", "key": ".dockerconfigjson"} in [{k: r[k] for k in ("name", "key")} for r in refs]
