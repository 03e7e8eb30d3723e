import contextlib
import warnings

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import fix_random_seed

from spacy_xproj.ner.layer_mix import LayerMixer, route_gradients_to_all_layers

from ..test_project_workflow import tiny_corpus


def test_scalar_mix_starts_as_the_mean_and_attention_weights_sum_to_one():
    stacked = torch.randn(3, 5, 8)
    scalar = LayerMixer(3, 8, "scalar_mix", 4)
    torch.testing.assert_close(scalar(stacked), stacked.mean(dim=0))
    attention = LayerMixer(3, 8, "attention", 4)
    weights = attention.layer_weights(stacked)
    assert weights.shape == (3, 5, 1)
    torch.testing.assert_close(weights.sum(dim=0), torch.ones(5, 1))
    mixed = attention(stacked)
    assert mixed.shape == (5, 8)
    # weights >= 0 summing to 1 per position: each output value lies between that position's layer values
    assert bool((mixed >= stacked.min(dim=0).values - 1e-6).all() and (mixed <= stacked.max(dim=0).values + 1e-6).all())
    assert not torch.allclose(weights[:, 0], weights[:, 1])  # computed per position, not one weight per layer
    with pytest.raises(ValueError, match="built for 3 hidden states of width 8, got 4 of width 8"):
        attention(torch.randn(4, 5, 8))
    with pytest.raises(ValueError, match="got 3 of width 16: set components"):
        attention(torch.randn(3, 5, 16))
    with pytest.raises(ValueError, match="must be one of"):
        LayerMixer(3, 8, "max", 4)


def find_mixer(model) -> LayerMixer:
    return next(shim._model for node in model.walk() for shim in node.shims if isinstance(shim._model, LayerMixer))


def layer_mix_pipeline(model_dir: str, mode: str, output_hidden_states: bool = True):
    nlp = spacy.blank("de")
    nlp.add_pipe("transformer", config={"model": {
        "name": model_dir, "tokenizer_config": {"use_fast": True}, "transformer_config": {"output_hidden_states": output_hidden_states}}})
    nlp.add_pipe("token_ner", config={"model": {"@architectures": "spacy-xproj.TokenClassifier.v1", "tok2vec": {
        "@architectures": "spacy-xproj.LayerMixListener.v1", "layers": 3, "width": 32, "mode": mode, "attention_width": 8,
        "pooling": {"@layers": "reduce_mean.v1"}}}})
    examples = []
    for _, (words, spans) in tiny_corpus(16):
        reference = Doc(nlp.vocab, words=words)
        reference.ents = [Span(reference, s, e, label) for s, e, label in spans]
        examples.append(Example(nlp.make_doc(reference.text), reference))
    return nlp, examples


@pytest.mark.parametrize("mode", ["attention", "scalar_mix"])
def test_layer_mix_listener_trains_its_mixer_and_the_transformer(tiny_model_dir, mode, tmp_path):
    fix_random_seed(0)
    nlp, examples = layer_mix_pipeline(tiny_model_dir, mode)
    optimizer = nlp.initialize(lambda: examples)
    mixer = find_mixer(nlp.get_pipe("token_ner").model)
    transformer = nlp.get_pipe("transformer").model.transformer
    mixer_before = [p.detach().clone() for p in mixer.parameters()]
    top_before = transformer.encoder.layer[-1].output.dense.weight.detach().clone()
    losses = [nlp.update(examples, sgd=optimizer, losses={})["token_ner"] for _ in range(12)]
    assert losses[-1] < losses[0]
    assert any(not torch.equal(a, b) for a, b in zip(mixer_before, mixer.parameters()))
    assert not torch.equal(top_before, transformer.encoder.layer[-1].output.dense.weight)
    docs = list(nlp.pipe(["Anna Schmidt besuchte Berlin .", ""]))
    assert len(docs[1].ents) == 0
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    reloaded_mixer = find_mixer(loaded.get_pipe("token_ner").model)
    for a, b in zip(mixer.parameters(), reloaded_mixer.parameters()):
        numpy.testing.assert_allclose(a.detach().numpy(), b.detach().numpy())
    assert [(e.text, e.label_) for e in loaded(docs[0].text).ents] == [(e.text, e.label_) for e in docs[0].ents]


def test_layer_mix_without_hidden_states_is_a_clear_error(tiny_model_dir):
    nlp, examples = layer_mix_pipeline(tiny_model_dir, "attention", output_hidden_states=False)
    optimizer = nlp.initialize(lambda: examples)
    with pytest.raises(ValueError, match="output_hidden_states = true"):
        nlp.update(examples, sgd=optimizer)


def test_spacy_ner_uses_the_layer_mix_listener(tiny_model_dir):
    fix_random_seed(0)
    nlp, examples = layer_mix_pipeline(tiny_model_dir, "scalar_mix")
    nlp.remove_pipe("token_ner")
    nlp.add_pipe("ner", config={"model": {"@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "hidden_width": 16,
                                          "maxout_pieces": 2, "use_upper": False, "tok2vec": {
                                              "@architectures": "spacy-xproj.LayerMixListener.v1", "layers": 3, "width": 32, "mode": "scalar_mix",
                                              "pooling": {"@layers": "reduce_mean.v1"}}}})
    optimizer = nlp.initialize(lambda: examples)
    mixer = find_mixer(nlp.get_pipe("ner").model)
    before = mixer.layer_logits.detach().clone()
    losses = [nlp.update(examples, sgd=optimizer, losses={})["ner"] for _ in range(12)]
    assert sum(losses[-3:]) < sum(losses[:3])
    assert not torch.equal(before, mixer.layer_logits)


@pytest.mark.parametrize("routed", [True, False])
def test_the_encoder_learns_through_every_mixed_layer_once_routed(tiny_model_dir, routed):
    """All of the mix on hidden state 0 (the embeddings' output): routed, the gradient reaches the
    embeddings' LayerNorm and not the top layer; through the last hidden state alone, it reaches neither."""
    from spacy_xproj.ner.transformer_training import make_transformer_training

    nlp, examples = layer_mix_pipeline(tiny_model_dir, "scalar_mix")
    nlp.initialize(lambda: examples)
    if routed:
        make_transformer_training(autocast="float32")(nlp)
    mixer = find_mixer(nlp.get_pipe("token_ner").model)
    with torch.no_grad():
        mixer.layer_logits.copy_(torch.tensor([30.0, 0.0, 0.0]))
    transformer = nlp.get_pipe("transformer").model.transformer
    with pytest.warns(UserWarning, match="last hidden state only") if not routed else contextlib.nullcontext():
        nlp.update(examples[:4], sgd=None, losses={})
    embedding_norm = transformer.embeddings.LayerNorm.weight.grad
    top_layer = transformer.encoder.layer[-1].output.dense.weight.grad
    assert top_layer is None or float(top_layer.abs().sum()) < 1e-9
    if routed:
        assert transformer.get_input_embeddings().weight.grad is None  # frozen by the callback
        assert float(embedding_norm.abs().sum()) > 1e-4
    else:
        assert embedding_norm is None or float(embedding_norm.abs().sum()) < 1e-9


def test_a_loaded_pipeline_is_not_routed_until_routed_again(tiny_model_dir, tmp_path):
    """The routing is not saved with the model (the swapped output adapter could not be), so a loaded
    pipeline warns, also one saved while its mix carried the old "all_layer_gradients" attr."""
    nlp, examples = layer_mix_pipeline(tiny_model_dir, "scalar_mix")
    nlp.initialize(lambda: examples)
    assert route_gradients_to_all_layers(nlp, "transformer") == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nlp.update(examples[:4], sgd=None, losses={})
    mix = next(node.get_ref("mix") for node in nlp.get_pipe("token_ner").model.walk() if node.has_ref("mix"))
    mix.attrs["all_layer_gradients"] = True  # as saved by earlier versions
    nlp.to_disk(tmp_path / "model")

    loaded = spacy.load(tmp_path / "model")
    with pytest.warns(UserWarning, match="last hidden state only"):
        loaded.update(examples[:4], sgd=None, losses={})
    assert route_gradients_to_all_layers(loaded, "transformer") == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded.update(examples[:4], sgd=None, losses={})


def test_routing_refuses_a_plain_listener_on_the_same_transformer(tiny_model_dir):
    """spacy-transformers sizes each Doc's gradients from the first listener to call back: a plain
    listener before the mix would fail inside spacy-transformers at the first update."""
    nlp, examples = layer_mix_pipeline(tiny_model_dir, "scalar_mix")
    nlp.add_pipe("token_ner", name="plain_ner", before="token_ner", config={"model": {
        "@architectures": "spacy-xproj.TokenClassifier.v1",
        "tok2vec": {"@architectures": "spacy-transformers.TransformerListener.v1", "pooling": {"@layers": "reduce_mean.v1"}}}})
    nlp.initialize(lambda: examples)
    with pytest.raises(ValueError, match=r"\['plain_ner'\] listen to 'transformer' through a plain TransformerListener"):
        route_gradients_to_all_layers(nlp, "transformer")
