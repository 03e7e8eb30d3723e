"""DocBin commands: convert-conll (gold NER), merge-docbins and render (HTML view of projected pairs)."""
from pathlib import Path
from typing import List

import typer

from .app import app
from .common import fail, outputs_apart_or_exit, writable_or_exit


@app.command("render")
def render(
    docbin: Path = typer.Argument(..., help="A DocBin of projected pairs, or a folder of them (e.g. corpus/en-de/train)."),
    output: Path = typer.Argument(..., help="HTML file to write."),
    sample: int = typer.Option(20, "--sample", min=1, help="Number of pairs to show (a random sample if there are more)."),
    seed: int = typer.Option(0, "--seed", min=0),
    min_confidence: float = typer.Option(0.5, "--min-confidence", min=0, max=1, help="Projections below this are marked as low confidence."),
) -> None:
    """Write an HTML page showing source entities, projected entities and the alignment links of sampled pairs."""
    from ..files import atomic_write_bytes
    from ..corpus.visualize import render_page, sample_docbin

    if not docbin.exists():
        fail(f"{docbin} not found")
    outputs_apart_or_exit([(output, "OUTPUT")], [(docbin, "DOCBIN")])
    writable_or_exit(output)
    try:
        docs = sample_docbin(docbin, sample, seed)
        page = render_page(docs, title=f"{docbin} ({len(docs)} pairs)", min_confidence=min_confidence)
    except (ValueError, KeyError, TypeError, FileNotFoundError) as err:  # KeyError, TypeError: Docs that are not parallel pairs
        fail(f"{err}" if isinstance(err, (ValueError, FileNotFoundError)) else f"error: {docbin} does not hold projected pairs ({type(err).__name__}: {err})")
    atomic_write_bytes(output, page.encode("utf-8"))
    typer.echo(str(output))


@app.command("convert-conll")
def convert_conll(
    gold: Path = typer.Argument(..., help="Gold NER file: CoNLL-2002/2003 (word first, IOB1/IOB2 tag last) or WikiANN .conllu."),
    output: Path = typer.Argument(..., help="DocBin to write (e.g. corpus/en/train.spacy)."),
    lang: str = typer.Option("en", "--lang", help="Language of the Docs' vocabulary."),
    limit: int = typer.Option(0, "--limit", min=0, help="Keep the first N sentences only (0: all)."),
) -> None:
    """Convert gold NER sentences into a DocBin for `spacy train` (one Doc per sentence, the gold tokens)."""
    from ..corpus.docbins import convert_gold_file

    outputs_apart_or_exit([(output, "OUTPUT")], [(gold, "GOLD")])
    writable_or_exit(output)
    try:
        n_docs, n_ents = convert_gold_file(gold, output, lang, limit)
    except (ValueError, FileNotFoundError) as err:
        fail(err)
    typer.echo(f"{output}: {n_docs} sentences, {n_ents} entities")


@app.command("merge-docbins")
def merge_docbins_command(
    inputs: List[Path] = typer.Argument(..., help="DocBin files (or folders of them, e.g. project-corpus's train/) to concatenate, in order."),
    output: Path = typer.Option(..., "--output", help="DocBin to write."),
) -> None:
    """Concatenate DocBins (e.g. English gold and projected target sentences for combined training)."""
    from ..corpus.docbins import merge_docbins

    outputs_apart_or_exit([(output, "--output")], [(path, "INPUTS") for path in inputs])
    writable_or_exit(output)
    try:
        sizes = merge_docbins(inputs, output)
    except (ValueError, FileNotFoundError) as err:
        fail(err)
    typer.echo(f"{output}: {sum(sizes)} docs ({' + '.join(map(str, sizes))})")
