import json
import os
from contextlib import redirect_stderr
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from spacy_xproj.encoders.aligner_training import (
    MODEL_MARKER,
    AlignerTrainingSettings,
    TrainingStopped,
    TruncatedEncoder,
    _replace_directory,
    checkpoint_dir,
    epoch_batches,
    subword_pairs,
    train_aligner,
)
from spacy_xproj.encoders.alignment_objectives import OBJECTIVES, PairBatch
from benchmarks.align import aligner_pipeline
from spacy_xproj.corpus.schema import ParallelLine, get_alignment
from spacy_xproj.corpus.pair_docs import make_parallel_doc, tokenize_pairs

SENTENCES = [
    ("the cat sits on the mat .", "die katze sitzt auf der matte ."),
    ("the cat sits .", "die katze sitzt ."),
    ("on the mat sits the cat", "auf der matte sitzt die katze"),
    ("the mat", "die matte"),
    ("le chat est sur le mat", "die katze sitzt auf der matte"),
    ("the cat is on the mat", "le chat est sur le mat"),
]


def word_pairs():
    lines = [ParallelLine(s, t, f"test:{k}") for k, (s, t) in enumerate(SENTENCES, start=1)]
    pairs, empty = tokenize_pairs(iter(lines), "en", "de")
    assert empty == 0
    return pairs


def settings(model, **overrides):
    values = {"model": model, "layer": 2, "steps": 12, "batch_size": 3, "learn_rate": 3e-3, "temperature": 0.1, "threshold": 0.3, "seed": 0}
    values.update(overrides)
    return AlignerTrainingSettings(**values)


def weights(directory):
    return load_file(str(directory / "model.safetensors"))


def mean_objective(model_dir, pairs, config):
    encoder = TruncatedEncoder(str(model_dir), config.layer)
    encoder.model.eval()
    data, _, _ = subword_pairs(encoder.tokenizer, pairs, 96)
    with torch.no_grad():
        source, source_mask = encoder.encode([s for s, _ in data])
        target, target_mask = encoder.encode([t for _, t in data])
        batch = PairBatch(source, source_mask, target, target_mask)
        return float(OBJECTIVES[config.objective](batch, config.temperature, config.distortion, config.threshold)["loss"])


def test_tokenize_pairs_segments_languages_without_spaces_and_drops_empty_sides():
    lines = [ParallelLine("the cat", "猫が好き", "a:1"), ParallelLine("", "x", "a:2"), ParallelLine(["pre", "tokenized"], ["schon", "getrennt"], "a:3")]
    pairs, empty = tokenize_pairs(iter(lines), "en", "zh")
    assert empty == 1
    assert pairs[0] == (["the", "cat"], ["猫", "が", "好", "き"])
    assert pairs[1] == (["pre", "tokenized"], ["schon", "getrennt"])


def test_epoch_batches_cover_every_pair_once_and_repeat_for_the_same_seed():
    lengths = [5, 1, 9, 3, 3, 7, 2, 8, 4, 6]
    batches = epoch_batches(lengths, 3, seed=1, epoch=0)
    assert sorted(k for batch in batches for k in batch) == list(range(10))
    assert batches == epoch_batches(lengths, 3, seed=1, epoch=0)
    assert batches != epoch_batches(lengths, 3, seed=1, epoch=1)


@pytest.mark.parametrize("objective", sorted(OBJECTIVES))
def test_training_lowers_the_objective_and_saves_a_complete_model(tmp_path, tiny_model_dir, objective):
    pairs, config = word_pairs(), settings(tiny_model_dir, steps=30, objective=objective)
    before = mean_objective(tiny_model_dir, pairs, config)
    messages = []
    summary = train_aligner(pairs, tmp_path / "aligner", config, log_every=10, log=messages.append)
    after = mean_objective(tmp_path / "aligner", pairs, config)
    assert after < before - 0.05, (before, after)
    assert summary["steps"] == 30 and summary["pairs"] == len(SENTENCES)
    assert any("step 20/30" in m and "ETA" in m and "pairs/s" in m for m in messages)
    assert not checkpoint_dir(tmp_path / "aligner").exists()
    # layers 1..2 moved; the frozen embeddings did not
    base, tuned = weights(Path(tiny_model_dir)), weights(tmp_path / "aligner")
    assert set(base) == set(tuned)
    assert torch.equal(base["embeddings.word_embeddings.weight"], tuned["embeddings.word_embeddings.weight"])
    assert not torch.equal(base["encoder.layer.1.output.dense.weight"], tuned["encoder.layer.1.output.dense.weight"])
    assert json.loads((tmp_path / "aligner" / MODEL_MARKER).read_text())["base_model"] == tiny_model_dir


def test_upper_layers_are_kept_and_the_saved_model_aligns(tmp_path, tiny_model_dir):
    pairs = word_pairs()
    train_aligner(pairs, tmp_path / "aligner", settings(tiny_model_dir, layer=1, steps=4), log=lambda m: None)
    base, tuned = weights(Path(tiny_model_dir)), weights(tmp_path / "aligner")
    assert torch.equal(base["encoder.layer.1.output.dense.weight"], tuned["encoder.layer.1.output.dense.weight"])
    assert not torch.equal(base["encoder.layer.0.output.dense.weight"], tuned["encoder.layer.0.output.dense.weight"])
    nlp = aligner_pipeline("de", str(tmp_path / "aligner"), {"@misc": "spacy-xproj.ArgMax.v1"}, 2)
    doc = nlp(make_parallel_doc(nlp, "the cat sits", "die katze sitzt"))
    assert len(get_alignment(doc)) >= 1
    base_nlp = aligner_pipeline("de", tiny_model_dir, {"@misc": "spacy-xproj.ArgMax.v1"}, 2)
    assert base_nlp.get_pipe("xlmr_aligner").encoder.tokenize([["the", "katze"]])[0][0] == nlp.get_pipe("xlmr_aligner").encoder.tokenize([["the", "katze"]])[0][0]


def test_an_interrupted_run_keeps_the_previous_model_and_resumes_to_the_same_weights(tmp_path, tiny_model_dir, terminal_stderr):
    pairs = word_pairs()
    output = tmp_path / "aligner"
    train_aligner(pairs, output, settings(tiny_model_dir, steps=3, seed=5), log=lambda m: None)
    previous = weights(output)

    config = settings(tiny_model_dir, steps=8)
    with pytest.raises(TrainingStopped):
        train_aligner(pairs, output, config, checkpoint_every=100, stop_after=5, log=lambda m: None)
    assert (checkpoint_dir(output) / "state.pt").exists()
    assert all(torch.equal(previous[k], v) for k, v in weights(output).items())  # untouched

    messages = []
    with redirect_stderr(terminal_stderr):
        summary = train_aligner(pairs, output, config, log=messages.append)
    assert any("Resuming" in m and "step 5/8" in m for m in messages)
    bar = terminal_stderr.getvalue()  # tqdm's bar starts where the checkpoint left off
    assert "training contrastive" in bar and "5/8 [" in bar and "8/8 [" in bar and "loss=" in bar and "4/8" not in bar
    assert summary["steps"] == 8
    resumed = weights(output)

    train_aligner(pairs, tmp_path / "uninterrupted", config, log=lambda m: None)
    uninterrupted = weights(tmp_path / "uninterrupted")
    assert all(torch.allclose(resumed[k], uninterrupted[k], atol=1e-6) for k in resumed)


def test_a_checkpoint_from_other_settings_is_not_silently_reused(tmp_path, tiny_model_dir):
    pairs, output = word_pairs(), tmp_path / "aligner"
    with pytest.raises(TrainingStopped):
        train_aligner(pairs, output, settings(tiny_model_dir, steps=8), stop_after=2, log=lambda m: None)
    with pytest.raises(ValueError, match="restart"):
        train_aligner(pairs, output, settings(tiny_model_dir, steps=8, learn_rate=1e-4), log=lambda m: None)
    summary = train_aligner(pairs, output, settings(tiny_model_dir, steps=8, learn_rate=1e-4), restart=True, log=lambda m: None)
    assert summary["steps"] == 8


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path, tiny_model_dir):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not an aligner written by spacy_xproj"):
        train_aligner(word_pairs(), tmp_path / "mine", settings(tiny_model_dir), log=lambda m: None)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("field,value,message", [("objective", "mlm", "Unknown objective"), ("layer", 9, "layers"), ("steps", 0, "steps")])
def test_bad_settings_fail_before_training(tmp_path, tiny_model_dir, field, value, message):
    with pytest.raises(ValueError, match=message):
        train_aligner(word_pairs(), tmp_path / "aligner", settings(tiny_model_dir, **{field: value}), log=lambda m: None)
    assert not (tmp_path / "aligner").exists()


def test_sigterm_stops_after_the_current_step_with_a_checkpoint_and_restores_the_handler(tmp_path, tiny_model_dir):
    import os
    import signal

    before = signal.getsignal(signal.SIGTERM)
    output = tmp_path / "aligner"

    def log(message):
        if message.startswith("step 2/"):
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(TrainingStopped, match="step 2/8"):
        train_aligner(word_pairs(), output, settings(tiny_model_dir, steps=8), log_every=1, log=log)
    assert signal.getsignal(signal.SIGTERM) is before
    assert torch.load(checkpoint_dir(output) / "state.pt", weights_only=False)["step"] == 2
    assert not output.exists()

    summary = train_aligner(word_pairs(), output, settings(tiny_model_dir, steps=8), log=lambda m: None)
    assert summary["steps"] == 8
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aligner"]  # no checkpoint, staging or retired folders left


def test_subword_pairs_counts_long_pairs_and_pairs_without_subwords_apart():
    def tokenizer(batch, **kwargs):  # one id per character; "\u200b" has none
        return {"input_ids": [[ord(c) for c in "".join(words) if c != "\u200b"] for words in batch]}

    pairs = [(["ab"], ["cd"]), (["\u200b"], ["cd"]), (["abcdef"], ["cd"]), (["ab"], ["\u200b", "\u200b"])]
    kept, too_long, without_subwords = subword_pairs(tokenizer, pairs, 4)
    assert kept == [([97, 98], [99, 100])]
    assert (too_long, without_subwords) == (1, 2)


def test_the_command_line_takes_its_defaults_from_the_settings():
    import inspect

    from spacy_xproj.cli.encoder import train_aligner_command

    defaults = AlignerTrainingSettings(model="x")
    assert (defaults.steps, defaults.learn_rate) == (100, 5e-5)  # what docs/components.md documents
    options = inspect.signature(train_aligner_command).parameters
    for name in ("layer", "objective", "steps", "batch_size", "learn_rate", "precision", "seed"):
        assert options[name].default.default == getattr(defaults, name), name


def test_a_checkpoint_mismatch_names_what_differs(tmp_path, tiny_model_dir):
    pairs, output = word_pairs(), tmp_path / "aligner"
    with pytest.raises(TrainingStopped):
        train_aligner(pairs, output, settings(tiny_model_dir, steps=8), stop_after=1, log=lambda m: None)
    with pytest.raises(ValueError) as settings_error:
        train_aligner(pairs, output, settings(tiny_model_dir, steps=8, learn_rate=1e-4, seed=3), log=lambda m: None)
    assert "learn_rate: 0.003 in the checkpoint, 0.0001 now; seed: 0 in the checkpoint, 3 now); run with" in str(settings_error.value)
    assert "corpus" not in str(settings_error.value)
    saved = torch.load(checkpoint_dir(output) / "state.pt", weights_only=False)["identity"]
    with pytest.raises(ValueError) as corpus_error:
        train_aligner(pairs[:-1], output, settings(tiny_model_dir, steps=8), log=lambda m: None)
    message = str(corpus_error.value)
    assert f"(corpus: digest {saved['corpus']} (6 pairs) in the checkpoint, " in message and " (5 pairs) now); run with" in message


@pytest.mark.parametrize("content", [b"garbage", b"", "incomplete"])
def test_a_corrupt_checkpoint_points_to_restart(tmp_path, tiny_model_dir, content):
    output = tmp_path / "aligner"
    checkpoint_dir(output).mkdir()
    if content == "incomplete":
        torch.save({"step": 3}, checkpoint_dir(output) / "state.pt")
    else:
        (checkpoint_dir(output) / "state.pt").write_bytes(content)
    with pytest.raises(ValueError, match="pass --restart to start over"):
        train_aligner(word_pairs(), output, settings(tiny_model_dir, steps=2), log=lambda m: None)
    summary = train_aligner(word_pairs(), output, settings(tiny_model_dir, steps=2), restart=True, log=lambda m: None)
    assert summary["steps"] == 2


@pytest.mark.parametrize("restore_fails", [False, True])
def test_a_failed_swap_keeps_the_previous_model(tmp_path, monkeypatch, restore_fails):
    output, staging = tmp_path / "aligner", tmp_path / ".aligner.partial"
    for directory, text in ((output, "previous"), (staging, "new")):
        directory.mkdir()
        (directory / MODEL_MARKER).write_text(text)
    rename = os.rename

    def failing_rename(source, destination):
        if Path(source) == staging or (restore_fails and Path(destination) == output):
            raise OSError("simulated")
        rename(source, destination)

    monkeypatch.setattr(os, "rename", failing_rename)
    with pytest.raises(OSError) as error:
        _replace_directory(staging, output)
    monkeypatch.undo()
    if restore_fails:
        assert "nor the previous one back" in str(error.value)
        kept = [p for p in tmp_path.glob(".aligner.old-*/aligner")]
        assert len(kept) == 1 and (kept[0] / MODEL_MARKER).read_text() == "previous"
    else:
        assert (output / MODEL_MARKER).read_text() == "previous"
        assert sorted(p.name for p in tmp_path.iterdir()) == [".aligner.partial", "aligner"]  # no retired folder left
