"""Making `spacy train` of a transformer pipeline practical on CPU: freeze what need not move, compute in bfloat16."""
import functools
from pathlib import Path
from typing import Callable, List, Optional

import srsly
import torch
from spacy.language import Language
from spacy.util import registry
from thinc.api import PyTorchShim
from wasabi import msg

from .layer_mix import route_gradients_to_all_layers

AUTOCAST_DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "auto": None}


def resolve_autocast(autocast: str) -> str:
    """"auto": bfloat16 on a CPU with bfloat16 units, float32 elsewhere. Without them torch computes bfloat16
    products in a slow fallback: on an AVX2 CPU a student had done 29 of its 200 steps after about 18 min (docs/training.md)."""
    from ..encoders.subword_encoder import resolve_precision

    return resolve_precision(autocast, "cpu")


def hf_transformer(nlp: Language, component: str) -> torch.nn.Module:
    """The Hugging Face model inside an initialized spacy-transformers component."""
    # component_names, not pipe_names: spaCy disables sourced components while after_init runs
    if component not in nlp.component_names:
        raise ValueError(f"transformer_training: no component {component!r} in the pipeline {nlp.component_names}")
    transformer = getattr(nlp.get_pipe(component).model, "transformer", None)
    if transformer is None:
        raise ValueError(
            f"transformer_training: component {component!r} holds no Hugging Face model "
            "(is it a spacy-transformers 'transformer', and is the pipeline initialized?)"
        )
    return transformer


def freeze_parameters(transformer: torch.nn.Module, embeddings: bool, layers: int) -> int:
    """Stop gradients into the word embeddings and the lowest `layers` encoder layers; returns how many
    parameters were frozen. Thinc's PyTorch shim only updates parameters that received a gradient, so
    frozen ones also skip the optimizer.

    With `embeddings` and `layers` > 0 the whole embedding block is frozen (position and token-type
    embeddings and their LayerNorm too): while any parameter below the lowest trained layer still learns,
    the backward pass runs through every frozen layer to reach it, and freezing saves little time."""
    frozen = []
    if embeddings:
        block = getattr(transformer, "embeddings", None) if layers else None
        frozen.append(block if block is not None else transformer.get_input_embeddings())
    if layers:
        encoder_layers = transformer.encoder.layer
        if layers > len(encoder_layers):
            raise ValueError(f"transformer_training: freeze_layers={layers} but the model has {len(encoder_layers)} layers: "
                             "lower [initialize.after_init] freeze_layers in the config")
        frozen.extend(encoder_layers[:layers])
    count = 0
    for module in frozen:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
            count += parameter.numel()
    return count


def autocast_forward(transformer: torch.nn.Module, dtype: torch.dtype) -> None:
    """Run the model's forward pass under CPU autocast and hand float32 outputs back to thinc (numpy has
    no bfloat16). The weights and their optimizer state stay float32; only the instance's forward changes,
    so saving and loading the pipeline are unaffected."""
    forward = transformer.forward

    @functools.wraps(forward)
    def forward_in_autocast(*args, **kwargs):
        with torch.autocast("cpu", dtype=dtype):
            output = forward(*args, **kwargs)
        for key, value in output.items():
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                output[key] = value.float()
            elif isinstance(value, tuple):
                output[key] = tuple(v.float() if isinstance(v, torch.Tensor) and v.is_floating_point() else v for v in value)
        return output

    transformer.forward = forward_in_autocast


def load_component_weights(nlp: Language, pipeline: Path) -> List[str]:
    """Replace the weights of `nlp`'s components with those of the same-named components of a saved
    pipeline; returns their names. The components' labels must agree: a head trained for other labels
    cannot be reused."""
    if not (pipeline / "config.cfg").is_file():
        raise ValueError(f"initial_weights: {pipeline} is not a saved spaCy pipeline (no config.cfg)")
    shared = [name for name in nlp.component_names if (pipeline / name).is_dir()]
    if not shared:
        raise ValueError(f"initial_weights: {pipeline} has none of the components {nlp.component_names}")
    for name in shared:
        component = nlp.get_pipe(name)
        labels = getattr(component, "labels", None)
        if labels and (pipeline / name / "cfg").is_file():
            saved_labels = srsly.read_json(pipeline / name / "cfg").get("labels")
            if saved_labels is not None and sorted(saved_labels) != sorted(labels):
                raise ValueError(
                    f"initial_weights: component {name!r} of {pipeline} has the labels {sorted(saved_labels)}, "
                    f"the training data {sorted(labels)}"
                )
        component.from_disk(pipeline / name, exclude=["vocab"])
    return shared


class ScaledLearningRate:
    """An optimizer view whose updates use `scale` times the learning rate (thinc's `lr_scale`)."""

    def __init__(self, optimizer, scale: float):
        self.optimizer, self.scale = optimizer, scale

    def __call__(self, key, weights, gradient, *, lr_scale: float = 1.0):
        return self.optimizer(key, weights, gradient, lr_scale=lr_scale * self.scale)


def scale_learning_rate(nlp: Language, component: str, scale: float) -> None:
    """Give the transformer's PyTorch weights `scale` times the learning rate of the rest of the pipeline.

    spaCy trains every component with one optimizer; a freshly initialized NER head wants a learning rate
    (~1e-3) that would wreck a pretrained encoder (~1e-4 or less). With a few hundred CPU steps there is
    no time for the usual single small rate to move the head."""
    for node in nlp.get_pipe(component).model.walk():
        for shim in node.shims:
            if isinstance(shim, PyTorchShim):
                shim.finish_update = _scaled_finish_update(shim, scale)


def _scaled_finish_update(shim: PyTorchShim, scale: float):
    update = PyTorchShim.finish_update.__get__(shim)

    def finish_update(optimizer):
        return update(ScaledLearningRate(optimizer, scale))

    return finish_update


@registry.callbacks("spacy-xproj.transformer_training.v1")
def make_transformer_training(
    component: str = "transformer",
    freeze_embeddings: bool = True,
    freeze_layers: int = 0,
    autocast: str = "auto",
    learn_rate_scale: float = 1.0,
    initial_weights: Optional[str] = None,
) -> Callable[[Language], Language]:
    """An `[initialize.after_init]` callback preparing the transformer for training on CPU.

    component (str): name of the spacy-transformers component.
    freeze_embeddings (bool): freeze the input word-embedding matrix (96M of e5-small's 118M parameters).
    freeze_layers (int): number of lowest encoder layers to freeze as well.
    autocast (str): "bfloat16" computes the forward pass in bfloat16 (CPUs with AMX/AVX512-BF16), "float32" does not,
        "auto" picks bfloat16 where the CPU has bfloat16 units and float32 elsewhere (`resolve_autocast`).
    learn_rate_scale (float): the transformer's learning rate as a multiple of `[training.optimizer.learn_rate]`.
    initial_weights (Optional[str]): a trained pipeline whose components (same names, same labels) give
        their weights to this one before training: a target-language student starts from the English
        model. spaCy's own `source` refuses pipelines of another language. None or "" starts fresh.

    Layer mixes (spacy-xproj.LayerMixListener.v1) listening to the component backpropagate into every
    hidden state from here on.
    """
    if learn_rate_scale <= 0:
        raise ValueError(f"transformer_training: learn_rate_scale must be positive, not {learn_rate_scale}")
    if autocast not in AUTOCAST_DTYPES:
        raise ValueError(f"transformer_training: autocast must be one of {sorted(AUTOCAST_DTYPES)}, not {autocast!r}")

    def prepare(nlp: Language) -> Language:
        if initial_weights:
            load_component_weights(nlp, Path(initial_weights))
        transformer = hf_transformer(nlp, component)
        route_gradients_to_all_layers(nlp, component)
        freeze_parameters(transformer, freeze_embeddings, freeze_layers)
        resolved = resolve_autocast(autocast)
        if autocast == "auto":
            msg.info(f"transformer forward pass in {resolved} (autocast auto: "
                     f"{'this CPU has bfloat16 units' if resolved == 'bfloat16' else 'this CPU lacks bfloat16 units'})")
        if AUTOCAST_DTYPES[resolved] is not None:
            autocast_forward(transformer, AUTOCAST_DTYPES[resolved])
        if learn_rate_scale != 1.0:
            scale_learning_rate(nlp, component, learn_rate_scale)
        return nlp

    return prepare
