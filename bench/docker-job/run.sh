#!/usr/bin/env bash
# Overhead of a Docker executor job against a bare `docker run --rm`, both
# running `echo hi` in the busybox test image on Slipway's test engine.
#   bench/docker-job/run.sh [-n RUNS] [-warmup RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(scripts/dockerd.sh up)"
exec go run ./bench/docker-job "$@"
