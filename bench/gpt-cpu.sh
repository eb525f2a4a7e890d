#!/usr/bin/env bash
# Trains nanoGPT's CPU setting with the project's model on random tokens and prints
#   RESULT tokens_per_s=X ms_per_step=Y gemm_ms=G other_ms=O forward_ms=F backward_ms=B optimizer_ms=A gemm_gflops=Z mfu=W
# Usage: [BLAS=auto|openblas|mkl|onednn] bench/gpt-cpu.sh [steps] [warmup]
#   BLAS: the library behind the GEMMs; auto is Nd4jRuntime's choice (the faster on this CPU,
#   timed once by BlasChoice and remembered in ~/.cache/sparkformer).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/classpath.sh
cp=$(sparkformer_test_classpath model)
source scripts/lib/native-env.sh
case "${BLAS:-auto}" in
  auto) blas=() ;;
  openblas) blas=(-Dsparkformer.blas=openblas) ;;
  mkl|onednn) blas=(-Dsparkformer.blas="$BLAS") ;;
  *) echo "gpt-cpu: BLAS must be auto, openblas, mkl or onednn, got $BLAS" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086
exec java -Xmx2g --add-modules=jdk.incubator.vector,jdk.incubator.foreign --enable-native-access=ALL-UNNAMED ${JAVA_OPTS:-} "${blas[@]}" -cp "$cp" \
  -Dorg.slf4j.simpleLogger.defaultLogLevel=warn io.sparkformer.model.bench.GptCpuBenchmark "$@" 2> >(grep -v 'incubator modules' >&2)
