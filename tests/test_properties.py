"""Property-based tests (Hypothesis) of the pure alignment and projection functions and of the readers:
whatever the input, links stay inside the sentences, projected spans inside the target, entities never
overlap, labels come only from the map, and bad bytes give the one-line error, never a traceback."""
import numpy
import pytest
import spacy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacy_xproj import make_parallel_doc
from spacy_xproj.core.alignment import align_vectors, format_pharaoh, parse_pharaoh
from spacy_xproj.corpus.conll import read_gold_file
from spacy_xproj.encoders.subword_encoder import plan_windows
from spacy_xproj.components.methods import make_argmax, make_bisoftmax, make_itermax, make_match, make_softmax_threshold
from spacy_xproj.corpus.readers import ParallelFormatError, read_parallel
from spacy_xproj.corpus.schema import set_alignment
from spacy_xproj.core.projection import naive_projection, project_spans

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
METHODS = {"ArgMax": make_argmax(), "IterMax": make_itermax(), "Match": make_match(), "SoftmaxThreshold": make_softmax_threshold(), "BiSoftmax": make_bisoftmax()}


@st.composite
def sentence_vectors(draw):
    """Subword vectors of one sentence: 0-2 subwords per word (0: a word the tokenizer drops), values that include zeros."""
    per_word = draw(st.lists(st.integers(0, 2), min_size=0, max_size=8))
    word_index = numpy.asarray([w for w, n in enumerate(per_word) for _ in range(n)], dtype=numpy.int64)
    values = draw(st.lists(st.sampled_from([0.0, 1.0, -1.0, 0.5, 2.0, -0.25, 1e-6]), min_size=3 * len(word_index), max_size=3 * len(word_index)))
    vectors = numpy.asarray(values, dtype=numpy.float32).reshape(len(word_index), 3)
    return vectors, word_index, len(per_word)


@FAST
@given(source=sentence_vectors(), target=sentence_vectors(), method=st.sampled_from(sorted(METHODS)), pooling=st.sampled_from(["subwords", "mean", "first"]))
def test_links_are_unique_and_inside_both_sentences(source, target, method, pooling):
    (sv, si, sn), (tv, ti, tn) = source, target
    links, scores = align_vectors(METHODS[method], sv, tv, si, ti, sn, tn, pooling)
    assert links.shape == (len(scores), 2)
    pairs = [tuple(link) for link in links.tolist()]
    assert len(set(pairs)) == len(pairs)
    assert all(0 <= i < sn and 0 <= j < tn for i, j in pairs)
    assert all(i in set(si.tolist()) and j in set(ti.tolist()) for i, j in pairs)  # a word without subwords is never linked
    assert numpy.isfinite(scores).all()


@st.composite
def projection_case(draw):
    n_source, n_target = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    cuts = sorted(draw(st.sets(st.integers(0, n_source), max_size=6)))
    spans = [(a, b) for a, b in zip(cuts, cuts[1:]) if draw(st.booleans())]  # non-overlapping source entities
    entities = [(a, b, draw(st.sampled_from(["PER", "ORG", "LOC", "MISC"]))) for a, b in spans]
    links = draw(st.lists(st.tuples(st.integers(0, n_source - 1), st.integers(0, n_target - 1), st.floats(0, 1)), max_size=20, unique_by=lambda l: l[:2]))
    trimmable = draw(st.lists(st.booleans(), min_size=n_target, max_size=n_target))
    return entities, links, n_target, trimmable


@FAST
@given(case=projection_case(), max_gap=st.integers(0, 3), min_coverage=st.sampled_from([0.0, 0.5, 1.0]), split=st.sampled_from([None, 0.5, 0.9]))
def test_projected_spans_lie_inside_the_target_and_never_overlap(case, max_gap, min_coverage, split):
    entities, links, n_target, trimmable = case
    for projection in (project_spans(entities, links, n_target, trimmable, max_gap=max_gap, min_coverage=min_coverage, split_above=split),
                       naive_projection(entities, links, n_target)):
        spans = sorted((e.start, e.end) for e in projection.entities)
        assert all(0 <= start < end <= n_target for start, end in spans)
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
        assert all(e.label == entities[e.source][2] and 0.0 <= e.confidence <= 1.0 for e in projection.entities)
        placed = [e.source for e in projection.entities]
        assert len(set(placed)) == len(placed) and not set(placed) & set(projection.unprojected)
        assert set(placed) | set(projection.unprojected) == set(range(len(entities)))  # every entity is placed or explained


@pytest.fixture(scope="module")
def projector_nlp():
    nlp = spacy.blank("de")
    nlp.add_pipe("entity_projector", config={"label_map": {"PERSON": "PER", "GPE": "LOC", "ORG": "ORG", "DATE": None}, "unmapped": "drop"})
    return nlp


@FAST
@given(case=projection_case(), labels=st.lists(st.sampled_from(["PERSON", "GPE", "ORG", "DATE", "NORP", "CARDINAL"]), min_size=6, max_size=6),
       words=st.lists(st.sampled_from(["Anna", "de", "la", ",", "(", ")", "banco", "Madrid", "."]), min_size=10, max_size=10))
def test_the_projector_sets_only_mapped_labels_on_valid_spans(projector_nlp, case, labels, words):
    entities, links, n_target, _ = case
    n_source = max([end for _, end, _ in entities] + [i + 1 for i, _, _ in links] + [1])
    source_ents = [(start, end, labels[k]) for k, (start, end, _) in enumerate(entities)]
    doc = make_parallel_doc(projector_nlp, ["w"] * n_source, words[:n_target], source_lang="en", source_ents=source_ents)
    set_alignment(doc, links)
    doc = projector_nlp(doc)
    assert {e.label_ for e in doc.ents} <= {"PER", "LOC", "ORG", "MISC"}  # the map's labels and derived_adjective_label
    assert all(e.label_ != "MISC" or (len(e) == 1 and e.text.islower()) for e in doc.ents)  # MISC only for 'de'-like lowercase words
    assert all(0 <= e.start < e.end <= len(doc) for e in doc.ents)


@FAST
@given(n=st.integers(0, 3000), width=st.integers(1, 600), overlap=st.integers(0, 700))
def test_windows_cover_every_subword_once_and_fit_the_model(n, width, overlap):
    windows = plan_windows(n, width, overlap)
    kept = [position for _, _, keep_from, keep_to in windows for position in range(keep_from, keep_to)]
    assert kept == list(range(n))
    assert all(0 <= start <= keep_from <= keep_to <= end <= n and end - start <= width for start, end, keep_from, keep_to in windows)


@FAST
@given(links=st.sets(st.tuples(st.integers(0, 300), st.integers(0, 300)), max_size=30))
def test_pharaoh_lines_round_trip(links):
    sure, possible = parse_pharaoh(format_pharaoh(links))
    assert sure == possible == links


@FAST
@given(data=st.binary(max_size=300), target=st.binary(max_size=300), format=st.sampled_from(["lines", "pharaoh", "tsv"]),
       encoding=st.sampled_from(["utf-8", "utf-16", "latin-1", "ascii"]))
def test_readers_give_pairs_or_one_error_naming_the_file(tmp_path, data, target, format, encoding):
    (tmp_path / "a.txt").write_bytes(data)
    (tmp_path / "b.txt").write_bytes(target)
    try:
        pairs = list(read_parallel(tmp_path / "a.txt", format, tmp_path / "b.txt", encoding=encoding))
    except ParallelFormatError as err:
        message = str(err)
        assert str(tmp_path) in message and "\n" not in message
        if "not " + encoding in message:
            assert message.split(": not ")[0].rsplit(":", 1)[1].isdigit()  # file:line
        return
    for pair in pairs:
        for side in (pair.source, pair.target):
            text = side if isinstance(side, str) else " ".join(side)
            assert "\n" not in text and not text.startswith("\ufeff")


@FAST
@given(data=st.one_of(st.binary(max_size=300), st.lists(st.sampled_from(["\ufeff", "Anna", "B-PER", "I-PER", "O", "I-LOC", "B-", "-DOCSTART-", " ", "\t", "\n", "1", "é"]), max_size=40).map(lambda p: "".join(p).encode("utf-8"))),
       suffix=st.sampled_from([".conll", ".conllu"]))
def test_gold_reader_gives_sentences_or_one_error_naming_the_file(tmp_path, data, suffix):
    path = tmp_path / f"gold{suffix}"
    path.write_bytes(data)
    try:
        sentences = read_gold_file(path)
    except ValueError as err:
        assert f"{path}:" in str(err)
        return
    for words, spans in sentences:
        assert all(0 <= start < end <= len(words) for start, end, _ in spans)


def test_gold_reader_drops_a_byte_order_mark(tmp_path):
    (tmp_path / "g.conll").write_bytes("\ufeffBarack B-PER\nObama I-PER\n".encode("utf-8"))
    assert read_gold_file(tmp_path / "g.conll") == [(["Barack", "Obama"], [(0, 2, "PER")])]


@FAST
@given(texts=st.lists(st.text(alphabet=["a", "é", " ", "\r", "\x0b", "\u2028"], max_size=8), min_size=1, max_size=8),
       line_end=st.sampled_from(["\n", "\r\n"]), encoding=st.sampled_from(["utf-8", "utf-16"]), shard_size=st.integers(1, 3))
def test_lines_are_what_wc_counts_and_a_lone_carriage_return_is_text(tmp_path, texts, line_end, encoding, shard_size):
    from spacy_xproj.projecting.shards import ParallelInput, plan_shards, read_shard

    source, target = texts, [f"T{k}{text}" for k, text in enumerate(texts)]
    (tmp_path / "a.txt").write_bytes((line_end.join(source) + line_end).encode(encoding))
    (tmp_path / "b.txt").write_bytes((line_end.join(target) + line_end).encode(encoding))
    pairs = list(read_parallel(tmp_path / "a.txt", "lines", tmp_path / "b.txt", encoding=encoding))
    assert len(pairs) == len(texts)  # one pair per "\n" (wc -l), whatever "\r" the lines hold
    assert [(p.source, p.target) for p in pairs] == [(s.rstrip("\r").replace("\r", " "), t.rstrip("\r").replace("\r", " ")) for s, t in zip(source, target)]
    corpus = ParallelInput(tmp_path / "a.txt", "lines", tmp_path / "b.txt", encoding)
    assert [pair for spec in plan_shards(corpus, shard_size) for pair in read_shard(corpus, spec)] == pairs  # resuming by tell()/seek


@FAST
@given(sentences=st.lists(st.lists(st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]), min_size=1, max_size=5), min_size=1, max_size=4),
       bad=st.sampled_from(["X-ORG", "PER", "B-", "I-", "b-PER"]), where=st.integers(0, 100))
def test_a_malformed_tag_is_named_at_its_own_line(tmp_path, sentences, bad, where):
    lines, tag_lines = [], []
    for tags in sentences:
        for tag in tags:
            lines.append(f"w{len(lines)} {tag}")
            tag_lines.append(len(lines) - 1)
        lines.append("")
    k = tag_lines[where % len(tag_lines)]
    lines[k] = lines[k].split()[0] + " " + bad
    path = tmp_path / "gold.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError) as error:
        read_gold_file(path)
    assert str(error.value) == f"{path}:{k + 1}: unknown tag {bad!r} (expected O, B-X or I-X)"


@FAST
@given(spelling=st.sampled_from(["same", "symlink", "hardlink", "dots", "symlinked folder", "other", "new"]), name=st.sampled_from(["a.txt", "é ö.txt"]))
def test_an_output_naming_an_input_in_any_spelling_is_refused(tmp_path, spelling, name):
    import os

    from spacy_xproj.files import OutputPathError, check_outputs_apart

    folder = tmp_path / spelling
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    source = folder / name
    source.write_text("input\n", encoding="utf-8")
    (folder / "other.txt").write_text("other\n", encoding="utf-8")
    output = {
        "same": source, "dots": folder / "sub" / ".." / name, "other": folder / "other.txt", "new": folder / "new.txt",
        "symlink": folder / f"link-{name}", "hardlink": folder / f"hard-{name}", "symlinked folder": folder / "linked" / name,
    }[spelling]
    if spelling == "symlink" and not output.exists():
        output.symlink_to(source)
    if spelling == "hardlink" and not output.exists():
        os.link(source, output)
    if spelling == "symlinked folder" and not output.parent.exists():
        output.parent.symlink_to(folder)
    refused = spelling not in ("other", "new")
    try:
        check_outputs_apart([(output, "OUTPUT")], [(source, "SOURCE")])
    except OutputPathError as err:
        assert refused and str(err).startswith(f"{output} (OUTPUT) is also an input (SOURCE)") and "\n" not in str(err)
    else:
        assert not refused
    assert source.read_text(encoding="utf-8") == "input\n"
