"""Score a trained NER pipeline on gold target sentences, on the gold tokenization."""
import time
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

from spacy.language import Language
from spacy.tokens import Doc

from .conll import read_gold_file, score_entities


def evaluate_ner(nlp: Language, sentences: List[Tuple[List[str], list]], batch_size: int = 64) -> Dict:
    """Entity P/R/F1 in % (micro and per type, with the gold support) of `nlp` on (words, gold spans)
    sentences, plus words/s.

    The pipeline tags Docs built from the gold words, so scores do not depend on its tokenizer and match
    the published CoNLL numbers' convention (exact span and label). Counting is `score_entities`' (spaCy's
    `PRFScore`, what `Scorer.score_spans` uses for `doc.ents`); `nlp.evaluate` is not used because its
    speed also times re-tokenizing the text and it needs a component that scores `ents`."""
    docs = [Doc(nlp.vocab, words=words) for words, _ in sentences]
    start = time.perf_counter()
    predicted = [{(e.start, e.end, e.label_) for e in doc.ents} for doc in nlp.pipe(docs, batch_size=batch_size)]
    seconds = time.perf_counter() - start
    scores = score_entities(predicted, [set(spans) for _, spans in sentences])
    words = sum(len(words) for words, _ in sentences)
    scores.update({"sentences": len(sentences), "words": words, "words_per_second": round(words / seconds, 1) if seconds else None})
    return scores


def evaluate_on_gold_files(nlp: Language, gold: Iterable[Tuple[str, Path]], limit: int = 0) -> Dict[str, Dict]:
    """`evaluate_ner` on each named gold file (CoNLL or WikiANN layout); `limit` caps the sentences per file."""
    results = {}
    for name, path in gold:
        sentences = read_gold_file(path)
        if limit:
            sentences = sentences[:limit]
        results[name] = {"path": str(path), **evaluate_ner(nlp, sentences)}
    return results
