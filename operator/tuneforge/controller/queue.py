"""What Kueue says about a queued Job: the message of its Workload's pending condition (why it is not
admitted yet, e.g. "insufficient unused quota for cpu in flavor default"), for the resource's status.

Kueue keeps one Workload per Job, labelled with the Job's uid. The operator may list Workloads (the
chart grants it); without Kueue installed, or without that permission, the resource
keeps the generic "suspended" message.
"""

from __future__ import annotations

from typing import Any

import kubernetes

from . import kube

JOB_UID_LABEL = "kueue.x-k8s.io/job-uid"
# Kueue 0.15 and later serve v1beta2; earlier releases v1beta1 only.
VERSIONS = ("v1beta2", "v1beta1")


def pending_message(job: dict[str, Any]) -> str | None:
    """Kueue's reason for not admitting the Job yet, or None when there is none to read."""
    namespace, uid = job["metadata"]["namespace"], job["metadata"]["uid"]
    for version in VERSIONS:
        try:
            found = kube.custom().list_namespaced_custom_object(
                "kueue.x-k8s.io", version, namespace, "workloads", label_selector=f"{JOB_UID_LABEL}={uid}",
                _request_timeout=kube.TIMEOUT)
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                continue  # this version (or Kueue) is not served
            if exc.status == 403:
                return None
            raise
        for workload in found.get("items") or []:
            for condition in (workload.get("status") or {}).get("conditions") or []:
                if condition.get("type") == "QuotaReserved" and condition.get("status") == "False":
                    return condition.get("message") or condition.get("reason")
        return None
    return None
