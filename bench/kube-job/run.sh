#!/usr/bin/env bash
# Overhead of a Kubernetes executor job against `kubectl run --rm -i
# --restart=Never` of the same image, both running `echo hi` on the test
# cluster, then 20 such jobs through the engine at concurrency 10.
#   bench/kube-job/run.sh [-n RUNS] [-warmup RUNS] [-jobs 20] [-concurrency 10]
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(scripts/kube.sh up)"
exec go run ./bench/kube-job "$@"
