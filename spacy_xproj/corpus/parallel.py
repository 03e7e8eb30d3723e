"""A parallel sentence pair as a spaCy Doc, and readers for the formats parallel corpora come in.

The pair travels as the *target* Doc; its source side (words, spaces, entities,
language) and its word alignment are plain data in Doc extensions, so
`DocBin(store_user_data=True)` round-trips them:

    doc._.xproj_source    {"words": [...], "spaces": [...], "ents": [[start, end, label], ...], "lang": "en"}
    doc._.xproj_alignment [[source_index, target_index, score], ...]   (None until aligned)
    doc._.xproj_projection {"status": "complete" | "partial" | "dropped",
                            "ents": [[start, end, label, confidence], ...], "unprojected": [[source_entity, reason], ...]}
    doc._.xproj_windows   encoder windows the longer side was read in, set only when more than 1
                          (a pair longer than the encoder's window aligns with fewer links)
    doc._.xproj_token_weights  per target word, how sure the teacher was of the tags it was taught from
                          (`project-corpus --teacher-weights`); token_ner weights its loss by them
"""
import importlib.util
import itertools
from collections.abc import Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

from ..files import atomic_open

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


def _words_and_spaces(text_or_words: Union[str, Sequence[str]], tokenizer: Callable[[str], Doc]) -> Tuple[List[str], List[bool]]:
    if isinstance(text_or_words, str):
        doc = tokenizer(text_or_words)
        return [t.text for t in doc], [bool(t.whitespace_) for t in doc]
    words = list(text_or_words)
    return words, [True] * max(len(words) - 1, 0) + [False] * min(len(words), 1)


def make_parallel_doc(
    target_nlp: Language,
    source: Union[str, Sequence[str]],
    target: Union[str, Sequence[str]],
    source_lang: Optional[str] = None,
    source_ents: Sequence[Tuple[int, int, str]] = (),
    source_tokenizer: Optional[Callable[[str], Doc]] = None,
) -> Doc:
    """A target Doc carrying its source side. Raw text is tokenized with the language's spaCy tokenizer; word lists are kept as given.

    target_nlp (Language): provides the target vocab and tokenizer.
    source / target (Union[str, Sequence[str]]): raw text or pre-tokenized words.
    source_lang (Optional[str]): source language code, used to tokenize raw source text.
    source_ents (Sequence[Tuple[int, int, str]]): source entities as word spans (start, end, label).
    source_tokenizer (Optional[Callable]): tokenizer for raw source text; default spacy.blank(source_lang).
    """
    if isinstance(target, str):
        doc = target_nlp.make_doc(target)
    else:
        words, spaces = _words_and_spaces(target, target_nlp.tokenizer)
        doc = Doc(target_nlp.vocab, words=words, spaces=spaces)
    if isinstance(source, str):
        if source_tokenizer is None:
            source_tokenizer = blank_tokenizer(source_lang or "xx")
    words, spaces = _words_and_spaces(source, source_tokenizer or target_nlp.tokenizer)
    set_source(doc, SourceSide(words=words, spaces=spaces, ents=list(source_ents), lang=source_lang))
    return doc


_BLANK_CACHE: Dict[str, Language] = {}


def blank_tokenizer(lang: str) -> Callable[[str], Doc]:
    """spaCy's rule-based tokenizer for `lang` (zh segments characters; ja needs SudachiPy: `pip install spacy_xproj[ja]`)."""
    if lang not in _BLANK_CACHE:
        if not isinstance(lang, str) or not lang.isidentifier() or importlib.util.find_spec(f"spacy.lang.{lang}") is None:
            raise ValueError(f"spaCy has no language {lang!r}. Use a code spaCy knows, e.g. 'de', 'es', 'zh', or 'xx' for multi-language.")
        try:
            _BLANK_CACHE[lang] = spacy.blank(lang)
        except ImportError as err:
            raise ImportError(f"spaCy's tokenizer for {lang!r} needs an extra package: {err}. For Japanese: pip install 'spacy_xproj[ja]'.") from err
    return _BLANK_CACHE[lang].tokenizer


def tokenize_pairs(lines: Iterator, source_lang: str, target_lang: str) -> Tuple[List[Tuple[List[str], List[str]]], int]:
    """Words of each pair (raw text goes through spaCy's tokenizer for its language); pairs with an empty side are left out.

    Returns (pairs, number left out). Works for languages without spaces (zh, ja) through spaCy's tokenizers.
    """
    source_tokenizer, target_tokenizer = blank_tokenizer(source_lang), blank_tokenizer(target_lang)

    def words(text_or_words, tokenizer) -> List[str]:
        if isinstance(text_or_words, str):
            return [t.text for t in tokenizer(text_or_words) if not t.is_space]
        return [w for w in text_or_words if w.strip()]

    pairs, empty = [], 0
    for line in lines:
        pair = (words(line.source, source_tokenizer), words(line.target, target_tokenizer))
        if pair[0] and pair[1]:
            pairs.append(pair)
        else:
            empty += 1
    return pairs, empty


# -- readers ----------------------------------------------------------------------------------
@dataclass
class ParallelLine:
    source: Union[str, List[str]]  # raw text, or words for pre-tokenized formats
    target: Union[str, List[str]]
    location: str  # "file:line" for error messages and reports


class ParallelFormatError(ValueError):
    pass


class TextLines:
    """The lines of a text file without their line ends or a leading byte order mark, read with `readline`
    so that `tell()` between lines gives a position `seek` can return to (in any encoding); text that is
    not `encoding` is a ParallelFormatError naming the file and line.

    position (Optional[int]): a `tell()` of an earlier reading, with `number` the lines before it.
    """

    def __init__(self, path: Path, encoding: str, position: Optional[int] = None, number: int = 0):
        self.path, self.encoding, self.number = Path(path), encoding, number
        if not self.path.is_file():
            raise FileNotFoundError(f"Parallel corpus file not found: {self.path}")
        self.file = self.path.open(encoding=encoding, newline="")
        if position is not None:
            self.file.seek(position)

    def tell(self) -> int:
        return self.file.tell()

    def next_line(self) -> Optional[str]:
        """The next line, None at the end."""
        try:
            line = self.file.readline()
        except UnicodeError as err:  # UnicodeDecodeError, or e.g. utf-16 without a byte order mark
            reason = err.reason if isinstance(err, UnicodeDecodeError) else str(err)
            raise ParallelFormatError(f"{self.path}:{line_of_bad_byte(self.path, self.encoding, self.number)}: not {self.encoding} text ({reason}); "
                                      "give the file's encoding with --encoding (e.g. latin-1)") from None
        if not line:
            return None
        self.number += 1
        if self.number == 1:
            line = line.lstrip("\ufeff")
        return line.rstrip("\r\n")

    def close(self) -> None:
        self.file.close()


def line_of_bad_byte(path: Path, encoding: str, lines_read: int) -> int:
    """The 1-based line holding the first byte that is not `encoding` (text files decode in blocks, so the
    line the reader had reached may be earlier)."""
    import io

    data = path.read_bytes()
    try:
        data.decode(encoding)
    except UnicodeDecodeError as err:
        prefix = data[: err.start].decode(encoding, errors="replace")
        return 1 + sum(1 for line in io.StringIO(prefix, newline="") if line.endswith(("\n", "\r")))
    except UnicodeError:
        pass
    return lines_read + 1


def parse_pharaoh_text(lines: Sequence[str], location: str) -> ParallelLine:
    """`source words ||| target words` (fast_align / awesome-align input), pre-tokenized."""
    line = lines[0]
    parts = line.split(" ||| ") if " ||| " in line else line.split("|||")
    if len(parts) != 2:
        raise ParallelFormatError(f"{location}: expected 'source ||| target', found {len(parts) - 1} separators: {line[:80]!r}")
    return ParallelLine(parts[0].split(), parts[1].split(), location)


def parse_tsv(lines: Sequence[str], location: str) -> ParallelLine:
    """Tab-separated raw text, source in the first column and target in the second (more columns ignored)."""
    columns = lines[0].split("\t")
    if len(columns) < 2:
        raise ParallelFormatError(f"{location}: expected at least 2 tab-separated columns, found {len(columns)}: {lines[0][:80]!r}")
    return ParallelLine(columns[0], columns[1], location)


def parse_jsonl(lines: Sequence[str], location: str) -> ParallelLine:
    """One JSON object a line, {"source": ..., "target": ...}, each raw text or a list of words."""
    import json

    try:
        record = json.loads(lines[0])
    except ValueError as err:
        raise ParallelFormatError(f"{location}: not a JSON object ({err}): {lines[0][:80]!r}") from None
    if not isinstance(record, dict) or not all(isinstance(record.get(side), (str, list)) for side in ("source", "target")):
        raise ParallelFormatError(f"{location}: expected {{\"source\": text or words, \"target\": text or words}}: {lines[0][:80]!r}")
    return ParallelLine(record["source"], record["target"], location)


def parse_line_aligned(lines: Sequence[str], location: str) -> ParallelLine:
    return ParallelLine(lines[0], lines[1], location)


PARSERS: Dict[str, Callable[[Sequence[str], str], ParallelLine]] = {
    "lines": parse_line_aligned, "pharaoh": parse_pharaoh_text, "tsv": parse_tsv, "jsonl": parse_jsonl,
}
FORMATS = tuple(PARSERS)


def parallel_files(path: Path, format: str = "lines", target_path: Optional[Path] = None) -> List[Path]:
    """The files a corpus of `format` is read from: source and target for "lines", one file otherwise."""
    if format not in PARSERS:
        raise ValueError(f"Unknown parallel format {format!r}: use one of {FORMATS}.")
    if format == "lines":
        if target_path is None:
            raise ValueError("format 'lines' needs two files: give target_path (the line-aligned translation).")
        return [Path(path), Path(target_path)]
    return [Path(path)]


def read_parallel_at(
    files: Sequence[Path], format: str, encoding: str = "utf-8", positions: Optional[Sequence[int]] = None, lines_before: int = 0,
    mark_every: int = 0,
) -> Iterator[Tuple[ParallelLine, Optional[Tuple[int, ...]]]]:
    """Pairs of a corpus from `positions` on (`tell()`s of an earlier reading, `lines_before` lines in), each
    with the positions of its line in every file when its index (from 0 at `positions`) is a multiple of
    `mark_every`, else None. Line-aligned files of different lengths are an error naming the line."""
    parse = PARSERS[format]
    readers = [TextLines(f, encoding, None if positions is None else positions[k], lines_before) for k, f in enumerate(files)]
    try:
        for count in itertools.count():
            marks = tuple(r.tell() for r in readers) if mark_every and count % mark_every == 0 else None
            lines = [r.next_line() for r in readers]
            if all(line is None for line in lines):
                return
            if any(line is None for line in lines):
                ended, going = (files[lines.index(None)], files[[line is None for line in lines].index(False)])
                raise ParallelFormatError(
                    f"{ended} ends at line {lines_before + count} but {going} goes on: line-aligned files must have the same number of lines."
                )
            yield parse(lines, f"{files[0]}:{lines_before + count + 1}"), marks
    finally:
        for r in readers:
            r.close()


def read_parallel(path: Path, format: str = "lines", target_path: Optional[Path] = None, encoding: str = "utf-8") -> Iterator[ParallelLine]:
    """The pairs of a corpus: "lines" (two line-aligned files, needs target_path), "pharaoh" (`src ||| tgt`),
    "tsv" or "jsonl"."""
    files = parallel_files(path, format, target_path)
    return (pair for pair, _ in read_parallel_at(files, format, encoding))


def read_line_aligned(source_path: Path, target_path: Path, encoding: str = "utf-8") -> Iterator[ParallelLine]:
    """Two files, line i of one translating line i of the other; a count mismatch is an error naming the line."""
    return read_parallel(source_path, "lines", target_path, encoding)


def join_line_aligned(pairs: Sequence[Tuple[Path, Path]], source_path: Path, target_path: Path, encoding: str = "utf-8") -> List[int]:
    """Several line-aligned corpora, one after another, written as one (UTF-8) to `source_path` and
    `target_path`; returns the pairs each contributed. A corpus whose files differ in length or are not
    `encoding` text is an error naming the file and line, and then neither output is written."""
    counts = []
    with atomic_open(source_path) as source_out, atomic_open(target_path) as target_out:
        for source_in, target_in in pairs:
            counts.append(0)
            for line in read_line_aligned(source_in, target_in, encoding):
                source_out.write(line.source + "\n")
                target_out.write(line.target + "\n")
                counts[-1] += 1
    return counts


def read_parallel_docs(
    target_nlp: Language, lines: Iterable[ParallelLine], source_lang: str, limit: int = 0, progress: bool = True
) -> Iterator[Doc]:
    """Parallel Docs from reader output, tokenizing raw text with spaCy's tokenizers for each language.

    progress (bool): a tqdm bar of the pairs handed on, on stderr when it is a terminal (with a total when
        `lines` has a length). `nlp.pipe` takes a batch at a time, so the bar runs up to a batch ahead of it.
    """
    from tqdm import tqdm

    source_tokenizer = blank_tokenizer(source_lang)
    total = len(lines) if isinstance(lines, Sized) else None
    if limit:
        total = min(total, limit) if total is not None else limit
    with tqdm(total=total, desc="pairs", unit="pair", disable=None if progress else True) as bar:
        for count, line in enumerate(lines, start=1):
            if limit and count > limit:
                return
            yield make_parallel_doc(target_nlp, line.source, line.target, source_lang=source_lang, source_tokenizer=source_tokenizer)
            bar.update(1)


@spacy.registry.readers("spacy-xproj.ParallelCorpus.v1")
def create_parallel_corpus_reader(
    path: Path, target_path: Optional[Path] = None, format: str = "lines", source_lang: str = "en", limit: int = 0
) -> Callable[[Language], Iterator[Example]]:
    """Corpus reader for configs: yields Examples whose Docs are parallel target Docs (no gold annotation).

    path (Path): the corpus file (the source side for format "lines").
    target_path (Optional[Path]): the target file for format "lines".
    format (str): "lines", "pharaoh", "tsv" or "jsonl".
    source_lang (str): source language code for tokenizing raw source text.
    limit (int): read at most this many pairs (0: all).
    """
    if format not in FORMATS:
        raise ValueError(f"Unknown parallel format {format!r}: use one of {FORMATS}.")

    def read(nlp: Language) -> Iterator[Example]:
        lines = read_parallel(path, format, target_path)
        for doc in read_parallel_docs(nlp, lines, source_lang, limit, progress=False):  # spacy train shows its own
            yield Example(doc, doc.copy())

    return read
