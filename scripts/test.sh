#!/usr/bin/env bash
# Runs Slipway's whole test suite: formatting, vet, staticcheck, unit and
# integration tests (against real services this script starts), short fuzz runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:$(go env GOPATH)/bin"

scripts/setup.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted"; exit 1; fi
echo "== go vet"
go vet -tags kube ./...
echo "== staticcheck"
staticcheck -tags kube ./...

docker_env=$(scripts/dockerd.sh up); eval "$docker_env"  # real Docker engine for the Docker tests (exports DOCKER_HOST); fails the run if it cannot start
scripts/registry-bin.sh           # Debian's docker-registry, a real registry process for the image push tests
pg_env=$(scripts/postgres.sh up); eval "$pg_env"  # real PostgreSQL for the store and server tests (exports SLIPWAY_TEST_POSTGRES)
kube_env=$(scripts/kube.sh up); eval "$kube_env"  # real one-node Kubernetes for the tests tagged kube (exports KUBECONFIG; builds once per machine)

# The Kubernetes executor's helper image of this checkout, built once here
# rather than once by every test package that runs jobs on the cluster.
helper_dir=$(mktemp -d); trap 'rm -rf "$helper_dir"' EXIT
CGO_ENABLED=0 go build -o "$helper_dir/slipway" ./cmd/slipway
SLIPWAY_TEST_HELPER_IMAGE=$("$helper_dir/slipway" kubernetes helper-image --output "$helper_dir/helper.tar")
ctr --address "${SLIPWAY_KUBE_RUN:-/run/slipway-kube}/containerd.sock" -n k8s.io images import "$helper_dir/helper.tar" >/dev/null
export SLIPWAY_TEST_HELPER_IMAGE
echo "== go test"
go test -count=1 -timeout 45m -tags kube ./...

echo "== OCI conformance (embedded registry)"
scripts/conformance.sh

echo "== fuzz (short)"
# Budgets count executions, about ten seconds each here: a duration budget
# (-fuzztime 10s) can fail with a bare "context deadline exceeded" when it
# runs out (golang/go#75804, a race in Go's fuzz coordinator before Go 1.27).
fuzz_execs() {
  case "$1" in
    FuzzLoad) echo 35000 ;;       # YAML documents: ~4k/s
    FuzzLint) echo 60000 ;;       # whole Dockerfiles: ~8k/s
    FuzzParseBody) echo 200000 ;; # webhook JSON: ~25k/s
    FuzzRewrite) echo 120000 ;;   # marked text files: ~12k/s
    FuzzQuote) echo 400000 ;;     # Groovy string literals: ~50k/s
    *) echo 800000 ;;             # strings: ~100k/s
  esac
}
for target in $(grep -rl --include='*_test.go' '^func Fuzz' internal | xargs -n1 dirname | sort -u); do
  for fn in $(grep -h '^func Fuzz' "$target"/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do
    go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$(fuzz_execs "$fn")x" "./$target"
  done
done
