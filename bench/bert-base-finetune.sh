#!/usr/bin/env bash
# A BERT-base-sized checkpoint (bench/make-bert-base.py: 12 layers, d 768, random weights, Hugging Face layout)
# fine-tuned on SST-2 phrases with 2 workers in local mode, as conf/sst2-minilm.yaml does all-MiniLM-L6-v2:
# prints the driver JVM's peak RSS (local mode: the executors are its threads), seconds per round
# (local_steps 8 a round, batches of 16 per worker) and non-padding tokens/s, then
#   RESULT parameters=N peak_rss_gb=G seconds_per_round=S tokens_per_s=T
# Usage: bench/bert-base-finetune.sh [OUT]   (default /tmp/sparkformer-bert-base)
#   ROUNDS (4), WORKERS (2). Needs python3 with numpy for the checkpoint. About 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/sparkformer-bert-base}
rounds=${ROUNDS:-4} workers=${WORKERS:-2}
[[ $rounds =~ ^[1-9][0-9]*$ && $workers =~ ^[1-9][0-9]*$ ]] || { echo "bench/bert-base-finetune.sh: ROUNDS and WORKERS must be positive whole numbers" >&2; exit 2; }
tokenizer=../shared/pretrained/all-MiniLM-L6-v2/tokenizer.json data=../shared/datasets/sst2
[[ -f $tokenizer && -f $data/train.tsv ]] || { echo "bench/bert-base-finetune.sh: $tokenizer and $data must exist (../shared)" >&2; exit 2; }
rm -rf "$out" && mkdir -p "$out"
python3 bench/make-bert-base.py "$out/bert-base" "$tokenizer"
head -n 4001 "$data/train.tsv" > "$out/fit.tsv"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $(date -u +%F)"
SPARKFORMER_DRIVER_MEMORY=${SPARKFORMER_DRIVER_MEMORY:-6g} /usr/bin/time -v -o "$out/time.txt" \
  scripts/sparkformer train --config conf/sst2-minilm.yaml --init-from "$out/bert-base" --output "$out/run" --no-progress \
  --set "data.inputs=[$out/fit.tsv]" --set train.workers="$workers" --set train.batch_size=16 --set train.local_steps=8 \
  --set train.steps=$((rounds * 8)) --set train.warmup=2 --set eval.every=1000 --set eval.batches=2 > "$out/train.log" 2>&1
python3 - "$out" <<'PY'
import json, re, sys
out = sys.argv[1]
s = json.load(open(out + "/run/summary.json"))
rows = [json.loads(l) for l in open(out + "/run/metrics.jsonl")]
rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(out + "/time.txt").read()).group(1))
per_round = [r["compute_s"] + r["sync_s"] for r in rows]
# the first round builds the replicas and batches; the steady state is the rest
steady = per_round[1:] or per_round
sec = sum(steady) / len(steady)
print(f"parameters {s['parameters']:,}; rounds {s['rounds']}, seconds per round {[round(x, 1) for x in per_round]}")
print("RESULT parameters=%d peak_rss_gb=%.2f seconds_per_round=%.1f tokens_per_s=%.0f" % (s["parameters"], rss_kb / 2**20, sec, s["tokens_per_s"]))
PY
