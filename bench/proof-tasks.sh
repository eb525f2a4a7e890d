#!/usr/bin/env bash
# Trains and scores the known tasks of README's "Proof on known tasks", each from its config:
#   copy     conf/copy-task.yaml      encoder-decoder, Annotated Transformer   (about 2 min on 2 cores)
#   reverse  conf/reverse-tagging.yaml encoder, token classification          (about 1 min)
#   sort     conf/sort-digits.yaml    decoder, prompt completion (minGPT)     (about 2 min)
# and prints one line per task:
#   RESULT task=T val_loss=X test_token_accuracy=Y test_exact_match=Z [decoded_exact_match=W]
# Usage: bench/proof-tasks.sh [copy|reverse|sort ...]   (default: all three; runs in runs/bench/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tasks=("$@")
[ ${#tasks[@]} -gt 0 ] || tasks=(copy reverse sort)
declare -A config=([copy]=copy-task [reverse]=reverse-tagging [sort]=sort-digits)
for t in "${tasks[@]}"; do
  [ -n "${config[$t]:-}" ] || { echo "proof-tasks: unknown task $t (copy, reverse, sort)" >&2; exit 2; }
  run=$root/runs/bench/${config[$t]}
  rm -rf "$run"
  "$root/scripts/sparkformer" train --config "$root/conf/${config[$t]}.yaml" --output "$run" --no-progress
  "$root/scripts/sparkformer" evaluate --model "$run" --data "$root/datasets/tasks/$t/test.tsv" --output "$run/eval-test.json"
  python3 - "$run" "$t" <<'PY'
import json, sys
run, task = sys.argv[1], sys.argv[2]
s = json.load(open(f"{run}/summary.json"))
e = json.load(open(f"{run}/eval-test.json"))
extra = f" decoded_exact_match={e['decoded_exact_match']:.4f}" if "decoded_exact_match" in e else ""
print(f"RESULT task={task} val_loss={s['final_val_loss']:.4f} test_token_accuracy={e['token_accuracy']:.4f}"
      f" test_exact_match={e['exact_match']:.4f}{extra}")
PY
done
