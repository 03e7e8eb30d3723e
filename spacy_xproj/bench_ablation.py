"""Ablation on projected data: spaCy `ner`; `token_ner` with cross-entropy; + reverse focal loss;
+ layer mix; reverse focal + self-training, each with several seeds, scored on every gold dev set. It shares the
transfer benchmark's work folder, so the English teacher and the projected corpora are reused."""
import json
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

from .bench_transfer import (
    GOLD_SETS,
    TransferSettings,
    english_teacher,
    evaluate_row,
    projected_corpus,
    resolved,
    sample_parallel_lines,
    train_pipeline,
)
from .metrics import Results

# row name -> (config, extra spacy train overrides)
ROWS: Dict[str, Tuple[str, Tuple[str, ...]]] = {
    "spacy-ner": ("configs/ner.cfg", ()),
    "token-ner-ce": ("configs/token_ner.cfg", ("--components.token_ner.loss.gamma", "0.0")),
    "token-ner-rfl": ("configs/token_ner.cfg", ("--components.token_ner.loss.gamma", "{gamma}")),
    "token-ner-rfl-mix": ("configs/token_ner_layer_mix.cfg", (
        "--components.token_ner.loss.gamma", "{gamma}",
        "--components.token_ner.model.tok2vec.layers", "{layers}", "--components.token_ner.model.tok2vec.width", "{width}",
    )),
}
# the self-training row: the teacher is this row's model, the student trains with its config
SELF_TRAINING_BASE = "token-ner-rfl"
SELF_TRAINED = f"{SELF_TRAINING_BASE}-self"


def run_ablation_benchmark(
    settings: TransferSettings,
    output: Path,
    langs: Sequence[str] = ("es", "de"),
    seeds: Sequence[int] = (0, 1),
    gamma: float = 1.0,
    threshold: float = 0.9,
    config_dir: Path = Path("."),
    fresh: bool = False,
    log: Callable[[str], None] = print,
) -> Dict:
    import spacy
    from spacy.tokens import DocBin

    from .docbins import merge_docbins
    from .files import atomic_write_bytes
    from .self_training import self_label

    results = Results(output, fresh)
    results.data["setup"] = {
        "encoder": settings.encoder, "pairs": settings.pairs, "max_steps": settings.max_steps, "eval_limit": settings.eval_limit,
        "seeds": list(seeds), "gamma": gamma, "self_training_threshold": threshold, "rows": list(ROWS) + [SELF_TRAINED],
    }
    results.save()
    settings = resolved(settings)
    encoder_config = json.loads((Path(settings.encoder) / "config.json").read_text())
    shape = {"gamma": gamma, "layers": encoder_config["num_hidden_layers"] + 1, "width": encoder_config["hidden_size"]}

    def measured(lang: str, seed: int, row: str) -> bool:
        return results.has(f"{lang}/{row}/seed{seed}")

    def model_needed(lang: str, seed: int, row: str) -> bool:
        """Rows already measured train nothing, except the self-training teacher while its student is missing."""
        return not measured(lang, seed, row) or (row == SELF_TRAINING_BASE and not measured(lang, seed, SELF_TRAINED))

    pending = [lang for lang in langs if any(model_needed(lang, seed, row) for seed in seeds for row in ROWS)]
    teacher = english_teacher(settings, log)[0] if pending else None
    for lang in pending:
        corpus_dir, _ = projected_corpus(settings, lang, teacher, log)
        for seed in seeds:
            for row, (config, overrides) in ROWS.items():
                if not model_needed(lang, seed, row):
                    continue
                out = settings.work_dir / lang / "ablation" / f"{row}-seed{seed}"
                if row == "spacy-ner" and seed == settings.seed and Path(config) == Path(settings.config):
                    out = settings.work_dir / lang / "projection"  # the transfer benchmark's projection model: same data, config, seed
                training = train_pipeline(
                    settings, out, corpus_dir / "train.spacy", corpus_dir / "dev.spacy", lang, log,
                    config=config_dir / config, seed=seed, overrides=[o.format(**shape) for o in overrides],
                )
                evaluate_row(results, f"{lang}/{row}/seed{seed}", lang, out / "model-best", training, settings, log)

            # teacher-student: the reverse-focal model labels unseen target sentences; a student learns them with the projected data
            if measured(lang, seed, SELF_TRAINED):
                continue
            teacher_dir = settings.work_dir / lang / "ablation" / f"{SELF_TRAINING_BASE}-seed{seed}" / "model-best"
            self_labelled = settings.work_dir / lang / "ablation" / f"self-labelled-seed{seed}.spacy"
            if not self_labelled.exists():
                raw = [line.target for line in sample_parallel_lines(settings.shared_data, lang, settings.pairs, settings.seed, skip=settings.pairs)]
                docs = list(self_label(spacy.load(teacher_dir), raw, threshold=threshold))
                atomic_write_bytes(self_labelled, DocBin(docs=docs).to_bytes())
            student_data = settings.work_dir / lang / "ablation" / f"student-train-seed{seed}.spacy"
            if not student_data.exists():
                merge_docbins([corpus_dir / "train.spacy", self_labelled], student_data)
            config, overrides = ROWS[SELF_TRAINING_BASE]
            out = settings.work_dir / lang / "ablation" / f"{SELF_TRAINED}-seed{seed}"
            training = train_pipeline(
                settings, out, student_data, corpus_dir / "dev.spacy", lang, log,
                config=config_dir / config, seed=seed, overrides=[o.format(**shape) for o in overrides],
            )
            evaluate_row(results, f"{lang}/{SELF_TRAINED}/seed{seed}", lang, out / "model-best", training, settings, log)
    return results.data


def render_ablation_table(data: Dict) -> str:
    rows = data["rows"]
    lines = ["| language | gold dev set | " + " | ".join(data["setup"]["rows"]) + " |", "|---|---|" + "---|" * len(data["setup"]["rows"])]
    for lang in sorted({key.split("/")[0] for key in rows}):
        for gold_name in GOLD_SETS[lang]:
            cells: List[str] = []
            for row in data["setup"]["rows"]:
                values = [r["gold"][gold_name]["f"] for key, r in rows.items() if key.startswith(f"{lang}/{row}/") and gold_name in r["gold"]]
                cells.append(" / ".join(f"{v:.1f}" for v in values))
            lines.append(f"| {lang} | {gold_name} | " + " | ".join(cells) + " |")
    means = []
    for row in data["setup"]["rows"]:
        values = [score["f"] for key, r in rows.items() if key.split("/")[1] == row for score in r["gold"].values()]
        means.append(f"{sum(values) / len(values):.1f}" if values else "")
    lines.append("| all | mean of the cells | " + " | ".join(means) + " |")
    lines.append("")
    lines.append("| row | mean training time (min) |")
    lines.append("|---|---|")
    for row in data["setup"]["rows"]:
        seconds = [r["train_seconds"] for key, r in rows.items() if key.split("/")[1] == row]
        if seconds:
            lines.append(f"| {row} | {sum(seconds) / len(seconds) / 60:.1f} |")
    lines.append("")
    lines.append("Each F1 cell: one value per seed (" + ", ".join(str(s) for s in data["setup"]["seeds"]) + f"); reverse focal gamma {data['setup']['gamma']}, "
                 f"{data['setup']['max_steps']} training steps per model.")
    return "\n".join(lines) + "\n"
