"""Run the two peer word aligners we benchmark against: simalign and eflomal.

Both wrappers take pre-tokenized sentence pairs and return 0-based
(source index, target index) link sets, so their output can be scored with
the same code as ours. Nothing here depends on spaCy.
"""
import os
import tempfile
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from spacy_xproj.core.alignment import Links, parse_pharaoh

Pair = Tuple[Sequence[str], Sequence[str]]  # (source words, target words), pre-tokenized

# Our method name -> (simalign's matching_methods letter, key in its output).
SIMALIGN_METHODS: Dict[str, Tuple[str, str]] = {
    "argmax": ("a", "inter"),
    "itermax": ("i", "itermax"),
    "match": ("m", "mwmf"),
}

SYMMETRIZATION_METHODS = (
    "intersection",
    "union",
    "grow-diag",
    "grow-diag-final",
    "grow-diag-final-and",
)

# Koehn's order: the four direct neighbours first, then the diagonals.
_NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def align_with_simalign(
    model: str,
    pairs: Sequence[Pair],
    layer: int = 8,
    methods: Sequence[str] = ("argmax", "itermax", "match"),
    token_type: str = "bpe",
    timing: Optional[Dict[str, float]] = None,
) -> Dict[str, List[Links]]:
    """Align pairs with simalign's SentenceAligner exactly as its users call it: one pair at a time.

    model: a simalign model name ("bert", "xlmr", a hub name) or a local transformers model directory.
    pairs: (source words, target words) pairs to align.
    layer: index into the model's hidden states (0 = embeddings) whose vectors are compared.
    methods: any of "argmax", "itermax", "match".
    token_type: "bpe" (align subwords, then map to words) or "word" (average subwords per word first).
    timing: if given, timing["seconds"] is set to the time spent aligning (model loading excluded).
    Returns one list per method with one link set per pair, in the order of `pairs`.
    """
    unknown = [name for name in methods if name not in SIMALIGN_METHODS]
    if unknown:
        raise ValueError(f"unknown simalign method(s) {unknown}; choose from {sorted(SIMALIGN_METHODS)}")
    wanted = list(dict.fromkeys(methods))  # keep order, drop repeats
    links: Dict[str, List[Links]] = {name: [] for name in wanted}
    if not wanted or not pairs:
        return links  # don't pay for loading a model that would not be used

    # Imported here because simalign pulls in torch, transformers, sklearn and networkx.
    from simalign import SentenceAligner

    aligner = SentenceAligner(
        model=model,
        token_type=token_type,
        matching_methods="".join(SIMALIGN_METHODS[name][0] for name in wanted),
        layer=layer,
        device="cpu",
    )
    tokenizer = aligner.embed_loader.tokenizer
    start = time.perf_counter()
    for source_words, target_words in pairs:
        source_words, target_words = list(source_words), list(target_words)
        # simalign crashes (sklearn ValueError) when a side has no subword at all:
        # an empty sentence, or only words such as "" that tokenize to nothing.
        if not _has_subwords(tokenizer, source_words) or not _has_subwords(tokenizer, target_words):
            for name in wanted:
                links[name].append(set())
            continue
        found = aligner.get_word_aligns(source_words, target_words)
        for name in wanted:
            # simalign returns sorted lists of numpy/python ints; normalise to plain int sets.
            links[name].append({(int(i), int(j)) for i, j in found[SIMALIGN_METHODS[name][1]]})
    if timing is not None:
        timing["seconds"] = time.perf_counter() - start
    return links


def _has_subwords(tokenizer, words: Sequence[str]) -> bool:
    """Whether any word yields at least one subword token.

    tokenizer: the Hugging Face tokenizer simalign loaded.
    words: one side of a pair.
    """
    return any(tokenizer.tokenize(word) for word in words)


def train_and_align_with_eflomal(
    pairs: Sequence[Pair],
    extra_pairs: Sequence[Pair] = (),
    symmetrization: str = "grow-diag-final-and",
    seed: int = 1,
) -> List[Links]:
    """Train eflomal on pairs + extra_pairs (unsupervised) and return symmetrized links for `pairs` only.

    pairs: (source words, target words) pairs to align; one link set is returned per pair.
    extra_pairs: more parallel text that only adds training signal (no links returned for it).
    symmetrization: how forward and reverse links are combined; see `symmetrize`.
    seed: kept for a stable API; eflomal 2.0.0 cannot be seeded (its sampler seeds itself
        from /dev/urandom), so repeated runs can differ in a few links.
    Pairs with an empty side, and sentences of 1024+ words (eflomal skips them), get no links.
    """
    del seed  # see docstring: there is nothing to pass it to
    if symmetrization not in SYMMETRIZATION_METHODS:
        raise ValueError(f"unknown symmetrization {symmetrization!r}; choose from {SYMMETRIZATION_METHODS}")
    all_pairs = list(pairs) + list(extra_pairs)
    # A pair with an empty side has nothing to link and teaches the model nothing;
    # leave it out and map the rest back by position.
    trained = [k for k, (source, target) in enumerate(all_pairs) if len(source) and len(target)]
    links: List[Links] = [set() for _ in pairs]
    if not trained:
        return links

    source_lines = [_eflomal_line(all_pairs[k][0]) for k in trained]
    target_lines = [_eflomal_line(all_pairs[k][1]) for k in trained]
    forward_lines, reverse_lines = _run_eflomal(source_lines, target_lines)

    for row, k in enumerate(trained):
        if k >= len(pairs):
            break  # the rest are extra_pairs
        source, target = all_pairs[k]
        links[k] = symmetrize(
            parse_pharaoh(forward_lines[row])[0],
            parse_pharaoh(reverse_lines[row])[0],
            len(source),
            len(target),
            symmetrization,
        )
    return links


def _eflomal_line(words: Sequence[str]) -> str:
    """One whitespace-separated, lowercased line with exactly one token per word.

    words: the sentence's words; spaces inside a word or empty words would otherwise shift indices.
    """
    # Lowercase so "The" and "the" share statistics (eflomal also does this, we don't rely on it).
    return " ".join("_".join(word.lower().split()) or "<blank>" for word in words)


def _run_eflomal(source_lines: List[str], target_lines: List[str]) -> Tuple[List[str], List[str]]:
    """Train eflomal on the given lines and return its forward and reverse Pharaoh lines.

    source_lines: one tokenized source sentence per line, no empty lines.
    target_lines: the matching target sentences.
    """
    # Imported here so the rest of the module works where eflomal isn't installed.
    import eflomal

    with tempfile.TemporaryDirectory(prefix="eflomal-") as workdir:
        forward_path = os.path.join(workdir, "forward.links")
        reverse_path = os.path.join(workdir, "reverse.links")
        # Defaults as eflomal-align uses them: IBM1 -> HMM -> HMM+fertility, 3 samplers,
        # iteration counts scaled by corpus size.
        aligner = eflomal.Aligner()
        aligner.align(
            source_lines,
            target_lines,
            links_filename_fwd=forward_path,
            links_filename_rev=reverse_path,
            quiet=True,
        )
        # eflomal ignores the exit status of its C binary, so check the output ourselves.
        forward_lines = _read_lines(forward_path)
        reverse_lines = _read_lines(reverse_path)
    for name, lines in (("forward", forward_lines), ("reverse", reverse_lines)):
        if len(lines) != len(source_lines):
            raise RuntimeError(
                f"eflomal wrote {len(lines)} {name} alignment lines for {len(source_lines)} sentences"
            )
    return forward_lines, reverse_lines


def _read_lines(path: str) -> List[str]:
    """Lines of a text file without newlines; empty list if the file is missing.

    path: file to read.
    """
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


def symmetrize(
    forward: Links,
    reverse: Links,
    n_source: int,
    n_target: int,
    method: str = "grow-diag-final-and",
) -> Links:
    """Combine source->target and target->source links (both given as (source, target) pairs).

    forward: links from the source->target direction.
    reverse: links from the target->source direction, already as (source, target).
    n_source: number of source words (links must index below it).
    n_target: number of target words.
    method: "intersection", "union", "grow-diag", "grow-diag-final" or "grow-diag-final-and"
        (Koehn et al. 2005 / Moses definitions).
    """
    if method not in SYMMETRIZATION_METHODS:
        raise ValueError(f"unknown symmetrization {method!r}; choose from {SYMMETRIZATION_METHODS}")
    forward, reverse = set(forward), set(reverse)
    for source, target in forward | reverse:
        if not (0 <= source < n_source and 0 <= target < n_target):
            raise ValueError(f"link {(source, target)} outside a {n_source}x{n_target} sentence pair")

    if method == "intersection":
        return forward & reverse
    if method == "union":
        return forward | reverse

    alignment = _grow_diag(forward & reverse, forward | reverse, n_source, n_target)
    if method == "grow-diag":
        return alignment
    both_unaligned = method == "grow-diag-final-and"
    _final(alignment, forward, both_unaligned)
    _final(alignment, reverse, both_unaligned)
    return alignment


def _grow_diag(intersection: Links, union: Links, n_source: int, n_target: int) -> Links:
    """Koehn's GROW-DIAG: from the intersection, add union links next to (incl. diagonally) existing links
    that align a so-far unaligned word, sweeping source-major until nothing changes.

    intersection: links both directions agree on (the starting point).
    union: links either direction proposed (the only candidates).
    n_source: number of source words.
    n_target: number of target words.
    """
    alignment = set(intersection)
    aligned_source = {s for s, _ in alignment}
    aligned_target = {t for _, t in alignment}
    added = True
    while added:
        added = False
        # Links added during a sweep count immediately, as in the published pseudo-code.
        for source in range(n_source):
            if source not in aligned_source:
                continue  # cheap skip: a row without links has nothing to grow from
            for target in range(n_target):
                if (source, target) not in alignment:
                    continue
                for d_source, d_target in _NEIGHBOURS:
                    candidate = (source + d_source, target + d_target)
                    if candidate in union and candidate not in alignment and (
                        candidate[0] not in aligned_source or candidate[1] not in aligned_target
                    ):
                        alignment.add(candidate)
                        aligned_source.add(candidate[0])
                        aligned_target.add(candidate[1])
                        added = True
    return alignment


def _final(alignment: Links, direction: Iterable[Tuple[int, int]], both_unaligned: bool) -> None:
    """Koehn's FINAL / FINAL-AND, in place: add a link of one direction if it aligns an unaligned word
    (FINAL: either word unaligned; FINAL-AND: both words unaligned).

    alignment: the grown alignment, updated in place.
    direction: links of one direction (forward or reverse).
    both_unaligned: True for FINAL-AND.
    """
    aligned_source = {s for s, _ in alignment}
    aligned_target = {t for _, t in alignment}
    # Sorted = the pseudo-code's source-major sweep; later candidates see earlier additions.
    for source, target in sorted(direction):
        if (source, target) in alignment:
            continue
        source_free = source not in aligned_source
        target_free = target not in aligned_target
        if (source_free and target_free) if both_unaligned else (source_free or target_free):
            alignment.add((source, target))
            aligned_source.add(source)
            aligned_target.add(target)
