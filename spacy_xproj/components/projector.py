"""The `entity_projector` component: source entities through the word alignment onto target `doc.ents`."""
import functools
from typing import Any, Callable, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Tuple

from spacy import util
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.vocab import Vocab

from ..defaults import PROJECTION_POLICY
from ..corpus.schema import PROJECTION_EXT, get_alignment, get_source, install_extensions
from .label_maps import UNMAPPED, map_label
from .serialization import ConfigOnlySerialization
from ..core.projection import ProjectedEntity, Projection, ProjectionPolicy, close_brackets, naive_projection, prefer_name_matches, project_spans, relabel_derived_adjectives, split_off_derived_adjectives, trim_function_words, validate

ON_INCOMPLETE = ("missing", "drop", "keep")
LABEL_DROPPED = "label {label} maps to no target label"  # the reason recorded for a source entity the label map drops


def label_dropped_reason(label: str) -> str:
    return LABEL_DROPPED.format(label=label)

@functools.lru_cache(maxsize=None)
def stop_words(lang: Optional[str]) -> Optional[FrozenSet[str]]:
    """spaCy's stop words for a language code, or None when the language is unknown."""
    if lang is None:
        return None
    try:
        return frozenset(util.get_lang_class(lang).Defaults.stop_words)
    except ImportError:
        return None


def span_policy(max_gap: int, min_coverage: float, split_above: Optional[float] = None, split_quantile: Optional[float] = None) -> ProjectionPolicy:
    if max_gap < 0 or not 0.0 <= min_coverage <= 1.0 or (split_above is not None and split_above < 0):
        raise ValueError(
            f"SpanProjection needs max_gap >= 0, 0 <= min_coverage <= 1 and split_above >= 0, got {max_gap}, {min_coverage} and {split_above}."
        )
    if split_quantile is not None and not 0.0 <= split_quantile <= 1.0:
        raise ValueError(f"SpanProjection needs 0 <= split_quantile <= 1, got {split_quantile}.")

    def policy(entities, links, n_target, trimmable=None) -> Projection:
        return project_spans(
            entities, links, n_target, trimmable, max_gap=max_gap, min_coverage=min_coverage, split_above=split_above, split_quantile=split_quantile
        )

    return policy


@util.registry.misc("spacy-xproj.SpanProjection.v1")
def make_span_projection(max_gap: int = 2, min_coverage: float = 0.0) -> ProjectionPolicy:
    """The span covering an entity's aligned target words: clusters split at more than `max_gap` unaligned words, the heaviest kept, punctuation trimmed at the edges.

    max_gap (int): unaligned target words allowed inside a projected span.
    min_coverage (float): share of the entity's words that must be aligned.
    """
    return span_policy(max_gap, min_coverage, None)


@util.registry.misc("spacy-xproj.SpanProjection.v2")
def make_span_projection_v2(max_gap: int = 2, min_coverage: float = 0.0, split_above: float = 0.9) -> ProjectionPolicy:
    """SpanProjection.v1, except that a gap word confidently aligned elsewhere splits the cluster.

    max_gap (int): unaligned target words allowed inside a projected span.
    min_coverage (float): share of the entity's words that must be aligned.
    split_above (float): a gap word linked with at least this score to a source word outside the
        entity (and to none inside) is not bridged. Link scores are cosine similarities (ArgMax, IterMax,
        Match) or probabilities (BiSoftmax), at most 1, so a value above 1 disables it.
    """
    return span_policy(max_gap, min_coverage, split_above)


@util.registry.misc("spacy-xproj.SpanProjection.v3")
def make_span_projection_v3(max_gap: int = 2, min_coverage: float = 0.0, split_quantile: float = 0.7) -> ProjectionPolicy:
    """SpanProjection.v2 with its split threshold relative to each pair: the `split_quantile` quantile of the pair's link scores.

    An encoder fine-tuned for alignment (train-aligner) scores every link higher; a fixed cosine
    threshold tuned on the embedded encoder then splits far too often, a relative one does not.

    max_gap (int): unaligned target words allowed inside a projected span.
    min_coverage (float): share of the entity's words that must be aligned.
    split_quantile (float): a gap word linked, with a score at or above this quantile of the pair's
        link scores, to a source word outside the entity and to none inside it splits the cluster.
    """
    return span_policy(max_gap, min_coverage, split_quantile=split_quantile)


@util.registry.misc("spacy-xproj.NaiveProjection.v1")
def make_naive_projection() -> ProjectionPolicy:
    """Baseline: from the first to the last target word aligned to any word of the entity."""
    return naive_projection


@Language.factory(
    "entity_projector",
    assigns=["doc.ents", f"doc._.{PROJECTION_EXT}"],
    default_config={
        "policy": {"@misc": PROJECTION_POLICY},
        "balance_brackets": True,
        "trim_function_words": True,
        "derived_adjective_label": "MISC",
        "drop_derived_adjectives": False,
        "match_names": False,
        "label_map": {},
        "unmapped": "keep",
        "on_incomplete": "missing",
        "scorer": {"@scorers": "spacy.ner_scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_entity_projector(
    nlp: Language,
    name: str,
    policy: Callable[..., Projection],
    balance_brackets: bool,
    trim_function_words: bool,
    derived_adjective_label: Optional[str],
    drop_derived_adjectives: bool,
    match_names: bool,
    label_map: Dict[str, Optional[str]],
    unmapped: str,
    on_incomplete: str,
    scorer: Optional[Callable],
) -> "EntityProjector":
    """Set target entities from the source entities of each parallel Doc and its word alignment.

    policy (Callable): registered projection policy, e.g. {"@misc": "spacy-xproj.SpanProjection.v3"}.
    balance_brackets (bool): extend projected spans over the closing brackets of brackets they open
        (edge punctuation trimming would cut them off).
    trim_function_words (bool): cut lowercase stop words of the target language (articles,
        prepositions) off span edges where the source entity has no lowercase content word.
    derived_adjective_label (Optional[str]): label of a PER, ORG or LOC entity projected onto one
        lowercase target word, an adjective derived from a name ("comunitaria" from "Community"):
        CoNLL tags those MISC. null keeps the (mapped) source label.
    drop_derived_adjectives (bool): instead, make every entity projected onto one lowercase target
        word "O", for target annotations that tag no such adjectives (CoNLL-2002 Spanish).
    match_names (bool): project an entity whose words the target sentence spells out (case-folded; a short
        lowercase prefix allowed, as Bantu noun classes write "uMandela") onto them, whatever the alignment.
    label_map (Dict[str, Optional[str]]): source label -> target label; null drops the label.
    unmapped (str): labels missing from a non-empty map are "keep"-t, "drop"-ped, or an "error".
    on_incomplete (str): when some source entity could not be projected: "missing" marks the tokens
        outside projected entities as unknown (not "O"), "drop" leaves the whole Doc unannotated,
        "keep" treats the projection as complete.
    scorer (Optional[Callable]): spaCy's NER scorer.
    """
    return EntityProjector(
        nlp.vocab, name, policy=policy, balance_brackets=balance_brackets, trim_function_words=trim_function_words,
        derived_adjective_label=derived_adjective_label, drop_derived_adjectives=drop_derived_adjectives, match_names=match_names, label_map=label_map, unmapped=unmapped,
        on_incomplete=on_incomplete, scorer=scorer,
    )


class EntityProjector(ConfigOnlySerialization, Pipe):
    def __init__(
        self,
        vocab: Vocab,
        name: str,
        *,
        policy: ProjectionPolicy,
        balance_brackets: bool,
        trim_function_words: bool,
        derived_adjective_label: Optional[str],
        drop_derived_adjectives: bool,
        match_names: bool,
        label_map: Optional[Dict[str, Optional[str]]],
        unmapped: str,
        on_incomplete: str,
        scorer: Optional[Callable],
    ):
        install_extensions()  # the Doc extensions this pipe reads and writes
        if on_incomplete not in ON_INCOMPLETE:
            raise ValueError(f"[{name}] on_incomplete must be one of {ON_INCOMPLETE}, got {on_incomplete!r}.")
        if unmapped not in UNMAPPED:
            raise ValueError(f"[{name}] unmapped must be one of {UNMAPPED}, got {unmapped!r}.")
        self.vocab = vocab
        self.name = name
        self.policy = policy
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {
            "label_map": dict(label_map or {}), "unmapped": unmapped, "on_incomplete": on_incomplete, "balance_brackets": balance_brackets,
            "trim_function_words": trim_function_words, "derived_adjective_label": derived_adjective_label,
            "drop_derived_adjectives": drop_derived_adjectives, "match_names": match_names,
        }

    def initialize(self, get_examples: Optional[Callable[[], Iterable[Example]]] = None, *, nlp: Optional[Language] = None) -> None:
        pass

    def map_label(self, label: str) -> Optional[str]:
        """The target label for a source label, or None to drop it."""
        try:
            return map_label(label, self.cfg["label_map"], self.cfg["unmapped"])
        except ValueError as err:
            raise ValueError(f"[{self.name}] {err}") from None

    def __call__(self, doc: Doc) -> Doc:
        error_handler = self.get_error_handler()
        try:
            return self.project(doc)
        except Exception as e:
            error_handler(self.name, self, [doc], e)
            return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        error_handler = self.get_error_handler()
        for doc in stream:
            try:
                yield self.project(doc)
            except Exception as e:
                error_handler(self.name, self, [doc], e)

    def project(self, doc: Doc) -> Doc:
        source = get_source(doc)
        links = get_alignment(doc)
        if links is None:
            raise ValueError(
                f"[{self.name}] Doc {doc.text[:60]!r} has no word alignment (doc._.xproj_alignment). "
                "Put xlmr_aligner before entity_projector, or set the alignment with spacy_xproj.corpus.schema.set_alignment."
            )
        validate(source.ents, links, len(source.words), len(doc))
        entities: List[Tuple[int, int, str]] = []
        source_index: List[int] = []  # entities[k] is source entity source_index[k]
        unmapped: Dict[int, str] = {}  # source entity -> why it is not projected: its label maps to nothing
        for k, (start, end, label) in enumerate(source.ents):
            target_label = self.map_label(label)
            if target_label is None:
                unmapped[k] = label_dropped_reason(label)
            else:
                entities.append((start, end, target_label))
                source_index.append(k)
        projection = self.policy(entities, links, len(doc), [t.is_punct for t in doc])
        if self.cfg["match_names"]:
            projection = prefer_name_matches(entities, source.words, [t.text for t in doc], projection)
        if self.cfg["trim_function_words"]:
            function_word = [t.is_stop and t.is_lower for t in doc]
            source_stop_words = stop_words(source.lang)
            source_function_word = [w.islower() and w in source_stop_words for w in source.words] if source_stop_words is not None else None
            projection.entities = trim_function_words(projection.entities, function_word, source.words, entities, source_function_word)
        if self.cfg["balance_brackets"]:
            projection.entities = close_brackets(projection.entities, [t.text for t in doc])
        not_entities: List[ProjectedEntity] = []
        if self.cfg["drop_derived_adjectives"]:
            projection.entities, not_entities = split_off_derived_adjectives(projection.entities, [t.text for t in doc])
        elif self.cfg["derived_adjective_label"] is not None:
            projection.entities = relabel_derived_adjectives(projection.entities, [t.text for t in doc], self.cfg["derived_adjective_label"])
        unprojected = {**{source_index[k]: reason for k, reason in projection.unprojected.items()}, **unmapped}
        self.set_annotations(doc, projection, not_entities, unprojected)
        return doc

    def set_annotations(self, doc: Doc, projection: Projection, not_entities: Sequence[ProjectedEntity] = (),
                        unprojected: Optional[Dict[int, str]] = None) -> None:
        """`not_entities`: projected words known not to be entities, "O" even where other tokens are missing.
        `unprojected`: source entity -> why it was not projected, its label's dropping included (which leaves the
        pair complete); default: the projection's own (indices of the entities it was given)."""
        spans = [Span(doc, e.start, e.end, label=e.label) for e in projection.entities]
        outside = [Span(doc, e.start, e.end) for e in not_entities]
        status = "complete" if projection.complete else "partial"
        if not projection.complete and self.cfg["on_incomplete"] == "drop":
            status = "dropped"
            doc.set_ents([], default="missing")
        elif not projection.complete and self.cfg["on_incomplete"] == "missing":
            doc.set_ents(spans, outside=outside, default="missing")
        else:
            doc.set_ents(spans, default="outside")
        doc._.set(PROJECTION_EXT, {
            "status": status,
            "ents": [[e.start, e.end, e.label, e.confidence] for e in projection.entities],
            "unprojected": [[index, reason] for index, reason in sorted((projection.unprojected if unprojected is None else unprojected).items())],
        })


def projection_status(docs: Sequence[Doc]) -> Dict[str, int]:
    """How many Docs were complete, partial and dropped."""
    install_extensions()
    counts = {"complete": 0, "partial": 0, "dropped": 0}
    for doc in docs:
        data = doc._.get(PROJECTION_EXT)
        if data is not None:
            counts[data["status"]] += 1
    return counts
