#!/usr/bin/env bash
# SST-2 sentiment through the CLI (conf/sst2.yaml): dev accuracy of an encoder classifier trained
# from scratch, and of the same network pretrained as a masked LM on the training sentences (same
# tokenizer) and then fine-tuned with --init-from, and of the recurrent baseline (model.kind=lstm,
# the same width, depth, tokenizer and steps). Prints each run's accuracy and a RESULT line.
# Usage: bench/sst2.sh [OUT] [RUNS]   (default /tmp/sparkformer-sst2, RUNS "scratch mlm lstm";
#        about 25 minutes on 2 cores; MLM_STEPS, MLM_LR, MLM_DROPOUT set the pretraining run)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/sparkformer-sst2}
runs=${2:-scratch mlm lstm}
mlm_steps=${MLM_STEPS:-3000} mlm_lr=${MLM_LR:-5.0e-3} mlm_dropout=${MLM_DROPOUT:-0.0}
[[ $mlm_lr =~ ^[0-9.]+([eE][-+]?[0-9]+)?$ ]] || { echo "bench/sst2.sh: MLM_LR must be a number, got '$mlm_lr'" >&2; exit 2; }
mlm_min_lr=$(awk -v lr="$mlm_lr" 'BEGIN { print lr / 10 }')
data=../shared/datasets/sst2
rm -rf "$out" && mkdir -p "$out"
accuracy() { scripts/sparkformer evaluate --model "$1" --data "$data/dev.tsv" --output "$1/dev.json" >/dev/null 2>&1
  python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['accuracy'], 4))" "$1/dev.json"; }

has() { case " $runs " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
scratch=- finetuned=- lstm=-
scripts/sparkformer train --config conf/sst2.yaml --output "$out/scratch" --no-progress > "$out/scratch.log" 2>&1
scratch=$(accuracy "$out/scratch")
echo "from scratch: dev accuracy $scratch"
tok=$out/scratch/tokenizer.json

if has mlm; then
  # the training sentences as a text corpus, tokenized by the classifier's own tokenizer
  tail -n +2 "$data/train.tsv" | cut -f1 > "$out/sentences.txt"
  scripts/sparkformer train --config conf/sst2.yaml --output "$out/mlm" --no-progress \
    --set name=sst2-mlm --set data.task=masked_lm --set "data.inputs=[$out/sentences.txt]" --set "data.validation=[]" \
    --set data.header=false --set "data.tokenizer=$tok" --set train.steps=$mlm_steps --set train.lr=$mlm_lr --set train.min_lr=$mlm_min_lr \
    --set model.dropout=$mlm_dropout --set train.bucketing=false > "$out/mlm.log" 2>&1
  grep "best validation" "$out/mlm.log" | sed 's/^/masked LM: /'
  scripts/sparkformer train --config conf/sst2.yaml --output "$out/finetuned" --no-progress --set "data.tokenizer=$tok" \
    --init-from "$out/mlm/$(cat "$out/mlm/latest")" > "$out/finetuned.log" 2>&1
  finetuned=$(accuracy "$out/finetuned")
  echo "pretrained as a masked LM, then fine-tuned: dev accuracy $finetuned"
fi

if has lstm; then
  scripts/sparkformer train --config conf/sst2.yaml --output "$out/lstm" --no-progress --set "data.tokenizer=$tok" \
    --set model.kind=lstm --set model.pooling=last > "$out/lstm.log" 2>&1
  lstm=$(accuracy "$out/lstm")
  echo "lstm (same width, depth, tokenizer and steps) from scratch: dev accuracy $lstm"
fi
echo "RESULT scratch_accuracy=$scratch finetuned_accuracy=$finetuned lstm_accuracy=$lstm"
