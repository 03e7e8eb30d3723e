"""BIO tags for token-classification NER: tag sets, gold tags from spaCy's BILUO, and decoding
constrained to valid spans (an I-X only continues a B-X or I-X)."""
from typing import List, Optional, Sequence, Tuple

import numpy

Span = Tuple[int, int, str]
MISSING = -1


def tag_names(labels: Sequence[str]) -> List[str]:
    """"O", then B-X and I-X for each label, in label order."""
    return ["O"] + [f"{prefix}-{label}" for label in labels for prefix in ("B", "I")]


def biluo_to_tag_ids(biluo: Sequence[Optional[str]], labels: Sequence[str]) -> numpy.ndarray:
    """Gold tag ids from `Example.get_aligned_ner()` output; unknown or missing tokens get MISSING."""
    index = {tag: i for i, tag in enumerate(tag_names(labels))}
    ids = numpy.full(len(biluo), MISSING, dtype="int64")
    for i, tag in enumerate(biluo):
        if tag == "O":
            ids[i] = 0
        elif tag and tag != "-" and tag[0] in "BILU":
            prefix = "B" if tag[0] in "BU" else "I"
            ids[i] = index.get(f"{prefix}-{tag[2:]}", MISSING)
    return ids


def transition_mask(labels: Sequence[str]) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """(allowed[previous, next], allowed_first[next]) for the tag set of `tag_names(labels)`."""
    names = tag_names(labels)
    allowed = numpy.ones((len(names), len(names)), dtype=bool)
    first = numpy.ones(len(names), dtype=bool)
    for j, name in enumerate(names):
        if name.startswith("I-"):
            label = name[2:]
            first[j] = False
            allowed[:, j] = [prev in (f"B-{label}", f"I-{label}") for prev in names]
    return allowed, first


def viterbi(log_probs: numpy.ndarray, allowed: numpy.ndarray, first: numpy.ndarray) -> List[int]:
    """The most probable tag sequence among those the transition mask allows (rows: tokens)."""
    n, k = log_probs.shape
    if n == 0:
        return []
    forbidden = numpy.where(allowed, 0.0, -numpy.inf)
    score = numpy.where(first, log_probs[0], -numpy.inf)
    back = numpy.zeros((n, k), dtype="int64")
    for t in range(1, n):
        candidates = score[:, None] + forbidden  # previous x next
        back[t] = candidates.argmax(axis=0)
        score = candidates[back[t], numpy.arange(k)] + log_probs[t]
    path = [int(score.argmax())]
    for t in range(n - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]


def tags_to_spans(tag_ids: Sequence[int], labels: Sequence[str]) -> List[Span]:
    """Entity spans of a valid BIO tag id sequence, decoded as gold IOB files are (spaCy's decoding).

    spaCy reads an I-X that continues nothing as the start of an entity (IOB1); here it is an error,
    since `viterbi()` never produces one."""
    from ..corpus.conll import tags_to_spans as iob_tags_to_spans

    names = tag_names(labels)
    tags = [names[tag_id] for tag_id in tag_ids]
    spans = iob_tags_to_spans(tags)
    for start, _, _ in spans:
        if tags[start].startswith("I-"):
            raise ValueError(f"tag {tags[start]} at {start} does not continue an entity: decode with viterbi()")
    return spans
