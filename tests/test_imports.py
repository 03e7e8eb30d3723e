"""Importing the package and asking the CLI for help load neither torch nor transformers (issue 21)."""
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "spacy_transformers")
# spaCy itself loads torch (thinc.compat imports it when installed), so only modules free of spaCy are checked
CHECK = "import sys; loaded = [m for m in {heavy!r} if m in sys.modules]; print('loaded:' + ','.join(loaded))"


def loaded_after(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code + "; " + CHECK.format(heavy=HEAVY)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("code", [
    "import spacy_xproj",
    "import spacy_xproj.cli",
    "from spacy_xproj import defaults",
    "import spacy_xproj.core.alignment, spacy_xproj.core.projection",
    "import spacy_xproj.encoders.aligner_training",
])
def test_imports_load_no_torch(code):
    assert loaded_after(code) == "loaded:"


def test_cli_help_loads_no_torch():
    code = (
        "import sys, runpy; sys.argv = ['spacy_xproj', '--help']\n"
        "try:\n    runpy.run_module('spacy_xproj', run_name='__main__')\nexcept SystemExit as exit:\n    assert exit.code in (0, None), exit.code\n"
    )
    result = subprocess.run([sys.executable, "-c", code + CHECK.format(heavy=HEAVY)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "project-corpus" in result.stdout and "train-aligner" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "loaded:"


def test_cli_help_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "spacy_xproj", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "align" in result.stdout and "bench-align" not in result.stdout  # the benchmarks have their own entry


def test_lazy_names_resolve_and_extensions_install_on_first_use():
    code = (
        "from spacy.tokens import Doc; import spacy_xproj\n"
        "assert not Doc.has_extension('xproj_source')\n"
        "assert spacy_xproj.DEFAULT_ENCODER.startswith('embedded:')\n"
        "import spacy; nlp = spacy.blank('de'); doc = spacy_xproj.make_parallel_doc(nlp, 'the cat', 'die Katze', 'en')\n"
        "assert Doc.has_extension('xproj_source') and spacy_xproj.get_source(doc).words == ['the', 'cat']\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
