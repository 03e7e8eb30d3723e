"""Where the transfer models go wrong on a gold set: the error counts docs/results/transfer.md cites.

    python -m benchmarks.transfer_errors ../shared/data/conll/esp.testa \
        zero-shot=training/bench-transfer-mix/en/model/model-best \
        projection=training/bench-transfer-mix/es/projection/model-best \
        sequential=training/bench-transfer-mix/es/sequential/model-best --limit 1000 --watch EFE

Per model: entity F1; gold entities whose text is a --watch word that the model did not predict exactly;
gold ORG spans predicted as LOC; spurious MISC (predicted MISC overlapping no gold entity); boundary
errors (a predicted span that overlaps a gold one without matching it); and F1 with one-word lowercase
predictions dropped (the lowercase nationality adjectives the gold sets disagree on). Also prints the
gold set's own one-word lowercase entities per label (--limit 0: every sentence).
"""
import argparse
import json
from collections import Counter
from pathlib import Path

import spacy

from spacy_xproj.corpus.conll import read_gold_file, score_entities
from spacy_xproj.corpus.evaluation import predict_on_gold_words


def is_lowercase_word(words, span) -> bool:
    start, end, _ = span
    return end - start == 1 and words[start][:1].islower()


def error_counts(words_list, gold, predicted, watch) -> dict:
    counts = {"f": score_entities(predicted, gold)["f"], "watch_missed": 0, "org_as_loc": 0, "spurious_misc": 0, "boundary": 0}
    for words, gold_spans, spans in zip(words_list, gold, predicted):
        counts["watch_missed"] += sum(1 for g in gold_spans - spans if " ".join(words[g[0]:g[1]]) in watch)
        counts["org_as_loc"] += sum(1 for s, e, label in gold_spans if label == "ORG" and (s, e, "LOC") in spans)
        for s, e, label in spans - gold_spans:
            overlapping = [g for g in gold_spans if g[0] < e and s < g[1]]
            counts["spurious_misc"] += label == "MISC" and not overlapping
            counts["boundary"] += any((g[0], g[1]) != (s, e) for g in overlapping)
    kept = [{span for span in spans if not is_lowercase_word(words, span)} for words, spans in zip(words_list, predicted)]
    counts["f_without_lowercase_words"] = score_entities(kept, gold)["f"]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("gold", type=Path)
    parser.add_argument("models", nargs="*", help="NAME=PIPELINE (none: only the gold set's counts)")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--watch", action="append", default=[], help="Entity text whose misses are counted (repeatable).")
    args = parser.parse_args()
    sentences = read_gold_file(args.gold)[: args.limit or None]
    words_list = [words for words, _ in sentences]
    gold = [set(spans) for _, spans in sentences]
    report = {
        "sentences": len(sentences),
        "gold_entities": sum(len(spans) for spans in gold),
        "gold_lowercase_words": dict(Counter(span[2] for words, spans in zip(words_list, gold) for span in spans if is_lowercase_word(words, span))),
    }
    for spec in args.models:
        name, _, path = spec.partition("=")
        predicted = predict_on_gold_words(spacy.load(path), words_list)
        report[name] = error_counts(words_list, gold, predicted, set(args.watch))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
