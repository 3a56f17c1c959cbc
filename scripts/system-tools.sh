#!/usr/bin/env bash
# Debian packages the tests use besides Python: buildah and debootstrap build the images
# (tests/images, tests/e2e); containerd, runc, the CNI plugins, iptables and docker-registry make the real node
# (tests/support/realnode.py); docker-registry, with htpasswd (apache2-utils) for its password file, is also
# the oci:// tests' registry (tests/support/registry.py). Installed once, when missing, as root or through sudo; otherwise says
# what to install.
set -euo pipefail
missing=()
# package:what shows it is installed
for entry in buildah:buildah debootstrap:debootstrap containerd:containerd runc:runc iptables:iptables \
             docker-registry:docker-registry apache2-utils:htpasswd containernetworking-plugins:/usr/lib/cni/bridge; do
    package=${entry%%:*} probe=${entry#*:}
    if [[ $probe == /* ]]; then [ -x "$probe" ] || missing+=("$package")
    else command -v "$probe" >/dev/null 2>&1 || missing+=("$package"); fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ]; then sudo=(); elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo=(sudo -n); else
    echo "tuneforge tests: install ${missing[*]} (apt-get install ${missing[*]}); the image and real-node tests fail without them" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "tuneforge tests: install ${missing[*]} with your package manager" >&2
    exit 0
fi
echo "installing ${missing[*]} (first run only)" >&2
"${sudo[@]}" apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
