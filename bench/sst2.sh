#!/usr/bin/env bash
# SST-2 sentiment through the CLI (conf/sst2.yaml): dev accuracy of an encoder classifier trained
# from scratch, of the same network pretrained as a masked LM on the training phrases and then
# fine-tuned with --init-from, and of the recurrent baseline (model.kind=lstm, the same width,
# depth, tokenizer and steps). Dev is scored once per run and picks nothing: the last HOLDOUT
# training phrases are the validation set, and each run is scored with the weights that did best
# on them (checkpoint.best). Each recipe runs once per seed, so the recipes compare seed by seed
# (the same batches and initial head); prints every run's accuracy and a RESULT line of medians.
# Usage: bench/sst2.sh [OUT] [RUNS]   (default /tmp/sparkformer-sst2, RUNS "scratch mlm lstm")
#   SEEDS (default "1 2 3 4 5"), HOLDOUT (2000), STEPS (the classifiers' steps; default the config's),
#   MLM_STEPS (10000), MLM_LR (5e-3; min lr a tenth), MLM_DROPOUT (0) set the masked-LM run;
#   MLM_RUN fine-tunes from an existing masked-LM run (same tokenizer) instead of pretraining.
#   On 2 cores, per seed: 80 s from scratch, 80 s fine-tuning, 510 s the lstm; the masked LM
#   0.2 s a step (35 minutes at 10000). About 90 minutes in all.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/sparkformer-sst2}
runs=${2:-scratch mlm lstm}
seeds=${SEEDS:-1 2 3 4 5} holdout=${HOLDOUT:-2000}
mlm_steps=${MLM_STEPS:-10000} mlm_lr=${MLM_LR:-5.0e-3} mlm_dropout=${MLM_DROPOUT:-0.0} mlm_run=${MLM_RUN:-}
number() { [[ $2 =~ ^[0-9.]+([eE][-+]?[0-9]+)?$ ]] || { echo "bench/sst2.sh: $1 must be a number, got '$2'" >&2; exit 2; }; }
number MLM_LR "$mlm_lr"
[[ $holdout =~ ^[1-9][0-9]*$ ]] || { echo "bench/sst2.sh: HOLDOUT must be a whole number of phrases, got '$holdout'" >&2; exit 2; }
for r in $runs; do case $r in scratch|mlm|lstm) ;; *) echo "bench/sst2.sh: RUNS takes scratch, mlm and lstm, got '$r'" >&2; exit 2 ;; esac; done
for s in $seeds; do [[ $s =~ ^[0-9]+$ ]] || { echo "bench/sst2.sh: SEEDS must be whole numbers, got '$s'" >&2; exit 2; }; done
[[ -z $mlm_run || -f $mlm_run/latest ]] || { echo "bench/sst2.sh: MLM_RUN $mlm_run is not a run directory (no latest)" >&2; exit 2; }
mlm_min_lr=$(awk -v lr="$mlm_lr" 'BEGIN { print lr / 10 }')
data=../shared/datasets/sst2
[[ -f $data/train.tsv ]] || { echo "bench/sst2.sh: $data/train.tsv not found (SST-2 lives in ../shared)" >&2; exit 2; }
rows=$(($(wc -l < "$data/train.tsv") - 1))
((holdout < rows)) || { echo "bench/sst2.sh: HOLDOUT $holdout leaves nothing of the $rows training phrases" >&2; exit 2; }
rm -rf "$out" && mkdir -p "$out"
has() { case " $runs " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# the held-out split: the last $holdout training phrases validate and pick the best weights
head -n $((rows - holdout + 1)) "$data/train.tsv" > "$out/fit.tsv"
{ head -n 1 "$data/train.tsv"; tail -n "$holdout" "$data/train.tsv"; } > "$out/holdout.tsv"
# one tokenizer for every run: the config's BPE trained on all the training phrases
scripts/sparkformer prepare --config conf/sst2.yaml --shards "$out/tokenizer" --no-progress > "$out/tokenizer.log" 2>&1
tok=$out/tokenizer/tokenizer.json

# train NAME SEED [--set ...]: a classifier run on the fit split, validated on all of the held-out
# phrases (batches of 32); prints its dev accuracy with its best weights
train() {
  local name=$1 seed=$2; shift 2
  scripts/sparkformer train --config conf/sst2.yaml --output "$out/$name" --no-progress --set seed="$seed" \
    --set "data.inputs=[$out/fit.tsv]" --set "data.validation=[$out/holdout.tsv]" --set "data.tokenizer=$tok" \
    --set checkpoint.best=true --set eval.batches=$(((holdout + 31) / 32)) ${STEPS:+--set train.steps=$STEPS} "$@" \
    > "$out/$name.log" 2>&1
  scripts/sparkformer evaluate --model "$out/$name/best" --data "$data/dev.tsv" --output "$out/$name/dev.json" >/dev/null 2>&1
  python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['accuracy'], 4))" "$out/$name/dev.json"
}
median() { python3 -c "import statistics,sys; print(round(statistics.median(map(float, sys.argv[1:])), 4))" "$@"; }

scratch=() finetuned=() lstm=()
if has scratch; then
  for seed in $seeds; do
    scratch+=("$(train "scratch-$seed" "$seed")")
    echo "from scratch, seed $seed: dev accuracy ${scratch[-1]}"
  done
fi

if has mlm; then
  if [[ -z $mlm_run ]]; then
    # the training phrases as a text corpus; data.validation_fraction holds out their last tenth
    tail -n +2 "$data/train.tsv" | cut -f1 > "$out/sentences.txt"
    mlm_run=$out/mlm
    scripts/sparkformer train --config conf/sst2.yaml --output "$mlm_run" --no-progress \
      --set name=sst2-mlm --set data.task=masked_lm --set "data.inputs=[$out/sentences.txt]" --set "data.validation=[]" \
      --set data.header=false --set "data.tokenizer=$tok" --set train.steps="$mlm_steps" --set train.lr="$mlm_lr" \
      --set train.min_lr="$mlm_min_lr" --set model.dropout="$mlm_dropout" --set train.bucketing=false > "$out/mlm.log" 2>&1
  fi
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print('masked LM %s: %d steps, final validation loss %.4f, best %.4f'
    % (sys.argv[2], s['steps'], s['final_val_loss'], s['best_val_loss']))" "$mlm_run/summary.json" "$mlm_run"
  cmp -s "$tok" "$mlm_run/tokenizer.json" || { echo "bench/sst2.sh: $mlm_run has another tokenizer than $tok" >&2; exit 2; }
  for seed in $seeds; do
    finetuned+=("$(train "finetuned-$seed" "$seed" --init-from "$mlm_run")")
    echo "pretrained as a masked LM, then fine-tuned, seed $seed: dev accuracy ${finetuned[-1]}"
  done
fi

if has lstm; then
  for seed in $seeds; do
    lstm+=("$(train "lstm-$seed" "$seed" --set model.kind=lstm --set model.pooling=last)")
    echo "lstm (same width, depth, tokenizer and steps) from scratch, seed $seed: dev accuracy ${lstm[-1]}"
  done
fi
m() { if (($# == 0)); then echo -; else median "$@"; fi; }
echo "RESULT seeds=${seeds// /,} scratch_median=$(m ${scratch[@]+"${scratch[@]}"}) finetuned_median=$(m ${finetuned[@]+"${finetuned[@]}"})" \
  "lstm_median=$(m ${lstm[@]+"${lstm[@]}"})"
