"""NER on a frozen encoder: every hidden state computed once per sentence, a small head trained for epochs.

`spacy-xproj.FrozenEncoderBiLSTM.v1` is a tok2vec for `token_ner`: the encoder (never updated) gives
each word its vectors of all hidden layers (embeddings + every layer, pooled from its subwords); a
learned mix over the layers (`LayerMixer`, Chen et al. 2022), dropout and a BiLSTM turn them into token
vectors. Because the encoder does not learn, its output for a sentence never changes: while training,
`FeatureCache` keeps it (float16, keyed by the encoder's identity and the sentence's words), so
`spacy train` runs the encoder once per training and dev sentence, and every later epoch costs only
the head. Caching is switched on by the `spacy-xproj.frozen_feature_training.v1` callback in
`[initialize.after_init]`, that is by `spacy train`; a loaded pipeline (`spacy.load`) caches nothing
and runs the encoder on each batch.

The encoder is referenced by name (`embedded:multilingual-e5-small`, a Hugging Face name or a path),
not copied into the saved pipeline; its identity is saved instead, and a pipeline whose encoder
resolves to other weights at load time refuses to run.
"""
import hashlib
import weakref
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy
import torch
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch, registry
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v2, torch2xp, xp2torch
from thinc.types import Floats2d

from ..defaults import DEFAULT_ENCODER
from .layer_mix import MIXERS, LayerMixer

POOLINGS = ("first", "mean")
# Model.id of each features node -> its encoder. Not a model attr: thinc serializes attrs with the model.
_ENCODERS: "weakref.WeakValueDictionary[int, FrozenEncoder]" = weakref.WeakValueDictionary()


class FeatureCache:
    """Word features per sentence, up to `max_bytes` in all; once full it keeps what it holds (a training
    corpus is read in the same order every epoch, so evicting would only thrash)."""

    def __init__(self, max_bytes: int = 0):
        self.max_bytes = max_bytes
        self.bytes = 0
        self._features: Dict[bytes, numpy.ndarray] = {}

    def __len__(self) -> int:
        return len(self._features)

    @staticmethod
    def key(identity: str, words: List[str]) -> bytes:
        text = "\x1f".join(words)
        return hashlib.blake2b(f"{identity}\x1e{text}".encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def get(self, key: bytes) -> Optional[numpy.ndarray]:
        return self._features.get(key)

    def put(self, key: bytes, features: numpy.ndarray) -> None:
        if key not in self._features and self.bytes + features.nbytes <= self.max_bytes:
            self._features[key] = features
            self.bytes += features.nbytes

    def clear(self) -> None:
        self._features.clear()
        self.bytes = 0


class FrozenEncoder:
    """Loads the encoder on first use and turns Docs into (words, layers, width) float16 feature arrays."""

    def __init__(self, name: str, layers: int, width: int, pooling: str, batch_size: int, precision: str):
        self.name, self.layers, self.width, self.pooling = name, layers, width, pooling
        self.batch_size, self.precision = batch_size, precision
        self.saved_identity: Optional[str] = None  # the identity the head was trained with, after from_bytes
        self.cache = FeatureCache(0)
        self.computed_sentences = 0  # sentences run through the encoder (the cache's saving shows here)
        self._encoder = None
        self._identity: Optional[str] = None

    @property
    def identity(self) -> str:
        if self._identity is None:
            from ..encoders.loading import encoder_identity, resolve_encoder

            self._identity = f"{encoder_identity(resolve_encoder(self.name))}|{self.pooling}|{self.precision}"
        return self._identity

    def encoder(self):
        if self._encoder is None:
            from ..encoders.subword_encoder import SubwordEncoder

            if self.saved_identity is not None and self.saved_identity != self.identity:
                raise ValueError(
                    f"FrozenEncoderBiLSTM: this pipeline was trained on the features of {self.saved_identity!r}, but its "
                    f"encoder {self.name!r} now gives {self.identity!r}; train again, or point tok2vec.encoder at the original encoder"
                )
            from transformers import AutoConfig

            from ..encoders.loading import resolve_encoder

            config = AutoConfig.from_pretrained(resolve_encoder(self.name))
            if config.num_hidden_layers + 1 != self.layers or config.hidden_size != self.width:
                raise ValueError(
                    f"FrozenEncoderBiLSTM: encoder {self.name!r} has {config.num_hidden_layers + 1} hidden states of width "
                    f"{config.hidden_size}; set tok2vec.layers = {config.num_hidden_layers + 1} and tok2vec.width = {config.hidden_size}"
                )
            self._encoder = SubwordEncoder(self.name, layers=list(range(self.layers)), batch_size=self.batch_size, precision=self.precision)
        return self._encoder

    def features(self, docs: List[Doc]) -> List[numpy.ndarray]:
        words = [[token.text for token in doc] for doc in docs]
        keys = [FeatureCache.key(self.identity, w) for w in words]
        found: List[Optional[numpy.ndarray]] = [self.cache.get(key) for key in keys]
        # each distinct sentence of the batch is encoded once
        missing = {keys[i]: i for i, f in enumerate(found) if f is None}
        if missing:
            encoded = self.encoder().encode([words[i] for i in missing.values()])
            self.computed_sentences += len(missing)
            computed = {}
            for key, vectors in zip(missing, encoded):
                computed[key] = pool_words(vectors.vectors, vectors.word_index, vectors.n_words, self.pooling)
                self.cache.put(key, computed[key])
            found = [computed[key] if f is None else f for key, f in zip(keys, found)]
        return found  # type: ignore[return-value]


    def precompute(self, sentences: List[List[str]], chunk: int = 1024, progress: bool = True) -> int:
        """Encode sentences into the cache ahead of training, shortest first so that batches carry little
        padding; stops when the cache is full. Returns how many sentences it encoded. `progress`: a tqdm
        bar on stderr when it is a terminal (tqdm's disable=None)."""
        from tqdm import tqdm

        keyed = {FeatureCache.key(self.identity, words): words for words in sentences if words}
        todo = sorted((key for key in keyed if self.cache.get(key) is None), key=lambda key: len(keyed[key]))
        done = 0
        with tqdm(total=len(todo), desc="encoding sentences", unit="sent", disable=None if progress else True, leave=False) as bar:
            for keys in minibatch(todo, chunk):
                encoded = self.encoder().encode([keyed[key] for key in keys])
                self.computed_sentences += len(keys)
                for key, vectors in zip(keys, encoded):
                    self.cache.put(key, pool_words(vectors.vectors, vectors.word_index, vectors.n_words, self.pooling))
                done += len(keys)
                bar.update(len(keys))
                if self.cache.bytes >= self.cache.max_bytes * 0.999:
                    break
        return done


def pool_words(subword_vectors: numpy.ndarray, word_index: numpy.ndarray, n_words: int, pooling: str) -> numpy.ndarray:
    """(layers, subwords, width) -> (words, layers, width) float16: each word's first subword, or the mean
    of its subwords. A word without subwords (whitespace) gets zeros."""
    layers, _, width = subword_vectors.shape
    pooled = numpy.zeros((n_words, layers, width), dtype=numpy.float32)
    if len(word_index):
        if pooling == "first":
            first = numpy.flatnonzero(numpy.r_[True, word_index[1:] != word_index[:-1]])
            pooled[word_index[first]] = subword_vectors[:, first].transpose(1, 0, 2)
        else:
            numpy.add.at(pooled, word_index, subword_vectors.transpose(1, 0, 2))
            counts = numpy.bincount(word_index, minlength=n_words)
            pooled /= numpy.maximum(counts, 1)[:, None, None]
    return pooled.astype(numpy.float16)


class LayerMixBiLSTM(torch.nn.Module):
    """Word features of all layers (layers, words, width) of a batch -> BiLSTM vectors per padded sentence."""

    def __init__(self, layers: int, width: int, hidden: int, depth: int, dropout: float, mix: str, attention_width: int):
        super().__init__()
        self.mixer = LayerMixer(layers, width, mix, attention_width)
        self.dropout = torch.nn.Dropout(dropout)
        self.lstm = torch.nn.LSTM(width, hidden, num_layers=depth, bidirectional=True, batch_first=True, dropout=dropout if depth > 1 else 0.0)

    def forward(self, stacked: torch.Tensor, lengths: List[int]) -> torch.Tensor:
        mixed = self.dropout(self.mixer(stacked))
        padded = torch.nn.utils.rnn.pad_sequence(list(torch.split(mixed, lengths)), batch_first=True)
        packed = torch.nn.utils.rnn.pack_padded_sequence(padded, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
        output, _ = self.lstm(packed)
        output, _ = torch.nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=padded.shape[1])
        return self.dropout(output)


def _features_to_torch(model: Model, features: List[numpy.ndarray], is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    lengths = [len(f) for f in features]
    stacked = torch.from_numpy(numpy.concatenate(features, axis=0)).float().transpose(0, 1)  # (layers, words, width)
    # the encoder is frozen: no gradient goes back to the features
    return ArgsKwargs(args=(stacked, lengths), kwargs={}), lambda d_inputs: []


def _padded_to_sentences(model: Model, inputs_outputs, is_train: bool) -> Tuple[List[Floats2d], Callable]:
    features, padded = inputs_outputs
    lengths = [len(f) for f in features]
    outputs = [torch2xp(padded[i, :n]) for i, n in enumerate(lengths)]

    def backprop(d_outputs: List[Floats2d]) -> ArgsKwargs:
        # every sentence's gradient in one padded tensor, the shape of the BiLSTM's output
        d_padded = torch.nn.utils.rnn.pad_sequence([xp2torch(d) for d in d_outputs], batch_first=True)
        return ArgsKwargs(args=(padded,), kwargs={"grad_tensors": (d_padded,)})

    return outputs, backprop


def frozen_features(encoder: FrozenEncoder) -> Model[List[Doc], List[numpy.ndarray]]:
    """Docs -> word features of every hidden layer, from the frozen encoder (or the training cache)."""

    def forward(model: Model, docs: List[Doc], is_train: bool):
        if model.attrs["encoder_identity"] and encoder.saved_identity is None:
            encoder.saved_identity = model.attrs["encoder_identity"]  # set by from_bytes / from_disk
        features = encoder.features(docs)
        if not model.attrs["encoder_identity"]:
            model.attrs["encoder_identity"] = encoder.identity
        return features, lambda d_features: []

    return Model("frozen_encoder_features", forward, attrs={"encoder_identity": ""})


def _frozen_bilstm_forward(model: Model, docs: List[Doc], is_train: bool):
    features, head = model.layers
    outputs = [model.ops.alloc2f(len(doc), model.get_dim("nO")) for doc in docs]
    nonempty = [i for i, doc in enumerate(docs) if len(doc)]
    if not nonempty:
        return outputs, lambda d_outputs: []
    vectors, backprop_head = head(features([docs[i] for i in nonempty], is_train)[0], is_train)
    for i, v in zip(nonempty, vectors):
        outputs[i] = v

    def backprop(d_outputs: List[Floats2d]) -> List:
        backprop_head([d_outputs[i] for i in nonempty])
        return []

    return outputs, backprop


def frozen_encoders(model: Model) -> List[FrozenEncoder]:
    """The frozen encoders inside a model (for the training callback and tests)."""
    return [_ENCODERS[node.id] for node in model.walk() if node.id in _ENCODERS]


@registry.architectures("spacy-xproj.FrozenEncoderBiLSTM.v1")
def build_frozen_encoder_bilstm(
    encoder: str = DEFAULT_ENCODER,
    layers: int = 13,
    width: int = 384,
    hidden: int = 256,
    depth: int = 1,
    dropout: float = 0.2,
    mix: str = "scalar_mix",
    attention_width: int = 64,
    pooling: str = "first",
    batch_size: int = 32,
    precision: str = "float32",
) -> Model[List[Doc], List[Floats2d]]:
    """Token vectors from a frozen encoder: a learned mix of all its hidden layers, then a BiLSTM.

    encoder (str): the encoder's Hugging Face name or path, or the embedded default; never updated, not saved with the pipeline.
    layers (int): hidden states the encoder returns (its layers + the embeddings: 13 for e5-small).
    width (int): the encoder's hidden size (384 for e5-small).
    hidden (int): BiLSTM units per direction (token vectors are 2 * hidden wide).
    depth (int): BiLSTM layers.
    dropout (float): dropout on the mixed features and on the BiLSTM output.
    mix (str): "scalar_mix" (one learned weight per layer) or "attention" (weights per word).
    attention_width (int): hidden width of the attention mix's scorer.
    pooling (str): a word's vector from its subwords: "first" or "mean".
    batch_size (int): encoder windows per forward pass.
    precision (str): the encoder's precision, "float32" or "bfloat16"; train and predict with the same.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"FrozenEncoderBiLSTM: pooling must be one of {POOLINGS}, not {pooling!r}")
    if mix not in MIXERS:
        raise ValueError(f"FrozenEncoderBiLSTM: mix must be one of {MIXERS}, not {mix!r}")
    for setting, value in {"layers": layers, "width": width, "hidden": hidden, "depth": depth, "batch_size": batch_size}.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"FrozenEncoderBiLSTM: {setting} must be a positive integer, not {value!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"FrozenEncoderBiLSTM: dropout must be in [0, 1), not {dropout!r}")
    frozen = FrozenEncoder(encoder, layers, width, pooling, batch_size, precision)
    features = frozen_features(frozen)
    head = PyTorchWrapper_v2(
        LayerMixBiLSTM(layers, width, hidden, depth, dropout, mix, attention_width),
        convert_inputs=_features_to_torch, convert_outputs=_padded_to_sentences,
    )
    head.set_dim("nO", 2 * hidden)
    model: Model = Model("frozen_encoder_bilstm", _frozen_bilstm_forward, layers=[features, head], dims={"nO": 2 * hidden})
    model.set_ref("features", features)
    model.set_ref("head", head)
    _ENCODERS[features.id] = frozen
    return model


@registry.callbacks("spacy-xproj.frozen_feature_training.v1")
def make_frozen_feature_training(cache_gb: float = 6.0, encode_corpora_first: bool = True, initial_weights: Optional[str] = None) -> Callable[[Language], Language]:
    """An `[initialize.after_init]` callback for pipelines on `spacy-xproj.FrozenEncoderBiLSTM.v1`: keep each
    sentence's encoder features in memory for the rest of the training.

    cache_gb (float): memory for cached features, in GB (13 x 384 float16 values, about 10 KB, a word for
        e5-small); sentences beyond it are encoded again at every pass.
    initial_weights (Optional[str]): a trained pipeline whose components (same names, same labels) give
        their weights to this one before training, e.g. a target-language student starting from the
        English teacher's head. None or "" starts fresh.
    encode_corpora_first (bool): encode every sentence of `[training] train_corpus` and `dev_corpus` before
        the first step, sorted by length so that the encoder's batches carry little padding, with a progress bar.
    """
    if cache_gb < 0:
        raise ValueError(f"frozen_feature_training: cache_gb must be >= 0, not {cache_gb}")

    def prepare(nlp: Language) -> Language:
        from .transformer_training import load_component_weights

        if initial_weights:
            load_component_weights(nlp, Path(initial_weights))
        encoders = [encoder for _, component in nlp.components if hasattr(component, "model") for encoder in frozen_encoders(component.model)]
        if not encoders:
            raise ValueError(
                "frozen_feature_training: no component of the pipeline has a spacy-xproj.FrozenEncoderBiLSTM.v1 model; "
                "remove the callback or use that architecture"
            )
        for encoder in encoders:
            encoder.cache = FeatureCache(int(cache_gb * 1e9 / len(encoders)))
        if encode_corpora_first:
            sentences = [[token.text for token in doc] for doc in training_docs(nlp)]
            for encoder in encoders:
                encoder.precompute(sentences)
        return nlp

    return prepare


def training_docs(nlp: Language) -> List[Doc]:
    """The predicted Docs of the training and dev corpora named in `nlp.config`, as `spacy train` reads them
    (none when the config names no corpora, as for a pipeline built in Python)."""
    from spacy.util import resolve_dot_names

    config = nlp.config.interpolate()
    names = [config["training"].get("train_corpus"), config["training"].get("dev_corpus")]
    corpora = config.get("corpora", {})
    readers = [corpora.get(name.split(".")[-1]) if isinstance(name, str) else None for name in names]
    if not all(isinstance(reader, dict) and reader.get("path") for reader in readers):
        return []  # a pipeline built in Python: its config names no corpus files
    docs = []
    for corpus in resolve_dot_names(config, names):
        docs.extend(example.predicted for example in corpus(nlp))
    return docs
