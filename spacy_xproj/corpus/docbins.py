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


ABSENT_LABEL_POLICIES = ("outside", "capitalized-unknown")


def convert_gold_file(path: Path, output: Path, lang: str, limit: int = 0) -> Tuple[int, int]:
    """Write the gold sentences of a CoNLL or WikiANN file as a DocBin; returns (sentences, entities)."""
    sizes = convert_gold_files([path], output, lang, limit)
    return sizes[0][0], sizes[0][1]


def convert_gold_files(paths: List[Path], output: Path, lang: str, limit: int = 0, absent_labels: str = "capitalized-unknown") -> List[Tuple[int, int]]:
    """Write the gold sentences of several CoNLL, WikiANN or .iob2 files as one DocBin (the first `limit` sentences of
    the first file when given); returns (sentences, entities) per file.

    Gold sets annotate different labels (CoNLL-2003 has MISC, Universal NER has not). A file's "O" is "not one of
    my labels", so where another file has a label this one lacks, `absent_labels` says what its O words teach:
    "outside" reads them as O; "capitalized-unknown" leaves its capitalized O words unannotated (no gradient),
    since an entity of the absent label (a nationality, an event) would be capitalized there."""
    if absent_labels not in ABSENT_LABEL_POLICIES:
        raise ValueError(f"absent_labels {absent_labels!r}: expected one of {', '.join(ABSENT_LABEL_POLICIES)}")
    from spacy.tokens import Span

    files = []
    for index, path in enumerate(paths):
        sentences = read_gold_file(path)
        if limit and index == 0:
            sentences = sentences[:limit]
        if not sentences:
            raise ValueError(f"{path} holds no sentences")
        files.append(sentences)
    labels = [{label for _, spans in sentences for *_, label in spans} for sentences in files]
    every_label = set().union(*labels)
    vocab = spacy.blank(resolve_language(lang).spacy_lang).vocab
    docs, sizes = [], []
    for sentences, own_labels in zip(files, labels):
        file_docs = sentences_to_docs(vocab, sentences)
        if absent_labels == "capitalized-unknown" and every_label - own_labels:
            for doc in file_docs:
                unknown = [Span(doc, token.i, token.i + 1) for token in doc if token.ent_iob_ == "O" and token.text[:1].isupper()]
                doc.set_ents(list(doc.ents), missing=unknown, default="unmodified")
        docs.extend(file_docs)
        sizes.append((len(file_docs), sum(len(doc.ents) for doc in file_docs)))
    atomic_write_bytes(Path(output), DocBin(docs=docs).to_bytes())
    return sizes


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
