#!/usr/bin/env bash
# GitOps onto the real test cluster (scripts/kube.sh). Targets (issue 12):
# 1. push -> Ready through the server's reconcile webhook, for a Deployment
#    whose pod starts in under 1 s: 3 s or less (median of 5 pushes);
#    prints when the cluster had rolled it out and when the server said Ready.
# 2. a no-change pass over 1,000 objects: 2 s or less, and no write to the
#    API server (its apiserver_request_total of the objects' own group and
#    every object's resourceVersion, before and after);
# 3. the controller's peak RSS at 1,000 objects: 100 MiB or less (printed
#    with its anonymous and file-backed parts).
# Anchor: Flux reconciles 1,000 Kustomizations in about 4 minutes.
# Exits 1 when a target is missed.
#   bench/gitops-kube/run.sh [-passes N]
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(scripts/kube.sh up)"
go test -tags kube -count=1 -run '^$' -bench 'BenchmarkPushToReady|BenchmarkNoChangePass' -benchtime 1x -v ./bench/gitops-kube -args "$@"
