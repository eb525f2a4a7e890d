#!/usr/bin/env bash
# Side-by-side: the project's model (bench/gpt-cpu.sh) on each BLAS path, and the same model in
# PyTorch (bench/pytorch/gpt_cpu.py at its best thread setting here, one thread), alternated
# ROUNDS times so all see the same machine load. Prints each run's RESULT, the medians, and the
# ratio of tokens/s for each path against PyTorch's best.
# PyTorch runs twice a round when the project names OpenBLAS's kernels for this CPU
# (io.sparkformer.model.OpenBlasKernels: CPUs newer than OpenBLAS's tables, where Debian's
# OpenBLAS may fall back to older kernels): as installed, and with that OPENBLAS_CORETYPE.
# Needs Debian's python3-torch and libopenblas0-pthread.
# Usage: bench/gpt-cpu-vs-pytorch.sh [rounds] [steps]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
steps=${2:-40}
python=${PYTHON:-/usr/bin/python3}
"$python" -c 'import torch' 2>/dev/null || { echo "needs PyTorch: apt-get install python3-torch libopenblas0-pthread" >&2; exit 2; }
bench/gpt-cpu.sh 5 2 > /dev/null   # build once, outside the timing
grep -m1 'model name' /proc/cpuinfo
source scripts/lib/classpath.sh
core=$(java -cp "$(sparkformer_test_classpath model)" io.sparkformer.model.OpenBlasKernels)
declare -A runs=([openblas]="" [mkl]="" [pytorch]="" [pytorch_core]="")
value() { sed -n 's/^RESULT .*tokens_per_s=\([0-9.]*\).*/\1/p'; }
for r in $(seq "$rounds"); do
  for path in openblas mkl; do
    o=$(BLAS=$path bench/gpt-cpu.sh "$steps" 10 | grep '^RESULT')
    echo "round $r sparkformer/$path: $o"
    runs[$path]+=" $(echo "$o" | value)"
  done
  t=$(env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=1 "$python" bench/pytorch/gpt_cpu.py --threads 1 --steps "$steps" | grep '^RESULT')
  echo "round $r pytorch:           $t"
  runs[pytorch]+=" $(echo "$t" | value)"
  if [ -n "$core" ]; then
    t=$(OPENBLAS_CORETYPE=$core OPENBLAS_NUM_THREADS=1 "$python" bench/pytorch/gpt_cpu.py --threads 1 --steps "$steps" | grep '^RESULT')
    echo "round $r pytorch/$core: $t"
    runs[pytorch_core]+=" $(echo "$t" | value)"
  fi
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# shellcheck disable=SC2086
mt=$(median ${runs[pytorch]})
echo "median tokens/s: pytorch as installed $mt"
if [ -n "$core" ]; then
  # shellcheck disable=SC2086
  mc=$(median ${runs[pytorch_core]})
  echo "median tokens/s: pytorch with OPENBLAS_CORETYPE=$core $mc"
  mt=$(awk -v a="$mt" -v b="$mc" 'BEGIN {print (a > b ? a : b)}')
fi
for path in openblas mkl; do
  # shellcheck disable=SC2086
  mo=$(median ${runs[$path]})
  echo "median tokens/s: sparkformer/$path $mo, pytorch (best) $mt"
  awk -v p="$path" -v a="$mo" -v b="$mt" 'BEGIN {printf "RESULT blas=%s ratio_tokens_per_s=%.2f\n", p, a / b}'
done
