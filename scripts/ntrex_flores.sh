#!/usr/bin/env bash
# Does more licence-clean parallel text help the `all` workflow's German student? NTREX-128 (1,997 pairs)
# against NTREX-128 + FLORES-101 devtest (3,009 pairs: `all` with --vars.extra_parallel), the trained
# teacher (training/en/teacher, from `spacy project run all`), the frozen student (seed 0, first 1,000
# WikiANN sentences) and the fine-tuned one of `all` (300 steps, seeds 0 and 1, all of WikiANN-de val).
# Resumable: a row whose JSON exists is kept. Writes metrics/ntrex_flores/*.json; models and corpora go to
# training/ntrex-flores/ (not committed).
# Usage: bash scripts/ntrex_flores.sh [SHARED_DATA]   (default ../shared/data)
set -euo pipefail
SHARED=${1:-../shared/data}
WORK=training/ntrex-flores
OUT=metrics/ntrex_flores
EUROPARL=assets/europarl-ner/de-europarl.test.conll02
WIKIANN=$SHARED/wikiann/de/val.conllu
TEACHER=training/en/teacher/model-best
mkdir -p "$WORK" "$OUT"
python -m spacy_xproj join-parallel "$WORK/en.txt" "$WORK/de.txt" assets/ntrex128/newstest2019-src.eng.txt=assets/ntrex128/newstest2019-ref.deu.txt \
  assets/flores101/eng.devtest=assets/flores101/deu.devtest
for corpus in ntrex nf; do
  if [ "$corpus" = nf ]; then src=$WORK/en.txt; tgt=$WORK/de.txt; else src=assets/ntrex128/newstest2019-src.eng.txt; tgt=assets/ntrex128/newstest2019-ref.deu.txt; fi
  python -m spacy_xproj project-corpus "$src" "$WORK/corpus-$corpus" --target "$tgt" --target-lang de --teacher "$TEACHER" --label-map auto
  if [ ! -f "$OUT/frozen-$corpus.json" ]; then
    python -m spacy_xproj train-ner configs/frozen_ner.cfg "$WORK/frozen-$corpus" --train "$WORK/corpus-$corpus/train" --dev "$WORK/corpus-$corpus/dev" --lang de
    python -m spacy_xproj evaluate "$WORK/frozen-$corpus/model-best" --gold europarl="$EUROPARL" --gold wikiann="$WIKIANN" --limit 1000 --output "$OUT/frozen-$corpus.json"
  fi
done
for seed in 0 1; do
  for corpus in ntrex nf; do
    row=fine-$corpus-seed$seed
    [ -f "$OUT/$row.json" ] && continue
    python -m spacy_xproj train-ner configs/token_ner_layer_mix.cfg "$WORK/$row" --train "$WORK/corpus-$corpus/train" --dev "$WORK/corpus-$corpus/dev" \
      --lang de --max-steps 300 --system.seed "$seed"
    python -m spacy_xproj evaluate "$WORK/$row/model-best" --gold europarl="$EUROPARL" --gold wikiann="$WIKIANN" --output "$OUT/$row.json"
  done
done
