#!/usr/bin/env bash
# The recurrent baseline against the decoder, at matched parameter counts and equal tokens:
#  1. Tiny Shakespeare characters through the CLI (conf/shakespeare-char.yaml, and the same job with
#     model.kind=lstm at the width that matches its parameters): best validation loss, tokens/s, wall;
#  2. in one process (RecurrentVsTransformerBenchmark): recall of the first symbol after N
#     distractors, forward+backward time as the length grows 64 to 1024, and the gradient reaching
#     the first position over the one at the last.
# Writes OUT/lm.tsv, recall.tsv, steptime.tsv, gradient.tsv, rnn-vs-transformer.png; prints RESULT lines.
# Usage: bench/rnn-vs-transformer.sh [OUT] [STEPS]   (defaults /tmp/sparkformer-rnn, 600 steps;
#        about 35 minutes on 2 cores; QUICK=1 for a smoke run of a few minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/sparkformer-rnn}
steps=${2:-600}
quick=()
if [ "${QUICK:-0}" = 1 ]; then steps=40; quick=(--quick); fi
rm -rf "$out" && mkdir -p "$out"
common=(--config conf/shakespeare-char.yaml --no-progress --set train.steps="$steps" --set eval.every=25 --set eval.batches=50
  --set checkpoint.every=1000)
# 4 LSTM layers 158 wide match the 4-layer decoder's parameters (untied output layers on both sides)
scripts/sparkformer train "${common[@]}" --output "$out/decoder" --set model.tie_embeddings=false > "$out/decoder.log" 2>&1
scripts/sparkformer train "${common[@]}" --output "$out/lstm" --set model.kind=lstm --set model.d_model=158 > "$out/lstm.log" 2>&1
printf 'model\tparameters\tbest_val_loss\ttokens\ttokens_per_s\twall_s\n' > "$out/lm.tsv"
for m in decoder lstm; do
  python3 - "$out/$m/summary.json" "$m" >> "$out/lm.tsv" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print("\t".join([sys.argv[2], str(s["parameters"]), "%.4f" % s["best_val_loss"], str(s["tokens"]),
                 "%.0f" % s["tokens_per_s"], "%.0f" % s["wall_seconds"]]))
PY
done
cat "$out/lm.tsv"
source scripts/lib/classpath.sh
cp=$(sparkformer_test_classpath driver)
source scripts/lib/native-env.sh
java -Xmx4g --add-modules=jdk.incubator.vector,jdk.incubator.foreign --enable-native-access=ALL-UNNAMED -cp "$cp" \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn io.sparkformer.driver.bench.RecurrentVsTransformerBenchmark "$out" "${quick[@]}" \
  --lm "$out/decoder" "$out/lstm" 2> >(grep -v 'incubator modules' >&2)
awk -F'\t' 'NR > 1 { printf "RESULT lm model=%s parameters=%s best_val_loss=%s tokens_per_s=%s wall_s=%s\n", $1, $2, $3, $5, $6 }' "$out/lm.tsv"
