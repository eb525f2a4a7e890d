#!/usr/bin/env bash
# Sentence embeddings per second: SST-2's first N training phrases with all-MiniLM-L6-v2 on this
# machine's cores, three ways, alternated ROUNDS times (the median of each is reported):
#   - ours: the TextEmbedder stage in local mode (EmbedThroughputBenchmark), one partition whose task
#     computes with every core, and one partition per core (a task of one thread each);
#   - ONNX Runtime (OnnxEmbedBenchmark, langchain4j's artifact): the session on the same threads in
#     length-sorted batches of 64, and langchain4j's own embedAll;
#   - plain PyTorch (bench/pytorch/embed_minilm.py), the same batches, when python3 has torch.
# Also the largest difference between our embeddings and ONNX Runtime's for the first 64 phrases.
# Ends with one line: RESULT sentences_per_s=X ort_sentences_per_s=Y ratio=Z (X our faster way,
# Y ONNX Runtime's faster way).
# Usage: bench/embed-throughput.sh [OUT]   N (20000), ROUNDS (2). About 5 minutes a round on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/sparkformer-embed-throughput}
n=${N:-20000} rounds=${ROUNDS:-2}
shared=$(cd ../shared 2>/dev/null && pwd) || { echo "bench/embed-throughput.sh: ../shared must exist" >&2; exit 2; }
[[ $n =~ ^[1-9][0-9]*$ && $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench/embed-throughput.sh: N and ROUNDS must be positive whole numbers" >&2; exit 2; }
cores=$(nproc)
mkdir -p "$out"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $cores cores; OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}" \
  "OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}; $(date -u +%F)"
mvn -q -B -o -pl driver -am install -DskipTests -DskipJobJar >/dev/null 2>&1 || mvn -q -B -pl driver -am install -DskipTests -DskipJobJar
mvn -q -B -o -pl driver test-compile >/dev/null 2>&1 || mvn -q -B -pl driver test-compile
mvn -q -B -o -pl driver dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$out/classpath.txt" >/dev/null
cp=driver/target/test-classes:driver/target/classes:$(cat "$out/classpath.txt")
source scripts/lib/classpath.sh
source scripts/lib/native-env.sh
jvm() {
  java -Xmx4g $(sparkformer_spark_jvm_options) -Dlog4j2.configurationFile="$PWD/scripts/lib/log4j2.properties" \
    -Dorg.bytedeco.javacpp.maxbytes=8G -Dorg.bytedeco.javacpp.maxphysicalbytes=16G -cp "$cp" "$@" 2>/dev/null
}
torch_python=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
  [[ -n $torch_python ]] || ! "$p" -c "import torch" 2>/dev/null || torch_python=$p
done
value() { grep '^RESULT' | tr ' ' '\n' | sed -n "s/^$1=//p"; }
: > "$out/figures.tsv"
for r in $(seq 1 "$rounds"); do
  o=$(jvm io.sparkformer.driver.bench.OnnxEmbedBenchmark "$shared" "$n" "$cores" "$out/ort.txt" | tee "$out/ort-$r.log")
  printf 'ort_session\t%s\nort_embed_all\t%s\n' "$(value ort_session_sentences_per_s <<< "$o")" \
    "$(value ort_embed_all_sentences_per_s <<< "$o")" >> "$out/figures.tsv"
  o=$(jvm io.sparkformer.driver.bench.EmbedThroughputBenchmark "$shared" "$n" 1 "$out/ours.txt" | tee "$out/ours-1-$r.log")
  printf 'ours_1_task_%s_threads\t%s\n' "$cores" "$(value sentences_per_s <<< "$o")" >> "$out/figures.tsv"
  o=$(jvm io.sparkformer.driver.bench.EmbedThroughputBenchmark "$shared" "$n" "$cores" | tee "$out/ours-$cores-$r.log")
  printf 'ours_%s_tasks_1_thread\t%s\n' "$cores" "$(value sentences_per_s <<< "$o")" >> "$out/figures.tsv"
  if [[ -n $torch_python ]]; then
    o=$("$torch_python" bench/pytorch/embed_minilm.py "$shared" "$n" "$cores" | tee "$out/torch-$r.log")
    printf 'pytorch\t%s\n' "$(value torch_sentences_per_s <<< "$o")" >> "$out/figures.tsv"
  fi
done
python3 - "$out" <<'PY'
import statistics, sys
out = sys.argv[1]
runs = {}
for line in open(out + "/figures.tsv"):
    k, v = line.split()
    runs.setdefault(k, []).append(float(v))
print("%-24s %10s   %s" % ("way", "sentences/s", "runs"))
for k, v in runs.items():
    print("%-24s %10.0f   %s" % (k, statistics.median(v), " ".join("%.0f" % x for x in v)))
ours = [list(map(float, l.split())) for l in open(out + "/ours.txt")]
ort = [list(map(float, l.split())) for l in open(out + "/ort.txt")]
diff = max(abs(a - b) for x, y in zip(ours, ort) for a, b in zip(x, y))
print("largest difference from ONNX Runtime's embeddings (first %d phrases, normalised): %.1e" % (len(ours), diff))
best_ours = max(statistics.median(v) for k, v in runs.items() if k.startswith("ours"))
best_ort = max(statistics.median(v) for k, v in runs.items() if k.startswith("ort"))
print("RESULT sentences_per_s=%.0f ort_sentences_per_s=%.0f ratio=%.2f" % (best_ours, best_ort, best_ours / best_ort))
PY
