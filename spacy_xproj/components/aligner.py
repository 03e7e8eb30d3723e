"""The `xlmr_aligner` component: word alignment of parallel Docs with a multilingual transformer."""
import warnings
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy
from spacy import util
from spacy.language import Language
from spacy.pipeline import Pipe
from spacy.tokens import Doc
from spacy.training import Example
from spacy.vocab import Vocab

from ..defaults import ALIGNMENT_METHOD, DEFAULT_ENCODER, DEFAULT_LAYER
from . import methods  # noqa: F401  (registers the extraction methods the default config names)
from ..core.alignment import POOLINGS, ExtractionMethod, align_vectors, score_alignments
from ..encoders.subword_encoder import PRECISIONS, SubwordEncoder
from ..corpus.schema import ALIGNMENT_EXT, WINDOWS_EXT, get_alignment, get_source, install_extensions, set_alignment
from .serialization import ConfigOnlySerialization

class LongPairWarning(UserWarning):
    """A pair longer than the encoder's window, aligned in overlapping windows (fewer links); commands that report
    such pairs by line filter this category."""


Alignment = Tuple[numpy.ndarray, numpy.ndarray, int]  # links [n, 2], scores [n], encoder windows of the longer side


@Language.factory(
    "xlmr_aligner",
    assigns=[f"doc._.{ALIGNMENT_EXT}", f"doc._.{WINDOWS_EXT}"],
    default_config={
        "model": DEFAULT_ENCODER,
        "layer": DEFAULT_LAYER,
        "method": {"@misc": ALIGNMENT_METHOD},
        "subword_pooling": "subwords",
        "batch_size": 32,
        "max_window": None,
        "window_overlap": 64,
        "precision": "float32",
        "scorer": {"@scorers": "spacy-xproj.alignment_scorer.v1"},
    },
    default_score_weights={"align_f": 1.0, "align_p": 0.0, "align_r": 0.0, "align_aer": None},
)
def make_xlmr_aligner(
    nlp: Language,
    name: str,
    model: str,
    layer: int,
    method: Callable[[numpy.ndarray, numpy.ndarray], Tuple[numpy.ndarray, numpy.ndarray]],
    subword_pooling: str,
    batch_size: int,
    max_window: Optional[int],
    window_overlap: int,
    precision: str,
    scorer: Optional[Callable],
) -> "XLMRAligner":
    """Align the words of each parallel Doc's source side to its own tokens.

    model (str): Hugging Face model name or local path; default: the embedded multilingual-e5-small.
    layer (int): hidden state whose vectors are compared (0 = embeddings); layers above it are never run.
    method (Callable): registered extraction method, e.g. {"@misc": "spacy-xproj.ArgMax.v1"}.
    subword_pooling (str): "subwords" (align subwords, map links to words), "mean" or "first" (pool into word vectors first).
    batch_size (int): sentence windows per transformer forward pass.
    max_window (Optional[int]): positions per window for long sentences, the model's special tokens included; default: the model's limit.
    window_overlap (int): subwords shared by consecutive windows (0 or more, less than max_window; at most half a window is used).
    precision (str): "float32" (exact), "bfloat16" (ArgMax 2.2-2.7x faster in bench-align on a CPU with bfloat16 units, links
        differ slightly), "float16" (GPUs only), or "auto" (float16 on a GPU, bfloat16 on a CPU with bfloat16 units,
        float32 elsewhere). The encoder runs on the GPU after `spacy.require_gpu(N)`, like spaCy's own models.
    scorer (Optional[Callable]): scores predicted against reference alignments.
    """
    return XLMRAligner(
        nlp.vocab, name, model=model, layer=layer, method=method, subword_pooling=subword_pooling,
        batch_size=batch_size, max_window=max_window, window_overlap=window_overlap, precision=precision, scorer=scorer,
    )


class XLMRAligner(ConfigOnlySerialization, Pipe):
    def __init__(
        self,
        vocab: Vocab,
        name: str,
        *,
        model: str,
        layer: int,
        method: ExtractionMethod,
        subword_pooling: str,
        batch_size: int,
        max_window: Optional[int],
        window_overlap: int,
        precision: str,
        scorer: Optional[Callable],
    ):
        install_extensions()  # the Doc extensions this pipe reads and writes
        if precision not in PRECISIONS:
            raise ValueError(f"[{name}] unknown precision {precision!r}: use one of {PRECISIONS}.")
        if subword_pooling not in POOLINGS:
            raise ValueError(f"[{name}] unknown subword_pooling {subword_pooling!r}: use one of {POOLINGS}.")
        for setting, value in (("layer", layer), ("batch_size", batch_size), ("window_overlap", window_overlap), ("max_window", max_window)):
            if not (isinstance(value, int) and not isinstance(value, bool)) and not (setting == "max_window" and value is None):
                raise ValueError(f"[{name}] {setting} must be a whole number, got {value!r}.")
        if layer < 0:
            raise ValueError(f"[{name}] layer must be >= 0 (0 = embeddings), got {layer}.")
        if batch_size < 1:
            raise ValueError(f"[{name}] batch_size must be >= 1, got {batch_size}.")
        if window_overlap < 0:
            raise ValueError(f"[{name}] window_overlap must be >= 0, got {window_overlap}.")
        if max_window is not None and max_window < 1:
            raise ValueError(f"[{name}] max_window must be >= 1 or null (the model's limit), got {max_window}.")
        if max_window is not None and window_overlap >= max_window:
            raise ValueError(f"[{name}] window_overlap {window_overlap} must be smaller than max_window {max_window}.")
        self.vocab = vocab
        self.name = name
        self.method = method
        self.scorer = scorer
        self.cfg: Dict[str, Any] = {
            "model": model, "layer": layer, "subword_pooling": subword_pooling,
            "batch_size": batch_size, "max_window": max_window, "window_overlap": window_overlap, "precision": precision,
        }
        self._encoder: Optional[SubwordEncoder] = None  # loaded in initialize() or on first use
        self._warned_long = False

    @property
    def encoder(self) -> SubwordEncoder:
        if self._encoder is None:
            self._encoder = SubwordEncoder(
                self.cfg["model"], layers=[self.cfg["layer"]], batch_size=self.cfg["batch_size"],
                max_window=self.cfg["max_window"], window_overlap=self.cfg["window_overlap"], precision=self.cfg["precision"],
            )
        return self._encoder

    def initialize(self, get_examples: Optional[Callable[[], Iterable[Example]]] = None, *, nlp: Optional[Language] = None) -> None:
        """Load the encoder (weights never load in the constructor)."""
        self.encoder  # noqa: B018

    def __call__(self, doc: Doc) -> Doc:
        error_handler = self.get_error_handler()
        try:
            alignment = self.predict([doc])
            self.set_annotations([doc], alignment)
            return doc
        except Exception as e:
            error_handler(self.name, self, [doc], e)
            return doc

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 256) -> Iterator[Doc]:
        """Align Docs in batches. A Doc that fails (no source side, ...) goes to the error handler alone; the rest are aligned."""
        error_handler = self.get_error_handler()
        for docs in util.minibatch(stream, size=batch_size):
            good = []
            for doc in docs:
                try:
                    get_source(doc)
                    good.append(doc)
                except Exception as e:
                    error_handler(self.name, self, [doc], e)
            try:
                self.set_annotations(good, self.predict(good))
                yield from good
            except Exception:
                # Isolate the failing Doc so one bad pair never costs the others their alignment.
                for doc in good:
                    try:
                        self.set_annotations([doc], self.predict([doc]))
                        yield doc
                    except Exception as e:
                        error_handler(self.name, self, [doc], e)

    def predict(self, docs: Sequence[Doc]) -> List[Alignment]:
        """Word links (source index, target index), scores and the number of encoder windows of the longer side, per Doc."""
        if not docs:
            return []
        sources = [get_source(doc).words for doc in docs]
        targets = [[token.text for token in doc] for doc in docs]
        vectors = self.encoder.encode(sources + targets)
        result = []
        for source, target in zip(vectors[: len(docs)], vectors[len(docs) :]):
            links, scores = align_vectors(
                self.method, source.vectors, target.vectors, source.word_index, target.word_index,
                source.n_words, target.n_words, self.cfg["subword_pooling"],
            )
            result.append((links, scores, max(source.windows, target.windows)))
        return result

    def set_annotations(self, docs: Sequence[Doc], alignments: Sequence[Alignment]) -> None:
        for doc, (links, scores, windows) in zip(docs, alignments):
            set_alignment(doc, ((i, j, s) for (i, j), s in zip(links.tolist(), scores.tolist())))
            doc._.set(WINDOWS_EXT, windows if windows > 1 else None)
            if windows > 1 and not self._warned_long:
                self._warned_long = True
                warnings.warn(
                    f"[{self.name}] a pair longer than the encoder's window ({self.encoder.max_window} subwords) is aligned in "
                    f"{windows} overlapping windows, which finds fewer links (doc._.{WINDOWS_EXT} marks such pairs; first: "
                    f"{doc.text[:40]!r}). Split long texts into sentences. Warned once per component.",
                    LongPairWarning,
                )


@util.registry.scorers("spacy-xproj.alignment_scorer.v1")
def make_alignment_scorer() -> Callable[..., Dict[str, Optional[float]]]:
    return score_alignment


def score_alignment(examples: Iterable[Example], **kwargs: Any) -> Dict[str, Optional[float]]:
    """Link precision, recall, F and AER of predicted `doc._.xproj_alignment` against the reference's (sure links only)."""
    predicted, gold = [], []
    for example in examples:
        reference = get_alignment(example.reference)
        if reference is None:
            continue
        predicted.append({(i, j) for i, j, _ in get_alignment(example.predicted) or []})
        gold.append({(i, j) for i, j, _ in reference})
    if not gold:
        return {"align_p": None, "align_r": None, "align_f": None, "align_aer": None}
    scores = score_alignments(predicted, gold, gold)
    f = 2 * scores.precision * scores.recall / (scores.precision + scores.recall) if scores.precision + scores.recall else 0.0
    return {"align_p": scores.precision, "align_r": scores.recall, "align_f": f, "align_aer": scores.aer}
