"""Word-by-word synthetic target data: the lexicon induced from aligned Docs and the translated gold."""
import pytest
import spacy
from spacy.tokens import Doc, DocBin

from spacy_xproj.corpus.pair_docs import make_parallel_doc
from spacy_xproj.corpus.schema import set_alignment
from spacy_xproj.corpus.synthetic import induce_lexicon, synthesize, translate_doc


def aligned(nlp, source, target, links):
    doc = make_parallel_doc(nlp, source.split(), target.split(), source_lang="en")
    set_alignment(doc, [(i, j, 1.0) for i, j in links])
    return doc


@pytest.fixture
def german():
    return spacy.blank("de")


@pytest.fixture
def projected(german):
    return [
        aligned(german, "the house is red", "das Haus ist rot", [(0, 0), (1, 1), (2, 2), (3, 3)]),
        aligned(german, "The house of Anna", "das Haus von Anna", [(0, 0), (1, 1), (2, 2), (3, 3)]),
        aligned(german, "the car is blue", "die Auto ist blau", [(0, 0), (1, 1), (2, 2), (3, 3)]),
    ]


def test_lexicon_takes_the_most_frequent_target_word_seen_often_enough(projected):
    lexicon = induce_lexicon(projected, min_count=2)
    # "the" -> das twice, die once; "The" counts as "the"; "red", "of", "car" are seen once only
    assert lexicon == {"the": "das", "house": "Haus", "is": "ist"}
    assert induce_lexicon(projected, min_count=1)["red"] == "rot"


def test_documents_without_alignment_add_nothing(german):
    unaligned = make_parallel_doc(german, "the house".split(), "das Haus".split(), source_lang="en")
    assert induce_lexicon([unaligned], min_count=1) == {}


def test_translation_keeps_entity_words_and_positions(german):
    english = spacy.blank("en")
    doc = Doc(english.vocab, words=["The", "house", "of", "Anna", "is", "red"], spaces=[True] * 5 + [False])
    doc.ents = [doc.char_span(doc[3].idx, doc[3].idx + 4, label="PER")]
    lexicon = {"the": "das", "house": "Haus", "anna": "Anne", "is": "ist"}
    kept = translate_doc(doc, lexicon, german.vocab, translate_entities=False)
    assert [t.text for t in kept] == ["Das", "Haus", "of", "Anna", "ist", "red"]
    assert [(e.start, e.end, e.label_, e.text) for e in kept.ents] == [(3, 4, "PER", "Anna")]
    translated = translate_doc(doc, lexicon, german.vocab, translate_entities=True)
    assert [(e.start, e.end, e.label_, e.text) for e in translated.ents] == [(3, 4, "PER", "Anne")]


def test_synthesize_writes_translated_gold_and_reports_coverage(tmp_path, german, projected):
    english = spacy.blank("en")
    gold = Doc(english.vocab, words=["the", "house", "of", "Anna"], spaces=[True, True, True, False])
    gold.ents = [gold.char_span(gold[3].idx, gold[3].idx + 4, label="PER")]
    DocBin(docs=[gold]).to_disk(tmp_path / "gold.spacy")
    DocBin(store_user_data=True, docs=projected).to_disk(tmp_path / "projected.spacy")
    report = synthesize(tmp_path / "gold.spacy", tmp_path / "projected.spacy", tmp_path / "out.spacy", "de")
    assert report == {"lexicon": 3, "sentences": 1, "translated_percent": 50.0}
    (doc,) = DocBin().from_disk(tmp_path / "out.spacy").get_docs(german.vocab)
    assert doc.text == "das Haus of Anna"
    assert [(e.text, e.label_) for e in doc.ents] == [("Anna", "PER")]


def test_a_corpus_without_alignments_is_refused_by_name(tmp_path, german):
    DocBin(docs=[Doc(german.vocab, words=["Haus"])]).to_disk(tmp_path / "gold.spacy")
    DocBin(store_user_data=True, docs=[Doc(german.vocab, words=["Haus"])]).to_disk(tmp_path / "plain.spacy")
    with pytest.raises(ValueError, match="plain.spacy"):
        synthesize(tmp_path / "gold.spacy", tmp_path / "plain.spacy", tmp_path / "out.spacy", "de")
