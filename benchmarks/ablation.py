"""Ablation on projected data: spaCy `ner`; `token_ner` with cross-entropy; + reverse focal loss;
+ layer mix; reverse focal + self-training, each with several seeds, scored on every gold dev set. It shares the
transfer benchmark's work folder, so the English teacher and the projected corpora are reused.

A model folder whose finished training used another config or other options than the run would use is
refused by `train_pipeline`, with the folder to delete. Self-labelled data is named after everything
that decides it."""
import hashlib
import json
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

from .transfer import (
    PARALLEL_TEXT,
    TransferSettings,
    command_differences,
    english_model,
    evaluate_row,
    projected_corpus,
    resolved,
    row_key,
    sample_parallel_lines,
    train_pipeline,
    training_command,
)
from .results import Results
from .shared_data import GOLD_DEV_SETS, ROOT

# row name -> (config, extra spacy train overrides)
ROWS: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "spacy-ner": ("configs/ner.cfg", ()),
    "token-ner-ce": ("configs/token_ner.cfg", ("--components.token_ner.loss.gamma", "0.0")),
    "token-ner-rfl": ("configs/token_ner.cfg", ("--components.token_ner.loss.gamma", "{gamma}")),
    "token-ner-rfl-mix": ("configs/token_ner_layer_mix.cfg", (
        "--components.token_ner.loss.gamma", "{gamma}",
        "--components.token_ner.model.tok2vec.layers", "{layers}", "--components.token_ner.model.tok2vec.width", "{width}",
        # every encoder layer learning, as in the other rows and as the ablation was measured
        "--initialize.after_init.freeze_layers", "0",
    )),
}
# the self-training row: the teacher is this row's model, the student trains with its config
SELF_TRAINING_BASE = "token-ner-rfl"
SELF_TRAINED = f"{SELF_TRAINING_BASE}-self"
# the setup entries that decide the measured values: rows measured under other ones are not mixed in
MEASURED_WITH = ("encoder", "pairs", "max_steps", "eval_limit", "gamma", "self_training_threshold")


def run_ablation_benchmark(
    settings: TransferSettings,
    output: Path,
    langs: Sequence[str] = ("es", "de"),
    seeds: Sequence[int] = (0, 1),
    gamma: float = 1.0,
    threshold: float = 0.9,
    config_dir: Path = ROOT,
    fresh: bool = False,
    log: Callable[[str], None] = print,
) -> Dict:
    import spacy
    from spacy.tokens import DocBin

    from spacy_xproj.corpus.docbins import merge_docbins
    from spacy_xproj.files import atomic_write_bytes
    from spacy_xproj.ner.self_training import self_label

    unknown = sorted(set(langs) - set(PARALLEL_TEXT))
    if unknown:
        raise ValueError(f"bench-ablation knows the languages {sorted(PARALLEL_TEXT)}, not {unknown}")
    results = Results(output, fresh)
    setup = {
        "encoder": settings.encoder, "pairs": settings.pairs, "max_steps": settings.max_steps, "eval_limit": settings.eval_limit,
        "seeds": list(seeds), "gamma": gamma, "self_training_threshold": threshold, "rows": list(ROWS) + [SELF_TRAINED],
    }
    results.use_setup(setup, MEASURED_WITH, {})
    settings = resolved(settings)
    encoder_config = json.loads((Path(settings.encoder) / "config.json").read_text())
    shape = {"gamma": gamma, "layers": encoder_config["num_hidden_layers"] + 1, "width": encoder_config["hidden_size"]}

    def measured(lang: str, seed: int, row: str) -> bool:
        return results.has(row_key(lang, row, seed))

    def model_needed(lang: str, seed: int, row: str) -> bool:
        """Rows already measured train nothing, except the self-training teacher while its student is missing."""
        return not measured(lang, seed, row) or (row == SELF_TRAINING_BASE and not measured(lang, seed, SELF_TRAINED))

    pending = [lang for lang in langs if any(model_needed(lang, seed, row) for seed in seeds for row in ROWS)]
    teacher = english_model(settings, settings.seed, log)[0] if pending else None
    for lang in pending:
        corpus_dir, _ = projected_corpus(settings, lang, teacher, log)
        for seed in seeds:
            for row, (config, overrides) in ROWS.items():
                if not model_needed(lang, seed, row):
                    continue
                out = settings.work_dir / lang / "ablation" / f"{row}-seed{seed}"
                row_overrides = [o.format(**shape) for o in overrides]
                projection = settings.work_dir / lang / "projection"  # the transfer benchmark's model: reused if trained this way
                as_projection = training_command(settings, projection, corpus_dir / "train", corpus_dir / "dev", lang, config_dir / config, seed, row_overrides)
                if row == "spacy-ner" and command_differences(projection, as_projection) == []:
                    out = projection
                training = train_pipeline(settings, out, corpus_dir / "train", corpus_dir / "dev", lang, log, config=config_dir / config, seed=seed, overrides=row_overrides)
                evaluate_row(results, row_key(lang, row, seed), lang, out / "model-best", training, settings, log)

            # teacher-student: the reverse-focal model labels unseen target sentences; a student learns them with the projected data
            if measured(lang, seed, SELF_TRAINED):
                continue
            ablation = settings.work_dir / lang / "ablation"
            teacher_dir = ablation / f"{SELF_TRAINING_BASE}-seed{seed}"
            name = self_labelled_name(json.loads((teacher_dir / "training.json").read_text())["command"], threshold, settings)
            self_labelled = ablation / f"self-labelled-seed{seed}-{name}.spacy"
            if not self_labelled.exists():
                raw = [line.target for line in sample_parallel_lines(settings.shared_data, lang, settings.pairs, settings.seed, skip=settings.pairs)]
                docs = list(self_label(spacy.load(teacher_dir / "model-best"), raw, threshold=threshold))
                atomic_write_bytes(self_labelled, DocBin(docs=docs).to_bytes())
            student_data = ablation / f"student-train-seed{seed}-{name}.spacy"
            if not student_data.exists():
                merge_docbins([corpus_dir / "train", self_labelled], student_data)
            config, overrides = ROWS[SELF_TRAINING_BASE]
            out = ablation / f"{SELF_TRAINED}-seed{seed}"
            training = train_pipeline(settings, out, student_data, corpus_dir / "dev", lang, log, config=config_dir / config, seed=seed, overrides=[o.format(**shape) for o in overrides])
            evaluate_row(results, row_key(lang, SELF_TRAINED, seed), lang, out / "model-best", training, settings, log)
    return results.data


def self_labelled_name(teacher_command: str, threshold: float, settings: TransferSettings) -> str:
    """What decides the self-labelled data, as a file name part: the threshold, and a digest of the
    teacher's training command and of the sample of target sentences (pairs, seed)."""
    digest = hashlib.sha256(json.dumps([teacher_command, threshold, settings.pairs, settings.seed]).encode("utf-8")).hexdigest()[:10]
    return f"threshold{threshold}-{digest}"


def render_ablation_table(data: Dict) -> str:
    rows, seeds = data["rows"], data["setup"]["seeds"]
    langs = sorted({key.split("/")[0] for key in rows})

    def results_of(row: str) -> List[Dict]:
        """The results of `row` for the setup's seeds, in the setup's language order."""
        return [rows[key] for lang in langs for seed in seeds if (key := row_key(lang, row, seed)) in rows]

    lines = ["| language | gold dev set | " + " | ".join(data["setup"]["rows"]) + " |", "|---|---|" + "---|" * len(data["setup"]["rows"])]
    for lang in langs:
        for gold_name in GOLD_DEV_SETS[lang]:
            cells: List[str] = []
            for row in data["setup"]["rows"]:
                # one place per seed, in the setup's order; a blank one where that seed has no value
                values = [rows.get(row_key(lang, row, seed), {}).get("gold", {}).get(gold_name, {}).get("f") for seed in seeds]
                cells.append(" / ".join("" if v is None else f"{v:.1f}" for v in values) if any(v is not None for v in values) else "")
            lines.append(f"| {lang} | {gold_name} | " + " | ".join(cells) + " |")
    means = []
    for row in data["setup"]["rows"]:
        values = [score["f"] for r in results_of(row) for score in r["gold"].values()]
        means.append(f"{sum(values) / len(values):.1f}" if values else "")
    lines.append("| all | mean of the cells | " + " | ".join(means) + " |")
    lines.append("")
    lines.append("| row | mean training time (min) |")
    lines.append("|---|---|")
    for row in data["setup"]["rows"]:
        seconds = [r["train_seconds"] for r in results_of(row)]
        if seconds:
            lines.append(f"| {row} | {sum(seconds) / len(seconds) / 60:.1f} |")
    lines.append("")
    lines.append("Each F1 cell: one value per seed (" + ", ".join(str(s) for s in data["setup"]["seeds"]) + f"); reverse focal gamma {data['setup']['gamma']}, "
                 f"{data['setup']['max_steps']} training steps per model.")
    return "\n".join(lines) + "\n"
