#!/usr/bin/env bash
# How many fine-tuning steps does the `all` workflow's German student need? The fine-tuned student
# (configs/token_ner_layer_mix.cfg) on the corpus `all` projected, at 300 steps (the default until
# 2026-12-04) and 200 (the default since, after this measurement), seeds 0 and 1, scored on Europarl-NER German and all of WikiANN-de val.
# Run it in a project folder after `python -m spacy project run all` (it reuses corpus/en-de and the
# 300-step seed-0 model of `all`). Resumable: a row whose JSON exists is kept. Writes
# metrics/student_steps/ROW.json (scores) and ROW.training.json (training seconds); models go to training/student-steps/ (not committed).
# Usage: bash scripts/student_steps.sh [SHARED_DATA]   (default ../shared/data)
set -euo pipefail
SHARED=${1:-../shared/data}
WORK=training/student-steps
OUT=metrics/student_steps
EUROPARL=assets/europarl-ner/de-europarl.test.conll02
WIKIANN=$SHARED/wikiann/de/val.conllu
mkdir -p "$WORK" "$OUT"
for seed in 0 1; do
  for steps in 300 200; do
    row=steps$steps-seed$seed
    [ -f "$OUT/$row.json" ] && continue
    if [ "$row" = steps300-seed0 ] && [ -d training/de/projection/model-best ]; then
      folder=training/de/projection  # `all`'s own student
    else
      python -m spacy_xproj train-ner configs/token_ner_layer_mix.cfg "$WORK/$row" --train corpus/en-de/train --dev corpus/en-de/dev \
        --lang de --max-steps "$steps" --seed "$seed"
      folder=$WORK/$row
    fi
    cp "$folder/training.json" "$OUT/$row.training.json"  # its training seconds
    python -m spacy_xproj evaluate "$folder/model-best" --gold europarl="$EUROPARL" --gold wikiann="$WIKIANN" --output "$OUT/$row.json"
  done
done
