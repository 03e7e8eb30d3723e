"""The projection options resolved once, for the CLI and the benchmarks alike."""
import json

import pytest
import spacy

from spacy_xproj.projecting.options import ProjectionOptionError, make_engine, resolve_label_map, resolve_projection
from spacy_xproj.projecting.engines import InProcess, LocalProcesses


@pytest.fixture
def conll_teacher(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": label, "pattern": word} for label, word in
                                                (("PER", "Ada"), ("LOC", "Paris"), ("ORG", "ACME"), ("MISC", "French"))])
    nlp.to_disk(tmp_path / "teacher")
    return str(tmp_path / "teacher")


def test_label_map_names_and_files(conll_teacher, tmp_path):
    assert resolve_label_map("auto", conll_teacher) == {}
    assert resolve_label_map("ontonotes", conll_teacher) is None and resolve_label_map("none", conll_teacher) == {}
    (tmp_path / "map.json").write_text(json.dumps({"MISC": None}), encoding="utf-8")
    assert resolve_label_map(str(tmp_path / "map.json"), conll_teacher) == {"MISC": None}
    with pytest.raises(ProjectionOptionError, match="not a readable JSON file") as error:
        resolve_label_map(str(tmp_path / "nope.json"), conll_teacher)
    assert error.value.option == "--label-map"


def test_a_target_scheme_drops_the_labels_it_lacks_and_refuses_one_the_teacher_cannot_give(conll_teacher):
    assert resolve_label_map("auto", conll_teacher, ["PER", "ORG", "LOC", "DATE"]) == {"LOC": "LOC", "MISC": None, "ORG": "ORG", "PER": "PER"}
    with pytest.raises(ProjectionOptionError, match="no label of teacher .* becomes one of DATE") as error:
        resolve_label_map("auto", conll_teacher, ["DATE"])
    assert error.value.option == "--target-labels"


def test_one_function_gives_settings_and_engine(conll_teacher):
    settings, engine = resolve_projection(teacher=conll_teacher, label_map="auto", precision="float32", target_labels=["PER"], log=lambda _: None,
                                          target_lang="zu", seed=3)
    assert settings.label_map == {"LOC": None, "MISC": None, "ORG": None, "PER": "PER"} and settings.precision == "float32"
    assert (settings.target_lang, settings.seed) == ("zu", 3) and isinstance(engine, InProcess)
    assert settings.drop_derived_adjectives  # a scheme without MISC: a derived adjective is no entity, not MISC
    assert isinstance(make_engine("local", 2, 1, -1, None), LocalProcesses)
    with pytest.raises(ProjectionOptionError, match="--ray-address needs --engine ray"):
        make_engine("local", 1, 0, -1, "auto")
    with pytest.raises(ProjectionOptionError, match="choose one of --teacher-confidence and --teacher-weights"):
        resolve_projection(teacher=conll_teacher, teacher_confidence=0.8, teacher_weights=True, precision="float32")


def test_an_extra_teacher_adds_its_labels_to_the_map(conll_teacher):
    settings, _ = resolve_projection(teacher=conll_teacher, label_map="auto", precision="float32", target_labels=["PER", "ORG", "LOC", "DATE"],
                                     extra_teacher=conll_teacher, extra_labels=("DATE",), log=lambda _: None)
    assert settings.label_map == {"LOC": "LOC", "MISC": None, "ORG": "ORG", "PER": "PER", "DATE": "DATE"} and settings.extra_labels == ("DATE",)
    with pytest.raises(ProjectionOptionError, match="go together"):
        resolve_projection(teacher=conll_teacher, precision="float32", extra_labels=("DATE",), log=lambda _: None)
