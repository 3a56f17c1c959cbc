"""The contract between a pod and the worker in it, in one place: where the spec, claims and cache are
mounted, what the worker is started as, the names in its environment, what its exit codes mean, the
record it leaves and which outputs it uploads. The operator writes the Job from these; the worker and
`tuneforge run` read them. Standard library only."""

from __future__ import annotations

# The spec: a pod annotation the downward API mounts as a file.
SPEC_DIR = "/etc/tuneforge"
SPEC_FILE = "spec.json"
SPEC_PATH = f"{SPEC_DIR}/{SPEC_FILE}"

# Mounts: pvc://claim/path is /mnt/pvc/claim/path; the shared model cache is /cache.
PVC_ROOT = "/mnt/pvc"
CACHE_DIR = "/cache"
# ... and their stand-ins outside a pod.
PVC_ROOT_ENV = "TUNEFORGE_PVC_ROOT"
CACHE_ENV = "TUNEFORGE_CACHE"

# How a pod starts the worker (torchrun takes `python`'s place for several processes).
WORKER_MODULE = ("-m", "tuneforge.worker", "--spec", SPEC_PATH)
WORKER_COMMAND = ("python", *WORKER_MODULE)
# The worker pod's one container: its logs, its exit codes in the failure policy, its CPU limit.
WORKER_CONTAINER = "worker"

# The container's CPU limit in whole cores (the downward API's limits.cpu, rounded up; the node's
# allocatable CPUs where the pod sets no limit): a worker runs this many threads, not one per core
# of the node, which a cgroup quota would then throttle.
CPU_LIMIT_ENV = "TUNEFORGE_CPU_LIMIT"

# Set on multi-node Jobs: the DNS name of the pod with completion index 0, and its rendezvous port.
RENDEZVOUS_ENV = "TUNEFORGE_RENDEZVOUS_HOST"
RENDEZVOUS_PORT = 29500

# Exit codes: 0 done; EXIT_INVALID for input that retrying cannot fix (the Job's pod failure policy
# fails it at once); anything else may be retried.
EXIT_INVALID = 2
# The job ran and wrote its output, but missed a threshold of spec.gate: never retried, and no fromJob
# consumer starts from it (the Job's pod failure policy fails it at once, with reason GateFailed).
EXIT_GATE_FAILED = 3
# Stopped by SIGTERM (preemption, eviction, drain) after saving a checkpoint: 128 + SIGTERM, as a
# shell reports it. The Job retries; a disruption's pod does not count against backoffLimit.
EXIT_PREEMPTED = 143

# What every output folder holds once the worker finished.
OUTPUT_RECORD = "tuneforge-output.json"

# Outputs the worker writes to a staging folder and then uploads.
REMOTE_SCHEMES = ("s3://", "hf://", "oci://")
