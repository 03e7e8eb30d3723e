"""Benchmark commands: `python -m benchmarks COMMAND` from the project folder (not part of the wheel)."""
from pathlib import Path
from typing import List, Optional

import typer

from spacy_xproj.defaults import DEFAULT_TEACHER, PROJECTION_PRECISION
from spacy_xproj.cli.common import DERIVED_ADJECTIVES_OPTION, LAYER, MODEL, AlignerObjective, DerivedAdjectives, Precision, comma_ints, comma_list, fail, log, positive
from spacy_xproj.encoders.aligner_training import AlignerTrainingSettings

from . import african, teachers, transfer_converged

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, help="spacy_xproj benchmarks: alignment, projection, transfer, ablation, aligner fine-tuning.")


def report_table(table: str, readme: Optional[Path], marker: str) -> None:
    """Print a benchmark's table and, when asked, replace its block in a docs page (docs/results/)."""
    from .results import update_readme

    typer.echo(table)
    if readme is not None:
        update_readme(readme, table, marker=marker)


def shared_data_or_exit(shared_data: Path) -> None:
    """Fail before any work when the benchmark data folder is missing."""
    if not shared_data.is_dir():
        fail(f"--shared-data {shared_data} is not a folder")


@app.command("bench-align")
def bench_align(
    gold_dir: Path = typer.Option(..., "--gold-dir", help="Folder with <set>.src-tgt and <set>.gold (e.g. ../shared/data/alignment-gold)."),
    parallel_dir: Optional[Path] = typer.Option(None, "--parallel-dir", help="Parallel text for training eflomal (e.g. ../shared/data/parallel)."),
    output: Path = typer.Option(Path("metrics/align.json"), "--output"),
    model: str = MODEL,
    sets: List[str] = typer.Option(["enfr", "roen", "jaen"], "--set", help="Gold sets to run (repeatable)."),
    layer: int = LAYER,
    simalign_limit: int = typer.Option(0, "--simalign-limit", min=0, help="Run simalign on the first N pairs only (0: all)."),
    fresh: bool = typer.Option(False, "--fresh", help="Discard rows already in the output instead of resuming."),
    readme: Optional[Path] = typer.Option(None, "--docs", "--readme", help="Update the bench-align table in this page (docs/results/alignment.md)."),
) -> None:
    """AER, precision, recall and pairs/s of xlmr_aligner, simalign and eflomal on gold alignments, in one run."""
    from .align import render_table, run_benchmark

    data = run_benchmark(gold_dir, parallel_dir, output, model, sets, layer=layer, simalign_limit=simalign_limit, fresh=fresh,
                         log=log)
    report_table(render_table(data), readme, "bench-align")


@app.command("bench-long-pairs")
def bench_long_pairs(
    gold_dir: Path = typer.Option(..., "--gold-dir", help="Folder with <set>.src-tgt and <set>.gold (e.g. ../shared/data/alignment-gold)."),
    output: Path = typer.Option(Path("metrics/long_pairs.json"), "--output"),
    model: str = MODEL,
    sets: List[str] = typer.Option(["enfr", "roen", "jaen"], "--set", help="Gold sets to run (repeatable)."),
    layer: int = LAYER,
    group: int = typer.Option(25, "--group", min=2, help="Gold pairs joined into one long pair."),
    fresh: bool = typer.Option(False, "--fresh", help="Discard rows already in the output instead of resuming."),
    readme: Optional[Path] = typer.Option(None, "--docs", help="Update the bench-long-pairs table in this page (docs/results/long-pairs.md)."),
) -> None:
    """AER of BiSoftmax on gold pairs joined into paragraphs, with and without its long-pair band, against one pair per line."""
    from .long_pairs import render_long_pairs_table, run_long_pairs_benchmark

    try:
        data = run_long_pairs_benchmark(gold_dir, output, model, sets, layer, group, fresh=fresh, log=log)
    except (ValueError, OSError) as err:
        fail(err)
    report_table(render_long_pairs_table(data), readme, "bench-long-pairs")


@app.command("bench-projection")
def bench_projection(
    europarl_dir: Path = typer.Option(..., "--europarl-dir", help="Folder with {en,de,es}-europarl.test.conll02 (e.g. ../shared/data/europarl-ner)."),
    parallel_dir: Optional[Path] = typer.Option(None, "--parallel-dir", help="Parallel text for training eflomal (e.g. ../shared/data/parallel)."),
    output: Path = typer.Option(Path("metrics/projection.json"), "--output"),
    model: str = MODEL,
    langs: List[str] = typer.Option(["de", "es"], "--lang"),
    pud_dir: Optional[Path] = typer.Option(None, "--pud-dir", help="Universal NER folder with {English,German,Portuguese,Swedish}-PUD/ (e.g. ../shared/data/uner): PUD rows too."),
    pud_langs: List[str] = typer.Option(["de", "pt", "sv"], "--pud-lang", help="PUD target languages (with --pud-dir)."),
    layer: int = LAYER,
    teacher: str = typer.Option(DEFAULT_TEACHER, "--teacher", help="'' to skip the teacher rows."),
    trained_teacher: Optional[Path] = typer.Option(None, "--trained-teacher", help="A second English teacher (e.g. training/en/teacher/model-best): 'trained-teacher' rows too; none, with a note, when the folder is missing."),
    fresh: bool = typer.Option(False, "--fresh"),
    readme: Optional[Path] = typer.Option(None, "--docs", "--readme", help="Update the bench-projection tables in this page (docs/results/projection.md)."),
) -> None:
    """Entity-level F1 of English entities projected onto Europarl (German, Spanish) and PUD (German, Portuguese, Swedish) against their gold, all systems in one run."""
    from .projection import TEACHER_ROWS, TRAINED_TEACHER_ROWS, europarl_gold_sets, pud_gold_sets, render_projection_tables, run_projection_benchmark

    teachers = {TEACHER_ROWS: teacher} if teacher else {}
    if trained_teacher is not None and trained_teacher.is_dir():
        teachers[TRAINED_TEACHER_ROWS] = str(trained_teacher)
    elif trained_teacher is not None:
        log(f"--trained-teacher {trained_teacher} not found: no new trained-teacher rows")
    try:
        gold_sets = europarl_gold_sets(europarl_dir, langs) + (pud_gold_sets(pud_dir, pud_langs) if pud_dir is not None else [])
    except (ValueError, OSError) as err:
        fail(err)
    data = run_projection_benchmark(gold_sets, parallel_dir, output, model, layer=layer, teachers=teachers, fresh=fresh, log=log)
    for marker, table in render_projection_tables(data).items():
        report_table(table, readme, marker)


@app.command("bench-transfer")
def bench_transfer(
    shared_data: Path = typer.Option(..., "--shared-data", help="Folder with conll/, wikiann/, europarl-ner/ and parallel/ (e.g. ../shared/data)."),
    output: Path = typer.Option(Path("metrics/transfer.json"), "--output"),
    work_dir: Path = typer.Option(Path("training/bench-transfer"), "--work-dir", help="Corpora and trained pipelines (large; not committed)."),
    langs: List[str] = typer.Option(["es", "de", "nl"], "--lang", "--langs", help="Target languages (es, de, nl): repeat the option; a comma-separated list is accepted too."),
    model: str = MODEL,
    config: Path = typer.Option(Path("configs/ner.cfg"), "--config", help="spaCy training config for every model."),
    layer: int = LAYER,
    pairs: int = typer.Option(3000, "--pairs", min=1, help="Parallel sentence pairs projected per language."),
    max_steps: int = typer.Option(250, "--max-steps", min=1, help="Training steps per model."),
    eval_limit: int = typer.Option(1000, "--eval-limit", min=0, help="Sentences scored per gold set (0: all)."),
    seeds: List[str] = typer.Option(["0"], "--seed", "--seeds", help="Training seeds (repeat the option; a comma-separated list is accepted too); every model is trained once per seed. The first also samples the parallel text and trains the projection's teacher."),
    derived_adjectives: DerivedAdjectives = DERIVED_ADJECTIVES_OPTION,
    fresh: bool = typer.Option(False, "--fresh", help="Forget earlier rows of the output (trained models in --work-dir are still reused)."),
    readme: Optional[Path] = typer.Option(None, "--docs", "--readme", help="Update the table between <!-- MARKER:start/end --> in this file."),
    readme_marker: str = typer.Option("bench-transfer", "--docs-marker", "--readme-marker", help="The block of the --docs page to update (one block per config measured)."),
) -> None:
    """Zero-shot vs projection vs combined vs sequential NER training, scored on every gold dev set per language; resumable."""
    from .transfer import TransferSettings, render_transfer_table, run_transfer_benchmark

    shared_data_or_exit(shared_data)
    seed_list = comma_ints(seeds, "--seed")
    if not seed_list:
        raise typer.BadParameter("give at least one seed", param_hint="--seeds")
    settings = TransferSettings(shared_data=shared_data, work_dir=work_dir, encoder=model, config=config, layer=layer, pairs=pairs, max_steps=max_steps, eval_limit=eval_limit, seed=seed_list[0],
                                drop_derived_adjectives=derived_adjectives is DerivedAdjectives.drop)
    data = run_transfer_benchmark(settings, output, comma_list(langs), fresh, log=log, seeds=seed_list)
    table = render_transfer_table(data)
    report_table(table, readme, readme_marker)


@app.command("bench-ablation")
def bench_ablation(
    shared_data: Path = typer.Option(..., "--shared-data", help="Folder with conll/, wikiann/, europarl-ner/ and parallel/ (e.g. ../shared/data)."),
    output: Path = typer.Option(Path("metrics/ablation.json"), "--output"),
    work_dir: Path = typer.Option(Path("training/bench-transfer"), "--work-dir", help="Shared with bench-transfer: its English teacher and projected corpora are reused."),
    langs: List[str] = typer.Option(["es", "de"], "--lang", "--langs", help="Target languages: repeat the option; a comma-separated list is accepted too."),
    seeds: List[str] = typer.Option(["0", "1"], "--seed", "--seeds", help="Training seeds (repeat the option; a comma-separated list is accepted too); every row is trained once per seed."),
    model: str = MODEL,
    layer: int = LAYER,
    pairs: int = typer.Option(3000, "--pairs", min=1, help="Parallel pairs projected per language; as many unseen target sentences are self-labelled."),
    max_steps: int = typer.Option(250, "--max-steps", min=1),
    eval_limit: int = typer.Option(1000, "--eval-limit", min=0),
    gamma: float = typer.Option(1.0, "--gamma", min=0, help="Reverse focal loss exponent of the rfl rows."),
    threshold: float = typer.Option(0.9, "--threshold", min=0, max=1, help="Self-labelling confidence threshold."),
    fresh: bool = typer.Option(False, "--fresh"),
    readme: Optional[Path] = typer.Option(None, "--docs", "--readme", help="Update the table between <!-- bench-ablation:start/end --> in this file."),
) -> None:
    """Ablation on projected data (ner; token_ner + cross-entropy, + reverse focal loss, + layer mix; reverse focal + self-training); resumable."""
    from .ablation import render_ablation_table, run_ablation_benchmark
    from .transfer import TransferSettings

    shared_data_or_exit(shared_data)
    settings = TransferSettings(shared_data=shared_data, work_dir=work_dir, encoder=model, layer=layer, pairs=pairs, max_steps=max_steps, eval_limit=eval_limit)
    data = run_ablation_benchmark(
        settings, output, comma_list(langs), comma_ints(seeds, "--seed"),
        gamma=gamma, threshold=threshold, fresh=fresh, log=log,
    )
    table = render_ablation_table(data)
    report_table(table, readme, "bench-ablation")


@app.command("bench-aligner-finetune")
def bench_aligner_finetune(
    shared_data: Path = typer.Option(..., "--shared-data", help="Folder with alignment-gold/, europarl-ner/ and parallel/ (e.g. ../shared/data)."),
    output: Path = typer.Option(Path("metrics/aligner_finetune.json"), "--output"),
    work_dir: Path = typer.Option(Path("training/aligner-finetune"), "--work-dir", help="Where the fine-tuned encoder is written (large; not committed)."),
    model: str = MODEL,
    langs: List[str] = typer.Option(["fr", "es", "it", "de"], "--lang", "--langs", help="Languages whose English news pairs train the aligner (fr, de, es, it, ru, zh): repeat the option; a comma-separated list is accepted too."),
    layer: int = typer.Option(AlignerTrainingSettings.layer, "--layer", min=1),
    objective: AlignerObjective = typer.Option(AlignerTrainingSettings.objective, "--objective"),
    steps: int = typer.Option(AlignerTrainingSettings.steps, "--steps", min=1),
    batch_size: int = typer.Option(AlignerTrainingSettings.batch_size, "--batch-size", min=1),
    learn_rate: float = typer.Option(AlignerTrainingSettings.learn_rate, "--learn-rate", callback=positive),
    adapt_steps: int = typer.Option(100, "--adapt-steps", min=1, help="Steps of the 'adapted' encoders, trained on the text of the gold sets (transductive)."),
    seed: int = typer.Option(AlignerTrainingSettings.seed, "--seed", min=0),
    in_language_text: List[str] = typer.Option([], "--in-language-text", help="LANG=ENGLISH_FILE,LANG_FILE: also train one encoder per --in-language-seeds on this line-aligned text (e.g. from catalog-pairs) and score it on every gold set (repeatable)."),
    in_language_pairs: List[str] = typer.Option(["all"], "--in-language-pairs", help="Sample sizes of the in-language text ('all' for all of it; repeat the option; a comma-separated list is accepted too); one encoder per size and seed, one pass each."),
    in_language_seeds: List[str] = typer.Option(["0", "1"], "--in-language-seeds", help="Seeds of the in-language encoders (sample and training): repeat the option; a comma-separated list is accepted too."),
    fresh: bool = typer.Option(False, "--fresh", help="Forget earlier rows and checkpoints (the encoders in --work-dir are replaced only by finished runs)."),
    readme: Optional[Path] = typer.Option(None, "--docs", "--readme", help="Update the table between <!-- bench-aligner-finetune:start/end --> in this file."),
) -> None:
    """Default vs fine-tuned encoder: AER on the gold alignments and projection F1 on Europarl-NER, with training time; resumable."""
    from .aligner_finetune import InLanguageText, render_finetune_table, run_finetune_benchmark

    shared_data_or_exit(shared_data)
    settings = AlignerTrainingSettings(model=model, layer=layer, objective=AlignerObjective(objective).value, steps=steps, batch_size=batch_size, learn_rate=learn_rate, seed=seed)
    try:
        texts = [InLanguageText.parse(spec) for spec in in_language_text]
        data = run_finetune_benchmark(shared_data, output, work_dir, model, settings, comma_list(langs),
                                      adapt_steps=adapt_steps, fresh=fresh, log=log,
                                      in_language=texts, in_language_seeds=comma_ints(in_language_seeds, "--in-language-seeds"),
                                      in_language_sizes=[None if size == "all" else size for size in comma_ints(in_language_pairs, "--in-language-pairs", ["all"])])
    except (ValueError, OSError) as err:
        fail(err)
    report_table(render_finetune_table(data), readme, "bench-aligner-finetune")


# benchmarks/transfer_converged.py keeps its own `python -m benchmarks.transfer_converged` entry too
app.command("transfer-converged")(transfer_converged.main)
# benchmarks/african.py likewise (`python -m benchmarks.african`)
app.command("african")(african.main)
app.command("teachers")(teachers.main)


@app.command("bench-scale")
def bench_scale(
    shared_data: Path = typer.Option(..., "--shared-data", help="Folder with parallel/wmt-news (e.g. ../shared/data)."),
    output: Path = typer.Option(Path("metrics/scale.json"), "--output"),
    work_dir: Path = typer.Option(Path("training/bench-scale"), "--work-dir", help="Corpora and projected shards (large; not committed)."),
    teacher: str = typer.Option(DEFAULT_TEACHER, "--teacher"),
    model: str = MODEL,
    layer: int = LAYER,
    pairs: int = typer.Option(2000, "--pairs", min=1, help="Pairs of the engine rows."),
    sizes: List[str] = typer.Option(["2000", "20000", "200000"], "--size", help="Corpus sizes of the memory rows (local, 1 worker): repeat the option; a comma-separated list is accepted too."),
    engines: List[str] = typer.Option(["local:1", "local:2", "ray:1", "ray:2"], "--engine", help="ENGINE:WORKERS rows (repeatable)."),
    precision: Precision = typer.Option(PROJECTION_PRECISION, "--precision", help="The aligner's, as project-corpus takes it (with bfloat16, a float32 row is added)."),
    one_pass_teacher: Path = typer.Option(Path("training/en/teacher/model-best"), "--one-pass-teacher", help="A teacher on the frozen --model (train-teacher's model-best): the one_pass rows, NTREX English-isiZulu with one pass over the English side against two; none, with a note, when the folder is missing."),
    one_pass_pairs: int = typer.Option(1997, "--one-pass-pairs", min=1, help="Pairs of the one_pass rows (the first N of NTREX English-isiZulu)."),
    core_pairs: int = typer.Option(0, "--core-pairs", min=0, help="WMT en-de pairs of the per-core rows (local 1x1, 2x1, 1x2 workers x threads; Ray on one and on two local nodes of one CPU); 0: none."),
    fresh: bool = typer.Option(False, "--fresh", help="Discard rows already in the output instead of resuming."),
    readme: Optional[Path] = typer.Option(None, "--docs", help="Update the bench-scale table in this page (docs/results/scale.md)."),
    summary: Optional[Path] = typer.Option(None, "--summary", help="Update the short scale-summary block in this page (README.md)."),
) -> None:
    """project-corpus end to end: pairs/s by engine and workers, peak memory by corpus size, stage costs; resumable by row."""
    from .scale import ScaleSettings, render_summary, render_table, run_scale_benchmark

    shared_data_or_exit(shared_data)
    try:
        rows = [(spec.split(":")[0], int(spec.split(":")[1])) for spec in comma_list(engines)]
    except (IndexError, ValueError):
        rows = []
    if not rows or any(engine not in ("local", "ray") or workers < 1 for engine, workers in rows):
        raise typer.BadParameter(f"{', '.join(engines)}: give ENGINE:WORKERS, ENGINE local or ray, e.g. local:2", param_hint="--engine")
    if not one_pass_teacher.is_dir():
        log(f"--one-pass-teacher {one_pass_teacher} not found: no one_pass rows")
    settings = ScaleSettings(shared_data=shared_data, work_dir=work_dir, teacher=teacher, model=model, layer=layer, pairs=pairs, precision=precision.value,
                             one_pass_teacher=str(one_pass_teacher) if one_pass_teacher.is_dir() else "", one_pass_pairs=one_pass_pairs,
                             core_pairs=core_pairs)
    try:
        data = run_scale_benchmark(settings, output, comma_ints(sizes, "--size"), rows, fresh=fresh, log=log)
    except (ValueError, OSError, RuntimeError) as err:
        fail(err)
    report_table(render_table(data), readme, "bench-scale")
    report_table(render_summary(data), summary, "scale-summary")
