#!/usr/bin/env bash
# On the GPU machine, from the repository root: AWQ (both engines), GPTQ, EXL2 and EXL3 for real.
# tests/gpu/prepare.sh quantize collected the wheels here: .whl/ (main environment: llm-compressor,
# exllamav2, exllamav3, ...) and .whl-autoawq/ (AutoAWQ with the transformers 4.x it pins).
# exllamav2/v3 compile their CUDA extension on first import: the machine needs nvcc (CUDA_HOME).
set -euo pipefail
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site-autoawq .whl-autoawq/*.whl
export PYTHONPATH=/tmp/site:$PWD/operator PYTHONUNBUFFERED=1 TUNEFORGE_AUTOAWQ_SITE=/tmp/site-autoawq
export CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")")}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 tests/gpu/quantize.py "$@"
