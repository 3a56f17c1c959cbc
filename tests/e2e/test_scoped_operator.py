"""The chart installed namespace-scoped (`watchNamespaces`): Roles in the watched namespaces only, the
operator serves resources there and leaves every other namespace alone, and its ServiceAccount cannot
act outside them. The release is upgraded to that mode and back, as an administrator would."""

from __future__ import annotations

import pytest
import yaml
from support.clusterkit import (OPERATOR, OPERATOR_NAMESPACE, RELEASE_VALUES, ROOT, describe, eventually, finetune, operator_pod,
                        restricted_namespace)

pytestmark = pytest.mark.slow

AS_OPERATOR = f"--as=system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR}"


def upgrade(kube, *values: str) -> None:
    """`helm upgrade` with the release's values plus these (--reset-values: what is not given is the default)."""
    kube.helm("upgrade", "tf", str(ROOT / "charts" / "tuneforge"), "-n", OPERATOR_NAMESPACE, "--reset-values",
              *RELEASE_VALUES, *values, "--wait", "--timeout", "180s")


def can(kube, verb: str, resource: str, *scope: str) -> str:
    return kube.kubectl("auth", "can-i", verb, resource, *scope, AS_OPERATOR).stdout.strip()


def test_a_namespace_scoped_operator_serves_only_its_namespaces(operator):
    watched = restricted_namespace(operator, "team-a")
    other = restricted_namespace(operator, "team-b")
    before = operator_pod(operator)["metadata"]["uid"]
    upgrade(operator, "--set", f"watchNamespaces={{{watched}}}")
    try:
        assert eventually(lambda: operator_pod(operator)["metadata"]["uid"] != before, 120)
        args = operator_pod(operator)["spec"]["containers"][0]["args"]
        assert f"--namespace={watched}" in args and "--all-namespaces" not in args
        # The permissions: the chart's rules in the watched namespace, nothing namespaced elsewhere.
        assert can(operator, "create", "jobs.batch", "-n", watched) == "yes"
        assert can(operator, "create", "jobs.batch", "-n", other) == "no"
        assert can(operator, "list", "finetunejobs.tuneforge.io", "-n", other) == "no"
        assert can(operator, "list", "finetunejobs.tuneforge.io", "--all-namespaces") == "no"
        # Nothing at cluster scope: kopf discovers the CRDs once and takes the namespaces as given.
        assert can(operator, "list", "customresourcedefinitions.apiextensions.k8s.io") == "no"
        assert can(operator, "list", "namespaces") == "no"

        # Suspended: the operator's whole part (parse, plan, create the Job, status, Events) without a worker.
        for ns in (watched, other):
            doc = finetune("held", runPolicy={"suspend": True})
            operator.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(doc), check=True)
        phase = lambda ns: (operator.json("get", "ftj", "held", "-n", ns).get("status") or {}).get("phase")  # noqa: E731
        assert eventually(lambda: phase(watched) == "Suspended", 60), describe(operator, watched)
        assert operator.json("get", "job", "held-ftj", "-n", watched)["spec"]["suspend"] is True
        # The unwatched namespace's resource is untouched; the watched one, served meanwhile, shows the
        # operator was running all along.
        assert phase(other) is None and operator.kubectl("get", "job", "held-ftj", "-n", other).returncode != 0
        log = operator.kubectl("logs", "-n", OPERATOR_NAMESPACE, f"deploy/{OPERATOR}", check=True).stdout
        assert "Forbidden" not in log and "403" not in log, log[-3000:]
    finally:
        upgrade(operator)
    # Cluster-wide again: the other namespace's resource is picked up now.
    assert eventually(lambda: phase(other) == "Suspended", 120), describe(operator, other)
    assert can(operator, "create", "jobs.batch", "-n", other) == "yes"
