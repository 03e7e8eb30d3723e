"""Readers for the formats parallel corpora come in (line-aligned files, Pharaoh `|||`, TSV, JSON lines),
and the corpus reader for training configs."""
import itertools
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import spacy
from spacy.language import Language
from spacy.training import Example

from ..files import atomic_open
from .pair_docs import read_parallel_docs
from .schema import ParallelLine


class ParallelFormatError(ValueError):
    pass


class TextLines:
    """The lines of a text file without their line ends or a leading byte order mark, read with `readline`
    so that `tell()` between lines gives a position `seek` can return to (in any encoding); text that is
    not `encoding` is a ParallelFormatError naming the file and line.

    A line ends at `\n` or `\r\n`, as `wc -l` counts: a lone `\r` inside a line (a carriage return that is
    not part of `\r\n`) does not end it, but becomes a space, so that two line-aligned files stay aligned and
    no later reader (`str.splitlines`, a Doc's whitespace) sees it as a break.

    position (Optional[int]): a `tell()` of an earlier reading, with `number` the lines before it.
    """

    def __init__(self, path: Path, encoding: str, position: Optional[int] = None, number: int = 0):
        self.path, self.encoding, self.number = Path(path), encoding, number
        if not self.path.is_file():
            raise FileNotFoundError(f"Parallel corpus file not found: {self.path}")
        self.file = self.path.open(encoding=encoding, newline="\n")  # "\n" ends a line, "\r" alone does not
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
        return line.rstrip("\r\n").replace("\r", " ")

    def close(self) -> None:
        self.file.close()


def line_of_bad_byte(path: Path, encoding: str, lines_read: int) -> int:
    """The 1-based line holding the first byte that is not `encoding` (text files decode in blocks, so the
    line the reader had reached may be earlier)."""
    data = path.read_bytes()
    try:
        data.decode(encoding)
    except UnicodeDecodeError as err:
        prefix = data[: err.start].decode(encoding, errors="replace")
        return 1 + prefix.count("\n")  # lines end at "\n" (and "\r\n"), as TextLines reads them
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


def join_line_aligned(pairs: Sequence[Tuple[Path, Path]], source_path: Path, target_path: Path, encoding: str = "utf-8",
                      limits: Sequence[int] = ()) -> List[int]:
    """Several line-aligned corpora, one after another, written as one (UTF-8) to `source_path` and
    `target_path`; returns the pairs each contributed. `limits[i]` > 0 takes only the first pairs of corpus i.
    A corpus whose files differ in length or are not `encoding` text is an error naming the file and line,
    and then neither output is written."""
    counts = []
    with atomic_open(source_path) as source_out, atomic_open(target_path) as target_out:
        for number, (source_in, target_in) in enumerate(pairs):
            counts.append(0)
            limit = limits[number] if number < len(limits) else 0
            lines = read_line_aligned(source_in, target_in, encoding)
            for line in itertools.islice(lines, limit or None):
                source_out.write(line.source + "\n")
                target_out.write(line.target + "\n")
                counts[-1] += 1
    return counts


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
