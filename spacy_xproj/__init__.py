"""spacy_xproj: zero-shot cross-lingual NER by annotation projection, as spaCy components.

Importing the package loads no torch: the names below are imported from their modules on first use. spaCy finds
the factories, architectures and registered functions through the entry points in setup.cfg.
"""
import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "XLMRAligner": "components.aligner",
    "make_xlmr_aligner": "components.aligner",
    "EntityProjector": "components.projector",
    "make_entity_projector": "components.projector",
    "TokenNER": "ner.token_ner",
    "make_token_ner": "ner.token_ner",
    "parse_pharaoh": "core.alignment",
    "score_alignments": "core.alignment",
    "DEFAULT_ENCODER": "defaults",
    "materialize_embedded_encoder": "encoders.loading",
    "SourceSide": "corpus.schema",
    "get_alignment": "corpus.schema",
    "get_projection": "corpus.schema",
    "get_source": "corpus.schema",
    "install_extensions": "corpus.schema",
    "make_parallel_doc": "corpus.pair_docs",
    "read_parallel": "corpus.readers",
    "read_parallel_docs": "corpus.pair_docs",
    "set_source": "corpus.schema",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
