"""Score a trained NER pipeline on gold target sentences, on the gold tokenization."""
import time
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from spacy.language import Language
from spacy.tokens import Doc

from .conll import read_gold_file, score_entities

EntitySpan = Tuple[int, int, str]  # start, end (word indices), label


def frequent_errors(words_and_spans: Iterable[Tuple[List[str], Set[EntitySpan], Set[EntitySpan]]], top: int) -> Dict[str, list]:
    """The `top` most frequent wrong entities (predicted, not gold) and missed ones (gold, not predicted),
    each `{"label", "text", "count"}`; a wrong one also has `gold_label`: the gold label of the same span,
    None when the span is no gold entity."""
    wrong: Counter = Counter()
    missed: Counter = Counter()
    for words, predicted, gold in words_and_spans:
        gold_labels = {(start, end): label for start, end, label in gold}
        for start, end, label in predicted - gold:
            wrong[(label, " ".join(words[start:end]), gold_labels.get((start, end)))] += 1
        for start, end, label in gold - predicted:
            missed[(label, " ".join(words[start:end]))] += 1
    return {
        "wrong": [{"label": label, "text": text, "gold_label": gold_label, "count": n} for (label, text, gold_label), n in wrong.most_common(top)],
        "missed": [{"label": label, "text": text, "count": n} for (label, text), n in missed.most_common(top)],
    }


def predict_on_gold_words(nlp: Language, words_list: Iterable[List[str]], batch_size: int = 64) -> List[Set[EntitySpan]]:
    """The entities `nlp` finds in Docs built from gold words (so no tokenizer decides the words), as word spans."""
    docs = (Doc(nlp.vocab, words=words) for words in words_list)
    return [{(e.start, e.end, e.label_) for e in doc.ents} for doc in nlp.pipe(docs, batch_size=batch_size)]


def only_labels(spans: Iterable[EntitySpan], labels: Optional[Sequence[str]]) -> Set[EntitySpan]:
    """The spans whose label is one of `labels` (all of them when `labels` is None)."""
    return set(spans) if labels is None else {span for span in spans if span[2] in labels}


def evaluate_ner(
    nlp: Language, sentences: List[Tuple[List[str], list]], batch_size: int = 64, errors: int = 0, labels: Optional[Sequence[str]] = None,
) -> Dict:
    """Entity P/R/F1 in % (micro and per type, with the gold support) of `nlp` on (words, gold spans)
    sentences, plus words/s. With `labels`, only entities of those labels count, gold and predicted alike
    (e.g. PER/ORG/LOC, the labels a CoNLL teacher shares with MasakhaNER's PER/ORG/LOC/DATE); the scores
    then name them under "labels".

    The pipeline tags Docs built from the gold words, so scores do not depend on its tokenizer and match
    the published CoNLL numbers' convention (exact span and label). Counting is `score_entities`' (spaCy's
    `PRFScore`, what `Scorer.score_spans` uses for `doc.ents`); `nlp.evaluate` is not used because its
    speed also times re-tokenizing the text and it needs a component that scores `ents`. `errors` > 0 adds
    that many of the most frequent wrong and missed entities (`frequent_errors`)."""
    start = time.perf_counter()
    predicted = [only_labels(spans, labels) for spans in predict_on_gold_words(nlp, [words for words, _ in sentences], batch_size)]
    seconds = time.perf_counter() - start
    gold = [only_labels(spans, labels) for _, spans in sentences]
    scores = score_entities(predicted, gold)
    words = sum(len(words) for words, _ in sentences)
    scores.update({"sentences": len(sentences), "words": words, "words_per_second": round(words / seconds, 1) if seconds else None})
    if labels is not None:
        scores["labels"] = list(labels)
    if errors:
        scores["errors"] = frequent_errors(((words, pred, true) for (words, _), pred, true in zip(sentences, predicted, gold)), errors)
    return scores


def read_gold_files(gold: Iterable[Tuple[str, Path]]) -> List[Tuple[str, Path, List]]:
    """(name, path, sentences) of each named gold file; a ValueError naming the file and line of the first bad one.
    Read before any file is scored (or the pipeline loaded), so a malformed file stops the run at once."""
    return [(name, Path(path), read_gold_file(path)) for name, path in gold]


def score_gold_files(
    nlp: Language, read: Iterable[Tuple[str, Path, List]], limit: int = 0, errors: int = 0, labels: Optional[Sequence[str]] = None,
    pipeline_labels: Optional[Sequence[str]] = None,
) -> Dict[str, Dict]:
    """`evaluate_ner` on each gold file `read_gold_files` read; see `evaluate_on_gold_files`."""
    results = {}
    for name, path, sentences in read:
        sentences = sentences[:limit] if limit else sentences
        scored = labels
        left_out: List[str] = []
        gold_labels = {span[2] for _, spans in sentences for span in spans}
        if pipeline_labels is not None:
            scored = sorted(set(pipeline_labels) & gold_labels & set(labels or gold_labels))
            left_out = sorted((gold_labels | set(pipeline_labels)) - set(scored))
        if scored is not None and gold_labels and not gold_labels & set(scored):
            theirs = f"the pipeline's {', '.join(sorted(pipeline_labels))}" if pipeline_labels is not None else ", ".join(labels)
            raise ValueError(f"{path}: its labels ({', '.join(sorted(gold_labels))}) share none with {theirs}: nothing to score")
        results[name] = {"path": str(path), **evaluate_ner(nlp, sentences, errors=errors, labels=scored)}
        if pipeline_labels is not None:
            results[name]["left_out"] = left_out
    return results


def evaluate_on_gold_files(
    nlp: Language, gold: Iterable[Tuple[str, Path]], limit: int = 0, errors: int = 0, labels: Optional[Sequence[str]] = None,
    pipeline_labels: Optional[Sequence[str]] = None,
) -> Dict[str, Dict]:
    """`evaluate_ner` on each named gold file (CoNLL or WikiANN layout); `limit` caps the sentences per file,
    `labels` (None: all) restricts the entities scored. With `pipeline_labels` (the labels the pipeline predicts),
    each file is scored on the labels both it and the pipeline have (a CoNLL pipeline on MasakhaNER: PER/ORG/LOC,
    not MISC or DATE), and `left_out` names the others. Every file is read before any is scored, so a malformed
    one stops the run at once."""
    return score_gold_files(nlp, read_gold_files(gold), limit, errors, labels, pipeline_labels)
