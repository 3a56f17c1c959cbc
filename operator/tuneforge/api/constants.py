"""Names shared by the API, the operator and the workers: group, version, labels, annotations."""

GROUP = "tuneforge.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "tuneforge"

FINALIZER = f"{GROUP}/cleanup"
ANNOTATION_PREFIX = GROUP

LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_KIND = f"{GROUP}/kind"
LABEL_JOB = f"{GROUP}/job"
LABEL_BACKEND = f"{GROUP}/backend"
LABEL_KUEUE_QUEUE = "kueue.x-k8s.io/queue-name"

from ..contract import OUTPUT_RECORD  # noqa: F401  (re-exported: the API documents it)

# Job and Pod names are derived from the resource name plus a short suffix; a Pod name ends up
# in the `batch.kubernetes.io/job-name` label, which is capped at 63 characters.
MAX_NAME_LENGTH = 52
