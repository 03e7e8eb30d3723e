"""Any ISO 639 code: the language, spaCy's tokenizer for it (or `xx`), its NTREX-128 file; text read in NFC."""
import unicodedata

import pytest

from spacy_xproj.corpus.languages import NTREX_CODES, UnknownLanguageError, blank_pipeline, fill_language, ntrex_pair, resolve_language
from spacy_xproj.corpus.normal_form import NFCTokenizer, normal_offsets

YORUBA = "Ìjọba ìpínlẹ̀ Èkó ti kéde pé Ọ̀gá Àgbà ń bọ̀ sí Èkó."


@pytest.mark.parametrize("code,short,spacy_lang,ntrex,iso3", [
    ("zu", "zu", "xx", "zul", "zul"), ("zul", "zu", "xx", "zul", "zul"), ("ZU", "zu", "xx", "zul", "zul"),
    ("hau", "ha", "xx", "hau", "hau"), ("sw", "sw", "xx", "swa", "swa"), ("sna", "sn", "xx", "sna-Latn", "sna"),
    ("yo", "yo", "yo", "yor", "yor"), ("yor", "yo", "yo", "yor", "yor"), ("de", "de", "de", "deu", "deu"),
    ("deu", "de", "de", "deu", "deu"), ("lg", "lg", "lg", None, "lug"), ("pcm", "pcm", "xx", None, "pcm"),
    ("zh", "zh", "zh", "zho-CN", "zho"),
])
def test_codes_name_a_language_its_tokenizer_and_its_ntrex_file(code, short, spacy_lang, ntrex, iso3):
    language = resolve_language(code)
    assert (language.code, language.spacy_lang, language.ntrex, language.iso3) == (short, spacy_lang, ntrex, iso3)
    assert language.ntrex is None or language.ntrex in NTREX_CODES
    assert language.uses_fallback == (spacy_lang == "xx")


def test_the_fallback_is_said_in_one_line_naming_the_language():
    note = resolve_language("zul").fallback_note()
    assert "\n" not in note and note.startswith("spaCy has no tokenizer for Zulu (zu): using its multi-language tokenizer 'xx'")
    assert not resolve_language("xx").uses_fallback


@pytest.mark.parametrize("code", ["xyz", "qq", "", "  ", "12", "hello", "xx-nope"])
def test_a_code_that_names_no_language_is_refused(code):
    with pytest.raises(UnknownLanguageError, match="language code"):
        resolve_language(code)


def test_placeholders_take_the_languages_codes():
    assert fill_language("mafand/en-{iso3}/train.{iso3}", resolve_language("zu")) == "mafand/en-zul/train.zul"
    assert fill_language("{lang}:{ntrex}", resolve_language("sna")) == "sn:sna-Latn"


def test_the_shipped_ntrex_files_are_found_by_code(tmp_path):
    source, target = ntrex_pair("assets/ntrex128", resolve_language("zu"))
    assert target.name == "newstest2019-ref.zul.txt" and source.name == "newstest2019-src.eng.txt"
    assert len(target.read_text(encoding="utf-8").splitlines()) == len(source.read_text(encoding="utf-8").splitlines()) == 1997
    with pytest.raises(FileNotFoundError, match=r"newstest2019-ref.yor.txt not found: NTREX-128's Yoruba reference"):
        (tmp_path / "newstest2019-src.eng.txt").write_text("A.\n", encoding="utf-8")
        ntrex_pair(tmp_path, resolve_language("yo"))
    with pytest.raises(FileNotFoundError, match=r"no translation into Ganda \(lg\)"):
        ntrex_pair("assets/ntrex128", resolve_language("lg"))


def test_nfc_and_nfd_text_give_the_same_words_and_the_text_back_unchanged():
    nlp = blank_pipeline("yo")
    nfc, nfd = unicodedata.normalize("NFC", YORUBA), unicodedata.normalize("NFD", YORUBA)
    assert nfc != nfd
    composed, decomposed = nlp(nfc), nlp(nfd)
    assert composed.text == nfc and decomposed.text == nfd
    assert [unicodedata.normalize("NFC", t.text) for t in decomposed] == [t.text for t in composed]
    assert [t.text for t in composed][-2:] == ["Èkó", "."]  # in NFD alone, spaCy's rules would keep the period on the word
    assert len(decomposed) == len(composed) == 13


def test_offsets_of_the_normal_form_map_back_to_the_text():
    text = unicodedata.normalize("NFD", "Èkó ọ̀")
    normal, normal_starts, original_starts = normal_offsets(text)
    assert normal == unicodedata.normalize("NFC", text)
    assert normal_starts[-1] == len(normal) and original_starts[-1] == len(text)
    assert len(normal) < len(text)


def test_the_nfc_tokenizer_serializes_as_the_tokenizer_it_wraps(tmp_path):
    nlp = blank_pipeline("de")
    assert isinstance(nlp.tokenizer, NFCTokenizer)
    nlp.to_disk(tmp_path / "p")
    import spacy

    loaded = spacy.load(tmp_path / "p")
    assert [t.text for t in loaded("Grüße aus Köln.")] == [t.text for t in nlp("Grüße aus Köln.")]


def test_chinese_is_segmented_into_words_not_characters():
    nlp = blank_pipeline("zh")
    assert [t.text for t in nlp("安格拉·默克尔访问了北京。")] == ["安格拉", "·", "默克尔", "访问", "了", "北京", "。"]


def test_a_missing_segmenter_is_one_line_naming_the_extra(monkeypatch):
    import importlib.util

    from spacy_xproj.corpus.languages import MissingSegmenterError

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name in ("jieba", "sudachipy", "pythainlp") else real(name, *args))
    for code, extra in (("zh", "zh"), ("ja", "ja"), ("th", "th")):
        with pytest.raises(MissingSegmenterError, match=rf"pip install 'spacy_xproj\[{extra}\]'") as error:
            blank_pipeline(code)
        assert "\n" not in str(error.value)
