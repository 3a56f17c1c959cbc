#!/usr/bin/env bash
# Create (once) and print the path of the cached virtual environment for one backend group.
#
#   scripts/env.sh main        -> ~/.cache/tuneforge/venvs/main-<hash>
#
# Backends disagree on library versions (AutoAWQ wants transformers 4.x, llm-compressor 5.15-5.17),
# so each group has its own pinned constraints file and its own venv. The venv is keyed by a hash of
# that file and pyproject.toml, so a changed pin builds a new one and an unchanged one is reused.
# The project itself is installed editable on every call (cheap) so a clean clone uses its own code.
set -euo pipefail
group=${1:-main}
root=$(cd "$(dirname "$0")/.." && pwd)
cons="$root/constraints/$group.txt"
[ -f "$cons" ] || { echo "no constraints file for group '$group': $cons" >&2; exit 2; }
extras=$(sed -n 's/^# extras: *//p' "$cons")
key=$(cat "$cons" "$root/pyproject.toml" | sha256sum | cut -c1-12)
base=${TUNEFORGE_VENV_ROOT:-$HOME/.cache/tuneforge/venvs}
venv="$base/$group-$key"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# pip warns once per package about this machine's empty extra indexes; keep real errors only.
quiet() { "$@" 2>&1 | { grep -v "is ignored" || true; } >&2; }
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
    echo "creating $venv (first run only)" >&2
    rm -rf "$venv"
    mkdir -p "$base"
    python3 -m venv "$venv"
    quiet "$venv/bin/pip" install -q --upgrade pip
    llama=$(sed -n 's/^# llama-cpp: *//p' "$cons")
    # The compile (minutes, CPU) runs while pip downloads and unpacks everything else (network,
    # disk); only the extra that needs llama-cpp-python waits for it.
    build=
    if [ -n "$llama" ]; then
        "$root/scripts/llama-cpp.sh" "$venv" "$llama" --build-only &
        build=$!
    fi
    # torch first and alone: only the exact pin takes a CPU wheel from local disk where one waits there
    # (pip's find-links); elsewhere it is PyPI's CUDA build, which runs on the CPU too.
    torch=$(grep -E '^torch==' "$cons" | cut -d' ' -f1 || true)
    [ -z "$torch" ] || quiet "$venv/bin/pip" install -q "$torch"
    if [ -n "$build" ]; then
        others=$(tr , '\n' <<<"$extras" | grep -vx gguf | paste -sd, -)
        quiet "$venv/bin/pip" install -q -c "$cons" -e "$root[$others]" || { kill $build 2>/dev/null; exit 1; }
        wait $build
        "$root/scripts/llama-cpp.sh" "$venv" "$llama"
    fi
    quiet "$venv/bin/pip" install -q -c "$cons" -e "$root[$extras]"
    # Packages whose own dependencies we do not want (see the comment beside each in the file).
    nodeps=$(sed -n 's/^# no-deps: *//p' "$cons")
    [ -z "$nodeps" ] || quiet "$venv/bin/pip" install -q --no-deps $nodeps
    nobuild=$(sed -n 's/^# no-build-isolation: *//p' "$cons")
    [ -z "$nobuild" ] || DS_BUILD_OPS=0 quiet "$venv/bin/pip" install -q -c "$cons" --no-build-isolation $nobuild
    touch "$venv/.complete"
else
    # The environment is shared by checkouts (callers put their own operator/ first on PYTHONPATH);
    # re-point its editable install only when another checkout last did (pip takes seconds).
    if [ "$(cat "$venv/.checkout" 2>/dev/null)" != "$root" ]; then
        quiet "$venv/bin/pip" install -q --no-deps -e "$root"
    fi
    touch "$venv/.complete"  # when it was last used, for the pruning below
fi
echo "$root" >"$venv/.checkout"
# A persistent cache must not grow by 2 GB with every pin change: keep this environment and the
# group's most recently used other one (a second branch), remove older finished ones.
ls -t "$base/$group"-*/.complete 2>/dev/null | tail -n +3 | while read -r done; do
    rm -rf "$(dirname "$done")"
done
# One never finished (a failed install) and untouched for a day is not being built by anyone.
find "$base" -maxdepth 1 -name "$group-*" -type d -mmin +1440 ! -exec test -f {}/.complete \; -exec rm -rf {} + 2>/dev/null || true
echo "$venv"
