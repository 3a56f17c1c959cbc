#!/usr/bin/env bash
# Run HERE (not on the GPU machine) before a device call: collects what the GPU machine lacks.
#   .whl/        wheels for Python 3.12 x86-64 that its image does not have (trl, datasets, peft,
#                bitsandbytes, deepspeed, pydantic, kube-custom-resource, ...)
#   .gpu-assets/ SmolLM2-135M-Instruct's config and tokenizer (the 93 MB model package exceeds the
#                64 MiB a device call may carry; the GPU run uses the same architecture, initialised
#                randomly, which is what VRAM and tokens/s depend on)
#   with the argument "quantize", also the quantization libraries (tests/gpu/quantize.sh):
#   llm-compressor and its helpers, exllamav2, exllamav3 into .whl/, and AutoAWQ with the
#   transformers 4.x it pins into .whl-autoawq/ (installed into a separate folder there).
# All are git-ignored; name them in the device call's `carry`.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
venv=$(scripts/env.sh main)
rm -rf .whl .whl-autoawq .gpu-assets && mkdir -p .whl .gpu-assets
plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
dl() { python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
         "${plat[@]}" -d .whl "$@" 2>&1 | grep -v "is ignored" || true; }
dl trl==1.16.0 datasets==5.2.0 peft==0.21.2 dill==0.4.1 multiprocess==0.70.19 \
   pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.7.0 typing-inspection==0.4.5 \
   kube-custom-resource==0.7.2 hjson==3.1.0
if [ "${1:-}" = quantize ]; then
    dl llmcompressor==0.14.0.1 compressed-tensors==0.19.0 loguru==0.7.3 auto-round==0.15.1 nvidia-ml-py==13.615.71 \
       exllamav2==0.3.2 exllamav3==1.6.5 fastparquet==2026.9.0 cramjam==2.14.0 ninja==1.13.2 marisa-trie==1.4.1 \
       websockets==17.4
    # exllamav3 lists llguidance>=1.7 but imports it only for constrained generation (guarded); the index
    # serves up to 1.6.1, so it stays behind.
    mkdir -p .whl-autoawq
    # AutoAWQ ships an sdist only (pure Python): build its wheel here.
    "$venv/bin/pip" wheel -q --no-deps -w .whl-autoawq autoawq==0.2.9 2>&1 | grep -v "is ignored" || true
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${plat[@]}" \
        -d .whl-autoawq transformers==4.51.3 tokenizers==0.21.4 huggingface-hub==0.36.2 datasets==5.0.1 \
        2>&1 | grep -v "is ignored" || true
fi
if [ "${1:-}" != quantize ]; then
    # Fine-tuning only: bitsandbytes (43 MB) with the quantization wheels would pass the 64 MiB a call carries.
    # liger-kernel: the speed option training.ligerKernels (Triton kernels, pure Python wheel); mlflow-skinny
    # is imported only with spec.tracking, which the GPU checks do not set.
    dl bitsandbytes==0.50.2 liger-kernel==0.8.5
    # DeepSpeed ships only an sdist; with DS_BUILD_OPS=0 it builds a pure-Python wheel (ops compile at run time).
    DS_BUILD_OPS=0 "$venv/bin/pip" wheel -q --no-deps --no-build-isolation -w .whl deepspeed==0.19.8 2>&1 | grep -v "is ignored" || true
fi
TUNEFORGE_CACHE=${TUNEFORGE_CACHE:-$HOME/.cache/tuneforge} "$venv/bin/python" - <<'PY'
import shutil
from tuneforge.sources.builtin import materialize_model
src = materialize_model("smollm2-135m-instruct")
for name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
    if (src / name).exists():
        shutil.copy(src / name, ".gpu-assets/" + name)
PY
ls -la .whl .gpu-assets
du -sh .whl .gpu-assets
