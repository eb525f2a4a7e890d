#!/usr/bin/env bash
# The Annotated Transformer's copy task (conf/copy-task.yaml): trains it, then greedy-decodes the
# 100 fresh sequences of datasets/tasks/copy/test.tsv and counts exact copies.
# Prints: RESULT val_loss_epoch10=X decoded_exact_match=Y (the published run: 0.27 and all 100).
#   bench/copy-task.sh [RUN_DIR]      (default runs/bench/copy-task; about 2 minutes on 2 cores)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run=${1:-$root/runs/bench/copy-task}
rm -rf "$run"
"$root/scripts/sparkformer" train --config "$root/conf/copy-task.yaml" --output "$run" --no-progress
"$root/scripts/sparkformer" evaluate --model "$run" --data "$root/datasets/tasks/copy/test.tsv" --output "$run/eval-test.json"
python3 - "$run" <<'PY'
import json, sys
run = sys.argv[1]
s = json.load(open(f"{run}/summary.json"))
e = json.load(open(f"{run}/eval-test.json"))
print(f"RESULT val_loss_epoch10={s['final_val_loss']:.4f} decoded_exact_match={e['decoded_exact_match']:.2f}")
PY
