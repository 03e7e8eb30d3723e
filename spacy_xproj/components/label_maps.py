"""Label maps: which teacher labels become which target labels, and the map a teacher's labels call for."""
from typing import Dict, List, Optional, Sequence

from spacy import util
from spacy.language import Language

CONLL_LABELS = ("LOC", "MISC", "ORG", "PER")

# OntoNotes (en_core_web_sm and friends) -> CoNLL PER/ORG/LOC/MISC; dates, numbers and amounts are dropped.
ONTONOTES_TO_CONLL: Dict[str, Optional[str]] = {
    "PERSON": "PER", "ORG": "ORG", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC",
    "NORP": "MISC", "EVENT": "MISC", "WORK_OF_ART": "MISC", "LAW": "MISC", "LANGUAGE": "MISC", "PRODUCT": "MISC",
    "DATE": None, "TIME": None, "PERCENT": None, "MONEY": None, "QUANTITY": None, "ORDINAL": None, "CARDINAL": None,
}


@util.registry.misc("spacy-xproj.ontonotes_to_conll.v1")
def ontonotes_to_conll() -> Dict[str, Optional[str]]:
    """Label map from OntoNotes (spaCy's English pipelines) to CoNLL PER/ORG/LOC/MISC."""
    return dict(ONTONOTES_TO_CONLL)


def ner_labels(nlp: Language, name: str) -> List[str]:
    """The entity labels of the pipeline's components that set `doc.ents`; a ValueError naming the
    pipeline when it has none."""
    labels = set()
    for pipe_name in nlp.pipe_names:
        if "doc.ents" in nlp.get_pipe_meta(pipe_name).assigns:
            labels.update(getattr(nlp.get_pipe(pipe_name), "labels", ()) or ())
    if not labels:
        raise ValueError(f"teacher {name!r} has no component that sets entities (pipeline {nlp.pipe_names}): give an English NER pipeline")
    return sorted(labels)


def label_map_for(labels: Sequence[str], name: str) -> Optional[Dict[str, Optional[str]]]:
    """`--label-map auto`: {} (keep) for a teacher with CoNLL labels, None (the OntoNotes -> CoNLL map)
    for an OntoNotes teacher; a ValueError naming the labels otherwise."""
    if set(labels) <= set(CONLL_LABELS):
        return {}
    if set(labels) <= set(ontonotes_to_conll()):
        return None
    unknown = sorted(set(labels) - set(CONLL_LABELS) - set(ontonotes_to_conll()))
    raise ValueError(
        f"teacher {name!r} has labels outside both the CoNLL ({', '.join(CONLL_LABELS)}) and the OntoNotes scheme: "
        f"{unknown}; pass --label-map FILE.json mapping each label to PER, ORG, LOC, MISC or null"
    )


UNMAPPED = ("keep", "drop", "error")


def map_label(label: str, label_map: Dict[str, Optional[str]], unmapped: str = "keep") -> Optional[str]:
    """The target label for a source label, or None to drop it: an empty map keeps every label; a label missing from
    a non-empty map is kept, dropped, or a ValueError, as `unmapped` says."""
    if not label_map or label in label_map:
        return label_map.get(label, label) or None
    if unmapped == "error":
        raise ValueError(f"source label {label!r} is not in label_map {sorted(label_map)}; add it (null drops it) or set unmapped = \"keep\" or \"drop\".")
    return label if unmapped == "keep" else None


def scheme_label_map(teacher_labels: Sequence[str], label_map: Optional[Dict[str, Optional[str]]], target_labels: Sequence[str]) -> Dict[str, Optional[str]]:
    """Every teacher label -> a label of the target scheme or None (dropped): through `label_map` (None: OntoNotes ->
    CoNLL, with DATE kept as DATE when the scheme has it; {}: as they are), then only the scheme's labels. MasakhaNER's
    scheme (PER, ORG, LOC, DATE) drops a CoNLL teacher's MISC; WikiANN's (PER, ORG, LOC) drops MISC and DATE."""
    targets = set(target_labels)
    mapping: Dict[str, Optional[str]] = {}
    for label in teacher_labels:
        if label_map is None:
            mapped = "DATE" if label == "DATE" and "DATE" in targets else ONTONOTES_TO_CONLL.get(label, label)
        else:
            mapped = map_label(label, label_map)
        mapping[label] = mapped if mapped in targets else None
    return mapping
