#!/usr/bin/env bash
# Webhooks against a real `slipway serve` (shell executor):
# 1. load: 100 signed GitHub pushes, 25 at a time, on SQLite and on
#    PostgreSQL. Targets: every delivery answered (202) in under 1 s, every
#    pipeline succeeded; prints the answers' p50/p99/max, the time until
#    every pipeline finished and the server's peak RSS. Exits 1 on a miss.
# 2. latency: webhook received -> first job started, median over 50 pushes
#    (SQLite). Target: under 100 ms.
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(scripts/postgres.sh up)"
go test -run '^$' -bench BenchmarkWebhookLoad -benchtime 1x -v ./bench/webhook
go test -run '^$' -bench BenchmarkWebhookToFirstJob -benchtime 1x ./internal/server
