"""The official Kubernetes client, configured once: in-cluster, from TUNEFORGE_KUBE_SERVER (tests,
local development against a proxy), or from the kubeconfig."""

from __future__ import annotations

import functools
import os

import kubernetes


# (connect, read) seconds for every call: a handler must never hang on a lost connection.
TIMEOUT = (5, 30)
# One kept-alive connection per handler thread (kopf's execution.max_workers, main.py): urllib3's
# default pool of 10 discarded connections under load, and each new one costs a TLS handshake.
CONNECTIONS = 32


@functools.cache
def client() -> kubernetes.client.ApiClient:
    config = kubernetes.client.Configuration()
    server = os.environ.get("TUNEFORGE_KUBE_SERVER")
    if server:
        config.host = server.rstrip("/")
        config.verify_ssl = False
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        kubernetes.config.load_incluster_config(client_configuration=config)
    else:
        kubernetes.config.load_kube_config(client_configuration=config)
    config.connection_pool_maxsize = CONNECTIONS
    return kubernetes.client.ApiClient(config)


# Cached: each attribute of kubernetes.client is a lazy import behind a module lock that 32 handler
# threads would queue on.
@functools.cache
def batch() -> kubernetes.client.BatchV1Api:
    return kubernetes.client.BatchV1Api(client())


@functools.cache
def core() -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(client())


@functools.cache
def custom() -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(client())


def create_or_keep(path: str, body: dict) -> bool:
    """POST a child object to `path` (its collection); an existing one (a re-run after a restart) is
    kept. True if created.

    The generic request, not `create_namespaced_job`: the generated methods validate their arguments
    with pydantic and convert the body to model objects and back, which cost more CPU than the
    request itself when a thousand resources arrive at once. The answer is drained, not parsed.
    """
    api = client()
    request = api.param_serialize("POST", path, body=body, auth_settings=["BearerToken"],
                                  header_params={"Content-Type": "application/json", "Accept": "application/json"})
    response = api.call_api(*request, _request_timeout=TIMEOUT)
    response.read()
    if response.status == 409:
        return False
    if not 200 <= response.status <= 299:
        raise kubernetes.client.ApiException.from_response(
            http_resp=response, body=response.data.decode("utf-8", "replace"), data=None)
    return True


def collection(api_version: str, namespace: str, plural: str) -> str:
    """The URL path of a namespaced collection: ("batch/v1", "ns", "jobs") -> /apis/batch/v1/namespaces/ns/jobs."""
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{prefix}/namespaces/{namespace}/{plural}"


def reset() -> None:
    """Forget the configured client (tests point a new operator at a new API server)."""
    for cached in (client, batch, core, custom):
        cached.cache_clear()
