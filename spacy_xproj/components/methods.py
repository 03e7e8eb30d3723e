"""Registered alignment extraction methods, chosen in a config's `method` block.

Each factory returns an `ExtractionMethod` from `core/alignment.py`:
`(source vectors, target vectors) -> (links, scores)`.
"""
import functools

from spacy.util import registry

from ..core.alignment import BiSoftmax, ExtractionMethod, argmax_links, itermax_links, match_links, softmax_method, with_cosine_scores


@registry.misc("spacy-xproj.ArgMax.v1")
def make_argmax() -> ExtractionMethod:
    """Mutual best matches by cosine similarity (SimAlign ArgMax): high precision."""
    return with_cosine_scores(argmax_links)


@registry.misc("spacy-xproj.IterMax.v1")
def make_itermax(max_iterations: int = 2, alpha: float = 0.9) -> ExtractionMethod:
    """ArgMax plus further rounds for words still unaligned (SimAlign IterMax).

    max_iterations (int): rounds including the first ArgMax.
    alpha (float): weight of a cell per side whose word is still unaligned.
    """
    if max_iterations < 1 or not 0.0 < alpha <= 1.0:
        raise ValueError(f"IterMax needs max_iterations >= 1 and 0 < alpha <= 1, got {max_iterations} and {alpha}.")
    return with_cosine_scores(functools.partial(itermax_links, max_iterations=max_iterations, alpha=alpha))


@registry.misc("spacy-xproj.Match.v1")
def make_match() -> ExtractionMethod:
    """Maximum-weight bipartite matching on cosine similarity (SimAlign Match): one link per word of the shorter side."""
    return with_cosine_scores(match_links)


@registry.misc("spacy-xproj.SoftmaxThreshold.v1")
def make_softmax_threshold(threshold: float = 1e-3) -> ExtractionMethod:
    """awesome-align: softmax over dot products in both directions, keep links above `threshold` in both.

    threshold (float): probability each direction must exceed.
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"SoftmaxThreshold needs 0 < threshold < 1, got {threshold}.")
    return softmax_method(threshold)


@registry.misc("spacy-xproj.BiSoftmax.v1")
def make_bisoftmax(temperature: float = 0.07, threshold: float = 0.45, distortion: float = 0.3, diagonal: float = 0.3, band: int = 16) -> ExtractionMethod:
    """The default: bidirectional softmax over centred cosine, at subword and word level, links united.

    temperature (float): softmax temperature on cosine similarity.
    threshold (float): probability both directions must exceed.
    distortion (float): penalty weight on the squared relative-position difference.
    diagonal (float): weight of the diagonal neighbours' similarity at word level.
    band (int): pairs of more than 100 words on a side (paragraphs) link only words within this many
        target words of the diagonal, then of the path those links trace; 0: no band.
    """
    if temperature <= 0 or not 0.0 < threshold < 1.0 or distortion < 0 or diagonal < 0 or band < 0:
        raise ValueError(f"BiSoftmax needs temperature > 0, 0 < threshold < 1, distortion >= 0, diagonal >= 0, band >= 0; "
                         f"got {temperature}, {threshold}, {distortion}, {diagonal}, {band}.")
    return BiSoftmax(temperature, threshold, distortion, diagonal, band)
