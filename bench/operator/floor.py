"""The floor for this stack: a bare kopf operator whose only handler creates one Job per FineTuneJob.

    kopf run bench/operator/floor.py --standalone --all-namespaces

Same libraries as tuneforge's operator (kopf, the official client, the same emulator); no parsing,
no planning, no status. What it costs to get from a resource to a Job here.
"""

import kopf
import kubernetes

from tuneforge.controller import kube


@kopf.on.create("tuneforge.io", "v1alpha1", "finetunejobs", id="floor")
def create(name, namespace, **_):
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": f"{name}-ftj"},
           "spec": {"template": {"spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "w", "image": "busybox"}]}}}}
    kubernetes.client.BatchV1Api(kube.client()).create_namespaced_job(namespace, job, _request_timeout=kube.TIMEOUT)
