"""Label maps: the target's label scheme decides which teacher labels are projected."""
import pytest

from spacy_xproj.components.label_maps import map_label, scheme_label_map


def test_a_conll_teacher_on_masakhaner_loses_misc():
    assert scheme_label_map(["LOC", "MISC", "ORG", "PER"], {}, ["PER", "ORG", "LOC", "DATE"]) == {"LOC": "LOC", "MISC": None, "ORG": "ORG", "PER": "PER"}


def test_an_ontonotes_teacher_keeps_date_when_the_scheme_has_it():
    labels = ["DATE", "GPE", "NORP", "PERSON", "ORG", "MONEY"]
    assert scheme_label_map(labels, None, ["PER", "ORG", "LOC", "DATE"]) == {"DATE": "DATE", "GPE": "LOC", "NORP": None, "PERSON": "PER", "ORG": "ORG", "MONEY": None}
    assert scheme_label_map(labels, None, ["PER", "ORG", "LOC"])["DATE"] is None


def test_map_label_keeps_drops_or_refuses_unmapped_labels():
    assert map_label("X", {}) == "X" and map_label("PERSON", {"PERSON": "PER"}) == "PER" and map_label("DATE", {"DATE": None}) is None
    assert map_label("X", {"PERSON": "PER"}, "keep") == "X" and map_label("X", {"PERSON": "PER"}, "drop") is None
    with pytest.raises(ValueError, match="'X' is not in label_map"):
        map_label("X", {"PERSON": "PER"}, "error")
