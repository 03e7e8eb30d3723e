"""DocBin files for `spacy train`: gold NER converted from CoNLL/WikiANN files, and concatenations."""
from pathlib import Path
from typing import List, Tuple

import spacy
from spacy.tokens import DocBin

from .conll import read_gold_file, sentences_to_docs
from ..files import atomic_write_bytes


class DocBinError(ValueError):
    pass


def read_docbin(path: Path) -> DocBin:
    """A DocBin file (user data kept); a one-line DocBinError naming the file when it is not one or is truncated."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DocBin not found: {path}")
    try:
        return DocBin(store_user_data=True).from_bytes(path.read_bytes())
    except (ValueError, KeyError, TypeError) as err:
        reason = str(err).split(". ")[0] if str(err).startswith("[E") else f"{type(err).__name__}: {err}"
        raise DocBinError(f"{path} is not a DocBin (spaCy's .spacy format) or is truncated ({reason})") from None


def convert_gold_file(path: Path, output: Path, lang: str, limit: int = 0) -> Tuple[int, int]:
    """Write the gold sentences of a CoNLL or WikiANN file as a DocBin; returns (sentences, entities)."""
    sentences = read_gold_file(path)
    if limit:
        sentences = sentences[:limit]
    if not sentences:
        raise ValueError(f"{path} holds no sentences")
    docs = sentences_to_docs(spacy.blank(lang).vocab, sentences)
    atomic_write_bytes(Path(output), DocBin(docs=docs).to_bytes())
    return len(docs), sum(len(doc.ents) for doc in docs)


def merge_docbins(paths: List[Path], output: Path) -> List[int]:
    """Concatenate DocBins (user data kept); returns the number of Docs taken from each input."""
    merged = DocBin(store_user_data=True)
    sizes = []
    for path in paths:
        part = read_docbin(path)
        merged.merge(part)
        sizes.append(len(part))
    atomic_write_bytes(Path(output), merged.to_bytes())
    return sizes
