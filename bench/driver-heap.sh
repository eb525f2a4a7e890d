#!/usr/bin/env bash
# The driver's memory against the number of workers, on the standalone cluster of
# scripts/cluster/cluster (the driver is a JVM of its own there, unlike local mode). Trains a
# model of about 25M parameters (override with SHAPE) on the embedded corpus with train.sync
# allreduce for W = 1, 2 and 4, samples the driver every second with jstat and ps, and prints
# per W: the most heap live after a forced full GC (jcmd GC.run each sample, so garbage not yet
# collected does not count), the peak resident memory, and the bytes that passed through the
# driver after round 1.
# The goal: flat in W.
# Usage: bench/driver-heap.sh [workers]   (default "1 2 4"; starts and stops its own cluster)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
workers_list=${1:-"1 2 4"}
shape=${SHAPE:-"model.d_model=512 model.n_heads=8 model.n_layers=8 model.d_ff=2048"}
out=${DRIVER_HEAP_DIR:-/tmp/sparkformer-driver-heap}
export SPARKFORMER_CLUSTER_DIR=$out/cluster
mkdir -p "$out"
max_w=0
for w in $workers_list; do [ "$w" -gt "$max_w" ] && max_w=$w; done
scripts/cluster/cluster start --no-hdfs --workers "$max_w" >/dev/null
trap 'scripts/cluster/cluster stop >/dev/null 2>&1 || true' EXIT

printf '%-3s %14s %14s %18s %s\n' W live_heap_max peak_rss bytes_via_driver exit
for w in $workers_list; do
  run=$out/run-w$w
  rm -rf "$run"
  sets=()
  for s in $shape train.workers=$w train.steps=12 train.local_steps=2 train.batch_size=1 train.block_size=32 \
           eval.every=2 eval.batches=2 checkpoint.every=2; do
    sets+=(--set "$s")
  done
  scripts/cluster/cluster submit -- train --config "$root/conf/default.yaml" "${sets[@]}" --no-progress \
    --output "$run" > "$out/w$w.log" 2>&1 &
  pid=$!
  old=0 rss=0
  while kill -0 "$pid" 2>/dev/null; do
    # the driver: the java process that runs SparkSubmit for this run's output
    driver=$(pgrep -f "SparkSubmit.*$run" | head -1 || true)
    if [ -n "$driver" ]; then
      jcmd "$driver" GC.run >/dev/null 2>&1 || true
      # live heap: young (eden + survivors) and old used, in MiB
      ou=$(jstat -gc "$driver" 2>/dev/null | awk 'NR==1 {for (i=1;i<=NF;i++) h[i]=$i}
        NR==2 {t=0; for (i=1;i<=NF;i++) if (h[i]=="OU" || h[i]=="EU" || h[i]=="S0U" || h[i]=="S1U") t+=$i; print int(t/1024)}' || true)
      r=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$driver/status" 2>/dev/null || echo 0)
      [ -n "$ou" ] && [ "$ou" -gt "$old" ] && old=$ou
      [ -n "$r" ] && [ "$r" -gt "$rss" ] && rss=$r
    fi
    sleep 1
  done
  code=0
  wait "$pid" || code=$?
  via=$(python3 -c "
import json, sys
rows = [json.loads(l) for l in open('$run/metrics.jsonl')]
print(sum(r['sync_bytes_driver'] for r in rows[1:]))" 2>/dev/null || echo '?')
  printf '%-3s %11s MiB %11s MiB %18s %s\n' "$w" "$old" "$rss" "$via" "$code"
done
