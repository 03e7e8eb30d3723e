"""DocBin files for `spacy train`: gold NER converted from CoNLL/WikiANN files, and concatenations."""
import warnings
from pathlib import Path
from typing import List, Tuple

import spacy
from spacy.tokens import DocBin

from .conll import read_gold_file, sentences_to_docs
from .languages import resolve_language
from ..files import atomic_write_bytes


class DocBinError(ValueError):
    pass


def read_docbin(path: Path) -> DocBin:
    """A DocBin file (user data kept), or the `.spacy` files of a folder (e.g. project-corpus's sharded
    `train/`) concatenated in `spacy train`'s order; a one-line DocBinError naming the file when one is
    not a DocBin or is truncated."""
    path = Path(path)
    if path.is_dir():
        from spacy.training.corpus import walk_corpus

        merged = DocBin(store_user_data=True)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"\[W090\]")  # an empty folder: said below, with its path
            files = walk_corpus(path, ".spacy")
        if not files:
            raise FileNotFoundError(f"{path} holds no DocBin (.spacy) files")
        for file in files:
            merged.merge(read_docbin(file))
        return merged
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
    docs = sentences_to_docs(spacy.blank(resolve_language(lang).spacy_lang).vocab, sentences)
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
