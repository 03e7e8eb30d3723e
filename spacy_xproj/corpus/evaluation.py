"""Score a trained NER pipeline on gold target sentences, on the gold tokenization."""
import time
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

from spacy.language import Language
from spacy.tokens import Doc

from .conll import percent, read_gold_file, sentences_to_docs


def evaluate_ner(nlp: Language, sentences: List[Tuple[List[str], list]], batch_size: int = 64) -> Dict:
    """Entity P/R/F1 in % (micro and per type, with the gold support) of `nlp` on (words, gold spans)
    sentences, plus words/s.

    The pipeline tags Docs built from the gold words, so scores do not depend on its tokenizer and match
    the published CoNLL numbers' convention (exact span and label). Scoring is spaCy's
    `Scorer.score_spans`, what `nlp.evaluate` runs for `doc.ents`; `nlp.evaluate` itself is not used
    because its speed also times re-tokenizing the text and it needs a component that scores `ents`."""
    from spacy.scorer import Scorer
    from spacy.training import Example

    docs = [Doc(nlp.vocab, words=words) for words, _ in sentences]
    start = time.perf_counter()
    predicted = list(nlp.pipe(docs, batch_size=batch_size))
    seconds = time.perf_counter() - start
    examples = [Example(doc, gold) for doc, gold in zip(predicted, sentences_to_docs(nlp.vocab, sentences))]
    spans = Scorer.score_spans(examples, "ents")  # None, not 0, when there is no entity at all
    support = Counter(label for _, gold in sentences for _, _, label in gold)
    scores = percent({key: spans[f"ents_{key}"] for key in ("p", "r", "f")}, sum(support.values()))
    per_type = spans["ents_per_type"] or {}
    scores["per_type"] = {label: percent(per_type[label], support[label]) for label in sorted(per_type)}
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
