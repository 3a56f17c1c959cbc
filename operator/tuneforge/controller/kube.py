"""The official Kubernetes client, configured once: in-cluster, from TUNEFORGE_KUBE_SERVER (tests,
local development against a proxy), or from the kubeconfig."""

from __future__ import annotations

import functools
import os

import kubernetes


# (connect, read) seconds for every call: a handler must never hang on a lost connection.
TIMEOUT = (5, 30)


@functools.cache
def client() -> kubernetes.client.ApiClient:
    server = os.environ.get("TUNEFORGE_KUBE_SERVER")
    if server:
        config = kubernetes.client.Configuration()
        config.host = server.rstrip("/")
        config.verify_ssl = False
        return kubernetes.client.ApiClient(config)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        kubernetes.config.load_incluster_config()
    else:
        kubernetes.config.load_kube_config()
    return kubernetes.client.ApiClient()


def batch() -> kubernetes.client.BatchV1Api:
    return kubernetes.client.BatchV1Api(client())


def core() -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(client())


def custom() -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(client())


def create_or_keep(create, namespace: str, body: dict) -> bool:
    """Create a child object; an existing one (a re-run after a restart) is kept. True if created."""
    try:
        create(namespace, body, _request_timeout=TIMEOUT)
        return True
    except kubernetes.client.ApiException as exc:
        if exc.status == 409:
            return False
        raise
