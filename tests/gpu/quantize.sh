#!/usr/bin/env bash
# On the GPU machine, from the repository root: AWQ (both engines), GPTQ, EXL2 and EXL3 for real.
# tests/gpu/prepare.sh quantize collected the wheels here: .whl/ (main environment: llm-compressor,
# exllamav2, exllamav3, ...) and .whl-autoawq/ (AutoAWQ with the transformers 4.x it pins).
# exllamav2/v3 compile their CUDA extension on first import: the machine needs nvcc (CUDA_HOME).
set -euo pipefail
# Installed once per machine: reinstalling renews the exllama sources' times, and their extensions
# (about 4 minutes each) are then compiled again on a warm machine.
if [ ! -f /tmp/site/.tuneforge-installed ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site-autoawq .whl-autoawq/*.whl
    touch /tmp/site/.tuneforge-installed
fi
export PYTHONPATH=/tmp/site:$PWD/operator PYTHONUNBUFFERED=1 TUNEFORGE_AUTOAWQ_SITE=/tmp/site-autoawq
export CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")")}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
# Build the exllama extensions for this GPU only, in the background while the other methods run:
# their first import compiles them (minutes), and torch's build lock makes the worker wait for it.
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$(python3 -c "import torch; print('%d.%d' % torch.cuda.get_device_capability())")}
export MAX_JOBS=${MAX_JOBS:-6}
for v in exllamav2 exllamav3; do
    (started=$SECONDS; python3 -c "import $v.ext" >"/tmp/$v-build.log" 2>&1
     echo "$v extension: exit $? after $((SECONDS - started)) s"; tail -3 "/tmp/$v-build.log") &
done
python3 tests/gpu/quantize.py "$@"
wait
