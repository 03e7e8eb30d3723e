"""Carry source entity spans through a word alignment onto target tokens.

Pure Python: spans are (start, end, label) with `end` exclusive, links are
(source index, target index, score). A projection policy maps one pair's source
entities to target entities and says which source entities it could not place.
"""
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy

Span = Tuple[int, int, str]
Link = Tuple[int, int, float]


@dataclass(frozen=True)
class ProjectedEntity:
    start: int
    end: int
    label: str
    confidence: float
    source: int  # index of the source entity it came from


@dataclass
class Projection:
    entities: List[ProjectedEntity] = field(default_factory=list)
    # index of each source entity that has no target span, with the reason
    unprojected: Dict[int, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.unprojected


# (source entities, links, number of target tokens, per-target-token "may trim at span edges") -> Projection
ProjectionPolicy = Callable[[Sequence[Span], Sequence[Link], int, Optional[Sequence[bool]]], Projection]


def validate(entities: Sequence[Span], links: Sequence[Link], n_source: int, n_target: int) -> None:
    """Raise ValueError naming the first entity or link outside the sentences."""
    for start, end, label in entities:
        if not 0 <= start < end <= n_source:
            raise ValueError(f"source entity ({start}, {end}, {label!r}) lies outside the {n_source} source words")
    for i, j, _ in links:
        if not (0 <= i < n_source and 0 <= j < n_target):
            raise ValueError(f"alignment link {i}-{j} lies outside the {n_source} source / {n_target} target words")


def _clusters(positions: Sequence[int], max_gap: int, blocked: frozenset = frozenset()) -> List[List[int]]:
    """Sorted positions split where more than `max_gap` words separate neighbours, or where a word between them is `blocked`."""
    clusters: List[List[int]] = []
    for position in sorted(set(positions)):
        if clusters and position - clusters[-1][-1] - 1 <= max_gap and not any(j in blocked for j in range(clusters[-1][-1] + 1, position)):
            clusters[-1].append(position)
        else:
            clusters.append([position])
    return clusters


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile of `values` (numpy's linear interpolation)."""
    return float(numpy.quantile(values, q))


def _trim(start: int, end: int, trimmable: Optional[Sequence[bool]]) -> Tuple[int, int]:
    if trimmable is None:
        return start, end
    while start < end and trimmable[start]:
        start += 1
    while end > start and trimmable[end - 1]:
        end -= 1
    return start, end


def resolve_overlaps(candidates: Sequence[ProjectedEntity]) -> Tuple[List[ProjectedEntity], List[ProjectedEntity]]:
    """Keep the most confident of overlapping spans (ties: longer, then earlier source); returns (kept, rejected)."""
    kept: List[ProjectedEntity] = []
    rejected: List[ProjectedEntity] = []
    taken: set = set()
    for entity in sorted(candidates, key=lambda e: (-e.confidence, -(e.end - e.start), e.source)):
        tokens = set(range(entity.start, entity.end))
        if tokens & taken:
            rejected.append(entity)
        else:
            kept.append(entity)
            taken |= tokens
    return sorted(kept, key=lambda e: e.start), rejected


def project_spans(
    entities: Sequence[Span],
    links: Sequence[Link],
    n_target: int,
    trimmable: Optional[Sequence[bool]] = None,
    *,
    max_gap: int = 2,
    min_coverage: float = 0.0,
    choose: str = "best",
    split_above: Optional[float] = None,
    split_quantile: Optional[float] = None,
) -> Projection:
    """Project each source entity onto the span covering its aligned target words.

    Aligned target words closer than `max_gap` unaligned words form one cluster; a
    discontinuous projection keeps its best cluster (most alignment weight) when
    `choose="best"`, or spans them all when `choose="all"` (the naive baseline).
    With `split_above`, a gap word linked with at least that score to a source word
    outside the entity, and to no word of it, splits the cluster: an entity word with a
    stray link beyond a confidently aligned verb no longer stretches the span over the
    verb, while unaligned or weakly aligned function words ("de la") are still bridged.
    `split_quantile` sets `split_above` per pair, to that quantile of the pair's link scores:
    fine-tuning an encoder for alignment raises all its cosines, and a threshold relative to
    the pair's own links needs no retuning for it.
    `min_coverage` is the share of the entity's words that must be aligned. Edge
    tokens marked `trimmable` (punctuation) are cut off. Confidence: coverage times
    the mean link score inside the chosen span.
    """
    if split_quantile is not None and links:
        split_above = quantile([score for _, _, score in links], split_quantile)
    targets_of: Dict[int, List[Tuple[int, float]]] = {}
    for i, j, score in links:
        targets_of.setdefault(i, []).append((j, score))
    candidates: List[ProjectedEntity] = []
    projection = Projection()
    for index, (start, end, label) in enumerate(entities):
        aligned = [(j, s) for i in range(start, end) for j, s in targets_of.get(i, [])]
        covered = sum(1 for i in range(start, end) if i in targets_of) / (end - start)
        if not aligned:
            projection.unprojected[index] = "no aligned target word"
            continue
        if covered < min_coverage:
            projection.unprojected[index] = f"only {covered:.0%} of its words aligned"
            continue
        weight: Dict[int, float] = {}
        for j, s in aligned:
            weight[j] = weight.get(j, 0.0) + s
        if choose == "all":
            cluster = sorted(weight)
        else:
            blocked = frozenset(
                j for i, j, score in links if not start <= i < end and score >= split_above and j not in weight
            ) if split_above is not None else frozenset()
            cluster = max(_clusters(list(weight), max_gap, blocked), key=lambda c: (sum(weight[j] for j in c), -c[0]))
        span_start, span_end = _trim(cluster[0], cluster[-1] + 1, trimmable)
        if span_start >= span_end:
            projection.unprojected[index] = "aligned only to punctuation"
            continue
        inside = [s for j, s in aligned if span_start <= j < span_end]
        confidence = covered * (sum(inside) / len(inside) if inside else 0.0)
        candidates.append(ProjectedEntity(span_start, span_end, label, round(confidence, 4), index))
    kept, rejected = resolve_overlaps(candidates)
    for entity in rejected:
        projection.unprojected[entity.source] = "overlaps a more confident projection"
    projection.entities = kept
    return projection


def naive_projection(entities: Sequence[Span], links: Sequence[Link], n_target: int, trimmable: Optional[Sequence[bool]] = None) -> Projection:
    """The baseline: the span from the first to the last target word aligned to any word of the entity."""
    return project_spans(entities, links, n_target, None, choose="all")


CONLL_NAME_LABELS = ("PER", "ORG", "LOC")

OPENING_BRACKETS = {"(": ")", "[": "]", "{": "}"}


def close_brackets(entities: Sequence[ProjectedEntity], words: Sequence[str]) -> List[ProjectedEntity]:
    """Extend each entity over the closing brackets right after it that close brackets it opened.

    Edge punctuation is trimmed from projected spans, which cuts the ")" off "Comité Europeo de
    Normalización ( CEN )" and document codes like "( COM ( 1999 ) 101 )". Words inside another
    entity are never taken."""
    taken = {j for e in entities for j in range(e.start, e.end)}
    closed = []
    for entity in entities:
        pending: List[str] = []
        for word in words[entity.start : entity.end]:
            if word in OPENING_BRACKETS:
                pending.append(OPENING_BRACKETS[word])
            elif pending and word == pending[-1]:
                pending.pop()
        end = entity.end
        while pending and end < len(words) and words[end] == pending[-1] and end not in taken:
            pending.pop()
            end += 1
        closed.append(ProjectedEntity(entity.start, end, entity.label, entity.confidence, entity.source) if end != entity.end else entity)
    return closed


def trim_function_words(
    entities: Sequence[ProjectedEntity],
    function_word: Sequence[bool],
    source_words: Sequence[str],
    source_entities: Sequence[Span],
    source_function_word: Optional[Sequence[bool]] = None,
) -> List[ProjectedEntity]:
    """Cut target function words (lowercase stop words: articles, prepositions) off the edges of projected spans.

    An encoder fine-tuned for alignment links "Commission" to "la Comisión" as a phrase, and
    annotation guidelines leave the article out. An edge is left alone when the source entity has
    a lowercase content word there ("von Wogau", "de Palacio", "sixth report"): then the
    target's lowercase word belongs to the name. A source function word at the edge ("the
    Netherlands") protects nothing; without `source_function_word` every lowercase source word
    protects its edge. A span is never trimmed away entirely.
    """

    def protects(i: int) -> bool:
        return source_words[i].islower() and not (source_function_word is not None and source_function_word[i])

    trimmed = []
    for entity in entities:
        source_start, source_end, _ = source_entities[entity.source]
        start, end = entity.start, entity.end
        if not protects(source_start):
            while start < end - 1 and function_word[start]:
                start += 1
        if not protects(source_end - 1):
            while end > start + 1 and function_word[end - 1]:
                end -= 1
        trimmed.append(ProjectedEntity(start, end, entity.label, entity.confidence, entity.source) if (start, end) != (entity.start, entity.end) else entity)
    return trimmed


def is_one_lowercase_word(entity: ProjectedEntity, words: Sequence[str]) -> bool:
    return entity.end - entity.start == 1 and words[entity.start].islower()


def split_off_derived_adjectives(entities: Sequence[ProjectedEntity], words: Sequence[str]) -> Tuple[List[ProjectedEntity], List[ProjectedEntity]]:
    """(kept, dropped): drop every name entity (PER, ORG, LOC, MISC) that is one lowercase target word.

    For target annotations that do not tag adjectives derived from names at all: CoNLL-2002 Spanish
    has 1 one-word lowercase entity among the 2,188 of the first 1,000 `esp.testa` sentences ("La
    multinacional española Telefónica" tags only "Telefónica"), where English CoNLL-2003 tags
    "Spanish" MISC.
    """
    kept, dropped = [], []
    for entity in entities:
        derived = entity.label in CONLL_NAME_LABELS + ("MISC",) and is_one_lowercase_word(entity, words)
        (dropped if derived else kept).append(entity)
    return kept, dropped


def relabel_derived_adjectives(entities: Sequence[ProjectedEntity], words: Sequence[str], label: str) -> List[ProjectedEntity]:
    """Give `label` to PER, ORG and LOC entities that are one lowercase target word.

    Such a word is an adjective derived from a name: English "Community aid" and "Europe's
    regions" become "ayuda comunitaria" and "regiones europeas". CoNLL guidelines tag these
    adjectives MISC whatever the name they come from (in the Europarl-NER Spanish and German gold,
    50 of 51 and 51 of 54 one-word lowercase entities are MISC), while the source entity is an ORG
    or LOC. Labels outside CoNLL's name types are left alone.
    """
    return [
        ProjectedEntity(e.start, e.end, label, e.confidence, e.source)
        if e.label in CONLL_NAME_LABELS and is_one_lowercase_word(e, words)
        else e
        for e in entities
    ]


# the longest lowercase prefix a target word may put before a name it spells: the noun class prefixes of Bantu
# languages attach to names (isiZulu "uMandela", "eGoli", "kwaZulu")
MAX_NAME_PREFIX = 3


def spells(target_word: str, source_word: str, allow_prefix: bool) -> bool:
    """`target_word` is `source_word` (case-folded), or, with `allow_prefix`, a short lowercase prefix (optionally
    hyphenated) followed by it capitalized: "uMandela", "e-Afrika"."""
    folded, name = target_word.casefold(), source_word.casefold()
    if folded == name:
        return True
    if not allow_prefix or len(folded) != len(target_word) or not folded.endswith(name):
        return False
    prefix, rest = target_word[: len(target_word) - len(name)], target_word[len(target_word) - len(name) :]
    letters = prefix[:-1] if prefix.endswith("-") else prefix
    return 0 < len(letters) <= MAX_NAME_PREFIX and letters.isalpha() and letters.islower() and rest[:1].isupper()


def is_name(words: Sequence[str]) -> bool:
    """Words written as a name: some capital letter, and more than one character in all."""
    return any(ch.isupper() for word in words for ch in word) and sum(len(word) for word in words) > 1


def name_occurrences(words: Sequence[str], target_words: Sequence[str]) -> List[int]:
    """Start of every target span whose words spell `words` (a prefix allowed on its first word)."""
    n = len(words)
    return [
        j for j in range(len(target_words) - n + 1)
        if all(spells(target_words[j + k], words[k], allow_prefix=k == 0) for k in range(n))
    ]


def prefer_name_matches(entities: Sequence[Span], source_words: Sequence[str], target_words: Sequence[str], projection: Projection) -> Projection:
    """Project a source entity whose words the target spells out (names are often written alike in both
    languages) onto those words, whatever the alignment says; the others keep their aligned projection.

    An entity written once in each sentence takes that occurrence; with several occurrences or several
    entities of the same words, an entity takes the occurrence its aligned span overlaps, and entities and
    occurrences of equal number pair in order. Matched spans have confidence 1 and win every overlap.
    """
    aligned = {e.source: e for e in projection.entities}
    by_words: Dict[Tuple[str, ...], List[int]] = {}
    for index, (start, end, _) in enumerate(entities):
        if is_name(source_words[start:end]):
            by_words.setdefault(tuple(source_words[start:end]), []).append(index)
    matched: Dict[int, Tuple[int, int]] = {}
    for words, indices in by_words.items():
        starts = name_occurrences(words, target_words)
        if not starts:
            continue
        if len(starts) == len(indices):
            matched.update((index, (start, start + len(words))) for index, start in zip(indices, starts))
            continue
        for index in indices:
            entity = aligned.get(index)
            overlapping = [s for s in starts if entity is not None and s < entity.end and entity.start < s + len(words)]
            if len(overlapping) == 1:
                matched[index] = (overlapping[0], overlapping[0] + len(words))
    if not matched:
        return projection
    candidates = [ProjectedEntity(start, end, entities[index][2], 1.0, index) for index, (start, end) in matched.items()]
    candidates += [e for e in projection.entities if e.source not in matched]
    kept, rejected = resolve_overlaps(candidates)
    unprojected = {index: reason for index, reason in projection.unprojected.items() if index not in matched}
    unprojected.update((entity.source, "overlaps a more confident projection") for entity in rejected)
    return Projection(kept, unprojected)
