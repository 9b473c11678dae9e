#!/usr/bin/env bash
# Runs the OCI distribution-spec conformance suite (pull, push, content
# discovery, content management) against `slipway registry serve` on
# loopback, and fails on any failure. Results land in $RESULTS (default: a
# temporary folder): report.html shows every request and response.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=github.com/opencontainers/distribution-spec/conformance
SUITE_VERSION=${SUITE_VERSION:-v0.0.0-20260831232431-97274622c111}

work=$(mktemp -d)
RESULTS=${RESULTS:-$work/results}
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work/data" "$work/src"
}
trap cleanup EXIT

echo "== building slipway and the conformance suite ($SUITE_VERSION)"
go build -o "$work/slipway" ./cmd/slipway
src=$(go mod download -json "$SUITE@$SUITE_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
cp -r "$src" "$work/src" && chmod -R u+w "$work/src"
(cd "$work/src" && GOFLAGS=-mod=mod go build -o "$work/conformance" .)

# A free loopback port: let the kernel pick one, as the registry prints its URL.
"$work/slipway" registry serve --addr 127.0.0.1:0 --data "$work/data" >"$work/url" 2>"$work/registry.log" &
pid=$!
for _ in $(seq 50); do [ -s "$work/url" ] && break; sleep 0.1; done
url=$(head -n1 "$work/url")
[ -n "$url" ] || { echo "registry did not start:"; cat "$work/registry.log"; exit 1; }
echo "== registry at $url"

export OCI_REGISTRY=${url#http://} OCI_TLS=disabled OCI_RESULTS_DIR=$RESULTS OCI_VERSION=1.1
export OCI_REPO1=conformance/repo1 OCI_REPO2=conformance/repo2
export OCI_API_PULL=true OCI_API_PUSH=true OCI_API_TAGS_LIST=true OCI_API_REFERRER=true
export OCI_API_BLOBS_DELETE=true OCI_API_MANIFESTS_DELETE=true OCI_API_TAGS_DELETE=true
export OCI_DATA_SHA512=true OCI_DATA_SUBJECT=true OCI_DATA_NONDISTRIBUTABLE=true
export OCI_LOG=${OCI_LOG:-warn}
status=0
(cd "$work" && "$work/conformance") >"$work/out.txt" 2>&1 || status=$?
sed -n '/^OCI Conformance Result/,$p' "$work/out.txt"
if [ "$status" -ne 0 ]; then
  echo "== conformance FAILED (report: $RESULTS/report.html); failures:"
  grep 'failed test' "$work/out.txt" | head -50 || true
  exit 1
fi
echo "== conformance passed"
