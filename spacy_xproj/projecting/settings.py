"""What a corpus projection is made with: the settings every worker gets, recorded with the shards."""
import hashlib
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

from ..core.thresholds import confidence_threshold_error
from ..defaults import DEFAULT_ENCODER, DEFAULT_LAYER, DEFAULT_TEACHER, PROJECTION_METHOD


@dataclass
class CorpusSettings:
    source_lang: str = "en"
    target_lang: str = "de"
    teacher: str = DEFAULT_TEACHER
    label_map: Optional[Dict] = None  # config block or dict; None: OntoNotes -> CoNLL
    unmapped: str = "drop"
    model: str = DEFAULT_ENCODER
    method: str = PROJECTION_METHOD
    layer: int = DEFAULT_LAYER
    precision: str = "float32"  # the aligner's: float32, bfloat16 or float16 (resolve "auto" before, so every worker runs the same)
    on_incomplete: str = "missing"
    # 0: the teacher's entities as they are; in [0.5, 1]: only the entities the teacher is this sure of are
    # projected, and target words aligned to words it is less sure of are marked missing, not "O"
    teacher_confidence: float = 0.0
    # every target word carries the teacher's confidence in the tags it was taught from (doc._.xproj_token_weights)
    teacher_weights: bool = False
    drop_derived_adjectives: bool = False  # for target annotations that tag no adjectives derived from names
    match_names: bool = False  # a name the target spells out is projected there, whatever the alignment
    # a second English pipeline whose entities of these labels are added where the teacher found none (DATE from
    # an OntoNotes pipeline, for a target scheme with dates); "" for none
    extra_teacher: str = ""
    extra_labels: Tuple[str, ...] = ()
    dev_fraction: float = 0.1
    shard_size: int = 500
    seed: int = 0

    def __post_init__(self):
        problem = confidence_threshold_error(self.teacher_confidence, may_be_off=True)
        if problem:
            raise ValueError(f"teacher_confidence: {problem}")
        if self.teacher_confidence and self.teacher_weights:
            raise ValueError("teacher_confidence and teacher_weights: choose one (a confidence filter drops what the weights would weigh)")


def is_dev(index: int, seed: int, fraction: float) -> bool:
    """Stable split: the same pair lands in the same split on every run."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def projector_config(settings: CorpusSettings) -> Dict:
    label_map = settings.label_map if settings.label_map is not None else {"@misc": "spacy-xproj.ontonotes_to_conll.v1"}
    return {
        "label_map": label_map, "unmapped": settings.unmapped, "on_incomplete": settings.on_incomplete,
        "drop_derived_adjectives": settings.drop_derived_adjectives, "match_names": settings.match_names,
    }
