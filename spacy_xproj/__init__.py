"""spacy_xproj: zero-shot cross-lingual NER by annotation projection, as spaCy components."""
from .components.aligner import XLMRAligner, make_xlmr_aligner
from .core.alignment import parse_pharaoh, score_alignments
from .encoders.loading import EMBEDDED_ENCODER, materialize_embedded_encoder
from .components.projector import EntityProjector, make_entity_projector
from .ner import frozen_features, layer_mix, losses, transformer_training  # noqa: F401  (register the architectures, losses and training callbacks)
from .ner.token_ner import TokenNER, make_token_ner
from .corpus.parallel import (
    SourceSide,
    get_alignment,
    get_projection,
    get_source,
    install_extensions,
    make_parallel_doc,
    read_parallel,
    read_parallel_docs,
    set_source,
)

__all__ = [
    "EMBEDDED_ENCODER",
    "EntityProjector",
    "SourceSide",
    "TokenNER",
    "XLMRAligner",
    "get_alignment",
    "get_projection",
    "get_source",
    "install_extensions",
    "make_entity_projector",
    "make_parallel_doc",
    "make_token_ner",
    "make_xlmr_aligner",
    "materialize_embedded_encoder",
    "parse_pharaoh",
    "read_parallel",
    "read_parallel_docs",
    "score_alignments",
    "set_source",
]
