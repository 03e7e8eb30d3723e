"""Word alignment from contextual vectors: pooling, extraction methods, Pharaoh I/O and AER.

Pure numpy/scipy: no spaCy types. An alignment is a pair of arrays, `links`
[k, 2] (source index, target index, 0-based) and `scores` [k]. Extraction
methods follow SimAlign (Jalili Sabet et al. 2020: ArgMax, IterMax, Match) and
awesome-align (Dou & Neubig 2021: bidirectional softmax with a threshold).
"""
from dataclasses import dataclass
from typing import Optional, Callable, Dict, Iterable, Sequence, Set, Tuple

import numpy
from scipy.optimize import linear_sum_assignment

Links = Set[Tuple[int, int]]
POOLINGS = ("subwords", "mean", "first")
# (source vectors [m, H], target vectors [n, H]) -> (links [k, 2], scores [k])
ExtractionMethod = Callable[[numpy.ndarray, numpy.ndarray], Tuple[numpy.ndarray, numpy.ndarray]]


def empty_alignment() -> Tuple[numpy.ndarray, numpy.ndarray]:
    return numpy.zeros((0, 2), dtype=numpy.int64), numpy.zeros((0,), dtype=numpy.float32)


def cosine_similarity(source: numpy.ndarray, target: numpy.ndarray) -> numpy.ndarray:
    def unit(x: numpy.ndarray) -> numpy.ndarray:
        return x / numpy.maximum(numpy.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    return unit(source.astype(numpy.float32)) @ unit(target.astype(numpy.float32)).T


def pool_subwords(vectors: numpy.ndarray, word_index: numpy.ndarray, n_words: int, how: str = "mean") -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Word vectors from subword vectors: `word_index[p]` is the word of subword p (non-decreasing).

    Returns (word vectors [n_words, H], has_subwords [n_words]); words without
    subwords (whitespace, characters the tokenizer deletes) get zero vectors.
    """
    pooled = numpy.zeros((n_words, vectors.shape[1]), dtype=numpy.float32)
    counts = numpy.bincount(word_index, minlength=n_words)[:n_words]
    present = counts > 0
    if len(word_index):
        starts = numpy.flatnonzero(numpy.r_[True, word_index[1:] != word_index[:-1]])
        words = word_index[starts]
        if how == "mean":
            pooled[words] = numpy.add.reduceat(vectors, starts, axis=0) / counts[words, None]
        elif how == "first":
            pooled[words] = vectors[starts]
        else:
            raise ValueError(f"Unknown subword pooling {how!r}: use 'mean' or 'first'.")
    return pooled, present


def unique_links(links: numpy.ndarray, scores: numpy.ndarray) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Sorted links without repeats, each with its best score."""
    if len(links) == 0:
        return empty_alignment()
    order = numpy.lexsort((-scores, links[:, 1], links[:, 0]))
    links, scores = links[order], scores[order]
    first = numpy.r_[True, numpy.any(links[1:] != links[:-1], axis=1)]
    return links[first].astype(numpy.int64), scores[first]


def subword_links_to_words(links: numpy.ndarray, scores: numpy.ndarray, source_words: numpy.ndarray, target_words: numpy.ndarray) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Map subword links to word links (a word pair is linked if any of its subwords are); keep the best score."""
    if len(links) == 0:
        return empty_alignment()
    return unique_links(numpy.stack([source_words[links[:, 0]], target_words[links[:, 1]]], axis=1), scores)


# -- extraction methods on a similarity matrix ------------------------------------------------
def argmax_links(similarity: numpy.ndarray) -> numpy.ndarray:
    """Links that are each other's best match in both directions (the intersection of forward and backward argmax)."""
    m, n = similarity.shape
    if m == 0 or n == 0:
        return numpy.zeros((0, 2), dtype=numpy.int64)
    forward = similarity.argmax(axis=1)
    backward = similarity.argmax(axis=0)
    rows = numpy.flatnonzero(backward[forward] == numpy.arange(m))
    return numpy.stack([rows, forward[rows]], axis=1).astype(numpy.int64)


def itermax_links(similarity: numpy.ndarray, max_iterations: int = 2, alpha: float = 0.9) -> numpy.ndarray:
    """IterMax: ArgMax, then further mutual-argmax rounds over words left unaligned on at least one side.

    In later rounds a cell is down-weighted by `alpha` per side whose word is still
    unaligned (both unaligned: weight min(2*alpha, 1)); cells whose row and column
    are both already aligned are excluded (SimAlign, Jalili Sabet et al. 2020, sec. 2.3).
    """
    m, n = similarity.shape
    aligned = numpy.zeros((m, n), dtype=bool)
    if m == 0 or n == 0:
        return numpy.zeros((0, 2), dtype=numpy.int64)
    links = argmax_links(similarity)
    aligned[links[:, 0], links[:, 1]] = True
    if min(m, n) <= 2:
        return links
    for _ in range(max_iterations - 1):
        row_free = ~aligned.any(axis=1)
        col_free = ~aligned.any(axis=0)
        if row_free.sum() < 1 or col_free.sum() < 1:
            break
        weight = numpy.clip(alpha * row_free[:, None] + alpha * col_free[None, :], 0.0, 1.0)
        allowed = row_free[:, None] | col_free[None, :]
        new = numpy.zeros((m, n), dtype=bool)
        candidates = argmax_links(similarity * weight)
        new[candidates[:, 0], candidates[:, 1]] = True
        new &= allowed
        if not (new & ~aligned).any():
            break
        aligned |= new
    rows, cols = numpy.nonzero(aligned)
    return numpy.stack([rows, cols], axis=1).astype(numpy.int64)


def match_links(similarity: numpy.ndarray) -> numpy.ndarray:
    """Match: the maximum-weight bipartite matching with as many links as the shorter side has words."""
    if similarity.size == 0:
        return numpy.zeros((0, 2), dtype=numpy.int64)
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    return numpy.stack([rows, cols], axis=1).astype(numpy.int64)


def softmax_threshold_links(dot: numpy.ndarray, threshold: float = 1e-3) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """awesome-align's extraction: softmax over each direction of a score matrix, keep cells above `threshold` in both.

    Returns links and the geometric mean of the two probabilities as scores.
    """
    if dot.size == 0:
        return empty_alignment()
    shifted_rows = numpy.exp(dot - dot.max(axis=1, keepdims=True))
    forward = shifted_rows / shifted_rows.sum(axis=1, keepdims=True)
    shifted_cols = numpy.exp(dot - dot.max(axis=0, keepdims=True))
    backward = shifted_cols / shifted_cols.sum(axis=0, keepdims=True)
    rows, cols = numpy.nonzero((forward > threshold) & (backward > threshold))
    scores = numpy.sqrt(forward[rows, cols] * backward[rows, cols]).astype(numpy.float32)
    return numpy.stack([rows, cols], axis=1).astype(numpy.int64), scores


class with_cosine_scores:
    """Wrap a similarity-matrix link selector into an ExtractionMethod.

    The matrix is (cosine + 1) / 2, in [0, 1] as in SimAlign: IterMax's down-weighting
    assumes non-negative similarities, and the links' scores come from it. A class, not a closure, so a
    pipeline holding it pickles (spawn-based multiprocessing).
    """

    def __init__(self, select: Callable[[numpy.ndarray], numpy.ndarray]):
        self.select = select

    def __call__(self, source: numpy.ndarray, target: numpy.ndarray) -> Tuple[numpy.ndarray, numpy.ndarray]:
        if len(source) == 0 or len(target) == 0:
            return empty_alignment()
        similarity = (cosine_similarity(source, target) + 1.0) / 2.0
        links = self.select(similarity)
        return links, similarity[links[:, 0], links[:, 1]].astype(numpy.float32)


class softmax_method:
    """awesome-align's extraction on dot products, as an ExtractionMethod (a class, so it pickles)."""

    def __init__(self, threshold: float):
        self.threshold = threshold

    def __call__(self, source: numpy.ndarray, target: numpy.ndarray) -> Tuple[numpy.ndarray, numpy.ndarray]:
        if len(source) == 0 or len(target) == 0:
            return empty_alignment()
        return softmax_threshold_links(source.astype(numpy.float32) @ target.astype(numpy.float32).T, self.threshold)


# -- our default: bidirectional softmax at two granularities -----------------------------------
def _centered_cosine(source: numpy.ndarray, target: numpy.ndarray) -> numpy.ndarray:
    # Removing each sentence's mean vector removes what all its words share (language, topic),
    # leaving what distinguishes words (Libovický et al. 2020; Mu & Viswanath 2018).
    return cosine_similarity(source - source.mean(axis=0), target - target.mean(axis=0))


def _with_distortion(similarity: numpy.ndarray, weight: float) -> numpy.ndarray:
    """Subtract weight * (relative position difference)^2 (an additive form of SimAlign's distortion)."""
    m, n = similarity.shape
    return similarity - weight * (numpy.arange(m)[:, None] / m - numpy.arange(n)[None, :] / n) ** 2


# pairs with more words than this on a side are paragraphs, not sentences: BiSoftmax aligns them in a band
LONG_PAIR_WORDS = 100


def _outside_band(m: int, n: int, band: int, path: Optional[numpy.ndarray] = None) -> numpy.ndarray:
    """Word pairs farther than `band` target words from `path` (the expected target position of each
    source word; default: the diagonal, scaled to the target's length). A word whose every pair would be
    outside keeps them all, so each softmax row and column has a finite entry."""
    if path is None:
        path = numpy.arange(m) * (n / m)
    outside = numpy.abs(path[:, None] - numpy.arange(n)[None, :]) > band
    outside[outside.all(axis=1), :] = False
    outside[:, outside.all(axis=0)] = False
    return outside


def _monotone_path(links: numpy.ndarray, m: int, n: int) -> numpy.ndarray:
    """The expected target position of every source word: the links' target positions made monotone
    (a running median would do too; a running maximum is enough for text that keeps sentence order)
    and interpolated between linked words; the diagonal when nothing links."""
    if len(links) == 0:
        return numpy.arange(m) * (n / m)
    order = numpy.argsort(links[:, 0], kind="stable")
    sources, targets = links[order, 0], numpy.maximum.accumulate(links[order, 1])
    return numpy.interp(numpy.arange(m), sources, targets)


def _with_diagonal_context(similarity: numpy.ndarray, weight: float) -> numpy.ndarray:
    """Add weight * the mean of the diagonal neighbours (i-1, j-1) and (i+1, j+1) that exist.

    Neighbouring word pairs vote: repeated function words ("de", ",") link to the
    copy whose neighbours also match, a local-monotonicity prior as in HMM alignment.
    """
    padded = numpy.pad(similarity, 1, constant_values=numpy.nan)
    neighbours = numpy.stack([padded[:-2, :-2], padded[2:, 2:]])
    count = (~numpy.isnan(neighbours)).sum(axis=0)
    total = numpy.nansum(neighbours, axis=0)
    return similarity + weight * numpy.where(count > 0, total / numpy.maximum(count, 1), 0.0)


class BiSoftmax:
    """Union of two bidirectional-softmax alignments: of subwords, and of mean-pooled words.

    Each level: centred cosine similarity, a distortion penalty, softmax(sim / temperature)
    along rows and along columns, and a link where both exceed `threshold`
    (awesome-align's extraction, Dou & Neubig 2021, on cosine instead of dot products).
    The word level also adds diagonal context. Subword links can be many-to-one (Romanian
    nouns carry their article: "aerul" = "the air"); word links are more precise. Scores:
    the larger sqrt(p_forward * p_backward) of the levels that found the link. Pairs of more than
    LONG_PAIR_WORDS words on a side are aligned within `band` words of the diagonal, then within half
    that of the path the first links trace (0: no band).
    """

    uses_word_index = True  # align_vectors passes subword vectors and word indices, no pooling

    def __init__(self, temperature: float = 0.07, threshold: float = 0.45, distortion: float = 0.3, diagonal: float = 0.3, band: int = 16):
        self.temperature, self.threshold, self.distortion, self.diagonal, self.band = temperature, threshold, distortion, diagonal, band

    def __call__(self, source: numpy.ndarray, target: numpy.ndarray, source_word_index: numpy.ndarray, target_word_index: numpy.ndarray) -> Tuple[numpy.ndarray, numpy.ndarray]:
        if len(source) == 0 or len(target) == 0:
            return empty_alignment()
        source, target = source.astype(numpy.float32), target.astype(numpy.float32)
        m, n = int(source_word_index.max()) + 1, int(target_word_index.max()) + 1
        subword_similarity = _with_distortion(_centered_cosine(source, target), self.distortion)
        # words without subwords have no vector: leave them out of the word-level matrix
        source_pooled, source_present = pool_subwords(source, source_word_index, m)
        target_pooled, target_present = pool_subwords(target, target_word_index, n)
        source_words, target_words = numpy.flatnonzero(source_present), numpy.flatnonzero(target_present)
        word_similarity = _centered_cosine(source_pooled[source_words], target_pooled[target_words])
        word_similarity = _with_distortion(_with_diagonal_context(word_similarity, self.diagonal), self.distortion)

        def word_level(outside: Optional[numpy.ndarray]) -> Tuple[numpy.ndarray, numpy.ndarray]:
            similarity = word_similarity if outside is None else numpy.where(outside[source_words][:, target_words], -numpy.inf, word_similarity)
            links, scores = softmax_threshold_links(similarity / self.temperature, self.threshold)
            return numpy.stack([source_words[links[:, 0]], target_words[links[:, 1]]], axis=1), scores

        outside = None
        if self.band and max(m, n) > LONG_PAIR_WORDS:
            # long pairs (paragraphs): a softmax over hundreds of words loses most links. Align in a band
            # around the diagonal, then again in a band half as wide around the path those links trace.
            # Only there: on sentences the band costs links where word order differs (measured in docs/results/long-pairs.md).
            first_links, _ = word_level(_outside_band(m, n, self.band))
            outside = _outside_band(m, n, max(1, self.band // 2), _monotone_path(first_links, m, n))
            subword_similarity[outside[source_word_index][:, target_word_index]] = -numpy.inf
        links, scores = softmax_threshold_links(subword_similarity / self.temperature, self.threshold)
        subword_links = numpy.stack([source_word_index[links[:, 0]], target_word_index[links[:, 1]]], axis=1)
        word_links, word_scores = word_level(outside)

        return unique_links(numpy.concatenate([subword_links, word_links]).astype(numpy.int64), numpy.concatenate([scores, word_scores]))


def align_vectors(
    method: ExtractionMethod,
    source: numpy.ndarray,
    target: numpy.ndarray,
    source_word_index: numpy.ndarray,
    target_word_index: numpy.ndarray,
    n_source_words: int,
    n_target_words: int,
    pooling: str = "subwords",
) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """Word alignment of one pair from its subword vectors.

    pooling "subwords" aligns subwords and maps the links to words (SimAlign's
    "bpe" mode, awesome-align); "mean" / "first" pool subwords into word vectors first.
    """
    if getattr(method, "uses_word_index", False):
        return method(source, target, source_word_index, target_word_index)
    if pooling == "subwords":
        links, scores = method(source, target)
        return subword_links_to_words(links, scores, source_word_index, target_word_index)
    source_words, source_ok = pool_subwords(source, source_word_index, n_source_words, pooling)
    target_words, target_ok = pool_subwords(target, target_word_index, n_target_words, pooling)
    source_ids, target_ids = numpy.flatnonzero(source_ok), numpy.flatnonzero(target_ok)
    links, scores = method(source_words[source_ids], target_words[target_ids])
    if len(links) == 0:
        return empty_alignment()
    return numpy.stack([source_ids[links[:, 0]], target_ids[links[:, 1]]], axis=1), scores


# -- Pharaoh format and scoring ---------------------------------------------------------------
def parse_pharaoh(line: str, one_based: bool = False) -> Tuple[Links, Links]:
    """Parse `i-j` (sure) and `ipj` (possible) links; returns (sure, possible) with possible ⊇ sure."""
    sure: Links = set()
    possible: Links = set()
    shift = 1 if one_based else 0
    for item in line.split():
        sep = "p" if "p" in item else "-"
        try:
            i, j = (int(x) - shift for x in item.split(sep))
        except ValueError:
            raise ValueError(f"Malformed alignment link {item!r} in line {line.strip()[:80]!r}: expected i-j or ipj.") from None
        if i < 0 or j < 0:
            raise ValueError(f"Link {item!r} has index 0 but links were read as 1-based: are they 0-based? (one_based=False)")
        possible.add((i, j))
        if sep == "-":
            sure.add((i, j))
    return sure, possible


def format_pharaoh(links: Iterable[Tuple[int, int]]) -> str:
    return " ".join(f"{i}-{j}" for i, j in sorted(links))


@dataclass
class AlignmentScores:
    aer: float
    precision: float
    recall: float

    def as_dict(self) -> Dict[str, float]:
        return {"aer": self.aer, "precision": self.precision, "recall": self.recall}


def score_alignments(predicted: Sequence[Links], sure: Sequence[Links], possible: Sequence[Links]) -> AlignmentScores:
    """Corpus-level AER = 1 - (|A∩S| + |A∩P|) / (|A| + |S|), precision |A∩P|/|A|, recall |A∩S|/|S| (Och & Ney 2003)."""
    if not (len(predicted) == len(sure) == len(possible)):
        raise ValueError(f"Got {len(predicted)} predicted, {len(sure)} sure and {len(possible)} possible link sets; they must match.")
    a_and_s = sum(len(a & s) for a, s in zip(predicted, sure))
    a_and_p = sum(len(a & (p | s)) for a, s, p in zip(predicted, sure, possible))
    n_a = sum(len(a) for a in predicted)
    n_s = sum(len(s) for s in sure)
    aer = 1.0 - (a_and_s + a_and_p) / (n_a + n_s) if n_a + n_s else 0.0
    return AlignmentScores(aer=aer, precision=a_and_p / n_a if n_a else 0.0, recall=a_and_s / n_s if n_s else 0.0)


def links_as_set(links: numpy.ndarray) -> Links:
    return {(int(i), int(j)) for i, j in links}
