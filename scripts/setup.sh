#!/usr/bin/env bash
# Installs everything Slipway's build and tests need on a fresh Debian
# machine (run as root). Safe to run again: it installs only what is missing.
set -euo pipefail

packages=(git ca-certificates time)  # time: GNU time for the benchmarks
packages+=(docker.io busybox-static)  # real engine for the Docker executor tests; images built locally
packages+=(postgresql)                # the server's PostgreSQL store tests
packages+=(caddy)                     # external-Caddy mode of the proxy
packages+=(chromium chromium-driver)  # browser tests of the web UI
packages+=(groovy default-jre-headless) # compiles and runs the Jenkinsfiles of slipway convert
packages+=(apache2-utils)            # htpasswd -B for the registry users docs/registry.md makes
packages+=(prometheus)               # PromQL-gated canaries: the analysis tests start a real Prometheus

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go tools used by the test script.
if ! command -v staticcheck >/dev/null && [ ! -x "$(go env GOPATH)/bin/staticcheck" ]; then
  go install honnef.co/go/tools/cmd/staticcheck@v0.8.2  # pinned: a new release must not fail CI by itself
fi
