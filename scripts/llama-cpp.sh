#!/usr/bin/env bash
# Install llama-cpp-python VERSION into VENV, with llama.cpp's HF->GGUF converter from the same source.
#
#   scripts/llama-cpp.sh VENV VERSION [--build-only]
#   scripts/llama-cpp.sh --cmake-args      (the CMake options a build here uses, then exit)
#
# PyPI has no Linux wheel of llama-cpp-python: it compiles from the sdist (about 6-13 minutes on 2
# cores). The wheel is built once per version, CMake flags and CPU, and kept under
# ~/.cache/tuneforge/wheels, so a new venv (a changed pin elsewhere) does not compile it again.
# The converter (convert_hf_to_gguf.py, conversion/ and gguf-py/) is taken from the very sdist the
# library was compiled from, so the files it writes match what that llama.cpp reads. It lands in
# VENV/share/tuneforge/llama.cpp, where backends/gguf/convert.py looks for it; its gguf-py stays
# out of site-packages because it differs from the PyPI `gguf` that transformers uses.
# Images call this script too, with CMAKE_ARGS for CUDA and GGML_NATIVE=OFF.
set -euo pipefail
venv=$1 version=${2:-} mode=${3:-install}
: "${CMAKE_ARGS:=-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF $("$(dirname "$0")/cpu-features.sh")}"
export CMAKE_ARGS
[ "$1" != --cmake-args ] || { echo "$CMAKE_ARGS"; exit 0; }
# Without CMAKE_ARGS from the caller (images set theirs), the build uses exactly the instructions
# that ran on this machine (cpu-features.sh), never GGML_NATIVE's reading of the CPU flags: a VM may
# advertise AMX it does not grant. The options are in the key, so a machine whose cache holds a wheel
# built otherwise (the old GGML_NATIVE=ON one) builds anew.
key=$(printf '%s\n%s\n%s\n' "$version" "$CMAKE_ARGS" "$(uname -m)" | sha256sum | cut -c1-12)
cache=${TUNEFORGE_WHEEL_CACHE:-$HOME/.cache/tuneforge/wheels}/llama-cpp-python-$version-$key
pip=("$venv/bin/pip" --disable-pip-version-check)
if ! ls "$cache"/*.whl >/dev/null 2>&1 || [ ! -f "$cache/converter.tar.gz" ]; then
    echo "building llama-cpp-python $version (first run only, several minutes)" >&2
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "${pip[@]}" download -q --no-deps --no-binary :all: -d "$work" "llama-cpp-python==$version" 2>&1 | { grep -v "is ignored" || true; } >&2
    tar -xzf "$work"/llama_cpp_python-*.tar.gz -C "$work"
    src=$(echo "$work"/llama_cpp_python-*/)
    "${pip[@]}" wheel -q --no-deps --no-cache-dir -w "$work/wheel" "$src" 2>&1 | { grep -v "is ignored" || true; } >&2
    tar -czf "$work/converter.tar.gz" -C "$src/vendor/llama.cpp" convert_hf_to_gguf.py conversion gguf-py LICENSE
    mkdir -p "$cache.tmp" && mv "$work/wheel"/*.whl "$work/converter.tar.gz" "$cache.tmp/"
    rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi
# env.sh compiles while it installs the other packages, then installs the wheel.
[ "$mode" != --build-only ] || exit 0
"${pip[@]}" install -q --no-deps "$cache"/*.whl 2>&1 | { grep -v "is ignored" || true; } >&2
dest="$venv/share/tuneforge/llama.cpp"
rm -rf "$dest" && mkdir -p "$dest" && tar -xzf "$cache/converter.tar.gz" -C "$dest"
