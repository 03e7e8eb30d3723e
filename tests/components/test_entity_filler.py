"""entity_filler: another pipeline's entities fill in only where the Doc has none, relabelled as asked."""
import pytest
import spacy

from spacy_xproj.components.entity_filler import EntityFiller, filled_label_map


@pytest.fixture(scope="module")
def ontonotes_like(tmp_path_factory):
    """A saved pipeline with OntoNotes labels: what the shipped en_core_web_sm copy sets."""
    other = spacy.blank("en")
    other.add_pipe("entity_ruler").add_patterns([
        {"label": "NORP", "pattern": "German"}, {"label": "EVENT", "pattern": "Olympics"}, {"label": "GPE", "pattern": "Lagos"},
        {"label": "PERSON", "pattern": "Ada"}, {"label": "DATE", "pattern": "Monday"}, {"label": "DATE", "pattern": "last year"},
        {"label": "ORG", "pattern": "the Commission"}])
    path = tmp_path_factory.mktemp("ontonotes") / "pipeline"
    other.to_disk(path)
    return str(path)


@pytest.fixture()
def teacher():
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "PER", "pattern": "Ada"}, {"label": "MISC", "pattern": "Monday Club"}])
    return nlp


def test_an_own_label_is_taken_by_name_and_a_conll_label_takes_the_ontonotes_labels_mapped_to_it():
    assert filled_label_map(["DATE", "NORP", "EVENT", "GPE", "PERSON"], ["DATE"]) == {"DATE": "DATE"}
    assert filled_label_map(["DATE", "NORP", "EVENT", "GPE", "PERSON"], ["MISC", "LOC"]) == {"NORP": "MISC", "EVENT": "MISC", "GPE": "LOC"}


def test_entities_fill_in_where_the_teacher_found_none(teacher, ontonotes_like):
    docs = list(teacher.pipe(["Ada joined the Monday Club in Lagos last year .", "Ada , a German , saw the Olympics in Lagos ."]))
    dates = EntityFiller(teacher.vocab, "dates", pipeline=ontonotes_like, labels=["DATE"])
    # Monday overlaps the teacher's MISC; GPE is not asked for; the Docs are not changed
    assert dates.filled(docs) == [[(0, 1, "PER"), (3, 5, "MISC"), (7, 9, "DATE")], [(0, 1, "PER")]]
    assert [(e.text, e.label_) for e in docs[1].ents] == [("Ada", "PER")]
    misc = EntityFiller(teacher.vocab, "misc", pipeline=ontonotes_like, labels=["MISC", "LOC"])
    assert misc.filled(docs[1:]) == [[(0, 1, "PER"), (3, 4, "MISC"), (7, 8, "MISC"), (9, 10, "LOC")]]


def test_as_a_pipe_it_sets_the_entities_and_keeps_its_settings_through_saving(teacher, ontonotes_like, tmp_path):
    teacher.add_pipe("entity_filler", config={"pipeline": ontonotes_like, "labels": ["MISC", "ORG"]})
    # loaded on first use (initializing the whole pipeline would clear the ruler's patterns)
    doc = teacher("Ada , a German , wrote to the Commission .")
    assert [(e.text, e.label_) for e in doc.ents] == [("Ada", "PER"), ("German", "MISC"), ("the Commission", "ORG")]
    teacher.to_disk(tmp_path / "teacher")
    loaded = spacy.load(tmp_path / "teacher")
    assert loaded.get_pipe("entity_filler").labels == ("MISC", "ORG")
    assert [e.label_ for e in loaded.pipe(["Ada , a German , wrote to the Commission ."], batch_size=1).__next__().ents] == ["PER", "MISC", "ORG"]


def test_a_pipeline_without_the_labels_asked_for_is_refused_by_name(teacher, ontonotes_like):
    with pytest.raises(ValueError, match="has no entity label that gives \\['PRODUCE'\\]"):
        EntityFiller(teacher.vocab, "filler", pipeline=ontonotes_like, labels=["PRODUCE"]).initialize()
    with pytest.raises(ValueError, match="needs a pipeline and the labels"):
        EntityFiller(teacher.vocab, "filler", pipeline=ontonotes_like, labels=[])
