"""A teacher that cannot teach (issue 36): one without NER is refused by name, one whose labels all map to nothing is
refused listing them, one with most (or unlisted) labels dropped is warned about in one line, and every entity the
label map drops is counted by label in report.json."""
import pytest
import spacy

from spacy_xproj.corpus.docbins import read_docbin
from spacy_xproj.corpus.schema import get_projection
from spacy_xproj.projecting.options import ProjectionOptionError, resolve_projection
from spacy_xproj.projecting.run import build_training_data
from spacy_xproj.projecting.shards import ParallelInput

from .test_engines import SOURCE, TARGET


def ruler_teacher(folder, patterns):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": label, "pattern": text} for label, text in patterns])
    nlp.to_disk(folder)
    return str(folder)


def test_a_teacher_without_ner_is_refused_by_name_for_every_label_map(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "no-ner")
    for label_map in ("ontonotes", "none", "auto", {"PER": "PER"}):
        with pytest.raises(ValueError, match=f"teacher '{tmp_path / 'no-ner'}' has no component that sets entities"):
            resolve_projection(teacher=str(tmp_path / "no-ner"), label_map=label_map, precision="float32", log=lambda m: None)


@pytest.mark.parametrize("label_map,refused", [("ontonotes", True), ("none", False), ({"person": "PER"}, False), ({"person": None, "place": None, "organisation": None}, True)])
def test_a_teacher_whose_labels_all_map_to_nothing_is_refused_listing_them(tmp_path, label_map, refused):
    teacher = ruler_teacher(tmp_path / "t", [("person", "Ada"), ("place", "Paris"), ("organisation", "ACME")])
    messages = []
    if refused:
        with pytest.raises(ProjectionOptionError, match="no label of teacher .* becomes a target label") as error:
            resolve_projection(teacher=teacher, label_map=label_map, precision="float32", log=messages.append)
        assert error.value.option == "--label-map" and "organisation -> nothing" in str(error.value) and "person -> nothing" in str(error.value)
        return
    resolve_projection(teacher=teacher, label_map=label_map, precision="float32", log=messages.append)
    warnings = [m for m in messages if m.startswith("warning:")]
    if label_map == "none":
        assert warnings == []
    else:  # one of three kept: one line with the figures
        assert len(warnings) == 1 and warnings[0].startswith(f"warning: 2 of 3 labels of teacher {teacher!r} map to nothing")
        assert "person -> PER" in warnings[0] and "place -> nothing (not in the map)" in warnings[0] and "\n" not in warnings[0]


def test_an_ontonotes_teacher_is_not_warned_about_the_labels_the_map_drops_on_purpose(tmp_path):
    teacher = ruler_teacher(tmp_path / "t", [("PERSON", "Ada"), ("GPE", "Paris"), ("ORG", "ACME"), ("DATE", "Monday")])
    messages = []
    resolve_projection(teacher=teacher, label_map="ontonotes", precision="float32", log=messages.append)
    assert not [m for m in messages if m.startswith("warning:")]  # 1 of 4 dropped, and DATE -> null is in the map


def test_every_entity_the_label_map_drops_is_counted_by_label_in_the_report(tmp_path, tiny_model_dir):
    (tmp_path / "src.txt").write_text("\n".join(SOURCE) + "\n", encoding="utf-8")
    (tmp_path / "tgt.txt").write_text("\n".join(TARGET) + "\n", encoding="utf-8")
    teacher = ruler_teacher(tmp_path / "t", [("PERSON", "Angela Merkel"), ("GPE", "Paris"), ("DATE", "Monday"), ("COMPANY", "Microsoft"),
                                             ("COMPANY", "Siemens"), ("GPE", "Munich")])
    messages = []
    settings, engine = resolve_projection(teacher=teacher, label_map="ontonotes", precision="float32", log=messages.append, target_lang="de",
                                          model=tiny_model_dir, layer=2, dev_fraction=0.0)
    assert [m for m in messages if m.startswith("warning: 2 of 4 labels")]  # COMPANY is not in the OntoNotes map
    report = build_training_data(ParallelInput(tmp_path / "src.txt", "lines", tmp_path / "tgt.txt"), tmp_path / "out", settings,
                                 log=messages.append, progress=False, engine=engine)
    assert report["dropped_by_label_map"] == {"COMPANY": 2, "DATE": 1}
    assert report["unprojected_reasons"]["label COMPANY maps to no target label"] == 2
    assert "3 teacher entities were not projected because the label map drops their label: COMPANY 2, DATE 1" in messages
    first = next(read_docbin(tmp_path / "out" / "train").get_docs(spacy.blank("de").vocab))
    projection = get_projection(first)  # "Angela Merkel visited Paris on Monday.": source entity 2 (Monday) is named by its own index
    assert (2, "label DATE maps to no target label") in projection["unprojected"] and projection["status"] == "complete"
