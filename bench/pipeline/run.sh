#!/usr/bin/env bash
# Times `slipway run` on a 20-job, 2-stage pipeline of echo jobs (shell
# executor) against a plain loop of 20 `sh -c` calls, in one run, and
# measures Slipway's peak RSS with GNU time, next to that of a program that
# only links the embedded proxy (bench/pipeline/proxyfloor): the floor any
# command of the binary starts from.
#
#   bench/pipeline/run.sh            builds ./cmd/slipway first
#   SLIPWAY=/path/to/slipway RUNS=15 CONCURRENCY=2 bench/pipeline/run.sh
#
# Targets: Slipway's median wall time at most 3x the loop's, peak RSS under
# 40 MiB. Exits 1 when a target is missed.
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=${RUNS:-11}
# A whole stage at once: echo jobs wait on process start-up, not on CPU.
concurrency=${CONCURRENCY:-10}
max_ratio=${MAX_RATIO:-3}
max_rss_mib=${MAX_RSS_MIB:-40}

if [ ! -x /usr/bin/time ]; then
  echo "bench: GNU time is missing (apt-get install time)" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bin=${SLIPWAY:-}
if [ -z "$bin" ]; then
  bin=$tmp/slipway
  go build -o "$bin" ./cmd/slipway
fi

# The pipeline: stages one and two, ten echo jobs each.
repo=$tmp/repo
mkdir -p "$repo"
{
  echo "stages: [one, two]"
  for i in $(seq 1 20); do
    stage=one
    [ "$i" -gt 10 ] && stage=two
    printf 'job-%02d:\n  stage: %s\n  script:\n    - echo job %d\n' "$i" "$stage" "$i"
  done
} > "$repo/.gitlab-ci.yml"
git -C "$repo" init -q -b main
git -C "$repo" add .gitlab-ci.yml
git -C "$repo" -c user.name=bench -c user.email=bench@localhost commit -q -m bench

now_ns() { date +%s%N; }

# median prints the middle of the numbers on stdin.
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

slipway_once() {
  (cd "$repo" && /usr/bin/time -v -o "$tmp/time.txt" "$bin" run --concurrency "$concurrency" \
    --work-dir "$tmp/work" >"$tmp/out.txt" 2>&1) || {
    echo "bench: slipway run failed:" >&2
    cat "$tmp/out.txt" "$tmp/time.txt" >&2
    exit 1
  }
  awk -F': ' '/Maximum resident set size/ {print $2}' "$tmp/time.txt" >> "$tmp/rss.txt"
}

loop_once() {
  for i in $(seq 1 20); do sh -c "echo job $i" >/dev/null; done
}

# Warm both up (page cache, binary), then alternate so that load from
# elsewhere hits both alike.
slipway_once
loop_once
: > "$tmp/rss.txt"
for _ in $(seq 1 "$runs"); do
  t0=$(now_ns); slipway_once; t1=$(now_ns)
  echo $(( (t1 - t0) / 1000 )) >> "$tmp/slipway.txt"
  t0=$(now_ns); loop_once; t1=$(now_ns)
  echo $(( (t1 - t0) / 1000 )) >> "$tmp/loop.txt"
done

# The floor: a program that only links the embedded proxy and exits.
go build -o "$tmp/proxyfloor" ./bench/pipeline/proxyfloor
for _ in 1 2 3; do
  /usr/bin/time -f '%M' -o "$tmp/floor.txt" -a "$tmp/proxyfloor"
done
floor_kib=$(sort -n "$tmp/floor.txt" | tail -1)

slip_us=$(median < "$tmp/slipway.txt")
loop_us=$(median < "$tmp/loop.txt")
rss_kib=$(sort -n "$tmp/rss.txt" | tail -1)

awk -v s="$slip_us" -v l="$loop_us" -v r="$rss_kib" -v n="$runs" -v c="$concurrency" \
    -v f="$floor_kib" -v maxr="$max_ratio" -v maxm="$max_rss_mib" 'BEGIN {
  ratio = s / l; mib = r / 1024
  printf "slipway run (20 jobs, 2 stages, concurrency %d): median %.1f ms over %d runs\n", c, s / 1000, n
  printf "plain loop of 20 sh -c:                       median %.1f ms\n", l / 1000
  printf "ratio: %.2fx (target <= %sx)\n", ratio, maxr
  printf "peak RSS: %.1f MiB (target < %s MiB)\n", mib, maxm
  printf "peak RSS of a program that only links the embedded proxy and exits: %.1f MiB\n", f / 1024
  ok = ratio <= maxr && mib < maxm
  print (ok ? "PASS" : "FAIL")
  exit ok ? 0 : 1
}'
