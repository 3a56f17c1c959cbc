#!/usr/bin/env bash
# Debian packages the tests use besides Python: buildah and debootstrap build the operator image
# (tests/images). Installed once, when missing, as root or through sudo; otherwise says what to install.
set -euo pipefail
missing=()
for tool in buildah debootstrap; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then sudo=(); elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo=(sudo -n); else
    echo "tuneforge tests: install ${missing[*]} (apt-get install ${missing[*]}); the image build test fails without them" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "tuneforge tests: install ${missing[*]} with your package manager" >&2
    exit 0
fi
echo "installing ${missing[*]} (first run only)" >&2
"${sudo[@]}" apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
