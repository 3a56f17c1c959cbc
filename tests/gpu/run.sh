#!/usr/bin/env bash
# On the GPU machine, from the repository root: install the carried wheels, then run the GPU checks.
# (The machine reaches no registry; tests/gpu/prepare.sh collected the wheels into .whl/.)
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD/operator PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, peft, trl, bitsandbytes, deepspeed; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'trl', trl.__version__, 'bnb', bitsandbytes.__version__, 'deepspeed', deepspeed.__version__)"
status=0
for script in "$@"; do
    echo "=== $script"
    python3 "$script" || status=1
done
exit $status
