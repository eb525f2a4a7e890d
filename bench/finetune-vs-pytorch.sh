#!/usr/bin/env bash
# Fine-tuning a pretrained checkpoint, ours against plain PyTorch: GLUE SST-2 from
# ../shared/pretrained/all-MiniLM-L6-v2 with finetune_sst2.py's recipe (conf/sst2-minilm.yaml: batches
# of 32, lr 5e-5, 6% linear warmup then linear decay, AdamW 0.9/0.999 wd 0.01, no clipping, dropout 0.1,
# [CLS] head, at most 64 tokens) over the same first ROWS training phrases, one epoch; one run after the
# other on this machine:
#   1. finetune_sst2.py (PyTorch, float32, 2 threads; each batch padded to its longest row);
#   2. ours, 1 worker (batches of similar lengths: bucketing);
#   3. ours, 2 workers averaging every 8 steps, each worker half the steps over its half of the rows
#      (the same phrases and the same number of batches in all).
# Prints dev accuracy (all 872 rows), non-padding tokens/s over the training steps ([CLS] and [SEP]
# included, as the anchor counts them) and wall time of each, then one line
#   RESULT sparkformer_accuracy=A pytorch_accuracy=B ratio_tokens_per_s=R   (the 1-worker run's)
# Usage: bench/finetune-vs-pytorch.sh [OUT]   (default /tmp/sparkformer-finetune)
#   ROWS (19200: 600 steps of 32), SEED (1), RUNS ("pytorch one two"). About 25 minutes on 2 cores.
# Needs python3 with torch (Debian: python3-torch; PYTHON names another interpreter) for the anchor.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/sparkformer-finetune}
rows=${ROWS:-19200} seed=${SEED:-1} runs=${RUNS:-pytorch one two}
[[ $rows =~ ^[1-9][0-9]*$ && $((rows % 64)) == 0 ]] || { echo "bench/finetune-vs-pytorch.sh: ROWS must be a positive multiple of 64, got '$rows'" >&2; exit 2; }
[[ $seed =~ ^[0-9]+$ ]] || { echo "bench/finetune-vs-pytorch.sh: SEED must be a whole number, got '$seed'" >&2; exit 2; }
for r in $runs; do case $r in pytorch|one|two) ;; *) echo "bench/finetune-vs-pytorch.sh: RUNS takes pytorch, one and two, got '$r'" >&2; exit 2 ;; esac; done
has() { case " $runs " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
ckpt=../shared/pretrained/all-MiniLM-L6-v2 data=../shared/datasets/sst2
[[ -f $ckpt/config.json && -f $data/train.tsv ]] || { echo "bench/finetune-vs-pytorch.sh: $ckpt and $data must exist (../shared)" >&2; exit 2; }
# the anchor's python: PYTHON, else the first of python3 and Debian's /usr/bin/python3 that has torch
if has pytorch; then
  torch_python=${PYTHON:-}
  for p in python3 /usr/bin/python3; do
    [[ -n $torch_python ]] || ! "$p" -c "import torch" 2>/dev/null || torch_python=$p
  done
  [[ -n $torch_python ]] || { echo "bench/finetune-vs-pytorch.sh: the anchor needs python3 with torch (apt install python3-torch)" >&2; exit 2; }
fi
rm -rf "$out" && mkdir -p "$out"
head -n $((rows + 1)) "$data/train.tsv" > "$out/fit.tsv"
steps=$((rows / 32))
warmup=$(python3 -c "print(round(0.06 * $steps))")
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $(date -u +%F)"
printf 'run\tdev_accuracy\ttokens_per_s\ttrain_s\twall_s\n' > "$out/results.tsv"

if has pytorch; then
  start=$(date +%s.%N)
 "$torch_python" "$ckpt/../finetune_sst2.py" --model-dir "$ckpt" --data-dir "$data" --limit "$rows" --epochs 1 --batch 32 --lr 5e-5 \
    --max-len 64 --seed "$seed" --threads 2 > "$out/pytorch.log" 2>&1
  wall=$(python3 -c "import time; print(round(time.time() - $start, 1))")
  python3 - "$out/pytorch.log" "$wall" >> "$out/results.tsv" <<'PY'
import re, sys
line = [l for l in open(sys.argv[1]) if l.startswith("RESULT")][-1]
v = dict(kv.split("=") for kv in line.split()[1:])
print("\t".join(["pytorch", "%.4f" % float(v["dev_accuracy"]), "%.0f" % float(v["tokens_per_s"]), "%.0f" % float(v["train_seconds"]), sys.argv[2]]))
PY
  tail -n 1 "$out/results.tsv"
fi

# ours NAME WORKERS STEPS WARMUP: fine-tunes on fit.tsv, scores the final weights on dev
ours() {
  local name=$1 workers=$2 n=$3 w=$4 start wall
  start=$(date +%s.%N)
  scripts/sparkformer train --config conf/sst2-minilm.yaml --init-from "$ckpt" --output "$out/$name" --no-progress \
    --set seed="$seed" --set "data.inputs=[$out/fit.tsv]" --set train.workers="$workers" --set train.steps="$n" \
    --set train.warmup="$w" > "$out/$name.log" 2>&1
  wall=$(python3 -c "import time; print(round(time.time() - $start, 1))")
  scripts/sparkformer evaluate --model "$out/$name" --data "$data/dev.tsv" --output "$out/$name/dev.json" > "$out/$name-eval.log" 2>&1
  python3 - "$out/$name" "$name" "$wall" >> "$out/results.tsv" <<'PY'
import json, sys
s = json.load(open(sys.argv[1] + "/summary.json"))
acc = json.load(open(sys.argv[1] + "/dev.json"))["accuracy"]
print("\t".join([sys.argv[2], "%.4f" % acc, "%.0f" % s["tokens_per_s"], "%.0f" % (s["compute_seconds"] + s["sync_seconds"]), sys.argv[3]]))
PY
  tail -n 1 "$out/results.tsv"
}
if has one; then ours sparkformer-1w 1 "$steps" "$warmup"; fi
if has two; then ours sparkformer-2w 2 $((steps / 2)) $(python3 -c "print(round(0.06 * $steps / 2))"); fi

column -t "$out/results.tsv"
python3 - "$out/results.tsv" <<'PY'
import sys
rows = {l.split("\t")[0]: l.rstrip("\n").split("\t") for l in list(open(sys.argv[1]))[1:]}
if "pytorch" in rows and "sparkformer-1w" in rows:
    ours, pt = rows["sparkformer-1w"], rows["pytorch"]
    print("RESULT sparkformer_accuracy=%s pytorch_accuracy=%s ratio_tokens_per_s=%.2f" % (ours[1], pt[1], float(ours[2]) / float(pt[2])))
PY
