"""Teacher-student self-training: a trained NER pipeline labels raw target-language text, keeping only
what it is confident about. Entities below the threshold are not taught as entities, and the tokens
they (or any fairly likely alternative entity) cover are marked missing rather than "O", so the
student learns neither the teacher's doubtful entities nor its doubtful non-entities."""
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import numpy
from spacy.language import Language
from spacy.pipeline import EntityRecognizer
from spacy.tokens import Doc, Span
from spacy.util import minibatch, registry

from ..core.thresholds import confidence_threshold_error
from .bio import tags_to_spans
from .token_ner import TokenNER

Scored = Dict[Tuple[int, int, str], float]


def ner_component(nlp: Language) -> Tuple[str, object]:
    """The last component that predicts entities: spaCy's `ner` or our `token_ner`."""
    found = [(name, pipe) for name, pipe in nlp.pipeline if isinstance(pipe, (EntityRecognizer, TokenNER))]
    if not found:
        raise ValueError(f"scoring entities needs a pipeline with 'ner' or 'token_ner'; this one has {nlp.pipe_names}")
    return found[-1]


def confident_entities(doc: Doc, scored: Scored, threshold: float, doubtful_tokens: Optional[numpy.ndarray] = None) -> Doc:
    """Set the entities scored >= threshold (best first, no overlaps). Tokens outside them become
    missing when a candidate entity scored above 1 - threshold covers them or `doubtful_tokens` marks
    them, and "O" otherwise."""
    accepted: List[Span] = []
    taken = numpy.zeros(len(doc), dtype=bool)
    for (start, end, label), score in sorted(scored.items(), key=lambda item: (-item[1], item[0])):
        if score >= threshold and not taken[start:end].any():
            accepted.append(Span(doc, start, end, label))
            taken[start:end] = True
    doubtful = numpy.zeros(len(doc), dtype=bool) if doubtful_tokens is None else doubtful_tokens.astype(bool)
    for (start, end, _), score in scored.items():
        if score > 1.0 - threshold:
            doubtful[start:end] = True
    doubtful &= ~taken
    missing = [Span(doc, i, i + 1) for i in numpy.flatnonzero(doubtful)]
    doc.set_ents(accepted, missing=missing, default="outside")
    return doc


def decoded_tag_probabilities(ner: TokenNER, docs: List[Doc]) -> List[Tuple[List[int], numpy.ndarray]]:
    """Per Doc: `token_ner`'s decoded tag sequence and the probability it gives each decoded tag."""
    return [(path, numpy.exp(log_probs[numpy.arange(len(path)), path])) for path, log_probs in ner.decode(docs)]


def token_ner_scores(ner: TokenNER, docs: List[Doc], threshold: float) -> List[Tuple[Scored, numpy.ndarray]]:
    """Entity scores from `token_ner`: its decoded entities, each scored by the lowest probability the
    model gives to one of its tags; and the tokens whose decoded tag has probability below threshold."""
    results = []
    for path, probs in decoded_tag_probabilities(ner, docs):
        scored: Scored = {(s, e, label): float(probs[s:e].min()) for s, e, label in tags_to_spans(path, ner.labels)}
        results.append((scored, probs < threshold))
    return results


def batches_before_ner(nlp: Language, texts: Iterable[str], batch_size: int) -> Iterator[List[Doc]]:
    """Batches of Docs of `texts`, run through the components before the pipeline's NER (not the NER itself)."""
    name, _ = ner_component(nlp)
    upstream = nlp.pipe_names[: nlp.pipe_names.index(name)]
    for batch in minibatch(texts, batch_size):
        docs = [nlp.make_doc(text) for text in batch]
        for pipe_name in upstream:
            docs = list(nlp.get_pipe(pipe_name).pipe(docs))
        yield docs


@registry.misc("spacy-xproj.self_label.v1")  # how project-corpus, a layer below, finds it without importing it
def self_label(nlp: Language, texts: Iterable[str], threshold: float = 0.9, beam_width: int = 16, batch_size: int = 32) -> Iterator[Doc]:
    """Docs of `texts` labelled by the pipeline's NER where it is confident (see `confident_entities`)."""
    problem = confidence_threshold_error(threshold, may_be_off=False)
    if problem:
        raise ValueError(f"self-labelling threshold: {problem}")
    ner = ner_component(nlp)[1]
    for docs in batches_before_ner(nlp, texts, batch_size):
        if isinstance(ner, EntityRecognizer):
            scores = [(scored, None) for scored in ner.scored_ents(ner.beam_parse(docs, beam_width=beam_width))]
        else:
            scores = token_ner_scores(ner, docs, threshold)
        for doc, (scored, doubtful) in zip(docs, scores):
            yield confident_entities(doc, scored, threshold, doubtful)


def beam_tag_confidences(doc: Doc, scored: Scored) -> numpy.ndarray:
    """Per token of `doc` (entities set): the beam's probability of the entity it is in, or for a token
    outside every entity one minus the largest probability of a candidate entity covering it."""
    confidences = numpy.ones(len(doc))
    for (start, end, _), score in scored.items():
        confidences[start:end] = numpy.minimum(confidences[start:end], 1.0 - score)
    for entity in doc.ents:
        confidences[entity.start : entity.end] = scored.get((entity.start, entity.end, entity.label_), 0.0)
    return numpy.clip(confidences, 0.0, 1.0)


@registry.misc("spacy-xproj.tag_confidences.v1")  # found by project-corpus, a layer below, as self_label is
def tag_confidences(nlp: Language, texts: Iterable[str], beam_width: int = 16, batch_size: int = 32) -> Iterator[Tuple[Doc, numpy.ndarray]]:
    """Docs of `texts` with the pipeline's entities, each with how sure its NER is of every token's tag:
    token_ner's probability of the tag it decoded; for spaCy's `ner`, its usual (greedy) entities scored
    by the beam (`beam_tag_confidences`)."""
    ner = ner_component(nlp)[1]
    for docs in batches_before_ner(nlp, texts, batch_size):
        if isinstance(ner, EntityRecognizer):
            scores = ner.scored_ents(ner.beam_parse(docs, beam_width=beam_width))
            docs = list(ner.pipe(docs))
            confidences = [beam_tag_confidences(doc, scored) for doc, scored in zip(docs, scores)]
        else:
            decoded = decoded_tag_probabilities(ner, docs)
            ner.set_annotations(docs, [path for path, _ in decoded])
            confidences = [probs for _, probs in decoded]
        yield from zip(docs, confidences)
