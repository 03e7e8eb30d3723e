"""`token_ner`: NER as token classification (BIO tags) with a configurable loss and decoding
constrained to valid spans. spaCy's transition-based `ner` has no pluggable loss; this component
exists so that noisy projected labels can be trained with a reverse focal loss."""
from itertools import islice
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.util import registry
from spacy.vocab import Vocab
from thinc.api import Config, Linear, Model, chain, set_dropout_rate, with_array
from thinc.types import Floats2d

from .bio import MISSING, biluo_to_tag_ids, tag_names, tags_to_spans, transition_mask, viterbi
from ..corpus.schema import get_token_weights
from ..encoders.processes import torch_threads_for_this_process
from .losses import TokenLoss, log_softmax, per_class_mean_one

DEFAULT_MODEL = """
[model]
@architectures = "spacy-xproj.TokenClassifier.v1"
nO = null

[model.tok2vec]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 96
depth = 4
embed_size = 2000
window_size = 1
maxout_pieces = 3
subword_features = true
"""


@registry.architectures("spacy-xproj.TokenClassifier.v1")
def build_token_classifier(tok2vec: Model[List[Doc], List[Floats2d]], nO: Optional[int] = None) -> Model[List[Doc], List[Floats2d]]:
    """Tag logits per token: a linear layer over any tok2vec (a transformer listener, for example).

    tok2vec (Model[List[Doc], List[Floats2d]]): the token vectors.
    nO (Optional[int]): number of tags; set from the labels on initialize.
    """
    output = Linear(nO=nO)
    model = chain(tok2vec, with_array(output))
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("output", output)
    return model


@Language.factory(
    "token_ner",
    assigns=["doc.ents"],
    default_config={
        "model": Config().from_str(DEFAULT_MODEL)["model"],
        "loss": {"@misc": "spacy-xproj.CrossEntropy.v1"},
        "scorer": {"@scorers": "spacy.ner_scorer.v1"},
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_token_ner(nlp: Language, name: str, model: Model, loss: TokenLoss, scorer: Optional[Callable]) -> "TokenNER":
    """Token-classification NER with a registered loss.

    model (Model[List[Doc], List[Floats2d]]): tag logits per token.
    loss (TokenLoss): spacy-xproj.CrossEntropy.v1, spacy-xproj.FocalLoss.v1 or spacy-xproj.ReverseFocalLoss.v1 / .v2.
    scorer (Optional[Callable]): spaCy's NER scorer by default.
    """
    return TokenNER(nlp.vocab, model, name, loss=loss, scorer=scorer)


class TokenNER(TrainablePipe):
    def __init__(self, vocab: Vocab, model: Model, name: str = "token_ner", *, loss: TokenLoss, scorer: Optional[Callable] = None):
        self.vocab = vocab
        self.model = model
        self.name = name
        self.loss = loss
        self.scorer = scorer
        self.cfg: Dict = {"labels": []}

    @property
    def labels(self) -> tuple:
        return tuple(self.cfg["labels"])

    def add_label(self, label: str) -> int:
        if label in self.cfg["labels"]:
            return 0
        if self.model.get_ref("output").has_dim("nO") is True:
            raise ValueError(f"[{self.name}] cannot add label {label!r} after initialization")
        self.cfg["labels"].append(label)
        return 1

    def initialize(self, get_examples: Callable[[], Iterable[Example]], *, nlp: Optional[Language] = None, labels: Optional[Sequence[str]] = None) -> None:
        validate_get_examples(get_examples, "TokenNER.initialize")
        if labels is None:
            labels = sorted({ent.label_ for example in get_examples() for ent in example.reference.ents})
        if not labels:
            raise ValueError(f"[{self.name}] no entity labels in the training examples and none given")
        self.cfg["labels"] = list(labels)
        self.model.get_ref("output").set_dim("nO", len(tag_names(labels)))
        sample = [example.x for example in islice(get_examples(), 10)]
        self.model.initialize(X=sample)

    def decode(self, docs: List[Doc]) -> List[Tuple[List[int], numpy.ndarray]]:
        """Per Doc: the best valid tag sequence and the log-probabilities of every tag (tokens x tags)."""
        if not any(len(doc) for doc in docs):
            return [([], numpy.zeros((0, len(tag_names(self.labels))))) for _ in docs]
        allowed, first = transition_mask(self.labels)
        decoded = []
        torch_threads_for_this_process()  # its head may be torch's: one thread in a child forked after torch ran
        for doc_logits in self.model.predict(docs):
            log_probs = log_softmax(self.model.ops.to_numpy(doc_logits))
            decoded.append((viterbi(log_probs, allowed, first), log_probs))
        return decoded

    def predict(self, docs: Iterable[Doc]) -> List[List[int]]:
        return [path for path, _ in self.decode(list(docs))]

    def set_annotations(self, docs: Iterable[Doc], tag_ids: List[List[int]]) -> None:
        for doc, ids in zip(docs, tag_ids):
            doc.ents = [Span(doc, start, end, label) for start, end, label in tags_to_spans(ids, self.labels)]

    def update(self, examples: Iterable[Example], *, drop: float = 0.0, sgd=None, losses: Optional[Dict[str, float]] = None) -> Dict[str, float]:
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "TokenNER.update")
        if not any(len(example.predicted) for example in examples):
            return losses
        set_dropout_rate(self.model, drop)
        logits, backprop = self.model.begin_update([example.predicted for example in examples])
        loss, d_logits = self.get_loss(examples, logits)
        backprop(d_logits)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(self, examples: Iterable[Example], logits: List[Floats2d]):
        """Summed loss over annotated tokens, each weighted by `annotation_weights`; tokens without a usable
        gold tag (missing annotation, misaligned, or a label outside the component's) get no gradient."""
        examples = list(examples)
        golds = [biluo_to_tag_ids(example.get_aligned_ner(), self.labels) for example in examples]
        total, gradients = 0.0, []
        for doc_logits, gold, weights in zip(logits, golds, annotation_weights(examples, golds)):
            loss, d_logits = self.loss(self.model.ops.to_numpy(doc_logits), numpy.where(gold != MISSING, gold, 0), weights)
            total += loss
            gradients.append(self.model.ops.asarray2f(d_logits.astype("float32")))
        return total, gradients


def predicted_token_weights(example: Example) -> Optional[numpy.ndarray]:
    """The reference's token weights (`doc._.xproj_token_weights`) on the predicted tokens, the lowest of
    the reference tokens each is aligned to (1 where none); None without weights."""
    weights = get_token_weights(example.reference)
    if weights is None:
        return None
    aligned = example.alignment.x2y
    owners = numpy.repeat(numpy.arange(len(aligned.lengths)), aligned.lengths)
    predicted = numpy.ones(len(example.predicted))
    numpy.minimum.at(predicted, owners, numpy.asarray(weights)[aligned.data])
    return predicted


def annotation_weights(examples: Sequence[Example], golds: Sequence[numpy.ndarray]) -> List[numpy.ndarray]:
    """Per example, a loss weight per predicted token: 0 where the gold tag is missing, else 1; where the
    corpus carries the teacher's confidences (`project-corpus --teacher-weights`), the confidence divided
    by its mean over the batch's tokens of the same gold tag. Normalized, each tag keeps cross-entropy's
    total weight and only the doubted tokens within a tag count less: unnormalized, entity tags (less
    sure than "O") would be taught less, and recall falls as it did under the confidence filter."""
    masks = [(gold != MISSING).astype("float64") for gold in golds]
    confidences = [predicted_token_weights(example) for example in examples]
    if all(c is None for c in confidences):
        return masks
    weighted = [mask if c is None else mask * c for mask, c in zip(masks, confidences)]
    flat = per_class_mean_one(numpy.concatenate(weighted), numpy.concatenate([numpy.where(g != MISSING, g, 0) for g in golds]),
                              numpy.concatenate(masks))
    return numpy.split(flat, numpy.cumsum([len(g) for g in golds])[:-1])
