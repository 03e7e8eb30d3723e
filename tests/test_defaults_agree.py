"""A default lives in one place (defaults.py, through the factories' default_config): the project, the configs and the
entry points must say the same, or a user gets one behaviour from Python and another from `spacy project run`."""
import configparser
import importlib
from pathlib import Path

import pytest
import spacy
import srsly
from spacy.util import registry

from spacy_xproj import defaults

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINT_REGISTRIES = {
    "spacy_factories": None, "spacy_architectures": "architectures", "spacy_misc": "misc", "spacy_callbacks": "callbacks",
    "spacy_scorers": "scorers", "spacy_readers": "readers", "spacy_tokenizers": "tokenizers",
}


def entry_points():
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    section = parser["options.entry_points"]
    for group, registry_name in ENTRY_POINT_REGISTRIES.items():
        for line in section.get(group, "").strip().splitlines():
            name, target = (part.strip() for part in line.split("="))
            yield group, registry_name, name, target


def imported(target: str):
    module, attribute = target.split(":")
    return getattr(importlib.import_module(module), attribute)


@pytest.mark.parametrize("group,registry_name,name,target", list(entry_points()), ids=lambda value: str(value))
def test_every_entry_point_names_the_function_its_decorator_registered(group, registry_name, name, target):
    function = imported(target)
    assert getattr(registry, registry_name or "factories").get(name) is function


def test_every_registered_name_of_the_package_has_an_entry_point():
    listed = {name for _, _, name, _ in entry_points()}
    for _, _, _, target in entry_points():
        imported(target)  # importing every module registers every decorated function
    registered = {name for registry_name in set(ENTRY_POINT_REGISTRIES.values()) - {None}
                  for name in getattr(registry, registry_name).get_all() if name.startswith("spacy-xproj.")}
    factories = {name for name in ("xlmr_aligner", "entity_projector", "entity_filler", "token_ner")}
    assert registered | factories == listed


def test_factory_defaults_are_the_defaults_module():
    aligner = spacy.Language.get_factory_meta("xlmr_aligner").default_config
    assert aligner["model"] == defaults.DEFAULT_ENCODER
    assert aligner["layer"] == defaults.DEFAULT_LAYER
    assert aligner["method"] == {"@misc": defaults.ALIGNMENT_METHOD}
    projector = spacy.Language.get_factory_meta("entity_projector").default_config
    assert projector["policy"]["@misc"] == defaults.PROJECTION_POLICY


def test_the_projection_config_uses_the_defaults():
    config = spacy.util.load_config(ROOT / "configs" / "projection.cfg")
    assert config["paths"]["encoder"] == defaults.DEFAULT_ENCODER
    assert config["components"]["xlmr_aligner"]["layer"] == defaults.DEFAULT_LAYER
    assert config["components"]["xlmr_aligner"]["method"]["@misc"] == defaults.PROJECTION_METHOD
    assert config["components"]["entity_projector"]["policy"]["@misc"] == defaults.PROJECTION_POLICY


def test_project_vars_are_the_defaults():
    variables = srsly.read_yaml(ROOT / "project.yml")["vars"]
    assert variables["encoder"] == defaults.DEFAULT_ENCODER and variables["layer"] == defaults.DEFAULT_LAYER
    restated = {"projection_method": defaults.PROJECTION_METHOD, "align_method": defaults.ALIGNMENT_METHOD, "teacher": defaults.DEFAULT_TEACHER}
    assert {name: variables[name] for name in restated if name in variables} == {name: value for name, value in restated.items() if name in variables}
