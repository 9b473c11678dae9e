#!/usr/bin/env bash
# Merge request opened -> its review URL answers 200 through the proxy, with
# prebuilt images, median of 10, on a real server, Docker engine and the
# embedded Caddy. Target: 2 s or less. Needs the engine: scripts/dockerd.sh up.
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(scripts/dockerd.sh up)"
go test -run '^$' -bench BenchmarkReviewEnvironment -benchtime 1x ./internal/server
