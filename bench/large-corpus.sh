#!/usr/bin/env bash
# A large corpus in bounded memory, on the standalone cluster of scripts/cluster/cluster (two
# workers of one core): Tiny Shakespeare's lines reshuffled to GB gigabytes (default 4), then
# `prepare` with the char and the BPE tokenizer, the driver at -Xmx1g and executors at 1 GB, then
# 20 training steps on the char shards with the same limits. Prints per run the wall time, MB/s,
# tokens/s and the peak resident memory of the driver and of the executors (sampled each second),
# then the native tokenizers library's MB/s on the corpus's first 100 MB with the same BPE.
# Usage: bench/large-corpus.sh [GB]   (LARGE_CORPUS_DIR, default /tmp/sparkformer-large; ~5x GB of disk)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
gb=${1:-4}
out=${LARGE_CORPUS_DIR:-/tmp/sparkformer-large}
corpus=$out/corpus-${gb}g.txt
mkdir -p "$out"
[ -f "$corpus" ] || python3 bench/reshuffle-lines.py ../shared/datasets/tinyshakespeare.txt "$corpus" "$gb"
export SPARKFORMER_CLUSTER_DIR=$out/cluster
scripts/cluster/cluster start --no-hdfs >/dev/null
trap 'scripts/cluster/cluster stop >/dev/null 2>&1 || true' EXIT
limits=(--driver-memory 1g --conf spark.executor.memory=1g)

# run NAME ARGS...: submits, samples the peak RSS (MiB) of the driver and the executors, prints a row
run() {
  local name=$1; shift
  scripts/cluster/cluster submit "${limits[@]}" -- "$@" --no-progress > "$out/$name.log" 2>&1 &
  local pid=$! driver_rss=0 exec_rss=0 t0=$SECONDS
  while kill -0 "$pid" 2>/dev/null; do
    for p in $(pgrep -f "SparkSubmit.*$out" || true); do
      r=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$p/status" 2>/dev/null || echo 0)
      [ "${r:-0}" -gt "$driver_rss" ] && driver_rss=$r
    done
    for p in $(pgrep -f "CoarseGrainedExecutorBackend" || true); do
      r=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$p/status" 2>/dev/null || echo 0)
      [ "${r:-0}" -gt "$exec_rss" ] && exec_rss=$r
    done
    sleep 1
  done
  local code=0
  wait "$pid" || code=$?
  local rate
  rate=$(grep -o '[0-9.]* MB/s, [0-9]* tokens/s' "$out/$name.log" | tail -1 || true)
  printf '%-12s exit %s  %5s s  %-32s driver %5s MiB  executor %5s MiB\n' "$name" "$code" $((SECONDS - t0)) \
    "${rate:--}" "$driver_rss" "$exec_rss"
}

base=(--config "$root/conf/shakespeare-char.yaml" --set "data.inputs=[$corpus]" --set train.workers=2)
rm -rf "$out/shards-char" "$out/shards-bpe" "$out/train-char"
run prepare-char prepare "${base[@]}" --shards "$out/shards-char"
run prepare-bpe prepare "${base[@]}" --set data.tokenizer=bpe --set data.bpe_vocab_size=8000 --shards "$out/shards-bpe"
run train-char train "${base[@]}" --set "data.shards=$out/shards-char" --set train.steps=20 --set train.local_steps=10 \
  --set train.batch_size=8 --set eval.batches=2 --output "$out/train-char"
grep -h "sparkformer: shards\|best validation" "$out"/prepare-*.log "$out/train-char.log" || true
bench/tokenize.sh "$corpus" "$out/shards-bpe/tokenizer.json" 100 | tail -3
