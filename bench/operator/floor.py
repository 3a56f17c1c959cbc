"""The floor for this stack: a bare kopf operator whose only handler creates one Job per FineTuneJob.

    kopf run bench/operator/floor.py --standalone --all-namespaces

Same libraries as tuneforge's operator (kopf, the official client, the same emulator); no parsing,
no planning, no status. What it costs to get from a resource to a Job here.

With FLOOR_EVENT=1 the handler also posts one Event per resource, as tuneforge must (an Event for
every transition, the first being "Job created"): the floor for an operator with that requirement.
"""

import os

import kopf
import kubernetes

from tuneforge.controller import kube

EVENT = os.environ.get("FLOOR_EVENT") == "1"


@kopf.on.create("tuneforge.io", "v1alpha1", "finetunejobs", id="floor")
def create(body, name, namespace, **_):
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": f"{name}-ftj"},
           "spec": {"template": {"spec": {"restartPolicy": "Never",
                                          "containers": [{"name": "w", "image": "busybox"}]}}}}
    kubernetes.client.BatchV1Api(kube.client()).create_namespaced_job(namespace, job, _request_timeout=kube.TIMEOUT)
    if EVENT:
        kopf.info(body, reason="JobCreated", message=f"created Job {name}-ftj")
