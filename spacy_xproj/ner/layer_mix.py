"""Token vectors from all hidden layers of the shared transformer, not just the last (Chen et al. 2022,
"Feature Aggregation in Zero-Shot Cross-Lingual Transfer Using Multilingual BERT").

Two mixers: attention over layers, computed per wordpiece from the layers' own vectors
(alpha_l = softmax_l(u . tanh(W h_l + b)), output sum_l alpha_l h_l), and the scalar mix of ELMo
(gamma sum_l softmax(w)_l h_l) as the simple baseline. The transformer component must return its
hidden states: `[components.transformer.model.transformer_config] output_hidden_states = true`.

spacy-transformers backpropagates into the transformer through its last hidden state only. Left so,
the encoder would learn from the top layer's share of the mix alone (about 1/13 at the start):
measured, that starved the encoder (ablation mean F1 36.1 against 54.4 without the mix).
`route_gradients_to_all_layers` (called by the `spacy-xproj.transformer_training.v1` callback) makes
the transformer's backward pass take a gradient for every hidden state, and the listener then sends
one per layer.
"""
import warnings
from typing import Callable, List, Set, Tuple

import torch
from spacy.language import Language
from spacy.util import registry
from spacy_transformers.data_classes import TransformerData
from spacy_transformers.layers import TransformerListener
from spacy_transformers.layers.trfs2arrays import trfs2arrays
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v2, chain
from thinc.types import Floats2d, Ragged
from transformers.file_utils import ModelOutput

MIXERS = ("attention", "scalar_mix")
LAYER_GRADIENT_KEY = "d_hidden_state_{}"
# Model.id (a process-wide counter, never reused) of each mix whose transformer now takes a gradient per
# hidden state. Not a model attr: thinc saves attrs with the model but not the transformer's swapped
# output adapter, so a loaded pipeline must start unrouted. (thinc Models have __slots__ without
# __weakref__, so a WeakSet cannot hold them.)
_ROUTED_MIXES: Set[int] = set()


class LayerMixer(torch.nn.Module):
    """(layers, positions, width) -> (positions, width)."""

    def __init__(self, n_layers: int, width: int, mode: str, attention_width: int):
        super().__init__()
        if mode not in MIXERS:
            raise ValueError(f"layer mix mode must be one of {MIXERS}, not {mode!r}")
        self.mode, self.n_layers, self.width = mode, n_layers, width
        if mode == "scalar_mix":
            self.layer_logits = torch.nn.Parameter(torch.zeros(n_layers))
            self.gamma = torch.nn.Parameter(torch.ones(1))
        else:
            self.project = torch.nn.Linear(width, attention_width)
            self.score = torch.nn.Linear(attention_width, 1)

    def layer_weights(self, stacked: torch.Tensor) -> torch.Tensor:
        """Weights over layers: (layers, 1, 1) for the scalar mix, (layers, positions, 1) for attention."""
        if stacked.shape[0] != self.n_layers or stacked.shape[-1] != self.width:
            raise ValueError(
                f"layer mix built for {self.n_layers} hidden states of width {self.width}, got {stacked.shape[0]} of width "
                f"{stacked.shape[-1]}: set components.<ner component>.model.tok2vec.layers to the encoder's layers + 1 and .width to its hidden size"
            )
        if self.mode == "scalar_mix":
            return torch.softmax(self.layer_logits, dim=0)[:, None, None] * self.gamma
        return torch.softmax(self.score(torch.tanh(self.project(stacked))), dim=0)

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        return (self.layer_weights(stacked) * stacked).sum(dim=0)


def mix_layers(mixer: Model) -> Model[List[TransformerData], List[TransformerData]]:
    """Replace each Doc's last hidden state by the mix of all its hidden states."""
    # Pipelines saved before the routing moved out of the attrs carry an "all_layer_gradients" attr:
    # thinc loads it into this node's attrs, where nothing reads it.
    return Model("mix_layers", _mix_forward, layers=[mixer])


def route_gradients_to_all_layers(nlp: Language, transformer_component: str) -> int:
    """Let the layer mixes listening to `transformer_component` backpropagate into every hidden state.

    Swaps the output adapter of the component's Hugging Face wrapper for one whose backward pass takes
    a gradient per hidden state, and switches those mixes to send one. Returns how many mixes listen.

    The routing lives in memory only: a pipeline saved and loaded again (`spacy.load`) is unrouted until
    this runs again (the `spacy-xproj.transformer_training.v1` callback does it in `nlp.initialize`);
    until then the mix warns in its backward pass.

    Raises ValueError when a plain spacy-transformers listener listens to the same component as a mix:
    spacy-transformers sizes each Doc's gradient list from the listener that calls back first, so a
    plain listener updated before the mix fails with an IndexError inside spacy-transformers, and the
    other order works only by that accident of pipeline order.
    """
    mix_nodes = [node for _, component in nlp.components if hasattr(component, "model") for node in component.model.walk() if node.has_ref("mix")]
    mixes = [node.get_ref("mix") for node in mix_nodes if node.get_ref("listener").upstream_name in ("*", transformer_component)]
    if not mixes:
        return 0
    mix_listeners = {node.get_ref("listener") for node in mix_nodes}
    listener_map = nlp.get_pipe(transformer_component).listener_map
    plain = sorted(name for name, listeners in listener_map.items() if any(listener not in mix_listeners for listener in listeners))
    if plain:
        raise ValueError(
            f"layer mix: {plain} listen to {transformer_component!r} through a plain TransformerListener next to a layer mix; "
            "routing gradients to every layer supports layer mixes only: give those components a LayerMixListener or their own transformer"
        )
    wrappers = [node for node in nlp.get_pipe(transformer_component).model.walk() if "convert_outputs" in node.attrs]
    if len(wrappers) != 1:
        raise ValueError(f"layer mix: expected one Hugging Face wrapper in {transformer_component!r}, found {len(wrappers)}")
    wrappers[0].attrs["convert_outputs"] = _outputs_with_all_layer_gradients
    _ROUTED_MIXES.update(mix.id for mix in mixes)
    return len(mixes)


def _outputs_with_all_layer_gradients(model: Model, inputs_outputs, is_train: bool):
    """spacy-transformers' output adapter, except that the gradients arriving in the backward pass are
    paired with (last hidden state, hidden state 0, 1, ...) instead of the last hidden state alone."""
    _, model_output = inputs_outputs

    def backprop(d_model_output) -> ArgsKwargs:
        gradients = list(d_model_output.values())
        outputs = [model_output.last_hidden_state, *model_output.get("hidden_states", ())][: len(gradients)]
        # hidden state 0 comes from frozen embeddings when they are frozen: nothing to send there
        pairs = [(output, gradient) for output, gradient in zip(outputs, gradients) if output.requires_grad]
        return ArgsKwargs(args=(tuple(o for o, _ in pairs),), kwargs={"grad_tensors": tuple(g for _, g in pairs)})

    return model_output, backprop


def _mix_forward(model: Model, trf_datas: List[TransformerData], is_train: bool) -> Tuple[List[TransformerData], Callable]:
    mixer = model.layers[0]
    xp = model.ops.xp
    present = [i for i, data in enumerate(trf_datas) if "last_hidden_state" in data.model_output]
    n_layers = mixer.shims[0]._model.n_layers

    def layers_of(data: TransformerData) -> list:
        if "hidden_states" in data.model_output:
            return data.model_output.hidden_states
        if is_train:
            raise ValueError("layer mix needs all hidden states: set output_hidden_states = true in [components.transformer.model.transformer_config]")
        # the listener's placeholder outputs (initialization, a transformer that did not run) carry only the last state
        return [data.model_output.last_hidden_state] * n_layers

    if not present:
        return list(trf_datas), lambda d_trf_datas: d_trf_datas
    shapes = [trf_datas[i].model_output.last_hidden_state.shape for i in present]
    width = shapes[0][-1]
    # every Doc's wordpiece positions side by side, one slab per layer: (layers, positions, width)
    stacked = xp.concatenate(
        [xp.stack([layer.reshape(-1, width) for layer in layers_of(trf_datas[i])]) for i in present], axis=1
    )
    mixed, backprop_mixer = mixer(stacked, is_train)
    outputs = list(trf_datas)
    start = 0
    for i, shape in zip(present, shapes):
        size = shape[0] * shape[1]
        data = trf_datas[i]
        outputs[i] = TransformerData(
            wordpieces=data.wordpieces, align=data.align,
            model_output=ModelOutput(last_hidden_state=mixed[start : start + size].reshape(shape)),
        )
        start += size

    def backprop(d_trf_datas: List[TransformerData]) -> List[TransformerData]:
        # trfs2arrays returns gradients for the Docs that have a last hidden state, in order
        d_mixed = xp.concatenate([d.model_output.last_hidden_state.reshape(-1, width) for d in d_trf_datas], axis=0)
        d_stacked = backprop_mixer(d_mixed)
        all_layers = model.id in _ROUTED_MIXES
        if not all_layers:  # shown once: Python's default warning filter
            warnings.warn(
                "layer mix: the transformer takes a gradient for its last hidden state only, so the encoder learns "
                "from the top layer's share of the mix; add the spacy-xproj.transformer_training.v1 callback to "
                "[initialize.after_init] to train it through every layer"
            )
        result, start = [], 0
        for d, shape in zip(d_trf_datas, shapes):
            size = shape[0] * shape[1]
            output = ModelOutput(last_hidden_state=d_stacked[-1, start : start + size].reshape(shape))
            if all_layers:
                for layer in range(n_layers - 1):  # the top layer's gradient went with the last hidden state
                    output[LAYER_GRADIENT_KEY.format(layer)] = d_stacked[layer, start : start + size].reshape(shape)
            result.append(TransformerData(wordpieces=d.wordpieces, align=d.align, model_output=output))
            start += size
        return result

    return outputs, backprop


@registry.architectures("spacy-xproj.LayerMixListener.v1")
def build_layer_mix_listener(
    pooling: Model[Ragged, Floats2d],
    layers: int = 13,
    mode: str = "attention",
    attention_width: int = 64,
    width: int = 384,
    grad_factor: float = 1.0,
    upstream: str = "*",
) -> Model:
    """A transformer listener whose token vectors mix all hidden layers.

    pooling (Model[Ragged, Floats2d]): wordpieces -> token reduction, as in TransformerListener.v1.
    layers (int): hidden states returned by the encoder (its layers + the embeddings: 13 for e5-small).
    mode (str): "attention" (per-wordpiece attention over layers) or "scalar_mix".
    attention_width (int): hidden width of the attention scorer.
    width (int): the encoder's hidden size (384 for e5-small).
    grad_factor (float): reweights the gradient passed to the transformer.
    upstream (str): the transformer component to listen to ("*": any).
    """
    listener = TransformerListener(upstream_name=upstream)
    mixer = PyTorchWrapper_v2(LayerMixer(layers, width, mode, attention_width))
    mix = mix_layers(mixer)
    model: Model = chain(listener, mix, trfs2arrays(pooling, grad_factor))
    model.set_ref("listener", listener)
    model.set_ref("mix", mix)
    model.set_ref("mixer", mixer)
    return model
