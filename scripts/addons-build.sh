#!/usr/bin/env bash
# Build what a real-node cluster runs beside Kubernetes' own binaries, from their Go modules, once,
# and print the folder that holds them:
#
#   scripts/addons-build.sh      -> ~/.cache/tuneforge/kube/addons-<versions>/
#                                   bin/kueue, bin/coredns, kueue-crds/, kueue-rbac/
#
# Kueue's controller (sigs.k8s.io/kueue carries no replace directive: `go install` builds it) with
# its CRDs and its controller's roles (the ClusterRole, the Role for Secrets in its own namespace,
# the ClusterRole for its metrics' authentication) from the same module, and CoreDNS with only the plugins the cluster's DNS needs
# (tests/support/coredns, a main package over CoreDNS's module, its go.sum committed).
set -euo pipefail
# Kueue 0.17 serves kueue.x-k8s.io/v1beta2 and supports Kubernetes 1.34 (the control plane).
KUEUE_VERSION=${KUEUE_VERSION:-v0.17.0}
# CoreDNS 1.14: the version pinned in tests/support/coredns/go.mod.
coredns_dir=$(cd "$(dirname "$0")/../tests/support/coredns" && pwd)
COREDNS_VERSION=$(sed -n 's/^require github.com\/coredns\/coredns \(.*\)/\1/p' "$coredns_dir/go.mod")
root=${TUNEFORGE_KUBE_CACHE:-$HOME/.cache/tuneforge/kube}/addons-kueue-$KUEUE_VERSION-coredns-$COREDNS_VERSION
if [ -x "$root/bin/kueue" ] && [ -x "$root/bin/coredns" ] && [ -d "$root/kueue-crds" ] && [ -d "$root/kueue-rbac" ]; then echo "$root"; exit 0; fi
started=$(date +%s)
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOTOOLCHAIN=local GOBIN=$root/bin
# Dropped at the end, as in kube-build.sh: it only speeds up a rebuild of the same versions.
export GOCACHE=$root/gocache
if [ ! -x "$root/bin/kueue" ]; then
    echo "building kueue $KUEUE_VERSION from sigs.k8s.io/kueue (first run only)" >&2
    go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kueue/cmd/kueue@$KUEUE_VERSION" >&2
fi
if [ ! -d "$root/kueue-crds" ] || [ ! -d "$root/kueue-rbac" ]; then
    module=$(go mod download -json "sigs.k8s.io/kueue@$KUEUE_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
    rbac=$module/config/components/rbac
    rm -rf "$root/kueue-rbac.tmp" "$root/kueue-crds.tmp" "$root/kueue-role.yaml"
    mkdir -p "$root/kueue-rbac.tmp" && cp "$rbac/role.yaml" "$rbac/manager_secrets_role.yaml" "$rbac/metrics_auth_role.yaml" "$root/kueue-rbac.tmp/"
    mkdir -p "$root/kueue-crds.tmp" && cp "$module"/config/components/crd/bases/*.yaml "$root/kueue-crds.tmp/"
    chmod -R u+w "$root/kueue-rbac.tmp" "$root/kueue-crds.tmp"
    rm -rf "$root/kueue-rbac" "$root/kueue-crds"
    mv "$root/kueue-rbac.tmp" "$root/kueue-rbac" && mv "$root/kueue-crds.tmp" "$root/kueue-crds"
fi
if [ ! -x "$root/bin/coredns" ]; then
    echo "building coredns $COREDNS_VERSION (first run only)" >&2
    (cd "$coredns_dir" && go build -trimpath -ldflags "-s -w" -o "$root/bin/coredns" .) >&2
fi
rm -rf "$GOCACHE"
echo "built in $(( $(date +%s) - started )) s" >&2
echo "$root"
