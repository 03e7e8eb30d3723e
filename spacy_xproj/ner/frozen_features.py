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
import weakref
from typing import Callable, List, Tuple

import numpy
import torch
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v2, torch2xp, xp2torch
from thinc.types import Floats2d

from ..defaults import DEFAULT_ENCODER
from .layer_mix import MIXERS, LayerMixer

from .frozen_encoder import POOLINGS, FrozenEncoder

# Model.id of each features node -> its encoder. Not a model attr: thinc serializes attrs with the model.
_ENCODERS: "weakref.WeakValueDictionary[int, FrozenEncoder]" = weakref.WeakValueDictionary()


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
    return ArgsKwargs(args=(stacked, lengths), kwargs={}), _no_gradient


def _padded_to_sentences(model: Model, inputs_outputs, is_train: bool) -> Tuple[List[Floats2d], Callable]:
    features, padded = inputs_outputs
    lengths = [len(f) for f in features]
    outputs = [torch2xp(padded[i, :n]) for i, n in enumerate(lengths)]

    def backprop(d_outputs: List[Floats2d]) -> ArgsKwargs:
        # every sentence's gradient in one padded tensor, the shape of the BiLSTM's output
        d_padded = torch.nn.utils.rnn.pad_sequence([xp2torch(d) for d in d_outputs], batch_first=True)
        return ArgsKwargs(args=(padded,), kwargs={"grad_tensors": (d_padded,)})

    return outputs, backprop


def _no_gradient(d_features) -> list:
    return []


class FrozenFeaturesForward:
    """The forward function of the features node: a small class rather than a closure, so that a pipeline holding
    it pickles (`pickle.dumps(nlp)`, `nlp.pipe(n_process=...)` under spawn)."""

    def __init__(self, encoder: FrozenEncoder):
        self.encoder = encoder

    def __call__(self, model: Model, docs: List[Doc], is_train: bool):
        encoder = _knowing_saved_identity(model, self.encoder)
        features = encoder.features(docs)
        if not model.attrs["encoder_identity"]:
            model.attrs["encoder_identity"] = encoder.identity
        return features, _no_gradient


def _knowing_saved_identity(node: Model, encoder: FrozenEncoder) -> FrozenEncoder:
    """The encoder, told the identity its pipeline was trained with (set by from_bytes / from_disk), so that
    loading it checks the weights; before its first forward pass as after."""
    if node.attrs["encoder_identity"] and encoder.saved_identity is None:
        encoder.saved_identity = node.attrs["encoder_identity"]
    return encoder


def frozen_features(encoder: FrozenEncoder) -> Model[List[Doc], List[numpy.ndarray]]:
    """Docs -> word features of every hidden layer, from the frozen encoder (or the training cache)."""
    return Model("frozen_encoder_features", FrozenFeaturesForward(encoder), attrs={"encoder_identity": ""})


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
    """The frozen encoders inside a model, each told the identity its pipeline was trained with (for the training
    callback, project-corpus's one pass over the source side, and tests)."""
    return [_knowing_saved_identity(node, _ENCODERS[node.id]) for node in model.walk() if node.id in _ENCODERS]


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
