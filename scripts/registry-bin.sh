#!/usr/bin/env bash
# Installs Debian's docker-registry (the distribution project's registry)
# when it is missing. internal/image/build's push tests start it themselves,
# on a free loopback port with htpasswd auth, as a real registry process.
set -euo pipefail
command -v docker-registry >/dev/null && exit 0
echo "registry-bin.sh: installing Debian's docker-registry" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq >&2
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends docker-registry >&2
