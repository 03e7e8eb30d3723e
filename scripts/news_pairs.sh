#!/usr/bin/env bash
# Does more news text help the `all` workflow's German student? NTREX-128 (1,997 pairs, what `all` projects)
# against NTREX-128 + WMT newstest2013 (3,000 more German-English news pairs from the shared data folder: research
# only, so read where it lies, never copied into the project). The trained teacher of `all` (training/en/teacher)
# projects both; the students: the fine-tuned one of `all` (200 steps), the frozen one (configs/frozen_ner.cfg) and
# the frozen one with the reverse focal loss, seeds 0 and 1, scored on Europarl-NER German and the first 1,000
# sentences of WikiANN-de val. The NTREX rows are the fine-tuned student on NTREX alone, projected here (`all`
# projects the news too since this measurement; the committed NTREX rows are the models of the NTREX-only `all` run
# and of scripts/student_steps.sh, which this projection reproduces).
# Resumable: a row whose JSON exists is kept. Writes metrics/news_pairs/ROW.json (scores) and ROW.training.json;
# models and corpora go to training/news-pairs/ (not committed).
# fine200-teacher-weights is the fine-tuned student on the same pairs projected with --teacher-weights.
# Usage: bash scripts/news_pairs.sh [SHARED_DATA] [SEEDS] [STUDENTS]
#   (defaults ../shared/data, "0 1", "fine200 frozen frozen-reverse-focal"; also fine200-teacher-weights)
set -euo pipefail
SHARED=${1:-../shared/data}
SEEDS=${2:-0 1}
STUDENTS=${3:-fine200 frozen frozen-reverse-focal}
WORK=training/news-pairs
OUT=metrics/news_pairs
EUROPARL=assets/europarl-ner/de-europarl.test.conll02
WIKIANN=$SHARED/wikiann/de/val.conllu
NEWS=$SHARED/parallel/wmt-news/deu-eng/newstest2013  # a year German and Spanish both have
mkdir -p "$WORK" "$OUT"
python -m spacy_xproj join-parallel "$WORK/en.txt" "$WORK/de.txt" assets/ntrex128/newstest2019-src.eng.txt=assets/ntrex128/newstest2019-ref.deu.txt \
  "$NEWS.eng=$NEWS.deu"
python -m spacy_xproj project-corpus "$WORK/en.txt" "$WORK/corpus" --target "$WORK/de.txt" --target-lang de \
  --teacher training/en/teacher/model-best --label-map auto
python -m spacy_xproj project-corpus assets/ntrex128/newstest2019-src.eng.txt "$WORK/corpus-ntrex" --target assets/ntrex128/newstest2019-ref.deu.txt \
  --target-lang de --teacher training/en/teacher/model-best --label-map auto
score() {  # ROW MODEL_FOLDER
  cp "$2/training.json" "$OUT/$1.training.json" 2>/dev/null || true
  python -m spacy_xproj evaluate "$2/model-best" --gold europarl="$EUROPARL" --gold wikiann="$WIKIANN" --limit 1000 --output "$OUT/$1.json"
}
for seed in $SEEDS; do
  row=ntrex-fine200-seed$seed
  if [ ! -f "$OUT/$row.json" ]; then
    python -m spacy_xproj train-ner configs/token_ner_layer_mix.cfg "$WORK/$row" --train "$WORK/corpus-ntrex/train" --dev "$WORK/corpus-ntrex/dev" \
      --lang de --max-steps 200 --seed "$seed"
    score "$row" "$WORK/$row"
  fi
  for student in $STUDENTS; do
    row=news-$student-seed$seed
    [ -f "$OUT/$row.json" ] && continue
    corpus=$WORK/corpus
    case $student in
      fine200) args=(configs/token_ner_layer_mix.cfg --max-steps 200) ;;
      fine200-teacher-weights)
        corpus=$WORK/corpus-weights
        python -m spacy_xproj project-corpus "$WORK/en.txt" "$corpus" --target "$WORK/de.txt" --target-lang de \
          --teacher training/en/teacher/model-best --label-map auto --teacher-weights
        args=(configs/token_ner_layer_mix.cfg --max-steps 200) ;;
      frozen) args=(configs/frozen_ner.cfg) ;;
      frozen-reverse-focal) args=(configs/frozen_ner.cfg --components.token_ner.loss.@misc spacy-xproj.ReverseFocalLoss.v2) ;;
    esac
    python -m spacy_xproj train-ner "${args[0]}" "$WORK/$row" --train "$corpus/train" --dev "$corpus/dev" --lang de \
      --seed "$seed" "${args[@]:1}"
    score "$row" "$WORK/$row"
  done
done
