"""The baseline: mergekit called directly with a given configuration. Prints wall seconds and peak RSS."""

import json
import resource
import sys
import time

import yaml
from mergekit.config import MergeConfiguration
from mergekit.merge import run_merge
from mergekit.options import MergeOptions

config_file, out = sys.argv[1], sys.argv[2]
options = json.loads(sys.argv[3])
t0 = time.monotonic()
run_merge(MergeConfiguration.model_validate(yaml.safe_load(open(config_file))), out, options=MergeOptions(**options))
print(json.dumps({"seconds": time.monotonic() - t0, "peakRssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
