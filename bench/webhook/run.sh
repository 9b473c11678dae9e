#!/usr/bin/env bash
# Webhook received -> first job started, median over 50 signed GitHub pushes
# to a real `slipway serve` (SQLite, shell executor). Target: under 100 ms.
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -run '^$' -bench BenchmarkWebhookToFirstJob -benchtime 1x ./internal/server
