#!/usr/bin/env bash
# A local Kubernetes for tuneforge, with all its state in one folder:
#
#   scripts/kube-cluster.sh up DIR              # etcd, kube-apiserver, kube-controller-manager and a node
#                                               # stand-in that runs worker pods as local processes
#   scripts/kube-cluster.sh up --real-node DIR  # the same control plane, kube-scheduler and a real node:
#                                               # containerd + runc, the kubelet, kube-proxy, a CNI bridge
#   scripts/kube-cluster.sh down DIR            # stops every process `up` started
#
# `up` prints `export KUBECONFIG=...` last. The binaries are built once from their Go modules
# (scripts/kube-build.sh, cached under ~/.cache/tuneforge/kube/); kubectl and helm come from
# scripts/kube-tools.sh. The node stand-in (tests/support/node.py) runs each pod's
# `python -m tuneforge.worker` with the main environment's Python as the pod's non-root user. The
# real node (tests/support/realnode.py) runs images: import them with
# `ctr --address DIR/containerd/containerd.sock -n k8s.io images import IMAGE.tar`. Both need root.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-} real=
if [ "${2:-}" = --real-node ]; then real=--real-node; shift; fi
dir=${2:-}
[ -n "$dir" ] && { [ "$cmd" = up ] || [ "$cmd" = down ]; } || { echo "usage: $0 up [--real-node] DIR | down DIR" >&2; exit 2; }
mkdir -p "$dir"
if [ "$cmd" = down ]; then exec python3 "$root/tests/support/cluster.py" down "$dir"; fi
"$root/scripts/kube-build.sh" >/dev/null
echo "kubectl and helm: $("$root/scripts/kube-tools.sh")" >&2
if [ -n "$real" ]; then exec python3 "$root/tests/support/cluster.py" up --real-node "$dir"; fi
python=$("$root/scripts/env.sh" main)/bin/python
exec python3 "$root/tests/support/cluster.py" up "$dir" "$python"
