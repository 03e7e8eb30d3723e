import itertools

import numpy
import pytest

from spacy_xproj.ner.bio import MISSING, biluo_to_tag_ids, tag_names, tags_to_spans, transition_mask, viterbi

LABELS = ["LOC", "PER"]


def test_tag_names_and_gold_conversion():
    assert tag_names(LABELS) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
    ids = biluo_to_tag_ids(["B-PER", "L-PER", "O", "U-LOC", None, "-", "U-ORG"], LABELS)
    assert ids.tolist() == [3, 4, 0, 1, MISSING, MISSING, MISSING]  # unknown label ORG: not a target


def test_viterbi_repairs_invalid_argmax_sequences():
    allowed, first = transition_mask(LABELS)
    # per-token argmax would say I-PER, I-PER, O: invalid (no B-PER)
    probs = numpy.array([[0.1, 0.05, 0.05, 0.35, 0.45], [0.1, 0.0, 0.0, 0.1, 0.8], [0.9, 0.0, 0.0, 0.05, 0.05]]) + 1e-9
    path = viterbi(numpy.log(probs), allowed, first)
    assert path == [3, 4, 0]
    assert tags_to_spans(path, LABELS) == [(0, 2, "PER")]
    assert viterbi(numpy.zeros((0, 5)), allowed, first) == []


def test_viterbi_never_produces_invalid_spans_and_finds_the_best_valid_path():
    allowed, first = transition_mask(LABELS)
    names = tag_names(LABELS)
    rng = numpy.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 6))
        log_probs = numpy.log(rng.dirichlet(numpy.ones(5), size=n))
        path = viterbi(log_probs, allowed, first)
        tags_to_spans(path, LABELS)  # raises on an invalid sequence
        # exhaustive check on short sentences: no valid sequence scores higher
        if n <= 4:
            valid = [p for p in itertools.product(range(5), repeat=n) if first[p[0]] and all(allowed[a, b] for a, b in zip(p, p[1:]))]
            best = max(valid, key=lambda p: sum(log_probs[t, p[t]] for t in range(n)))
            assert sum(log_probs[t, path[t]] for t in range(n)) == pytest.approx(sum(log_probs[t, best[t]] for t in range(n)))
        assert not names[path[0]].startswith("I-")


def test_tags_to_spans_splits_adjacent_entities():
    assert tags_to_spans([1, 2, 1, 3, 0, 3, 4, 4], LABELS) == [(0, 2, "LOC"), (2, 3, "LOC"), (3, 4, "PER"), (5, 8, "PER")]
    with pytest.raises(ValueError, match="does not continue"):
        tags_to_spans([0, 2], LABELS)


def test_tags_to_spans_round_trips_the_gold_spans_of_conll(shared_data):
    """Every sentence of CoNLL-2003 English dev, written as BIO tag ids and decoded again."""
    from spacy_xproj.corpus.conll import read_gold_file

    sentences = read_gold_file(shared_data / "conll" / "eng.testa")
    labels = ["LOC", "MISC", "ORG", "PER"]
    index = {name: i for i, name in enumerate(tag_names(labels))}
    decoded = 0
    for words, spans in sentences:
        ids = [0] * len(words)
        for start, end, label in spans:
            ids[start:end] = [index[f"B-{label}"]] + [index[f"I-{label}"]] * (end - start - 1)
        assert tags_to_spans(ids, labels) == spans
        decoded += len(spans)
    assert decoded == 5942
