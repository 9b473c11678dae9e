#!/usr/bin/env bash
# What users see during `slipway deploy` rollouts on the Docker host: a real
# `slipway deploy serve`, a registry and the test Docker engine, with a
# loopback client asking through serve's proxy at a fixed 200 req/s.
# Prints, per phase, the requests by answer; exits 1 when a target is missed:
# - a promoted canary (10/25/50/100%, 3s steps): 0 failed requests;
# - a blue-green switch: 0 failed requests;
# - a bad canary (500s): from its first failed request to its last (the
#   rollback) at most 2 analysis intervals (6s).
# Needs the engine: scripts/dockerd.sh up.
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(scripts/dockerd.sh up)"
go test -run '^$' -bench BenchmarkRollouts -benchtime 1x -v ./bench/rollout
