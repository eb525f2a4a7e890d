#!/usr/bin/env bash
# Trains nanoGPT's CPU setting with the project's model on random tokens and prints
#   RESULT tokens_per_s=X ms_per_step=Y gemm_gflops=Z mfu=W
# Usage: bench/gpt-cpu.sh [steps] [warmup]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/classpath.sh
cp=$(sparkformer_test_classpath model)
source scripts/lib/native-env.sh
exec java -Xmx2g --add-modules=jdk.incubator.vector -cp "$cp" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
  io.sparkformer.model.bench.GptCpuBenchmark "$@"
