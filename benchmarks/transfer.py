"""Transfer benchmark: zero-shot (English gold) vs projection vs combined vs sequential (the English
model fine-tuned on the projected data), trained with `spacy train` and scored on every gold dev set
of each target language. Resumable: each training, projection and
evaluation is skipped when its result already exists."""
import json
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .results import Results
from spacy_xproj.defaults import DEFAULT_LAYER
from .shared_data import CONLL, ENGLISH_PARALLEL, GOLD_DEV_SETS, PARALLEL, ROOT, ParallelText, parallel_file_pairs

# target language -> its English parallel text
PARALLEL_TEXT: Dict[str, ParallelText] = {lang: ENGLISH_PARALLEL[lang] for lang in ("de", "es", "nl")}
ENCODER_FLAG = "--components.transformer.model.name"
SYSTEMS = ("zero-shot", "projection", "combined", "sequential")
# the setup entries that decide the measured values: rows measured under other ones are not mixed in
# (the encoder is checked where it matters, on each trained model, by `encoder_identity`)
MEASURED_WITH = ("config", "layer", "pairs", "max_steps", "eval_limit", "seed", "drop_derived_adjectives")



def recorded_path(path: Path) -> str:
    """A path as a results file records it: relative to the repository when inside it, so runs from the root and
    from benchmarks/ compare equal."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


@dataclass
class TransferSettings:
    shared_data: Path
    work_dir: Path
    encoder: str
    config: Path = ROOT / "configs/ner.cfg"
    layer: int = DEFAULT_LAYER  # the aligner's layer for the projection
    pairs: int = 3000
    max_steps: int = 250
    eval_limit: int = 1000
    seed: int = 0
    drop_derived_adjectives: bool = False  # the projector's setting


def parallel_folder(lang: str) -> str:
    """The language's parallel folder as the results record it, relative to the shared data."""
    return f"{PARALLEL}/{PARALLEL_TEXT[lang].folder}"


def sample_parallel_lines(shared_data: Path, lang: str, pairs: int, seed: int, skip: int = 0, text: Optional[ParallelText] = None) -> list:
    """`pairs` sentence pairs drawn (seeded) from all files of the language's parallel folder (or of
    `text`), after the first `skip` of the same seeded order (so a second sample never repeats the first)."""
    from spacy_xproj.corpus.readers import read_line_aligned

    text = text or PARALLEL_TEXT[lang]
    lines = []
    for source_file, target_file in parallel_file_pairs(shared_data / PARALLEL, text):
        lines.extend(read_line_aligned(source_file, target_file))
    if not lines:
        raise FileNotFoundError(f"no parallel {lang} text under {shared_data / PARALLEL / text.folder}")
    random.Random(seed).shuffle(lines)
    return lines[skip : skip + pairs]


def sampled_corpus(shared_data: Path, lang: str, pairs: int, seed: int, path: Path, text: Optional[ParallelText] = None):
    """`sample_parallel_lines` written to `path` as JSON lines (project-corpus reads files, and the sample
    is kept beside what was projected from it)."""
    from spacy_xproj.projecting.shards import ParallelInput
    from spacy_xproj.files import atomic_write_bytes

    records = (json.dumps({"source": line.source, "target": line.target}, ensure_ascii=False) + "\n"
               for line in sample_parallel_lines(shared_data, lang, pairs, seed, text=text))
    atomic_write_bytes(path, "".join(records).encode("utf-8"))
    return ParallelInput(path, "jsonl")


def training_command(
    settings: TransferSettings, output: Path, train: Path, dev: Path, lang: str,
    config: Optional[Path] = None, seed: Optional[int] = None, overrides: Sequence[str] = (),
) -> List[str]:
    """The `python -m spacy train` arguments (after the interpreter) of one model."""
    return [
        "-m", "spacy", "train", str(config or settings.config), "--output", str(output),
        "--paths.train", str(train), "--paths.dev", str(dev), "--nlp.lang", lang,
        ENCODER_FLAG, settings.encoder, "--training.max_steps", str(settings.max_steps),
        "--corpora.dev.limit", "500", "--system.seed", str(settings.seed if seed is None else seed), *overrides,
    ]


def recorded_config(command: str) -> Optional[Path]:
    """The config of a recorded `-m spacy train CONFIG --output ...` command; None if it is not of that form."""
    head, output_found, _ = command.partition(" --output ")
    _, train_found, config = head.partition(" train ")
    return Path(config) if output_found and train_found and config else None


def training_differences(out: Path, config: Path, options: Sequence[Tuple[str, str]]) -> Optional[List[str]]:
    """What the finished training in `out` did not use of `config` and the `--flag value` options
    (empty: trained that way); None when `out` holds no finished training. Encoders compare by
    `encoder_identity`: the same materialized encoder may live in two folders."""
    from spacy_xproj.encoders.loading import encoder_identity

    if not (out / "training.json").exists():
        return None
    command = json.loads((out / "training.json").read_text())["command"]
    used = recorded_config(command)
    differences = [] if used is not None and used.resolve() == config.resolve() else [f"config {config} (it used {used})"]
    for flag, value in options:
        if flag == ENCODER_FLAG:
            recorded = command.partition(f" {flag} ")[2].split(" ")[0]
            if encoder_identity(recorded) != encoder_identity(value):
                differences.append(f"{flag} {value}")
        elif f" {flag} {value} " not in f" {command} ":
            differences.append(f"{flag} {value}")
    return differences


def command_differences(out: Path, command: Sequence[str]) -> Optional[List[str]]:
    """`training_differences` of a `training_command` (its output folder aside)."""
    options = [(flag, value) for flag, value in zip(command[4::2], command[5::2]) if flag != "--output"]
    return training_differences(out, Path(command[3]), options)


def train_pipeline(
    settings: TransferSettings, output: Path, train: Path, dev: Path, lang: str, log: Callable[[str], None],
    config: Optional[Path] = None, seed: Optional[int] = None, overrides: Sequence[str] = (),
) -> Dict:
    """`python -m spacy train` on an NER config (default: the settings'); resumable (a finished
    training leaves training.json). A finished training with other settings is refused, not reused."""
    command = training_command(settings, output, train, dev, lang, config, seed, overrides)
    differences = command_differences(output, command)
    if differences:
        raise ValueError(
            f"{output} holds a model trained with other settings (not with {'; '.join(differences)}); "
            f"delete {output} to train it again, or use another --work-dir."
        )
    if differences == []:
        return json.loads((output / "training.json").read_text())
    log(" ".join([sys.executable, *command]))
    output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(output / "train.log", "w") as train_log:
        subprocess.run([sys.executable, *command], check=True, stdout=train_log, stderr=subprocess.STDOUT)
    record = {"seconds": round(time.perf_counter() - start, 1), "max_steps": settings.max_steps, "train": str(train), "command": " ".join(command)}
    (output / "training.json").write_text(json.dumps(record, indent=2))
    return record


def evaluate_row(results: Results, key: str, lang: str, model_dir: Path, training: Dict, settings: TransferSettings, log: Callable[[str], None]) -> None:
    """Score a trained pipeline on every gold dev set of `lang` into results[key] (skipped when present)."""
    import spacy

    from spacy_xproj.corpus.evaluation import evaluate_on_gold_files

    if results.has(key):
        return
    nlp = spacy.load(model_dir)
    gold = [(name, settings.shared_data / path) for name, path in GOLD_DEV_SETS[lang].items()]
    scores = evaluate_on_gold_files(nlp, gold, settings.eval_limit)
    results.put(key, {"gold": scores, "train_seconds": training["seconds"], "train_command": training["command"]})
    log(f"{key}: " + ", ".join(f"{name} F1 {s['f']:.1f}" for name, s in scores.items()))


def english_model(settings: TransferSettings, seed: int, log: Callable[[str], None]) -> Tuple[Path, Dict]:
    """The model trained on English gold (CoNLL-2003) with a training seed: the zero-shot baseline; with
    `settings.seed`, also the projection's teacher."""
    from spacy_xproj.corpus.docbins import convert_gold_file

    english = settings.work_dir / "en"
    for split, name in (("train", "eng.train"), ("dev", "eng.testa")):
        if not (english / f"{split}.spacy").exists():
            convert_gold_file(settings.shared_data / CONLL / name, english / f"{split}.spacy", "en")
    output = english / seeded_name("model", seed, settings)
    training = train_pipeline(settings, output, english / "train.spacy", english / "dev.spacy", "en", log, seed=seed)
    return output / "model-best", training


def seeded_name(name: str, seed: int, settings: TransferSettings) -> str:
    """A model folder's name for a training seed: the first seed keeps the plain name."""
    return name if seed == settings.seed else f"{name}-seed{seed}"


def target_name(lang: str, settings: TransferSettings) -> str:
    """The name of a language's projected corpus and models in the work folder: projections made
    with other projector settings live beside the default ones and share the English teacher."""
    return f"{lang}-no-derived-adjectives" if settings.drop_derived_adjectives else lang


def row_key(lang: str, system: str, seed: int) -> str:
    return f"{lang}/{system}/seed{seed}"


def projected_corpus(settings: TransferSettings, lang: str, teacher: Path, log: Callable[[str], None]) -> Tuple[Path, Optional[Dict]]:
    """Projected training data for `lang` (train/, dev/); the report when made in this call."""
    from spacy_xproj.projecting.options import resolve_projection
    from spacy_xproj.projecting.run import build_training_data

    corpus_dir = settings.work_dir / f"en-{target_name(lang, settings)}"
    if (corpus_dir / "report.json").exists():
        return corpus_dir, None
    corpus = sampled_corpus(settings.shared_data, lang, settings.pairs, settings.seed, corpus_dir.with_suffix(".pairs.jsonl"))
    # float32: the precision every committed row of this benchmark was projected in
    corpus_settings, engine = resolve_projection(teacher=str(teacher), label_map="none", precision="float32", log=log, source_lang="en", target_lang=lang,
                                                 model=settings.encoder, layer=settings.layer, seed=settings.seed,
                                                 drop_derived_adjectives=settings.drop_derived_adjectives)
    report = build_training_data(corpus, corpus_dir, corpus_settings, log=log, engine=engine)
    return corpus_dir, {k: report[k] for k in ("counts", "entities", "seconds", "train_docs", "dev_docs")}


def resolved(settings: TransferSettings) -> TransferSettings:
    """The settings with the encoder name resolved to a local directory."""
    from spacy_xproj.encoders.loading import resolve_encoder

    return TransferSettings(**{**settings.__dict__, "encoder": str(resolve_encoder(settings.encoder))})


def run_transfer_benchmark(
    settings: TransferSettings, output: Path, langs: Sequence[str] = ("es", "de", "nl"), fresh: bool = False,
    log: Callable[[str], None] = print, seeds: Sequence[int] = (),
) -> Dict:
    """Every system for every language, trained once per seed of `seeds` (default: `settings.seed`).
    The parallel sample and the teacher (the English model of `settings.seed`), hence the projected
    corpora, are the same for all seeds: the seeds measure the training's own variance."""
    from spacy_xproj.corpus.docbins import merge_docbins

    unknown = sorted(set(langs) - set(PARALLEL_TEXT))
    if unknown:
        raise ValueError(f"bench-transfer knows the languages {sorted(PARALLEL_TEXT)}, not {unknown}")
    seeds = list(seeds) or [settings.seed]
    if seeds[0] != settings.seed:
        seeds = [settings.seed] + [seed for seed in seeds if seed != settings.seed]
    results = Results(output, fresh)
    setup = {
        "encoder": settings.encoder, "config": recorded_path(settings.config), "layer": settings.layer, "pairs": settings.pairs, "max_steps": settings.max_steps,
        "eval_limit": settings.eval_limit, "seed": settings.seed, "seeds": seeds, "parallel": {lang: parallel_folder(lang) for lang in langs},
        "drop_derived_adjectives": settings.drop_derived_adjectives,
    }
    results.use_setup(setup, MEASURED_WITH, {"drop_derived_adjectives": False})
    settings = resolved(settings)
    work = settings.work_dir

    # a recorded row needs no model: a run resumes from the output alone, even without the work folder
    pending = [(lang, system, seed) for seed in seeds for lang in langs for system in SYSTEMS if not results.has(row_key(lang, system, seed))]
    # the projected corpora come from the first seed's English model and serve every seed
    projected_langs = [lang for lang in langs if any(row_lang == lang and system != "zero-shot" for row_lang, system, _ in pending)]
    if projected_langs:
        teacher, _ = english_model(settings, settings.seed, log)
    corpora = {}
    for lang in projected_langs:
        corpus_dir, report = projected_corpus(settings, lang, teacher, log)
        if report is not None:
            results.data.setdefault("projection_reports", {})[lang] = report
            results.save()
        combined = work / f"en+{target_name(lang, settings)}.spacy"
        if not combined.exists():
            merge_docbins([work / "en" / "train.spacy", corpus_dir / "train"], combined)
        corpora[lang] = (corpus_dir, combined)

    for seed in seeds:
        rows = [(lang, system) for lang, system, row_seed in pending if row_seed == seed]
        if any(system in ("zero-shot", "sequential") for _, system in rows):
            english, english_training = english_model(settings, seed, log)
        for lang, system in rows:
            if system == "zero-shot":
                evaluate_row(results, row_key(lang, system, seed), lang, english, english_training, settings, log)
                continue
            corpus_dir, combined = corpora[lang]
            train = combined if system == "combined" else corpus_dir / "train"
            # sequential: the English model of the same seed, fine-tuned on the projected data
            overrides = ["--initialize.after_init.initial_weights", str(english)] if system == "sequential" else []
            model_dir = work / target_name(lang, settings) / seeded_name(system, seed, settings)
            training = train_pipeline(settings, model_dir, train, corpus_dir / "dev", lang, log, seed=seed, overrides=overrides)
            evaluate_row(results, row_key(lang, system, seed), lang, model_dir / "model-best", training, settings, log)
    return results.data


def render_transfer_table(data: Dict) -> str:
    """F1 per language, gold set and system (one value per seed; the gains compare means over seeds),
    then training time and tagging speed per system (means over seeds)."""
    rows = data["rows"]
    setup = data.get("setup", {})
    seeds = setup.get("seeds", [setup.get("seed", 0)])

    def scores(lang: str, system: str) -> List[Dict]:
        return [rows[key] for seed in seeds if (key := row_key(lang, system, seed)) in rows]

    def mean(values: List[float]) -> Optional[float]:
        return sum(values) / len(values) if values else None

    lines = [
        "| language | gold dev set | zero-shot F1 | projection F1 | combined F1 | sequential F1 | projection - zero-shot | combined - zero-shot | sequential - zero-shot |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    langs = sorted({key.split("/")[0] for key in rows})
    for lang in langs:
        for gold_name in GOLD_DEV_SETS.get(lang, {}):
            f1 = {system: [row["gold"][gold_name]["f"] for row in scores(lang, system) if gold_name in row["gold"]] for system in SYSTEMS}
            cells = [" / ".join(f"{value:.1f}" for value in f1[system]) for system in SYSTEMS]
            gains = []
            for system in SYSTEMS[1:]:
                both = f1[system] and f1["zero-shot"]
                gains.append(f"{mean(f1[system]) - mean(f1['zero-shot']):+.1f}" if both else "")
            lines.append(f"| {lang} | {gold_name} | " + " | ".join(cells) + " | " + " | ".join(gains) + " |")
    lines.append("")
    lines.append("| language | system | training time (min) | tagging speed (words/s, mean over gold sets) |")
    lines.append("|---|---|---|---|")
    for lang in langs:
        for system in sorted(SYSTEMS):
            measured = scores(lang, system)
            if not measured:
                continue
            speeds = [s["words_per_second"] for row in measured for s in row["gold"].values() if s.get("words_per_second")]
            lines.append(f"| {lang} | {system} | {mean([row['train_seconds'] for row in measured]) / 60:.1f} | {mean(speeds):.0f} |")
    lines.append("")
    per_seed = f"one value per training seed ({', '.join(map(str, seeds))}), gains between means; " if len(seeds) > 1 else ""
    lines.append(
        f"Setup: {setup.get('pairs')} parallel pairs per language, {setup.get('max_steps')} training steps per model, "
        f"at most {setup.get('eval_limit')} sentences per gold set; {per_seed}the zero-shot model is the English teacher itself "
        "(trained once per seed, its training time is repeated on each language's row)."
    )
    return "\n".join(lines) + "\n"
