import numpy
import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.util import load_model_from_config

from spacy_xproj import DEFAULT_ENCODER, get_alignment, get_source, make_parallel_doc
from spacy_xproj.core.alignment import links_as_set, parse_pharaoh, score_alignments
from spacy_xproj.corpus.schema import set_alignment

SENTENCES = [
    "the cat sits on the mat .",
    "die katze sitzt auf der matte .",
    "le chat est sur le tapis .",
]


def aligner_nlp(model_dir, **config):
    nlp = spacy.blank("de")
    nlp.add_pipe("xlmr_aligner", config={"model": model_dir, "layer": 2, **config})
    return nlp


def identical_pair(nlp, text):
    return make_parallel_doc(nlp, text.split(), text.split())


def test_defaults_are_cheap_and_name_the_embedded_encoder():
    nlp = spacy.blank("de")
    aligner = nlp.add_pipe("xlmr_aligner")
    assert aligner.cfg["model"] == DEFAULT_ENCODER and aligner.cfg["layer"] == 7
    assert aligner._encoder is None  # no weights until initialize() or first use
    assert nlp.config["components"]["xlmr_aligner"]["method"]["@misc"] == "spacy-xproj.BiSoftmax.v1"


@pytest.mark.parametrize("method", ["spacy-xproj.ArgMax.v1", "spacy-xproj.IterMax.v1", "spacy-xproj.Match.v1", "spacy-xproj.BiSoftmax.v1"])
def test_identical_sentences_align_on_the_diagonal(tiny_model_dir, method):
    nlp = aligner_nlp(tiny_model_dir, method={"@misc": method})
    nlp.initialize()
    doc = nlp(identical_pair(nlp, "die katze sitzt auf der matte ."))
    links = {(i, j) for i, j, _ in get_alignment(doc)}
    assert {(i, i) for i in range(7)} <= links
    assert all(0 <= i < 7 and 0 <= j < 7 for i, j in links)
    assert all(0.0 <= s <= 1.0 + 1e-6 for _, _, s in get_alignment(doc))


def test_pipe_batches_give_the_same_links_as_single_docs(tiny_model_dir):
    nlp = aligner_nlp(tiny_model_dir, batch_size=2)
    nlp.initialize()
    texts = [(a, b) for a in SENTENCES for b in SENTENCES]
    single = [get_alignment(nlp(make_parallel_doc(nlp, a.split(), b.split()))) for a, b in texts]
    batched = [get_alignment(d) for d in nlp.pipe([make_parallel_doc(nlp, a.split(), b.split()) for a, b in texts], batch_size=4)]
    assert [{(i, j) for i, j, _ in x} for x in batched] == [{(i, j) for i, j, _ in x} for x in single]
    for b, s in zip(batched, single):
        assert numpy.allclose([x[2] for x in b], [x[2] for x in s], atol=1e-4)


def test_config_round_trip_through_init_nlp(tiny_model_dir):
    nlp = aligner_nlp(tiny_model_dir, method={"@misc": "spacy-xproj.IterMax.v1", "alpha": 0.8}, subword_pooling="mean")
    config = nlp.config
    restored = load_model_from_config(config, auto_fill=True)
    restored.initialize()
    aligner = restored.get_pipe("xlmr_aligner")
    assert aligner.cfg["subword_pooling"] == "mean" and aligner.cfg["model"] == tiny_model_dir
    assert restored.config["components"]["xlmr_aligner"]["method"]["alpha"] == 0.8
    doc = restored(identical_pair(restored, "the cat sits"))
    assert {(0, 0), (1, 1), (2, 2)} <= {(i, j) for i, j, _ in get_alignment(doc)}


def test_to_disk_from_disk_and_bytes(tiny_model_dir, tmp_path):
    nlp = aligner_nlp(tiny_model_dir, window_overlap=8)
    nlp.initialize()
    before = get_alignment(nlp(identical_pair(nlp, SENTENCES[0])))
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe("xlmr_aligner").cfg == nlp.get_pipe("xlmr_aligner").cfg
    assert get_alignment(loaded(identical_pair(loaded, SENTENCES[0]))) == before
    same_config = aligner_nlp(tiny_model_dir, window_overlap=8).from_bytes(nlp.to_bytes())
    assert same_config.get_pipe("xlmr_aligner").cfg == nlp.get_pipe("xlmr_aligner").cfg
    assert get_alignment(same_config(identical_pair(same_config, SENTENCES[0]))) == before


def test_config_overrides_win_over_the_saved_settings(tiny_model_dir, tmp_path):
    # issue 19: spacy.load(..., config=...) aligned with the saved layer, not the configured one
    nlp = aligner_nlp(tiny_model_dir, window_overlap=8)
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline", config={"components": {"xlmr_aligner": {"layer": 1, "model": "elsewhere/encoder"}}})
    aligner = loaded.get_pipe("xlmr_aligner")
    assert aligner.cfg["layer"] == 1 and aligner.cfg["model"] == "elsewhere/encoder" and aligner.cfg["window_overlap"] == 8
    assert loaded.config["components"]["xlmr_aligner"]["layer"] == 1
    layer_1 = spacy.load(tmp_path / "pipeline", config={"components": {"xlmr_aligner": {"layer": 1}}})
    fresh = aligner_nlp(tiny_model_dir, window_overlap=8, layer=1)
    fresh.initialize()
    words = "die katze sitzt auf der matte".split()
    assert get_alignment(layer_1(make_parallel_doc(layer_1, words, words[::-1]))) == get_alignment(fresh(make_parallel_doc(fresh, words, words[::-1])))
    # the settings a pipeline is built with are the ones its config reports, after from_bytes too
    other = aligner_nlp(tiny_model_dir).from_bytes(nlp.to_bytes())
    assert other.get_pipe("xlmr_aligner").cfg["window_overlap"] == other.config["components"]["xlmr_aligner"]["window_overlap"] == 64


def test_docbin_round_trip_keeps_source_and_alignment(tiny_model_dir):
    nlp = aligner_nlp(tiny_model_dir)
    nlp.initialize()
    doc = nlp(make_parallel_doc(nlp, "the cat sits .", "die katze sitzt .", source_lang="en", source_ents=[(1, 2, "ANIMAL")]))
    restored = list(DocBin(docs=[doc], store_user_data=True).get_docs(nlp.vocab))[0]
    assert get_alignment(restored) == get_alignment(doc)
    assert get_source(restored).ents == [(1, 2, "ANIMAL")] and get_source(restored).lang == "en"


@pytest.mark.parametrize(
    "source,target",
    [("", "die katze"), ("the cat", ""), ("   ", "\t "), ("", ""), ("\x01\x02", "katze")],
)
def test_empty_and_unalignable_sides_give_an_empty_alignment(tiny_model_dir, source, target):
    nlp = aligner_nlp(tiny_model_dir)
    nlp.initialize()
    doc = nlp(make_parallel_doc(nlp, source, target))
    assert get_alignment(doc) == []


def test_control_characters_emoji_and_mixed_scripts(tiny_model_dir):
    nlp = aligner_nlp(tiny_model_dir, method={"@misc": "spacy-xproj.ArgMax.v1"})
    nlp.initialize()
    source = ["the", "\x07", "cat", "😀", "日本", "Ελληνικά", "sits"]
    target = ["die", "katze", "\x07", "😀", "sitzt"]
    links = get_alignment(nlp(make_parallel_doc(nlp, source, target)))
    assert all(0 <= i < len(source) and 0 <= j < len(target) for i, j, _ in links)
    assert not any(i == 1 or j == 2 for i, j, _ in links)  # control characters have no subwords: never linked


def test_long_sentence_is_windowed_not_truncated(tiny_model_dir):
    # the tiny model reads 64 positions; 2,000 words need many overlapping windows
    rng = numpy.random.default_rng(0)
    vocabulary = " ".join(SENTENCES).split()
    words = [vocabulary[k] for k in rng.integers(0, len(vocabulary), 2000)]
    nlp = aligner_nlp(tiny_model_dir, method={"@misc": "spacy-xproj.Match.v1"}, subword_pooling="mean", window_overlap=16)
    nlp.initialize()
    with pytest.warns(UserWarning, match="overlapping windows"):
        links = get_alignment(nlp(make_parallel_doc(nlp, words, words)))
    assert len(links) == 2000  # a full matching: every word of both sides linked
    aligner = nlp.get_pipe("xlmr_aligner")
    assert aligner.encoder.max_window == 62
    # the last words are encoded (not zero vectors from truncation): they match themselves
    assert {(i, j) for i, j, _ in links if i >= 1990} == {(i, i) for i in range(1990, 2000)}


def test_one_bad_doc_in_a_batch_loses_nothing_else(tiny_model_dir):
    nlp = aligner_nlp(tiny_model_dir)
    nlp.initialize()
    docs = [identical_pair(nlp, SENTENCES[k % 3]) for k in range(50)]
    docs[17] = nlp.make_doc("no source side here")
    errors = []
    nlp.set_error_handler(lambda name, component, bad, e: errors.append((name, [d.text for d in bad], str(e))))
    out = list(nlp.pipe(docs, batch_size=16))
    assert len(out) == 49 and all(get_alignment(d) for d in out)
    assert errors[0][0] == "xlmr_aligner" and errors[0][1] == ["no source side here"]
    assert "has no source side" in errors[0][2] and "make_parallel_doc" in errors[0][2]


def test_doc_without_source_raises_by_default(tiny_model_dir):
    nlp = aligner_nlp(tiny_model_dir)
    nlp.initialize()
    with pytest.raises(ValueError, match="has no source side"):
        nlp("plain text")


def test_unknown_method_in_config_is_named():
    nlp = spacy.blank("de")
    with pytest.raises(Exception, match="spacy-xproj.Nope.v1"):
        nlp.add_pipe("xlmr_aligner", config={"method": {"@misc": "spacy-xproj.Nope.v1"}})


def test_bfloat16_precision_keeps_identical_sentences_on_the_diagonal(tiny_model_dir):
    nlp = aligner_nlp(tiny_model_dir, precision="bfloat16", method={"@misc": "spacy-xproj.ArgMax.v1"})
    nlp.initialize()
    import torch

    assert next(nlp.get_pipe("xlmr_aligner").encoder.model.parameters()).dtype == torch.bfloat16
    doc = nlp(identical_pair(nlp, "die katze sitzt auf der matte ."))
    assert {(i, i) for i in range(7)} <= {(i, j) for i, j, _ in get_alignment(doc)}


@pytest.mark.parametrize(
    "config,message",
    [({"subword_pooling": "max"}, "unknown subword_pooling 'max'"), ({"layer": -1}, "layer must be >= 0"), ({"precision": "float8"}, "unknown precision 'float8'")],
)
def test_bad_settings_are_explained(config, message):
    with pytest.raises(ValueError, match=message):
        spacy.blank("de").add_pipe("xlmr_aligner", config=config)


def test_float16_is_refused_when_the_encoder_loads_on_a_cpu(tiny_model_dir):
    # float16 is for a GPU chosen after the pipe is added (spacy.require_gpu), so it is checked at load time
    with pytest.raises(ValueError, match="precision 'float16' runs on a GPU only"):
        aligner_nlp(tiny_model_dir, precision="float16").initialize()


def test_layer_beyond_the_model_is_explained(tiny_model_dir):
    nlp = aligner_nlp(tiny_model_dir)
    nlp.get_pipe("xlmr_aligner").cfg["layer"] = 5
    with pytest.raises(ValueError, match="has 2 layers; layer 5 does not exist"):
        nlp.initialize()


def test_missing_model_path_is_explained(tmp_path):
    nlp = spacy.blank("de")
    nlp.add_pipe("xlmr_aligner", config={"model": str(tmp_path / "no-model")})
    with pytest.raises(OSError, match="Could not load the encoder"):
        nlp.initialize()


def test_scorer_reports_precision_recall_and_aer(tiny_model_dir):
    nlp = aligner_nlp(tiny_model_dir, method={"@misc": "spacy-xproj.ArgMax.v1"})
    nlp.initialize()
    predicted = nlp(identical_pair(nlp, "the cat sits"))
    reference = identical_pair(nlp, "the cat sits")
    set_alignment(reference, [(0, 0, 1.0), (1, 1, 1.0), (2, 1, 1.0)])
    scores = nlp.get_pipe("xlmr_aligner").score([Example(predicted, reference)])
    assert scores["align_p"] == pytest.approx(2 / 3) and scores["align_r"] == pytest.approx(2 / 3)
    assert scores["align_aer"] == pytest.approx(1 / 3)


@pytest.mark.slow
def test_real_encoder_on_gold_en_fr_pairs(real_model_dir, shared_data):
    from benchmarks.align import read_gold_set
    from benchmarks.peers import align_with_simalign

    pairs, sure, possible = read_gold_set(shared_data / "alignment-gold", "enfr")
    pairs, sure, possible = pairs[:60], sure[:60], possible[:60]
    nlp = spacy.blank("fr")
    nlp.add_pipe("xlmr_aligner", config={"model": real_model_dir})
    nlp.initialize()
    docs = list(nlp.pipe([make_parallel_doc(nlp, s, t) for s, t in pairs]))
    ours = [{(i, j) for i, j, _ in get_alignment(d)} for d in docs]
    assert score_alignments(ours, sure, possible).aer < 0.08

    argmax = aligner_nlp(real_model_dir, layer=7, method={"@misc": "spacy-xproj.ArgMax.v1"})
    argmax.initialize()
    ours_argmax = [{(i, j) for i, j, _ in get_alignment(d)} for d in argmax.pipe([make_parallel_doc(argmax, s, t) for s, t in pairs])]
    theirs = align_with_simalign(real_model_dir, pairs, layer=7, methods=("argmax",))["argmax"]
    assert sum(a == b for a, b in zip(ours_argmax, theirs)) >= 0.98 * len(pairs)


def test_parse_gold_helper_consistency():
    sure, possible = parse_pharaoh("1-1", one_based=True)
    assert links_as_set(numpy.array([[0, 0]])) == sure == possible


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"window_overlap": -1}, "window_overlap must be >= 0, got -1"),
        ({"max_window": 100, "window_overlap": 600}, "window_overlap 600 must be smaller than max_window 100"),
        ({"max_window": 2}, "window_overlap 64 must be smaller than max_window 2"),
        ({"max_window": 0, "window_overlap": 0}, "max_window must be >= 1 or null"),
        ({"layer": "7"}, "layer must be a whole number, got '7'"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
    ],
)
def test_bad_settings_are_refused_when_the_component_is_created(settings, message):
    # issue 19: these were accepted and failed later, on long text, or with a TypeError naming no setting
    with pytest.raises(ValueError, match=message):
        spacy.blank("de").add_pipe("xlmr_aligner", config=settings)


def test_a_window_too_small_for_the_special_tokens_names_max_window(tiny_model_dir):
    nlp = aligner_nlp(tiny_model_dir, max_window=2, window_overlap=0)
    with pytest.raises(ValueError, match="max_window 2 leaves no room for subwords: .* adds 2 special tokens to every window; use at least 3"):
        nlp.initialize()


def test_pairs_longer_than_the_window_are_marked_and_warned_about_once(tiny_model_dir):
    # issue 19: 90 sentences given as one line got 557 links against 1,980 one per line, silently
    nlp = aligner_nlp(tiny_model_dir)
    nlp.initialize()
    long_words = (SENTENCES[0].split() * 20)[:130]  # 130 words > the tiny model's 62-subword window
    with pytest.warns(UserWarning, match=r"longer than the encoder's window \(62 subwords\) is aligned in 4 overlapping windows") as record:
        docs = list(nlp.pipe([identical_pair(nlp, SENTENCES[0]), make_parallel_doc(nlp, long_words, long_words), make_parallel_doc(nlp, long_words, long_words)]))
    assert len([w for w in record if "longer than the encoder's window" in str(w.message)]) == 1
    assert [d._.xproj_windows for d in docs] == [None, 4, 4]  # windows of 62 subwords overlapping by 31 (half a window)
    restored = list(DocBin(docs=docs, store_user_data=True).get_docs(nlp.vocab))
    assert [d._.xproj_windows for d in restored] == [None, 4, 4]


def test_encoding_shows_a_bar_of_windows_on_a_terminal_and_the_same_vectors(tiny_model_dir, shared_data, terminal_stderr):
    from contextlib import redirect_stderr

    from spacy_xproj.corpus.conll import read_gold_file
    from spacy_xproj.encoders.subword_encoder import SubwordEncoder, plan_windows

    sentences = [words for words, _ in read_gold_file(shared_data / "europarl-ner" / "en-europarl.test.conll02")[:60]]
    encoder = SubwordEncoder(tiny_model_dir, layers=[2], max_window=24, window_overlap=4)
    quiet = encoder.encode(sentences)
    assert terminal_stderr.getvalue() == ""
    with redirect_stderr(terminal_stderr):
        shown = encoder.encode(sentences, progress=True)
    n_windows = sum(len(plan_windows(len(ids), 22, 4)) for ids, _ in encoder.tokenize(sentences))
    assert n_windows > len(sentences)  # some Europarl sentences are longer than 22 subwords
    bar = terminal_stderr.getvalue()
    assert bar.startswith(f"\rencoding:   0%|          | 0/{n_windows} [") and bar.endswith("\r")  # leave=False: cleared when done
    assert all(numpy.array_equal(a.vectors, b.vectors) for a, b in zip(quiet, shown))


def test_nfc_and_nfd_forms_of_a_sentence_align_alike_and_keep_their_text(tiny_model_dir):
    import unicodedata

    from spacy_xproj.corpus.languages import blank_pipeline

    yoruba = "Ìjọba ìpínlẹ̀ Èkó ti kéde pé Ọ̀gá Àgbà ń bọ̀ sí Èkó."
    nlp = blank_pipeline("yo")
    nlp.add_pipe("xlmr_aligner", config={"model": tiny_model_dir, "layer": 2})
    nlp.initialize()
    english = "The Lagos State government announced that the Inspector General is coming to Lagos."
    docs = [nlp(make_parallel_doc(nlp, english, unicodedata.normalize(form, yoruba), source_lang="en")) for form in ("NFC", "NFD")]
    assert docs[0].text == unicodedata.normalize("NFC", yoruba) and docs[1].text == unicodedata.normalize("NFD", yoruba)
    assert get_alignment(docs[0]) == get_alignment(docs[1]) and get_alignment(docs[0])


@pytest.mark.parametrize("method", ["spacy-xproj.BiSoftmax.v1", "spacy-xproj.IterMax.v1", "spacy-xproj.ArgMax.v1", "spacy-xproj.SoftmaxThreshold.v1"])
def test_an_aligner_pipeline_pickles_and_aligns_alike(tiny_model_dir, method):
    import pickle

    nlp = aligner_nlp(tiny_model_dir, method={"@misc": method})
    doc = nlp(make_parallel_doc(nlp, "Angela Merkel visited Paris .", "Angela Merkel besuchte Paris .", source_lang="en"))
    copy = pickle.loads(pickle.dumps(nlp))
    again = copy(make_parallel_doc(copy, "Angela Merkel visited Paris .", "Angela Merkel besuchte Paris .", source_lang="en"))
    assert get_alignment(again) == get_alignment(doc) and get_alignment(doc)
