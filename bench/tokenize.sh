#!/usr/bin/env bash
# Tokenizing speed on Multi30k de-en train (3.9 MB) or a large corpus: native tokenizers library against the
# pure-Java BPE encoder, one thread. Prints a RESULT line.
# Usage: bench/tokenize.sh [multi30k-dir]  or  bench/tokenize.sh FILE TOKENIZER_JSON [MB]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/classpath.sh
cp=$(sparkformer_test_classpath model)
exec java -Xmx2g -cp "$cp" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
  io.sparkformer.model.bench.TokenizeBenchmark "${@:-../shared/datasets/multi30k}"
