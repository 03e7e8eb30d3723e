import pytest
import spacy
from spacy.tokens import DocBin

from spacy_xproj import get_source, make_parallel_doc, read_parallel, read_parallel_docs
from spacy_xproj.corpus.schema import MissingSourceError
from spacy_xproj.corpus.readers import ParallelFormatError, create_parallel_corpus_reader, join_line_aligned


def test_raw_text_is_tokenized_with_each_languages_tokenizer():
    nlp = spacy.blank("de")
    doc = make_parallel_doc(nlp, "Don't stop, Mr. Smith!", "Hör nicht auf, Herr Smith!", source_lang="en")
    assert [t.text for t in doc] == ["Hör", "nicht", "auf", ",", "Herr", "Smith", "!"]
    source = get_source(doc)
    assert source.words == ["Do", "n't", "stop", ",", "Mr.", "Smith", "!"]
    assert source.text == "Don't stop, Mr. Smith!" and source.lang == "en"


def test_chinese_without_spaces_is_segmented():
    nlp = spacy.blank("zh")
    doc = make_parallel_doc(nlp, "Beijing is the capital.", "北京是首都。", source_lang="en")
    assert len(doc) > 1 and "".join(t.text for t in doc) == "北京是首都。"


def test_japanese_is_segmented_by_spacys_tokenizer():
    pytest.importorskip("sudachipy", reason="install the ja extra: pip install 'spacy_xproj[ja]'")
    nlp = spacy.blank("en")
    doc = make_parallel_doc(nlp, "東京都は日本の首都です。", "Tokyo is the capital of Japan.", source_lang="ja")
    assert get_source(doc).words == ["東京", "都", "は", "日本", "の", "首都", "です", "。"]


def test_pretokenized_words_are_kept():
    nlp = spacy.blank("fr")
    doc = make_parallel_doc(nlp, ["oh", ",", "oh", "!"], ["oh", ",", "oh", "!"], source_ents=[(0, 1, "X")])
    assert [t.text for t in doc] == ["oh", ",", "oh", "!"] and get_source(doc).ents == [(0, 1, "X")]


def test_source_entities_must_fit():
    with pytest.raises(ValueError, match="outside the 2 source words"):
        make_parallel_doc(spacy.blank("de"), ["a", "b"], ["c"], source_ents=[(1, 3, "PER")])


def test_docbin_round_trip_of_a_parallel_doc():
    nlp = spacy.blank("es")
    doc = make_parallel_doc(nlp, "Angela Merkel visited Paris.", "Angela Merkel visitó París.", source_lang="en", source_ents=[(0, 2, "PER"), (3, 4, "LOC")])
    restored = list(DocBin(docs=[doc], store_user_data=True).get_docs(nlp.vocab))[0]
    assert get_source(restored) == get_source(doc)
    assert restored.text == doc.text


def test_plain_doc_has_no_source():
    with pytest.raises(MissingSourceError, match="has no source side"):
        get_source(spacy.blank("de")("Hallo"))


def test_line_aligned_reader_and_mismatched_counts(tmp_path):
    (tmp_path / "a.en").write_text("one\ntwo\nthree\n", encoding="utf-8")
    (tmp_path / "a.de").write_text("eins\nzwei\ndrei\n", encoding="utf-8")
    lines = list(read_parallel(tmp_path / "a.en", "lines", tmp_path / "a.de"))
    assert [(x.source, x.target) for x in lines] == [("one", "eins"), ("two", "zwei"), ("three", "drei")]
    assert lines[2].location.endswith("a.en:3")
    (tmp_path / "b.de").write_text("eins\nzwei\n", encoding="utf-8")
    with pytest.raises(ParallelFormatError, match=r"b.de ends at line 2 but .*a.en goes on"):
        list(read_parallel(tmp_path / "a.en", "lines", tmp_path / "b.de"))


def test_joined_corpora_follow_one_another_and_a_bad_one_writes_nothing(tmp_path):
    (tmp_path / "a.en").write_text("one\ntwo\n", encoding="utf-8")
    (tmp_path / "a.de").write_text("eins\nzwei\n", encoding="utf-8")
    (tmp_path / "b.en").write_text("\ufeffthree\r\n", encoding="utf-8")  # a byte order mark and CRLF, as Windows writes
    (tmp_path / "b.de").write_text("drei\r\n", encoding="utf-8")
    out_en, out_de = tmp_path / "out" / "all.en", tmp_path / "out" / "all.de"
    counts = join_line_aligned([(tmp_path / "a.en", tmp_path / "a.de"), (tmp_path / "b.en", tmp_path / "b.de")], out_en, out_de)
    assert counts == [2, 1]
    assert out_en.read_text(encoding="utf-8") == "one\ntwo\nthree\n"
    assert out_de.read_text(encoding="utf-8") == "eins\nzwei\ndrei\n"

    (tmp_path / "c.de").write_text("vier\nfünf\n", encoding="utf-8")
    with pytest.raises(ParallelFormatError, match=r"b.en ends at line 1 but .*c.de goes on"):
        join_line_aligned([(tmp_path / "a.en", tmp_path / "a.de"), (tmp_path / "b.en", tmp_path / "c.de")], tmp_path / "x.en", tmp_path / "x.de")
    assert not list(tmp_path.glob("*x.*"))  # neither output, nor a partial file


def test_pharaoh_and_tsv_readers(tmp_path):
    (tmp_path / "p.txt").write_text("the cat ||| die Katze\noh ! ||| oh !\n", encoding="utf-8")
    pairs = list(read_parallel(tmp_path / "p.txt", "pharaoh"))
    assert pairs[0].source == ["the", "cat"] and pairs[1].target == ["oh", "!"]
    (tmp_path / "bad.txt").write_text("ok ||| ok\nno separator here\n", encoding="utf-8")
    with pytest.raises(ParallelFormatError, match=r"bad.txt:2: expected 'source \|\|\| target'"):
        list(read_parallel(tmp_path / "bad.txt", "pharaoh"))
    (tmp_path / "t.tsv").write_text("The cat.\tDie Katze.\textra\n", encoding="utf-8")
    assert [(x.source, x.target) for x in read_parallel(tmp_path / "t.tsv", "tsv")] == [("The cat.", "Die Katze.")]
    (tmp_path / "bad.tsv").write_text("only one column\n", encoding="utf-8")
    with pytest.raises(ParallelFormatError, match="bad.tsv:1: expected at least 2 tab-separated columns"):
        list(read_parallel(tmp_path / "bad.tsv", "tsv"))


def test_reader_errors_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        list(read_parallel(tmp_path / "nope.txt", "pharaoh"))
    with pytest.raises(ValueError, match="needs two files"):
        read_parallel(tmp_path / "x", "lines")
    with pytest.raises(ValueError, match="Unknown parallel format 'xml'"):
        read_parallel(tmp_path / "x", "xml")
    with pytest.raises(ValueError, match="'qq' is not an ISO 639 language code"):
        list(read_parallel_docs(spacy.blank("de"), [], "qq"))


@pytest.mark.parametrize("format", ["lines", "pharaoh", "tsv"])
def test_a_byte_order_mark_is_not_part_of_the_first_word(tmp_path, format):
    # issue 19: '\ufeffBarack' was aligned and projected as a word
    text = {"lines": "Barack Obama\n", "pharaoh": "Barack Obama ||| Barack Obama\n", "tsv": "Barack Obama\tBarack Obama\n"}[format]
    (tmp_path / "a.txt").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    (tmp_path / "b.txt").write_bytes("\ufeffBarack Obama\n".encode("utf-16"))
    pair = list(read_parallel(tmp_path / "a.txt", format, tmp_path / "a.txt"))[0]
    assert pair.source in ("Barack Obama", ["Barack", "Obama"]) and pair.target in ("Barack Obama", ["Barack", "Obama"])
    if format == "lines":
        assert list(read_parallel(tmp_path / "b.txt", format, tmp_path / "b.txt", encoding="utf-16"))[0].source == "Barack Obama"


def test_text_in_another_encoding_names_the_file_and_line(tmp_path):
    (tmp_path / "a.txt").write_bytes("ok\n\nstill ok\r\nCaf\xe9 de Flore\nmore\n".encode("utf-8").replace(b"\xc3\xa9", b"\xe9"))
    with pytest.raises(ParallelFormatError, match=r"a.txt:4: not utf-8 text \(invalid continuation byte\); give the file's encoding with --encoding"):
        list(read_parallel(tmp_path / "a.txt", "lines", tmp_path / "a.txt"))
    assert list(read_parallel(tmp_path / "a.txt", "lines", tmp_path / "a.txt", encoding="latin-1"))[3].source == "Café de Flore"


def test_registered_corpus_reader(tmp_path):
    (tmp_path / "c.txt").write_text("the cat ||| die Katze\na b ||| c d\nx ||| y\n", encoding="utf-8")
    reader = spacy.registry.readers.get("spacy-xproj.ParallelCorpus.v1")(path=tmp_path / "c.txt", format="pharaoh", limit=2)
    examples = list(reader(spacy.blank("de")))
    assert len(examples) == 2
    assert get_source(examples[0].predicted).words == ["the", "cat"] and examples[0].reference.text == "die Katze"
    with pytest.raises(ValueError, match="Unknown parallel format"):
        create_parallel_corpus_reader(tmp_path / "c.txt", format="json")


def test_reading_docs_shows_a_bar_of_pairs_on_a_terminal(shared_data, terminal_stderr):
    from contextlib import redirect_stderr
    from itertools import islice

    ntrex = shared_data / "parallel" / "ntrex128"
    lines = list(islice(read_parallel(ntrex / "newstest2019-src.eng.txt", "lines", ntrex / "newstest2019-ref.deu.txt"), 50))
    nlp = spacy.blank("de")
    with redirect_stderr(terminal_stderr):
        docs = list(read_parallel_docs(nlp, lines, "en", limit=30))
        bar = terminal_stderr.getvalue()
        assert len(list(read_parallel_docs(nlp, lines, "en", progress=False))) == 50
    assert len(docs) == 30 and docs[29].text == make_parallel_doc(nlp, lines[29].source, lines[29].target).text
    assert bar.startswith("\rpairs:   0%|          | 0/30 [") and "30/30 [" in bar and "/50" not in bar
    assert terminal_stderr.getvalue() == bar  # progress=False: nothing drawn
