#!/usr/bin/env bash
# Side-by-side: the project's model (bench/gpt-cpu.sh, the machine's cores as one task gets them)
# on each BLAS path, and the same model in PyTorch (bench/pytorch/gpt_cpu.py) at each of its
# sensible thread settings, alternated ROUNDS times so all see the same machine load. Prints each
# run's RESULT, the medians (with the project's per-phase split), and the ratio of tokens/s for
# each path against PyTorch's best median.
# PyTorch's settings: one thread for its own ops, with its BLAS on one thread and on all cores
# (torch.set_num_threads above one adds OpenMP threads that fight OpenBLAS's: 2-3x slower here).
# When the project names OpenBLAS's kernels for this CPU (io.sparkformer.model.OpenBlasKernels)
# and they differ from what Debian's OpenBLAS picks, PyTorch also runs with those kernels.
# Needs Debian's python3-torch and libopenblas0-pthread.
# Usage: bench/gpt-cpu-vs-pytorch.sh [rounds] [steps]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
steps=${2:-40}
python=${PYTHON:-/usr/bin/python3}
"$python" -c 'import torch' 2>/dev/null || { echo "needs PyTorch: apt-get install python3-torch libopenblas0-pthread" >&2; exit 2; }
bench/gpt-cpu.sh 5 2 > /dev/null   # build once, outside the timing
source scripts/lib/classpath.sh
core=$(java -cp "$(sparkformer_test_classpath model)" io.sparkformer.model.OpenBlasKernels)
own=$(env -u OPENBLAS_CORETYPE "$python" bench/pytorch/gpt_cpu.py --steps 1 --warmup 0 | sed -n 's/.*OpenBLAS kernels \([^,]*\),.*/\1/p')
[ "$core" = "$own" ] && core=""
cores=$(nproc)
grep -m1 'model name' /proc/cpuinfo
echo "PyTorch's OpenBLAS picks $own kernels${core:+; the project names $core}"
declare -A runs=()
settings=("blas1" "blas$cores")
[ -n "$core" ] && settings+=("blas1-$core" "blas$cores-$core")
field() { sed -n "s/^RESULT .*$1=\([0-9.]*\).*/\1/p"; }
for r in $(seq "$rounds"); do
  for path in openblas mkl; do
    o=$(BLAS=$path bench/gpt-cpu.sh "$steps" 10 | grep '^RESULT')
    echo "round $r sparkformer/$path: $o"
    for f in tokens_per_s gemm_ms other_ms forward_ms backward_ms optimizer_ms; do
      runs[$path.$f]+=" $(echo "$o" | field $f)"
    done
  done
  for s in "${settings[@]}"; do
    threads=${s#blas}; threads=${threads%%-*}
    kernels=""; [[ $s == *-* ]] && kernels=${s#*-}
    if [ -n "$kernels" ]; then
      t=$(OPENBLAS_CORETYPE=$kernels OPENBLAS_NUM_THREADS=$threads "$python" bench/pytorch/gpt_cpu.py --threads 1 --steps "$steps" | grep '^RESULT')
    else
      t=$(env -u OPENBLAS_CORETYPE OPENBLAS_NUM_THREADS=$threads "$python" bench/pytorch/gpt_cpu.py --threads 1 --steps "$steps" | grep '^RESULT')
    fi
    echo "round $r pytorch/$s: $t"
    runs[pytorch.$s]+=" $(echo "$t" | field tokens_per_s)"
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
best=0; bestname=""
for s in "${settings[@]}"; do
  # shellcheck disable=SC2086
  m=$(median ${runs[pytorch.$s]})
  echo "median tokens/s: pytorch, 1 op thread, OpenBLAS ${s#blas} threads: $m"
  if awk -v a="$m" -v b="$best" 'BEGIN {exit !(a > b)}'; then best=$m; bestname=$s; fi
done
for path in openblas mkl; do
  line="median: sparkformer/$path"
  for f in tokens_per_s gemm_ms other_ms forward_ms backward_ms optimizer_ms; do
    # shellcheck disable=SC2086
    line+=" $f=$(median ${runs[$path.$f]})"
  done
  echo "$line"
  # shellcheck disable=SC2086
  awk -v p="$path" -v a="$(median ${runs[$path.tokens_per_s]})" -v b="$best" -v s="$bestname" \
    'BEGIN {printf "RESULT blas=%s ratio_tokens_per_s=%.2f (against pytorch/%s)\n", p, a / b, s}'
done
