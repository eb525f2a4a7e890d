#!/usr/bin/env bash
# Fine-tuning through the Spark ML Estimator against the train command, the same recipe: SST-2 from
# ../shared/pretrained/all-MiniLM-L6-v2 with conf/sst2-minilm.yaml over the first ROWS training
# phrases, one worker, seed 1, one run after the other:
#   1. scripts/sparkformer train on a TSV of those rows, then evaluate on dev;
#   2. TextClassifier.fit on a DataFrame of the same rows (FitBenchmark), then its model's transform on dev.
# Prints each run's dev accuracy (all 872 rows) and seconds, then one line
#   RESULT fit_accuracy=A cli_accuracy=B difference=D
# and whether the two runs' final weights are the same bits.
# Usage: bench/fit-vs-cli.sh [OUT]   (default /tmp/sparkformer-fit-vs-cli; ROWS 19200; about 12 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/sparkformer-fit-vs-cli}
rows=${ROWS:-19200}
[[ $rows =~ ^[1-9][0-9]*$ && $((rows % 32)) == 0 ]] || { echo "bench/fit-vs-cli.sh: ROWS must be a positive multiple of 32, got '$rows'" >&2; exit 2; }
ckpt=$(cd ../shared/pretrained/all-MiniLM-L6-v2 2>/dev/null && pwd) data=$(cd ../shared/datasets/sst2 2>/dev/null && pwd) || {
  echo "bench/fit-vs-cli.sh: ../shared/pretrained/all-MiniLM-L6-v2 and ../shared/datasets/sst2 must exist" >&2; exit 2; }
rm -rf "$out" && mkdir -p "$out"
head -n $((rows + 1)) "$data/train.tsv" > "$out/fit.tsv"
steps=$((rows / 32))
warmup=$(python3 -c "print(round(0.06 * $steps))")
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $(date -u +%F)"

start=$(date +%s)
scripts/sparkformer train --config conf/sst2-minilm.yaml --init-from "$ckpt" --output "$out/cli" --no-progress \
  --set seed=1 --set "data.inputs=[$out/fit.tsv]" --set train.steps="$steps" --set train.warmup="$warmup" > "$out/cli.log" 2>&1
cli_seconds=$(( $(date +%s) - start ))
scripts/sparkformer evaluate --model "$out/cli" --data "$data/dev.tsv" --header --output "$out/cli-dev.json" > "$out/cli-eval.log" 2>&1
cli_accuracy=$(python3 -c "import json; print('%.4f' % json.load(open('$out/cli-dev.json'))['accuracy'])")
echo "train command: dev accuracy $cli_accuracy, $cli_seconds s"

mvn -q -B -o -pl driver test-compile >/dev/null 2>&1 || mvn -q -B -pl driver test-compile
mvn -q -B -o -pl driver dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$out/classpath.txt" >/dev/null
cp=driver/target/test-classes:driver/target/classes:$(cat "$out/classpath.txt")
source scripts/lib/classpath.sh
source scripts/lib/native-env.sh
java -Xmx4g $(sparkformer_spark_jvm_options) -Dlog4j2.configurationFile="$PWD/scripts/lib/log4j2.properties" \
  -Dorg.bytedeco.javacpp.maxbytes=8G -Dorg.bytedeco.javacpp.maxphysicalbytes=16G -cp "$cp" \
  io.sparkformer.driver.bench.FitBenchmark "$out/fit.tsv" "$data/dev.tsv" conf/sst2-minilm.yaml "$ckpt" "$out/fit" \
  seed=1 train.steps="$steps" train.warmup="$warmup" | tee "$out/fit.log" | grep -v '^RESULT'
fit_accuracy=$(grep '^RESULT' "$out/fit.log" | sed 's/.*fit_accuracy=\([0-9.]*\).*/\1/')
# the same rows cut into the same shards: the final weights may well be the same bits
final() { ls -d "$1"/checkpoints/round-* | sort | tail -n 1; }
if cmp -s "$(final "$out/cli")/model.safetensors" "$(final "$out/fit")/model.safetensors"; then
  echo "final weights: bit-equal"
else
  echo "final weights: differ"
fi
echo "RESULT fit_accuracy=$fit_accuracy cli_accuracy=$cli_accuracy difference=$(python3 -c "print('%.4f' % abs($fit_accuracy - $cli_accuracy))")"
