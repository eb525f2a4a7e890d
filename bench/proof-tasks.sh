#!/usr/bin/env bash
# Trains and scores the known tasks of docs/tasks.md, "Proof on known tasks", each from its config:
#   copy      conf/copy-task.yaml         encoder-decoder, Annotated Transformer   (about 2 min on 2 cores)
#   reverse   conf/reverse-tagging.yaml   encoder, token classification          (about 1 min)
#   sort      conf/sort-digits.yaml       decoder, prompt completion (minGPT)     (about 2 min)
# and, named only (not in the default set):
#   copy-long conf/copy-task-long.yaml    the copy task trained to convergence    (about 12 min)
#   multi30k  conf/multi30k-de-en-long.yaml  German to English, BLEU greedy and beam 4 on
#             test_2016_flickr (about 35 min; needs ../shared/datasets/multi30k)
# and prints one line per task:
#   RESULT task=T val_loss=X test_token_accuracy=Y test_exact_match=Z [decoded_exact_match=W]
#   RESULT task=multi30k val_loss=X test_loss=Y bleu_greedy=B bleu_beam4=C
# Usage: bench/proof-tasks.sh [copy|copy-long|reverse|sort|multi30k ...]
#   (default: copy reverse sort; runs in runs/bench/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"   # the configs name their files relative to the project
tasks=("$@")
[ ${#tasks[@]} -gt 0 ] || tasks=(copy reverse sort)
declare -A config=([copy]=copy-task [copy-long]=copy-task-long [reverse]=reverse-tagging [sort]=sort-digits
                   [multi30k]=multi30k-de-en-long)
declare -A data=([copy]=copy [copy-long]=copy [reverse]=reverse [sort]=sort)
multi30k=$root/../shared/datasets/multi30k
for t in "${tasks[@]}"; do
  [ -n "${config[$t]:-}" ] || { echo "proof-tasks: unknown task $t (copy, copy-long, reverse, sort, multi30k)" >&2; exit 2; }
  if [ "$t" = multi30k ] && [ ! -f "$multi30k/test_2016_flickr.de" ]; then
    echo "proof-tasks: multi30k needs $multi30k (the shared corpora beside the project)" >&2; exit 2
  fi
  run=$root/runs/bench/${config[$t]}
  rm -rf "$run"
  scripts/sparkformer train --config "conf/${config[$t]}.yaml" --output "$run" --no-progress
  if [ "$t" = multi30k ]; then
    for method in greedy beam; do
      scripts/sparkformer evaluate --model "$run" --data "$multi30k/test_2016_flickr.de" \
        --data "$multi30k/test_2016_flickr.en" --method $method --beam-width 4 --output "$run/eval-test-$method.json"
    done
  else
    scripts/sparkformer evaluate --model "$run" --data "datasets/tasks/${data[$t]}/test.tsv" --output "$run/eval-test.json"
  fi
  python3 - "$run" "$t" <<'PY'
import json, sys
run, task = sys.argv[1], sys.argv[2]
s = json.load(open(f"{run}/summary.json"))
if task == "multi30k":
    g, b = (json.load(open(f"{run}/eval-test-{m}.json")) for m in ("greedy", "beam"))
    print(f"RESULT task={task} val_loss={s['final_val_loss']:.4f} test_loss={g['loss']:.4f}"
          f" bleu_greedy={g['bleu']:.2f} bleu_beam4={b['bleu']:.2f}")
    sys.exit(0)
e = json.load(open(f"{run}/eval-test.json"))
extra = f" decoded_exact_match={e['decoded_exact_match']:.4f}" if "decoded_exact_match" in e else ""
print(f"RESULT task={task} val_loss={s['final_val_loss']:.4f} test_token_accuracy={e['token_accuracy']:.4f}"
      f" test_exact_match={e['exact_match']:.4f}{extra}")
PY
done
