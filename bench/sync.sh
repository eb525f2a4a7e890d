#!/usr/bin/env bash
# Seconds and bytes a round spends synchronising, by model size, workers and train.sync, in local
# mode, each next to one copy of the parameter vector through loopback TCP. Trains 10 rounds of
# one step (batch 1, block 32: compute is small) on the embedded corpus and reads metrics.jsonl:
# the median of rounds 3-9 (round 1 pays the start-up broadcast, round 2 the JIT's warm-up) and,
# apart, round 10, a checkpoint round (each worker writes its own optimizer file then): its sync
# and checkpoint seconds, and apart its validation's, which the files' writing overlaps.
# Prints one table row per run:
#   params workers sync | sync_s (median) | checkpoint round s | its validation s | bytes/worker |
#   bytes via driver | loopback copy s | peak RSS
# Usage: bench/sync.sh [sizes] [workers] [syncs]
#   defaults: "1m 25m 124m" "1 2 4" "driver allreduce"; 124m through the driver with 4 workers
#   needs ~40 GB in one JVM and is skipped here unless asked for (SYNC_BENCH_BIG=1).
# SYNC_BENCH_CLUSTER=1 submits each run to the standalone cluster of scripts/cluster/cluster
# instead (start it first with at least W workers: scripts/cluster/cluster start --no-hdfs
# --workers 4); peak RSS is then the driver's and, apart, the largest executor's (VmHWM sampled
# each second). SYNC_BENCH_SUBMIT_OPTS adds spark-submit options there, e.g. "--conf
# spark.sparkformer.blockTransport=false" for Spark's own block fetch between executors.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${1:-"1m 25m 124m"}
workers_list=${2:-"1 2 4"}
syncs=${3:-"driver allreduce"}
out=${SYNC_BENCH_DIR:-/tmp/sparkformer-sync-bench}
mkdir -p "$out"

shape() {
  case "$1" in
    1m) echo "model.d_model=128 model.n_heads=4 model.n_layers=4 model.d_ff=512" ;;
    25m) echo "model.d_model=512 model.n_heads=8 model.n_layers=8 model.d_ff=2048" ;;
    124m) echo "model.d_model=768 model.n_heads=12 model.n_layers=12 model.d_ff=3072 model.vocab_size=50257" ;;
    *) echo "bench/sync: unknown size $1 (1m, 25m, 124m)" >&2; exit 2 ;;
  esac
}

source bench/lib/loopback.sh

cluster=${SYNC_BENCH_CLUSTER:-}
# the largest VmHWM (kB) of the cluster's executor JVMs, sampled each second until killed
executor_peak() {
  local peak=0 hwm
  while true; do
    for pid in $(pgrep -f CoarseGrainedExecutorBackend); do
      hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || true)
      if [[ -n $hwm && $hwm -gt $peak ]]; then peak=$hwm; echo "$peak" > "$1"; fi
    done
    sleep 1
  done
}
printf '%-6s %-3s %-10s %10s %10s %10s %14s %14s %12s %10s %10s\n' params W sync sync_s ckpt_s ckpt_val_s bytes/worker bytes/driver loopback_s peak_rss executor_rss
for size in $sizes; do
  for w in $workers_list; do
    for sync in $syncs; do
      if [ "$size" = 124m ] && [ "$w" -gt 2 ] && [ "$sync" = driver ] && [ -z "${SYNC_BENCH_BIG:-}" ]; then
        echo "# 124m W=$w driver skipped (one JVM would need ~$((w * 10)) GB; SYNC_BENCH_BIG=1 runs it)"
        continue
      fi
      run="$out/$size-w$w-$sync"
      rm -rf "$run"
      echo 0 > "$run.executor-rss"
      settings=$(printf -- '--set %s ' $(shape "$size") \
        "train.workers=$w" "train.sync=$sync" train.batch_size=1 train.block_size=32 model.max_len=32 \
        train.steps=10 train.local_steps=1 train.warmup=0 eval.every=1000 checkpoint.every=1000 \
        train.optimizer_state=local)
      status=0
      if [[ -n $cluster ]]; then
        executor_peak "$run.executor-rss" & sampler=$!
        # shellcheck disable=SC2086
        /usr/bin/time -f '%M' -o "$run.rss" scripts/cluster/cluster submit ${SYNC_BENCH_SUBMIT_OPTS:-} -- train --output "$run" \
          --set "data.inputs=[$PWD/datasets/grammar/corpus.txt]" $settings > "$run.log" 2>&1 || status=$?
        kill "$sampler" 2>/dev/null || true
        wait "$sampler" 2>/dev/null || true
      else
        # shellcheck disable=SC2086
        /usr/bin/time -f '%M' -o "$run.rss" env SPARKFORMER_DRIVER_MEMORY="${SYNC_BENCH_HEAP:-12g}" \
          scripts/sparkformer train --output "$run" $settings > "$run.log" 2>&1 || status=$?
      fi
      if [[ $status -ne 0 ]]; then echo "# $size W=$w $sync failed: see $run.log"; continue; fi
      python3 - "$run" "$size" "$w" "$sync" "$(tail -1 "$run.rss")" "$(cat "$run.executor-rss")" <<'EOF'
import json, statistics, sys
run, size, w, sync, rss, executor_rss = sys.argv[1:]
rows = [json.loads(l) for l in open(run + "/metrics.jsonl")]
params = json.load(open(run + "/summary.json"))["parameters"]
ckpt = rows[-1]["sync_s"] + rows[-1].get("checkpoint_s", 0)
ckpt_val = rows[-1].get("validation_s", 0)
rows = rows[2:-1]
s = statistics.median(r["sync_s"] for r in rows)
bw = statistics.median(r["sync_bytes_per_worker"] for r in rows)
bd = statistics.median(r["sync_bytes_driver"] for r in rows)
print("%s %d %s %.3f %.3f %.3f %d %d %d %d %d" % (size, int(w), sync, s, ckpt, ckpt_val, bw, bd, params, int(rss) * 1024,
                                                   int(executor_rss) * 1024))
EOF
    done
  done
done | while read -r size w sync s ckpt ckpt_val bw bd params rss erss; do
  case "$size" in \#*) echo "$size $w $sync $s $ckpt $ckpt_val $bw $bd $params $rss $erss"; continue ;; esac
  printf '%-6s %-3s %-10s %10s %10s %10s %14s %14s %12s %9sM %9sM\n' "$size" "$w" "$sync" "$s" "$ckpt" "$ckpt_val" "$bw" "$bd" \
    "$(loopback $((params * 4)))" "$((rss / 1048576))" "$((erss / 1048576))"
done
