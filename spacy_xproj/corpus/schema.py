"""The Doc schema of a parallel pair: plain data in Doc extensions, so `DocBin(store_user_data=True)` round-trips it.

The pair travels as the *target* Doc; its source side (words, spaces, entities, language) and its
word alignment live in these extensions:

    doc._.xproj_source    {"words": [...], "spaces": [...], "ents": [[start, end, label], ...], "lang": "en"}
    doc._.xproj_alignment [[source_index, target_index, score], ...]   (None until aligned)
    doc._.xproj_projection {"status": "complete" | "partial" | "dropped",
                            "ents": [[start, end, label, confidence], ...], "unprojected": [[source_entity, reason], ...]}
    doc._.xproj_windows   encoder windows the longer side was read in, set only when more than 1
                          (a pair longer than the encoder's window aligns with fewer links)
    doc._.xproj_token_weights  per target word, how sure the teacher was of the tags it was taught from
                          (`project-corpus --teacher-weights`); token_ner weights its loss by them
"""
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc

SOURCE_EXT = "xproj_source"
ALIGNMENT_EXT = "xproj_alignment"
PROJECTION_EXT = "xproj_projection"
WINDOWS_EXT = "xproj_windows"
TOKEN_WEIGHTS_EXT = "xproj_token_weights"


def install_extensions() -> None:
    """Register the Doc extensions; idempotent. Importing this module installs nothing: the helpers below and the
    components call it, so the extensions are installed on first use."""
    for name in (SOURCE_EXT, ALIGNMENT_EXT, PROJECTION_EXT, WINDOWS_EXT, TOKEN_WEIGHTS_EXT):
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=None)


@dataclass
class SourceSide:
    words: List[str]
    spaces: List[bool]
    ents: List[Tuple[int, int, str]] = field(default_factory=list)
    lang: Optional[str] = None

    @property
    def text(self) -> str:
        return "".join(w + (" " if s else "") for w, s in zip(self.words, self.spaces))


class MissingSourceError(ValueError):
    pass


def get_source(doc: Doc) -> SourceSide:
    """The source side of a parallel Doc; a clear error if the Doc is not one."""
    install_extensions()
    data = doc._.get(SOURCE_EXT)
    if data is None:
        raise MissingSourceError(
            f"Doc {doc.text[:60]!r} has no source side (doc._.{SOURCE_EXT}). Create parallel Docs with "
            "spacy_xproj.make_parallel_doc or read them with spacy_xproj.read_parallel_docs."
        )
    return SourceSide(
        words=list(data["words"]), spaces=[bool(s) for s in data["spaces"]],
        ents=[(int(s), int(e), str(label)) for s, e, label in data.get("ents", [])], lang=data.get("lang"),
    )


def set_source(doc: Doc, source: SourceSide) -> None:
    install_extensions()
    n = len(source.words)
    if len(source.spaces) != n:
        raise ValueError(f"source has {n} words but {len(source.spaces)} spaces")
    for start, end, label in source.ents:
        if not 0 <= start < end <= n:
            raise ValueError(f"source entity ({start}, {end}, {label!r}) lies outside the {n} source words")
    doc._.set(SOURCE_EXT, {
        "words": list(source.words), "spaces": list(source.spaces),
        "ents": [[s, e, label] for s, e, label in source.ents], "lang": source.lang,
    })


def get_alignment(doc: Doc) -> Optional[List[Tuple[int, int, float]]]:
    install_extensions()
    data = doc._.get(ALIGNMENT_EXT)
    return None if data is None else [(int(i), int(j), float(s)) for i, j, s in data]


def set_alignment(doc: Doc, links: Iterable[Tuple[int, int, float]]) -> None:
    install_extensions()
    doc._.set(ALIGNMENT_EXT, [[int(i), int(j), round(float(s), 6)] for i, j, s in links])


def get_token_weights(doc: Doc) -> Optional[List[float]]:
    install_extensions()
    data = doc._.get(TOKEN_WEIGHTS_EXT)
    return None if data is None else [float(w) for w in data]


def set_token_weights(doc: Doc, weights: Sequence[float]) -> None:
    install_extensions()
    if len(weights) != len(doc):
        raise ValueError(f"{len(weights)} token weights for a Doc of {len(doc)} tokens")
    if any(not 0.0 <= w <= 1.0 for w in weights):
        raise ValueError(f"token weights must lie in [0, 1]; got {min(weights)} .. {max(weights)}")
    doc._.set(TOKEN_WEIGHTS_EXT, [round(float(w), 4) for w in weights])


def get_projection(doc: Doc) -> Optional[Dict[str, object]]:
    """The entity projector's record, with tuples whether or not the Doc went through a DocBin."""
    install_extensions()
    data = doc._.get(PROJECTION_EXT)
    if data is None:
        return None
    return {
        "status": data["status"],
        "ents": [(int(s), int(e), str(label), float(c)) for s, e, label, c in data["ents"]],
        "unprojected": [(int(i), str(reason)) for i, reason in data["unprojected"]],
    }


@dataclass
class ParallelLine:
    source: Union[str, List[str]]  # raw text, or words for pre-tokenized formats
    target: Union[str, List[str]]
    location: str  # "file:line" for error messages and reports
