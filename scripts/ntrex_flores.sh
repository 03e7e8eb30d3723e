#!/usr/bin/env bash
# Does more licence-clean parallel text help the `all` workflow's German student? NTREX-128 (1,997 pairs,
# what `all` projects) against NTREX-128 + FLORES-101 devtest (3,009 pairs), the trained teacher
# (training/en/teacher, from `spacy project run all`), the frozen and the fine-tuned (300 steps) student.
# Writes metrics/ntrex_flores/*.json; models and corpora go to training/ntrex-flores/ (not committed).
# Usage: bash scripts/ntrex_flores.sh [SHARED_DATA]   (default ../shared/data)
set -euo pipefail
SHARED=${1:-../shared/data}
WORK=training/ntrex-flores
OUT=metrics/ntrex_flores
EUROPARL=$SHARED/europarl-ner/de-europarl.test.conll02
WIKIANN=$SHARED/wikiann/de/val.conllu
TEACHER=training/en/teacher/model-best
mkdir -p "$WORK" "$OUT"
cat assets/ntrex128/newstest2019-src.eng.txt "$SHARED/parallel/flores101-devtest/eng.devtest" > "$WORK/en.txt"
cat assets/ntrex128/newstest2019-ref.deu.txt "$SHARED/parallel/flores101-devtest/deu.devtest" > "$WORK/de.txt"
for corpus in ntrex nf; do
  if [ "$corpus" = nf ]; then src=$WORK/en.txt; tgt=$WORK/de.txt; else src=assets/ntrex128/newstest2019-src.eng.txt; tgt=assets/ntrex128/newstest2019-ref.deu.txt; fi
  python -m spacy_xproj project-corpus "$src" "$WORK/corpus-$corpus" --target "$tgt" --target-lang de --teacher "$TEACHER" --label-map auto
  python -m spacy_xproj train-ner configs/frozen_ner.cfg "$WORK/frozen-$corpus" --train "$WORK/corpus-$corpus/train" --dev "$WORK/corpus-$corpus/dev" --lang de
  python -m spacy_xproj evaluate "$WORK/frozen-$corpus/model-best" --gold europarl="$EUROPARL" --gold wikiann="$WIKIANN" --limit 1000 --output "$OUT/frozen-$corpus.json"
done
python -m spacy_xproj train-ner configs/token_ner_layer_mix.cfg "$WORK/fine-nf" --train "$WORK/corpus-nf/train" --dev "$WORK/corpus-nf/dev" --lang de --max-steps 300
python -m spacy_xproj evaluate "$WORK/fine-nf/model-best" --gold europarl="$EUROPARL" --gold wikiann="$WIKIANN" --limit 1000 --output "$OUT/fine-nf.json"
