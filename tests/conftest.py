import io
from pathlib import Path

import pytest
from spacy.language import Language
from spacy.tokens import Doc

from spacy_xproj.encoders.loading import materialize_embedded_encoder
from spacy_xproj.corpus.schema import get_source, set_alignment

from .packed_encoder import write_packed_encoder

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def tiny_packed_file(tmp_path_factory) -> Path:
    return write_packed_encoder(tmp_path_factory.mktemp("packed") / "tiny-q4.bin")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_packed_file) -> str:
    """A random 2-layer encoder converted through the same code path as the embedded default."""
    return str(materialize_embedded_encoder(tmp_path_factory.mktemp("models") / "tiny", packed_file=tiny_packed_file))


@pytest.fixture(scope="session")
def real_model_dir() -> str:
    """The real embedded multilingual-e5-small (slow tests only)."""
    return str(materialize_embedded_encoder())


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


class TerminalStream(io.StringIO):
    """A captured stderr that says it is a terminal, so that tqdm draws its bars into it. Use it with
    `contextlib.redirect_stderr` inside the test: pytest's capture replaces sys.stderr after fixtures run."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def terminal_stderr() -> TerminalStream:
    return TerminalStream()


@Language.factory("stand_in_aligner")
def make_stand_in_aligner(nlp: Language, name: str):
    """A deterministic aligner for projector tests: links source and target words with the same lowercase text."""

    def align(doc: Doc) -> Doc:
        source = get_source(doc)
        set_alignment(doc, [(i, j, 1.0) for i, word in enumerate(source.words) for j, token in enumerate(doc) if word.lower() == token.lower_])
        return doc

    return align
