"""train_ner's overrides: what `spacy train` is given for each kind of config."""
from pathlib import Path

import spacy
from spacy.tokens import Doc, DocBin

from spacy_xproj.training import ner_runs as ner_training
from spacy_xproj.defaults import DEFAULT_ENCODER


def test_fine_tuned_configs_get_the_embedded_encoder_materialized(tmp_path, monkeypatch):
    nlp = spacy.blank("de")
    DocBin(docs=[Doc(nlp.vocab, words=["Haus"])]).to_disk(tmp_path / "train.spacy")
    captured = {}
    monkeypatch.setattr(ner_training, "train_pipeline", lambda config, output, overrides, gpu_id: captured.update(overrides, gpu_id=gpu_id) or 1.0)
    monkeypatch.setattr("spacy_xproj.encoders.loading.materialize_embedded_encoder", lambda: Path("/materialized/e5"))
    ner_training.train_ner(Path("configs/token_ner_layer_mix.cfg"), tmp_path / "out", tmp_path / "train.spacy", tmp_path / "train.spacy",
                           "de", DEFAULT_ENCODER, initial_weights=tmp_path / "teacher", gpu_id=1)
    assert captured["gpu_id"] == 1
    # spacy-transformers hands the name to the hub: "embedded:..." would fail there
    assert captured["components.transformer.model.name"] == "/materialized/e5"
    assert captured["initialize.after_init.initial_weights"] == str(tmp_path / "teacher")
