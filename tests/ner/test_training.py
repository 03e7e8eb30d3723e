import numpy
import pytest
import spacy
import torch

from spacy_xproj.ner.transformer_training import freeze_parameters, make_transformer_training, resolve_autocast


def transformer_pipeline(model_dir: str):
    nlp = spacy.blank("en")
    nlp.add_pipe("transformer", config={"model": {"name": model_dir, "tokenizer_config": {"use_fast": True}}})
    nlp.initialize()
    return nlp


def test_freezing_stops_gradients_into_embeddings_and_lowest_layers(tiny_model_dir):
    nlp = transformer_pipeline(tiny_model_dir)
    transformer = nlp.get_pipe("transformer").model.transformer
    frozen = freeze_parameters(transformer, embeddings=True, layers=1)
    # below a frozen layer the whole embedding block freezes (position embeddings and LayerNorm too)
    embedding_block_size = sum(p.numel() for p in transformer.embeddings.parameters())
    assert embedding_block_size > transformer.get_input_embeddings().weight.numel()
    first_layer_size = sum(p.numel() for p in transformer.encoder.layer[0].parameters())
    assert frozen == embedding_block_size + first_layer_size
    assert all(not p.requires_grad for p in transformer.embeddings.parameters())
    assert all(not p.requires_grad for p in transformer.encoder.layer[0].parameters())
    assert all(p.requires_grad for p in transformer.encoder.layer[1].parameters())

    # a backward pass leaves no gradient on frozen weights, so thinc's optimizer skips them, and it stops
    # at the lowest trained layer: what that layer receives needs no gradient
    ids = torch.tensor([[0, 5, 6, 2]])
    output = transformer(input_ids=ids, output_hidden_states=True)
    assert not output.hidden_states[1].requires_grad and output.hidden_states[2].requires_grad
    output.last_hidden_state.sum().backward()
    assert transformer.get_input_embeddings().weight.grad is None
    assert transformer.encoder.layer[1].attention.self.query.weight.grad is not None


def test_freezing_only_the_word_embeddings_keeps_the_rest_of_the_embedding_block_learning(tiny_model_dir):
    nlp = transformer_pipeline(tiny_model_dir)
    transformer = nlp.get_pipe("transformer").model.transformer
    frozen = freeze_parameters(transformer, embeddings=True, layers=0)
    assert frozen == transformer.get_input_embeddings().weight.numel()
    assert transformer.embeddings.LayerNorm.weight.requires_grad


def test_training_callback_freezes_and_autocasts_with_float32_outputs(tiny_model_dir):
    nlp = transformer_pipeline(tiny_model_dir)
    transformer = nlp.get_pipe("transformer").model.transformer.eval()  # no dropout: compare outputs
    ids = torch.tensor([[0, 5, 6, 7, 2]])
    with torch.no_grad():
        before = transformer(input_ids=ids).last_hidden_state
    make_transformer_training(freeze_embeddings=True, freeze_layers=0, autocast="bfloat16")(nlp)
    with torch.no_grad():
        after = transformer(input_ids=ids, output_hidden_states=True)
    assert after.last_hidden_state.dtype == torch.float32
    assert all(h.dtype == torch.float32 for h in after.hidden_states)
    # bfloat16 keeps about 3 significant digits: close to, but not exactly, the float32 result
    assert torch.allclose(after.last_hidden_state, before, atol=0.1)
    assert not torch.equal(after.last_hidden_state, before)
    assert transformer.get_input_embeddings().weight.dtype == torch.float32
    # the weights stay float32 and the pipeline saves and reloads as usual
    assert nlp.from_bytes(nlp.to_bytes()).get_pipe("transformer").model.transformer.get_input_embeddings().weight.dtype == torch.float32


@pytest.mark.parametrize("units,expected", [({"avx2": True, "avx512_bf16": True}, "bfloat16"), ({"avx2": True}, "float32")])
def test_autocast_auto_uses_bfloat16_only_on_a_cpu_with_bfloat16_units(tiny_model_dir, monkeypatch, capsys, units, expected):
    """Without bfloat16 units torch's bfloat16 products take a slow fallback: "auto" trains in float32 there."""
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: units)
    assert resolve_autocast("auto") == expected and resolve_autocast("float32") == "float32" and resolve_autocast("bfloat16") == "bfloat16"
    nlp = transformer_pipeline(tiny_model_dir)
    transformer = nlp.get_pipe("transformer").model.transformer
    make_transformer_training(autocast="auto")(nlp)
    assert ("forward" in vars(transformer)) == (expected == "bfloat16")  # autocast replaces the instance's forward
    assert f"transformer forward pass in {expected} (autocast auto" in capsys.readouterr().out


def test_training_callback_rejects_bad_settings(tiny_model_dir):
    with pytest.raises(ValueError, match="autocast must be one of"):
        make_transformer_training(autocast="float16")
    nlp = transformer_pipeline(tiny_model_dir)
    with pytest.raises(ValueError, match="no component 'tok2vec'"):
        make_transformer_training(component="tok2vec")(nlp)
    with pytest.raises(ValueError, match="freeze_layers=5 but the model has 2 layers"):
        make_transformer_training(freeze_layers=5)(nlp)


class RecordingOptimizer:
    """Stands in for thinc's optimizer: records the learning-rate scale of every update."""

    def __init__(self):
        self.scales = {}

    def __call__(self, key, weights, gradient, *, lr_scale=1.0):
        self.scales[key] = lr_scale
        return weights, gradient * 0

    def step_schedules(self):
        pass


def test_transformer_learns_at_a_scaled_rate_and_the_head_at_the_full_rate(tiny_model_dir):
    from spacy.training import Example

    nlp = spacy.blank("en")
    nlp.add_pipe("transformer", config={"model": {"name": tiny_model_dir, "tokenizer_config": {"use_fast": True}}})
    nlp.add_pipe("ner", config={"model": {"@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner", "hidden_width": 8, "maxout_pieces": 2,
                                          "use_upper": False, "tok2vec": {"@architectures": "spacy-transformers.TransformerListener.v1", "grad_factor": 1.0,
                                                                          "pooling": {"@layers": "reduce_mean.v1"}}}})
    doc = nlp.make_doc("the cat sits on the mat")
    examples = [Example.from_dict(doc, {"entities": ["U-LOC", "O", "O", "O", "O", "O"]})]
    nlp.initialize(lambda: examples)
    make_transformer_training(freeze_embeddings=True, autocast="float32", learn_rate_scale=0.1)(nlp)
    optimizer = RecordingOptimizer()
    for _ in range(2):  # observed: the transformer's weights reach the optimizer from the second update on
        nlp.update(examples, sgd=optimizer)
    transformer_keys = {k for k in optimizer.scales if "." in k[1]}  # PyTorch names: encoder.layer.0...
    head_keys = set(optimizer.scales) - transformer_keys
    assert transformer_keys and head_keys
    assert all(optimizer.scales[k] == pytest.approx(0.1) for k in transformer_keys)
    assert {optimizer.scales[k] for k in head_keys} == {1.0}
    # frozen embeddings never reach the optimizer
    assert not any("word_embeddings" in str(k[1]) for k in optimizer.scales)
    with pytest.raises(ValueError, match="learn_rate_scale must be positive"):
        make_transformer_training(learn_rate_scale=0)


def test_spacy_transformers_aligns_each_token_to_its_own_pieces(tiny_model_dir):
    """The tokenizer's offsets start at the word, not at the space before it; spacy-transformers aligns a
    token to the pieces within its text plus one character, so a leading-space offset would hand every
    token the next word's first piece too."""
    from transformers import AutoTokenizer

    offsets = AutoTokenizer.from_pretrained(tiny_model_dir)("the cat sits", return_offsets_mapping=True)["offset_mapping"]
    assert offsets[1:4] == [(0, 3), (4, 7), (8, 12)]
    nlp = transformer_pipeline(tiny_model_dir)
    doc = nlp("the cat sits on the mat")
    assert doc._.trf_data.align.lengths.tolist() == [1, 1, 1, 1, 1, 1]


def transformer_ner_pipeline(lang: str, model_dir: str, examples_from=None):
    """transformer + token_ner listening to it, initialized on the tiny corpus's examples."""
    from .test_token_ner import training_examples

    nlp = spacy.blank(lang)
    nlp.add_pipe("transformer", config={"model": {"name": model_dir, "tokenizer_config": {"use_fast": True}}})
    listener = {"@architectures": "spacy-transformers.TransformerListener.v1", "pooling": {"@layers": "reduce_mean.v1"}, "upstream": "*"}
    nlp.add_pipe("token_ner", config={"model": {"@architectures": "spacy-xproj.TokenClassifier.v1", "tok2vec": listener}})
    examples = (examples_from or training_examples)(nlp)
    return nlp, examples, nlp.initialize(lambda: examples)


def test_a_student_of_another_language_starts_from_a_trained_pipelines_weights(tiny_model_dir, tmp_path):
    teacher, examples, optimizer = transformer_ner_pipeline("en", tiny_model_dir)
    for _ in range(20):
        teacher.update(examples, sgd=optimizer)
    teacher.to_disk(tmp_path / "english")
    doc_words = ["Anna", "Schmidt", "besuchte", "Berlin", "."]

    def logits(nlp):
        return nlp.get_pipe("token_ner").model.predict([nlp.make_doc(" ".join(doc_words))])[0]

    student, _, _ = transformer_ner_pipeline("de", tiny_model_dir)
    fresh = logits(student)
    make_transformer_training(initial_weights=str(tmp_path / "english"))(student)
    assert student.lang == "de"
    english = logits(spacy.load(tmp_path / "english"))
    assert numpy.abs(english - fresh).max() > 0.01  # the fresh head outputs zeros
    assert numpy.abs(logits(student) - english).max() < 0.001  # bfloat16 forward
    assert not student.get_pipe("transformer").model.transformer.get_input_embeddings().weight.requires_grad

    # "" (a command-line override to nothing) starts fresh
    unchanged, _, _ = transformer_ner_pipeline("de", tiny_model_dir)
    before = logits(unchanged)
    make_transformer_training(initial_weights="", autocast="float32")(unchanged)
    assert numpy.allclose(logits(unchanged), before)


def test_initial_weights_must_be_a_pipeline_with_the_same_labels(tiny_model_dir, tmp_path):
    from spacy.tokens import Doc, Span
    from spacy.training import Example

    def person_only(nlp):
        reference = Doc(nlp.vocab, words=["Anna", "kam", "."])
        reference.ents = [Span(reference, 0, 1, "PER")]
        return [Example(nlp.make_doc("Anna kam ."), reference)]

    persons, _, _ = transformer_ner_pipeline("en", tiny_model_dir, person_only)
    persons.to_disk(tmp_path / "persons")
    student, _, _ = transformer_ner_pipeline("de", tiny_model_dir)
    with pytest.raises(ValueError, match=r"component 'token_ner' of .*persons has the labels \['PER'\], the training data \['LOC', 'ORG', 'PER'\]"):
        make_transformer_training(initial_weights=str(tmp_path / "persons"))(student)
    with pytest.raises(ValueError, match="is not a saved spaCy pipeline"):
        make_transformer_training(initial_weights=str(tmp_path))(student)
