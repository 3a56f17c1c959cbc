"""The tuneforge API: pydantic models that are the single source of truth for the CRDs.

No side effects and no heavy imports here: the operator image loads this without torch.
"""

from .constants import API_VERSION, GROUP, VERSION
from .finetune import FineTuneJob, FineTuneSpec
from .merge import MergeJob, MergeSpec
from .quantize import QuantizeJob, QuantizeSpec
from .resource import Resource

KINDS: dict[str, type[Resource]] = {
    "FineTuneJob": FineTuneJob,
    "MergeJob": MergeJob,
    "QuantizeJob": QuantizeJob,
}

__all__ = [
    "API_VERSION", "GROUP", "VERSION", "KINDS", "Resource",
    "FineTuneJob", "FineTuneSpec", "MergeJob", "MergeSpec", "QuantizeJob", "QuantizeSpec",
]
