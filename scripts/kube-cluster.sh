#!/usr/bin/env bash
# A local Kubernetes control plane for tuneforge, with all its state in one folder:
#
#   scripts/kube-cluster.sh up DIR      # etcd, kube-apiserver, kube-controller-manager and a node
#                                       # stand-in that runs worker pods; prints `export KUBECONFIG=...` last
#   scripts/kube-cluster.sh down DIR    # stops every process `up` started
#
# The binaries are built once from their Go modules (scripts/kube-build.sh, cached under
# ~/.cache/tuneforge/kube/); kubectl and helm come from scripts/kube-tools.sh. The node stand-in
# (tests/support/node.py) runs each pod's `python -m tuneforge.worker` with the main environment's
# Python as the pod's non-root user; it needs root (mount namespaces, cgroups).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-} dir=${2:-}
[ -n "$dir" ] && { [ "$cmd" = up ] || [ "$cmd" = down ]; } || { echo "usage: $0 up|down DIR" >&2; exit 2; }
mkdir -p "$dir"
if [ "$cmd" = down ]; then exec python3 "$root/tests/support/cluster.py" down "$dir"; fi
"$root/scripts/kube-build.sh" >/dev/null
python=$("$root/scripts/env.sh" main)/bin/python
echo "kubectl and helm: $("$root/scripts/kube-tools.sh")" >&2
exec python3 "$root/tests/support/cluster.py" up "$dir" "$python"
