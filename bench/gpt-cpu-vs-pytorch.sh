#!/usr/bin/env bash
# Side-by-side: the project's model (bench/gpt-cpu.sh) and the same model in PyTorch
# (bench/pytorch/gpt_cpu.py at its best thread setting), alternated ROUNDS times so both see the
# same machine load. Prints each run's RESULT, the medians, and the ratio of tokens/s.
# Needs Debian's python3-torch and libopenblas0-pthread.
# Usage: bench/gpt-cpu-vs-pytorch.sh [rounds] [steps]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
steps=${2:-40}
python=${PYTHON:-/usr/bin/python3}
"$python" -c 'import torch' 2>/dev/null || { echo "needs PyTorch: apt-get install python3-torch libopenblas0-pthread" >&2; exit 2; }
bench/gpt-cpu.sh 5 2 > /dev/null   # build once, outside the timing
ours=() theirs=()
value() { sed -n 's/^RESULT .*tokens_per_s=\([0-9.]*\).*/\1/p'; }
for r in $(seq "$rounds"); do
  o=$(bench/gpt-cpu.sh "$steps" 10 | grep '^RESULT')
  t=$(OPENBLAS_NUM_THREADS=1 "$python" bench/pytorch/gpt_cpu.py --threads 1 --steps "$steps" | grep '^RESULT')
  echo "round $r sparkformer: $o"
  echo "round $r pytorch:     $t"
  ours+=("$(echo "$o" | value)")
  theirs+=("$(echo "$t" | value)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mo=$(median "${ours[@]}")
mt=$(median "${theirs[@]}")
echo "median tokens/s: sparkformer $mo, pytorch $mt"
awk -v a="$mo" -v b="$mt" 'BEGIN {printf "RESULT ratio_tokens_per_s=%.2f\n", a / b}'
