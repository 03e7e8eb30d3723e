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
from typing import Callable, Dict, Optional, Sequence, Tuple

from .metrics import Results

# target language -> parallel text in the shared data: (folder, English file suffix, translation file suffix)
PARALLEL: Dict[str, Tuple[str, str, str]] = {
    "de": ("parallel/wmt-news/deu-eng", ".eng", ".deu"),
    "es": ("parallel/wmt-news/spa-eng", ".eng", ".spa"),
    "nl": ("parallel/ntrex128", "-src.eng.txt", "-ref.nld.txt"),
}
# target language -> gold dev sets in the shared data (never their test splits)
GOLD_SETS: Dict[str, Dict[str, str]] = {
    "de": {"wikiann": "wikiann/de/val.conllu", "europarl": "europarl-ner/de-europarl.test.conll02"},
    "es": {"conll2002": "conll/esp.testa", "wikiann": "wikiann/es/val.conllu", "europarl": "europarl-ner/es-europarl.test.conll02"},
    "nl": {"conll2002": "conll/ned.testa", "wikiann": "wikiann/nl/val.conllu"},
}
SYSTEMS = ("zero-shot", "projection", "combined", "sequential")


@dataclass
class TransferSettings:
    shared_data: Path
    work_dir: Path
    encoder: str
    config: Path = Path("configs/ner.cfg")
    layer: int = 7  # the aligner's layer for the projection
    pairs: int = 3000
    max_steps: int = 250
    eval_limit: int = 1000
    seed: int = 0


def sample_parallel_lines(shared_data: Path, lang: str, pairs: int, seed: int, skip: int = 0) -> list:
    """`pairs` sentence pairs drawn (seeded) from all files of the language's parallel folder, after
    the first `skip` of the same seeded order (so a second sample never repeats the first)."""
    from .parallel import read_line_aligned

    folder, source_suffix, target_suffix = PARALLEL[lang]
    lines = []
    for source_file in sorted((shared_data / folder).glob(f"*{source_suffix}")):
        target_file = Path(str(source_file)[: -len(source_suffix)] + target_suffix)
        if target_file.exists():
            lines.extend(read_line_aligned(source_file, target_file))
    if not lines:
        raise FileNotFoundError(f"no parallel {lang} text under {shared_data / folder}")
    random.Random(seed).shuffle(lines)
    return lines[skip : skip + pairs]


def train_pipeline(
    settings: TransferSettings, output: Path, train: Path, dev: Path, lang: str, log: Callable[[str], None],
    config: Optional[Path] = None, seed: Optional[int] = None, overrides: Sequence[str] = (),
) -> Dict:
    """`python -m spacy train` on an NER config (default: the settings'); resumable (a finished
    training leaves training.json)."""
    record_path = output / "training.json"
    if record_path.exists():
        return json.loads(record_path.read_text())
    command = [
        sys.executable, "-m", "spacy", "train", str(config or settings.config), "--output", str(output),
        "--paths.train", str(train), "--paths.dev", str(dev), "--nlp.lang", lang,
        "--components.transformer.model.name", settings.encoder, "--training.max_steps", str(settings.max_steps),
        "--corpora.dev.limit", "500", "--system.seed", str(settings.seed if seed is None else seed), *overrides,
    ]
    log(" ".join(command))
    output.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(output / "train.log", "w") as train_log:
        subprocess.run(command, check=True, stdout=train_log, stderr=subprocess.STDOUT)
    record = {"seconds": round(time.perf_counter() - start, 1), "max_steps": settings.max_steps, "train": str(train), "command": " ".join(command[1:])}
    record_path.write_text(json.dumps(record, indent=2))
    return record


def evaluate_row(results: Results, key: str, lang: str, model_dir: Path, training: Dict, settings: TransferSettings, log: Callable[[str], None]) -> None:
    """Score a trained pipeline on every gold dev set of `lang` into results[key] (skipped when present)."""
    import spacy

    from .evaluation import evaluate_on_gold_files

    if results.has(key):
        return
    nlp = spacy.load(model_dir)
    gold = [(name, settings.shared_data / path) for name, path in GOLD_SETS[lang].items()]
    scores = evaluate_on_gold_files(nlp, gold, settings.eval_limit)
    results.put(key, {"gold": scores, "train_seconds": training["seconds"], "train_command": training["command"]})
    log(f"{key}: " + ", ".join(f"{name} F1 {s['f']:.1f}" for name, s in scores.items()))


def english_teacher(settings: TransferSettings, log: Callable[[str], None]) -> Tuple[Path, Dict]:
    """The model trained on English gold (CoNLL-2003): the zero-shot baseline and the projection's teacher."""
    from .docbins import convert_gold_file

    english = settings.work_dir / "en"
    for split, name in (("train", "eng.train"), ("dev", "eng.testa")):
        if not (english / f"{split}.spacy").exists():
            convert_gold_file(settings.shared_data / "conll" / name, english / f"{split}.spacy", "en")
    training = train_pipeline(settings, english / "model", english / "train.spacy", english / "dev.spacy", "en", log)
    return english / "model" / "model-best", training


def projected_corpus(settings: TransferSettings, lang: str, teacher: Path, log: Callable[[str], None]) -> Tuple[Path, Optional[Dict]]:
    """Projected training data for `lang` (train.spacy, dev.spacy); the report when made in this call."""
    from .corpus import CorpusSettings, build_training_data

    corpus_dir = settings.work_dir / f"en-{lang}"
    if (corpus_dir / "train.spacy").exists():
        return corpus_dir, None
    lines = sample_parallel_lines(settings.shared_data, lang, settings.pairs, settings.seed)
    corpus_settings = CorpusSettings(source_lang="en", target_lang=lang, teacher=str(teacher), label_map={}, model=settings.encoder, layer=settings.layer, seed=settings.seed)
    report = build_training_data(lines, corpus_dir, corpus_settings, log=log)
    return corpus_dir, {k: report[k] for k in ("counts", "entities", "seconds", "train_docs", "dev_docs")}


def resolved(settings: TransferSettings) -> TransferSettings:
    """The settings with the encoder name resolved to a local directory."""
    from .encoders import resolve_encoder

    return TransferSettings(**{**settings.__dict__, "encoder": str(resolve_encoder(settings.encoder))})


def run_transfer_benchmark(
    settings: TransferSettings, output: Path, langs: Sequence[str] = ("es", "de", "nl"), fresh: bool = False, log: Callable[[str], None] = print
) -> Dict:
    from .docbins import merge_docbins

    unknown = sorted(set(langs) - set(PARALLEL))
    if unknown:
        raise ValueError(f"bench-transfer knows the languages {sorted(PARALLEL)}, not {unknown}")
    results = Results(output, fresh)
    results.data["setup"] = {
        "encoder": settings.encoder, "config": str(settings.config), "layer": settings.layer, "pairs": settings.pairs, "max_steps": settings.max_steps,
        "eval_limit": settings.eval_limit, "seed": settings.seed, "parallel": {lang: PARALLEL[lang][0] for lang in langs},
    }
    results.save()
    settings = resolved(settings)
    work = settings.work_dir

    english_model, english_training = english_teacher(settings, log)
    for lang in langs:
        evaluate_row(results, f"{lang}/zero-shot", lang, english_model, english_training, settings, log)

    for lang in langs:
        corpus_dir, report = projected_corpus(settings, lang, english_model, log)
        if report is not None:
            results.data.setdefault("projection_reports", {})[lang] = report
            results.save()
        training = train_pipeline(settings, work / lang / "projection", corpus_dir / "train.spacy", corpus_dir / "dev.spacy", lang, log)
        evaluate_row(results, f"{lang}/projection", lang, work / lang / "projection" / "model-best", training, settings, log)

        combined = work / f"en+{lang}.spacy"
        if not combined.exists():
            merge_docbins([settings.work_dir / "en" / "train.spacy", corpus_dir / "train.spacy"], combined)
        training = train_pipeline(settings, work / lang / "combined", combined, corpus_dir / "dev.spacy", lang, log)
        evaluate_row(results, f"{lang}/combined", lang, work / lang / "combined" / "model-best", training, settings, log)

        training = train_pipeline(
            settings, work / lang / "sequential", corpus_dir / "train.spacy", corpus_dir / "dev.spacy", lang, log,
            overrides=["--initialize.after_init.initial_weights", str(english_model)],
        )
        evaluate_row(results, f"{lang}/sequential", lang, work / lang / "sequential" / "model-best", training, settings, log)
    return results.data


def render_transfer_table(data: Dict) -> str:
    rows = data["rows"]
    setup = data.get("setup", {})
    lines = [
        "| language | gold dev set | zero-shot F1 | projection F1 | combined F1 | sequential F1 | projection - zero-shot | sequential - zero-shot |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def gain(f1: Dict, system: str) -> str:
        return f"{f1[system] - f1['zero-shot']:+.1f}" if f1[system] is not None and f1["zero-shot"] is not None else ""

    for lang in sorted({key.split("/")[0] for key in rows}):
        for gold_name in GOLD_SETS.get(lang, {}):
            f1 = {system: rows.get(f"{lang}/{system}", {}).get("gold", {}).get(gold_name, {}).get("f") for system in SYSTEMS}
            cells = [f"{f1[s]:.1f}" if f1[s] is not None else "" for s in SYSTEMS]
            lines.append(f"| {lang} | {gold_name} | " + " | ".join(cells) + f" | {gain(f1, 'projection')} | {gain(f1, 'sequential')} |")
    lines.append("")
    lines.append("| language | system | training time (min) | tagging speed (words/s, mean over gold sets) |")
    lines.append("|---|---|---|---|")
    for key in sorted(rows):
        row = rows[key]
        speeds = [s["words_per_second"] for s in row["gold"].values() if s.get("words_per_second")]
        lines.append(f"| {key.split('/')[0]} | {key.split('/')[1]} | {row['train_seconds'] / 60:.1f} | {sum(speeds) / len(speeds):.0f} |")
    lines.append("")
    lines.append(
        f"Setup: {setup.get('pairs')} parallel pairs per language, {setup.get('max_steps')} training steps per model, "
        f"at most {setup.get('eval_limit')} sentences per gold set; the zero-shot model is the English teacher itself "
        "(trained once, its training time is repeated on each language's row)."
    )
    return "\n".join(lines) + "\n"
