"""Transfer benchmark with the frozen-encoder English teacher (issue 18): the teacher zero-shot against
students trained on the entities it projects, on every gold dev set of each target language.

Systems (the teacher is `train-teacher`'s pipeline, CoNLL labels, so nothing is mapped):
- zero-shot: the teacher itself on the target language;
- projection: the fine-tuned default student (configs/token_ner_layer_mix.cfg) on the projected corpus;
- combined: the fine-tuned student on English gold (the teacher's training sentences) plus the projected corpus;
- projection-frozen: the frozen-encoder NER (configs/frozen_ner.cfg) trained on the projected corpus;
- projection-frozen-reverse-focal: the same with the fine-tuned student's loss, the reverse focal loss (Li, He & Xu
  2021) that counts labels the student confidently contradicts less, instead of cross-entropy;
- sequential-frozen: the same, starting from the teacher's head (its weights as initial weights; a fine-tuned
  sequential student has no teacher to start from: the teacher's encoder is frozen);
- projection+tatoeba-frozen: projection-frozen on the projected news plus all of the language's Tatoeba pairs, projected;
- combined-frozen: the frozen-encoder NER on English gold plus the projected corpus, from the teacher's head;
- synthetic-frozen: from the teacher's head on English gold translated word by word with the lexicon the
  aligner induced from the projected corpus (Chen et al. 2022; spacy_xproj.corpus.synthetic), entity words kept;
- synthetic-translated-frozen: the same with entity words translated too, where the lexicon knows them;
- synthetic+projection-frozen: the same on the synthetic and the projected sentences together;
- projection-frozen-teacher-weights: projection-frozen on the same pairs projected with the teacher's confidence
  in every word's tag as its loss weight (`project-corpus --teacher-weights`; normalized per tag in token_ner).

Resumable row by row: a row in the results file is never measured again, a projected corpus or a
finished training in the work folder is reused. Rows are keyed `<lang>/<system>/seed<k>`.
"""
import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import typer

from benchmarks.shared_data import CONLL, EUROPARL_NER, GOLD_DEV_SETS, ROOT, TATOEBA, ParallelText, europarl_file, shared_data_option, teacher_option
from benchmarks.transfer import PARALLEL_TEXT, parallel_folder, row_key, sampled_corpus
from benchmarks.results import Results
from spacy_xproj.cli.common import fail, off_or_confidence
from spacy_xproj.defaults import DEFAULT_ENCODER, DEFAULT_LAYER

SYSTEMS = ("zero-shot", "projection", "combined", "projection-frozen", "projection-frozen-reverse-focal", "projection+tatoeba-frozen", "sequential-frozen", "synthetic+projection-frozen",
           "synthetic-frozen", "synthetic-translated-frozen", "combined-frozen", "projection-frozen-teacher-weights")
TATOEBA_PAIRS = 20000  # all of each language's Tatoeba pairs (de has the most, 17,565)
FROM_TEACHER_HEAD = ("sequential-frozen", "combined-frozen", "synthetic-frozen", "synthetic+projection-frozen", "synthetic-translated-frozen")
FINE_TUNED_CONFIG = ROOT / "configs/token_ner_layer_mix.cfg"
FROZEN_CONFIG = ROOT / "configs/frozen_ner.cfg"
# the setup entries that decide the measured values: rows measured under other ones are not mixed in
MEASURED_WITH = ("teacher", "pairs", "layer", "fine_tuned_steps", "eval_limit")


@dataclass
class ConvergedSettings:
    shared_data: Path
    work_dir: Path
    teacher: Path  # train-teacher's output folder (model-best/ and teacher.json)
    encoder: str = DEFAULT_ENCODER
    pairs: int = 3000
    layer: int = DEFAULT_LAYER
    fine_tuned_steps: int = 300  # the `all` workflow's train_steps
    eval_limit: int = 1000


def projected_corpus(
    settings: ConvergedSettings, lang: str, log: Callable[[str], None], teacher: Optional[str] = None, corpus_dir: Optional[Path] = None,
    pairs: Optional[int] = None, teacher_confidence: float = 0.0, text: Optional[ParallelText] = None, teacher_weights: bool = False,
) -> Tuple[Path, Optional[Dict]]:
    """A teacher's entities (default: the trained teacher's; only those it is `teacher_confidence` sure of,
    when set; with its confidence in every word's tag, when `teacher_weights`) projected onto the first `pairs` (default `settings.pairs`) of the seeded order of `lang`'s
    parallel pairs (or of `text`'s), so smaller samples are prefixes of larger ones (train/dev DocBins); the
    report when made in this call."""
    from spacy_xproj.projecting.options import resolve_projection
    from spacy_xproj.projecting.run import build_training_data

    teacher = teacher or str(settings.teacher / "model-best")
    corpus_dir = corpus_dir or settings.work_dir / f"en-{lang}"
    if (corpus_dir / "report.json").exists():
        return corpus_dir, None
    corpus = sampled_corpus(settings.shared_data, lang, pairs or settings.pairs, 0, corpus_dir.with_suffix(".pairs.jsonl"), text=text)
    # float32: the precision every committed row of this benchmark was projected in
    corpus_settings, engine = resolve_projection(teacher=teacher, label_map="auto", precision="float32", log=log, source_lang="en", target_lang=lang,
                                                 model=settings.encoder, layer=settings.layer, teacher_confidence=teacher_confidence,
                                                 teacher_weights=teacher_weights)
    report = build_training_data(corpus, corpus_dir, corpus_settings, log=log, engine=engine)
    return corpus_dir, {k: report[k] for k in ("counts", "entities", "seconds", "train_docs", "dev_docs")}


def merged_once(parts: List[Path], merged: Path) -> Path:
    """`parts` concatenated into `merged`, unless an earlier run wrote it (atomically, so it is whole)."""
    from spacy_xproj.corpus.docbins import merge_docbins

    if not merged.exists():
        merge_docbins(parts, merged)
    return merged


def combined_corpus(settings: ConvergedSettings, corpus_dir: Path, lang: str) -> Path:
    """English gold (the teacher's own training DocBin) followed by the projected training sentences."""
    return merged_once([settings.teacher / "corpus" / "train.spacy", corpus_dir / "train"], settings.work_dir / f"en+{lang}.spacy")


def with_tatoeba(settings: ConvergedSettings, corpus_dir: Path, lang: str, log: Callable[[str], None]) -> Path:
    """The projected news sentences followed by the projected Tatoeba sentences."""
    tatoeba_dir, _ = projected_corpus(settings, lang, log, corpus_dir=settings.work_dir / f"en-{lang}-tatoeba", pairs=TATOEBA_PAIRS, text=TATOEBA[lang])
    return merged_once([corpus_dir / "train", tatoeba_dir / "train"], settings.work_dir / f"{lang}+tatoeba.spacy")


def synthetic_corpora(settings: ConvergedSettings, corpus_dir: Path, lang: str, translate_entities: bool = False) -> Tuple[Path, Path]:
    """The English gold translated word by word into `lang` (entity words too when `translate_entities`),
    alone and followed by the projected sentences."""
    from spacy_xproj.corpus.synthetic import synthesize

    name = "synthetic-translated" if translate_entities else "synthetic"
    synthetic, mixed = settings.work_dir / f"{name}-{lang}.spacy", settings.work_dir / f"{name}+{lang}.spacy"
    if not synthetic.exists():
        synthesize(settings.teacher / "corpus" / "train.spacy", corpus_dir / "train", synthetic, lang, translate_entities=translate_entities)
    return synthetic, merged_once([synthetic, corpus_dir / "train"], mixed)


def fine_tuned_loss() -> Dict:
    """The loss section of the fine-tuned student's config (the reverse focal loss): read, not restated,
    so the frozen variant trains with exactly what `projection` trains with."""
    from spacy.util import load_config

    return dict(load_config(FINE_TUNED_CONFIG, interpolate=False)["components"]["token_ner"]["loss"])


def trained_student(
    settings: ConvergedSettings, system: str, lang: str, seed: int, corpus_dir: Path, log: Callable[[str], None], output: Optional[Path] = None,
) -> Tuple[Path, float]:
    """The student of `system` for `lang` and `seed` (trained unless its folder holds a finished training)."""
    from spacy_xproj.training.ner_runs import train_ner

    output = output or settings.work_dir / lang / f"{system}-seed{seed}"
    if (output / "training.json").exists():
        return output / "model-best", json.loads((output / "training.json").read_text())["seconds"]
    if system in ("combined", "combined-frozen"):
        train = combined_corpus(settings, corpus_dir, lang)
    elif system == "projection+tatoeba-frozen":
        train = with_tatoeba(settings, corpus_dir, lang, log)
    elif system.startswith("synthetic"):
        synthetic, mixed = synthetic_corpora(settings, corpus_dir, lang, translate_entities=system == "synthetic-translated-frozen")
        train = mixed if system == "synthetic+projection-frozen" else synthetic
    else:
        train = corpus_dir / "train"
    teacher_head = settings.teacher / "model-best" if system in FROM_TEACHER_HEAD else None
    if system in ("projection", "combined"):
        config, overrides = FINE_TUNED_CONFIG, {"training.max_steps": settings.fine_tuned_steps, "system.seed": seed}
    else:
        config, overrides = FROZEN_CONFIG, {"system.seed": seed}
    if system == "projection-frozen-reverse-focal":
        overrides["components.token_ner.loss"] = fine_tuned_loss()
    log(f"training {lang}/{system}/seed{seed} on {train} ({config})")
    seconds = train_ner(config, output, train, corpus_dir / "dev", lang, settings.encoder, initial_weights=teacher_head, overrides=overrides)
    return output / "model-best", seconds


def evaluated(model_dir: Path, lang: str, settings: ConvergedSettings) -> Dict[str, Dict]:
    import spacy

    from spacy_xproj.corpus.evaluation import evaluate_on_gold_files

    gold = [(name, settings.shared_data / path) for name, path in GOLD_DEV_SETS[lang].items()]
    return evaluate_on_gold_files(spacy.load(model_dir), gold, settings.eval_limit)


def teacher_on_europarl(settings: ConvergedSettings, lang: str) -> Dict[str, Dict]:
    """The teacher's entities on Europarl-NER: scored against the English gold, and projected onto the
    `lang` sentences (xlmr_aligner with the projection workflow's method and layer) against their gold."""
    from benchmarks.projection import (DEFAULT_METHOD, DEFAULT_POLICY, METHODS, align_with_component, parallel_docs,
                                              project_docs, read_europarl, teacher_entities)
    from spacy_xproj.corpus.conll import score_entities
    import spacy

    europarl = settings.shared_data / EUROPARL_NER
    english, target = read_europarl(europarl, "en"), read_europarl(europarl, lang)
    predicted = teacher_entities(str(settings.teacher / "model-best"), english, {})
    docs = parallel_docs(spacy.blank(lang), english, target, predicted)
    align_with_component(docs, lang, settings.encoder, METHODS[DEFAULT_METHOD], settings.layer)
    return {"english": score_entities(predicted, [set(e) for _, e in english]),
            "projected": score_entities(project_docs(docs, lang, DEFAULT_POLICY), [set(e) for _, e in target])}


def teacher_english_f1(teacher: str, gold_file: Path) -> Dict:
    """A teacher's entity scores on English gold (CoNLL-2003 layout), its labels mapped as projection maps them."""
    from benchmarks.projection import teacher_entities
    from spacy_xproj.corpus.conll import read_conll_ner, score_entities
    from spacy_xproj.components.label_maps import ontonotes_to_conll
    from spacy_xproj.projecting.options import resolve_label_map

    label_map = resolve_label_map("auto", teacher)
    sentences = read_conll_ner(gold_file)
    predicted = teacher_entities(teacher, sentences, ontonotes_to_conll() if label_map is None else label_map)
    return score_entities(predicted, [set(e) for _, e in sentences])


def first_sentences_teacher(settings: ConvergedSettings, sentences: int, log: Callable[[str], None]) -> str:
    """A weaker teacher of the same recipe: the frozen-encoder NER trained (seed 0) on the first
    `sentences` sentences of eng.train only; trained once, then reused."""
    from spacy_xproj.training.teacher import prepare_teacher

    folder = settings.work_dir / "teachers" / f"eng-first{sentences}"
    if not (folder / "teacher.json").exists():
        conll = settings.shared_data / CONLL
        if not (conll / "eng.train").is_file():
            raise FileNotFoundError(f"{conll / 'eng.train'} not found: --teacher-sentences trains on it")
        prepare_teacher(conll / "eng.train", conll / "eng.testa", folder, FROZEN_CONFIG, settings.encoder, "", {"system.seed": 0},
                        log=log, train_limit=sentences)
    return str(folder / "model-best")


def teacher_quality_row(settings: ConvergedSettings, teacher: str, lang: str, log: Callable[[str], None]) -> Dict:
    """The frozen-encoder student (`projection-frozen`, seed 0: no tie to any teacher's weights) trained on
    what `teacher` projects onto the same pairs, beside the teacher's eng.testa and Europarl-en F1. The
    trained teacher's own corpus and student are the benchmark's rows, reused."""
    if Path(teacher) == settings.teacher / "model-best":
        corpus_dir, student_dir = settings.work_dir / f"en-{lang}", None
    else:
        # a trained pipeline's folder is named by its training folder (eng-first300/model-best -> eng-first300)
        folder = settings.work_dir / "teachers" / (Path(teacher).parent.name if Path(teacher).name == "model-best" else Path(teacher).name)
        corpus_dir, student_dir = folder / f"en-{lang}", folder / lang / "projection-frozen-seed0"
    corpus_dir, _ = projected_corpus(settings, lang, log, teacher=teacher, corpus_dir=corpus_dir)
    model_dir, seconds = trained_student(settings, "projection-frozen", lang, 0, corpus_dir, log, output=student_dir)
    return {"teacher": teacher, "eng.testa": teacher_english_f1(teacher, settings.shared_data / CONLL / "eng.testa"),
            "europarl-en": teacher_english_f1(teacher, europarl_file(settings.shared_data / EUROPARL_NER, "en")),
            "student": evaluated(model_dir, lang, settings), "train_seconds": round(seconds, 1)}


def curve_point(settings: ConvergedSettings, lang: str, pairs: int, seed: int, log: Callable[[str], None]) -> Dict:
    """The frozen-encoder student (`projection-frozen`: epochs to convergence, whatever the corpus size)
    trained on what the trained teacher projects onto the first `pairs` pairs."""
    folder = settings.work_dir / "curve"
    corpus_dir, _ = projected_corpus(settings, lang, log, corpus_dir=folder / f"en-{lang}-{pairs}", pairs=pairs)
    model_dir, seconds = trained_student(settings, "projection-frozen", lang, seed, corpus_dir, log,
                                         output=folder / lang / f"projection-frozen-pairs{pairs}-seed{seed}")
    return {"pairs": pairs, "gold": evaluated(model_dir, lang, settings), "train_seconds": round(seconds, 1)}


def confidence_point(settings: ConvergedSettings, lang: str, confidence: float, seed: int, log: Callable[[str], None]) -> Dict:
    """`projection-frozen` on the same pairs, projected with only the entities the teacher is `confidence`
    sure of and the words it doubts left missing (`project-corpus --teacher-confidence`)."""
    folder = settings.work_dir / "confidence"
    corpus_dir, report = projected_corpus(settings, lang, log, corpus_dir=folder / f"en-{lang}-{confidence}", teacher_confidence=confidence)
    if report is None:
        report = json.loads((corpus_dir / "report.json").read_text())
    model_dir, seconds = trained_student(settings, "projection-frozen", lang, seed, corpus_dir, log,
                                         output=folder / lang / f"projection-frozen-confidence{confidence}-seed{seed}")
    return {"confidence": confidence, "gold": evaluated(model_dir, lang, settings), "train_seconds": round(seconds, 1),
            "counts": report["counts"], "entities": sum(report["entities"].values())}


def run_converged_benchmark(
    settings: ConvergedSettings, output: Path, langs: Sequence[str], systems: Sequence[str], seeds: Sequence[int],
    fresh: bool = False, log: Callable[[str], None] = print, other_teachers: Sequence[str] = (), teacher_sentences: Sequence[int] = (), curve_pairs: Sequence[int] = (),
    command: str = "", teacher_confidences: Sequence[float] = (),
) -> Dict:
    """Every system for every language and seed, in the order given (de first makes a short run count);
    the teacher's own record (eng.testa scores, training seconds) is copied into the results. Then, for
    the first language, the teacher-quality table: the same student from each of `other_teachers`, from
    teachers trained on the first `teacher_sentences` sentences of eng.train, and from the trained teacher;
    and the pairs curve: `projection-frozen` of the first language on `curve_pairs` pairs, for each seed; and
    the same student from the projections of the teacher's confident entities, for each of `teacher_confidences`."""
    unknown = sorted(set(systems) - set(SYSTEMS)) + sorted(set(langs) - set(PARALLEL_TEXT))
    if unknown:
        raise ValueError(f"unknown systems or languages {unknown}: systems are {list(SYSTEMS)}, languages {sorted(PARALLEL_TEXT)}")
    teacher_record = settings.teacher / "teacher.json"
    if not teacher_record.exists():
        raise FileNotFoundError(f"{teacher_record} not found: train the teacher first (python -m spacy_xproj train-teacher ... {settings.teacher})")
    teacher = json.loads(teacher_record.read_text())
    if not teacher.get("trained"):
        raise ValueError(f"{teacher_record}: the teacher was not trained on gold ({teacher.get('reason')}); this benchmark measures a trained teacher")
    results = Results(output, fresh)
    setup = {"teacher": str(settings.teacher), "encoder": settings.encoder, "pairs": settings.pairs, "layer": settings.layer,
             "fine_tuned_steps": settings.fine_tuned_steps, "eval_limit": settings.eval_limit,
             # every language measured so far, not only this run's
             "parallel": {**results.data.get("setup", {}).get("parallel", {}), **{lang: parallel_folder(lang) for lang in langs}}}
    results.use_setup(setup, MEASURED_WITH, {})
    results.data["teacher"] = {k: teacher[k] for k in ("p", "r", "f", "train_seconds", "dev", "config")}
    if command and command not in results.data.setdefault("runs", []):
        results.data["runs"].append(command)
    results.save()
    for lang in langs:
        if europarl_file(settings.shared_data / EUROPARL_NER, lang).exists() and lang not in results.data.get("teacher_projection", {}):
            results.data.setdefault("teacher_projection", {})[lang] = teacher_on_europarl(settings, lang)
            results.save()
    for seed in seeds:
        for lang in langs:
            for system in systems:
                key = row_key(lang, system, seed)
                if results.has(key):
                    continue
                if system == "zero-shot":
                    if seed != 0:
                        continue  # one teacher: its zero-shot scores have no training seed of their own
                    started = time.perf_counter()
                    scores = evaluated(settings.teacher / "model-best", lang, settings)
                    row = {"gold": scores, "train_seconds": teacher["train_seconds"], "eval_seconds": round(time.perf_counter() - started, 1)}
                else:
                    weighted = system == "projection-frozen-teacher-weights"
                    corpus_dir, report = projected_corpus(settings, lang, log, teacher_weights=weighted,
                                                          corpus_dir=settings.work_dir / f"en-{lang}-teacher-weights" if weighted else None)
                    if report is not None and not weighted:
                        results.data.setdefault("projection_reports", {})[lang] = report
                        results.save()
                    model_dir, seconds = trained_student(settings, system, lang, seed, corpus_dir, log)
                    started = time.perf_counter()
                    scores = evaluated(model_dir, lang, settings)
                    row = {"gold": scores, "train_seconds": round(seconds, 1), "eval_seconds": round(time.perf_counter() - started, 1)}
                results.put(key, row)
                log(f"{key}: " + ", ".join(f"{name} F1 {s['f']:.1f}" for name, s in scores.items()))
    ladder = [*other_teachers, *(first_sentences_teacher(settings, n, log) for n in teacher_sentences)]
    for teacher_name in [*ladder, str(settings.teacher / "model-best")] if ladder else []:
        key = f"{langs[0]}/{teacher_name}"
        if key not in results.data.get("teacher_quality", {}):
            results.data.setdefault("teacher_quality", {})[key] = teacher_quality_row(settings, teacher_name, langs[0], log)
            results.save()
    # the side studies of the first language's projection-frozen student: (results section, key part, values, how to measure one)
    studies = (("pairs_curve", "pairs", curve_pairs, curve_point), ("teacher_confidence", "confidence", teacher_confidences, confidence_point))
    for section, name, values, measure in studies:
        for seed in seeds:
            for value in values:
                key = f"{langs[0]}/projection-frozen/{name}{value}/seed{seed}"
                if key not in results.data.get(section, {}):
                    results.data.setdefault(section, {})[key] = point = measure(settings, langs[0], value, seed, log)
                    results.save()
                    log(f"{key}: " + ", ".join(f"{gold} F1 {s['f']:.1f}" for gold, s in point["gold"].items()))
    return results.data


def render_converged_table(data: Dict) -> str:
    """F1 per language, gold set and system (per-seed values, then their mean), then training minutes."""
    rows = data["rows"]
    systems = [system for system in SYSTEMS if any(key.split("/")[1] == system for key in rows)]
    langs = sorted({key.split("/")[0] for key in rows})
    seeds = sorted({int(key.rsplit("seed", 1)[1]) for key in rows})

    def values(lang: str, system: str, gold: str) -> List[float]:
        return [rows[key]["gold"][gold]["f"] for seed in seeds if (key := row_key(lang, system, seed)) in rows and gold in rows[key]["gold"]]

    lines = ["| language | gold dev set | " + " | ".join(f"{system} F1" for system in systems) + " |", "|---|---|" + "---|" * len(systems)]
    for lang in langs:
        for gold in GOLD_DEV_SETS[lang]:
            cells = []
            for system in systems:
                measured = values(lang, system, gold)
                mean = f" (mean {sum(measured) / len(measured):.1f})" if len(measured) > 1 else ""
                cells.append(" / ".join(f"{value:.1f}" for value in measured) + mean)
            lines.append(f"| {lang} | {gold} | " + " | ".join(cells) + " |")
    lines += ["", "| language | system | training minutes (per seed) |", "|---|---|---|"]
    for lang in langs:
        for system in systems:
            minutes = [rows[key]["train_seconds"] / 60 for seed in seeds if (key := row_key(lang, system, seed)) in rows]
            if minutes:
                lines.append(f"| {lang} | {system} | " + " / ".join(f"{m:.1f}" for m in minutes) + " |")
    teacher = data.get("teacher", {})
    setup = data.get("setup", {})
    projection = data.get("teacher_projection", {})
    quality = data.get("teacher_quality", {})
    if quality:
        golds = list(next(iter(quality.values()))["student"])
        quality_lang = next(iter(quality)).split("/")[0]
        lines += ["", "Teacher quality against student quality: the frozen-encoder student (`projection-frozen`, seed 0) on the same pairs, "
                  "projected from each teacher, weakest teacher first.", "",
                  "| teacher | eng.testa F1 | Europarl-en F1 | " + " | ".join(f"student {quality_lang} {gold} F1" for gold in golds) + " |",
                  "|---|---|---|" + "---|" * len(golds)]
        for key, row in sorted(quality.items(), key=lambda item: item[1]["eng.testa"]["f"]):
            lines.append(f"| {row['teacher']} | {row['eng.testa']['f']:.1f} | {row['europarl-en']['f']:.1f} | "
                         + " | ".join(f"{row['student'][gold]['f']:.1f}" for gold in golds) + " |")
    if data.get("pairs_curve"):
        curves = pairs_curve(data)
        sizes = sorted({pairs for points in curves.values() for pairs, _ in points})
        lines += ["", "Pairs curve: `projection-frozen` on the first N projected pairs (F1, mean of the seeds measured; [picture](pairs-curve.svg)).", "",
                  "| gold dev set | " + " | ".join(f"{n} pairs" for n in sizes) + " |", "|---|" + "---|" * len(sizes)]
        for (lang, gold), points in curves.items():
            by_size = dict(points)
            lines.append(f"| {lang} {gold} | " + " | ".join(f"{by_size[n]:.1f}" if n in by_size else "" for n in sizes) + " |")
    if data.get("teacher_confidence"):
        confident = data["teacher_confidence"]
        golds = list(next(iter(confident.values()))["gold"])
        confidence_lang = next(iter(confident)).split("/")[0]
        by_threshold: Dict[float, List[Dict]] = {}
        for row in confident.values():
            by_threshold.setdefault(row["confidence"], []).append(row)
        confidence_seeds = sorted({key.rsplit("/seed", 1)[1] for key in confident})
        main_rows = [(seed, rows[key]) for seed in confidence_seeds if (key := f"{confidence_lang}/projection-frozen/seed{seed}") in rows]
        lines += ["", "Teacher confidence: `projection-frozen` on the same pairs, projected with only the entities whose every tag the teacher "
                  "gives at least this probability, target words aligned to doubted words left missing (`project-corpus --teacher-confidence`; "
                  "F1, mean of the seeds listed).", "",
                  "| teacher confidence | seeds | entities projected | target words left missing | " + " | ".join(f"{confidence_lang} {gold} F1" for gold in golds) + " |",
                  "|---|---|---|---|" + "---|" * len(golds)]
        if main_rows:
            report = data.get("projection_reports", {}).get(confidence_lang, {})
            lines.append(f"| 0 (off) | {', '.join(seed for seed, _ in main_rows)} | {sum(report.get('entities', {}).values()) or ''} | 0 | "
                         + " | ".join(f"{sum(row['gold'][gold]['f'] for _, row in main_rows) / len(main_rows):.1f}" for gold in golds) + " |")
        for threshold, measured in sorted(by_threshold.items()):
            seeds = ", ".join(sorted(key.rsplit("/seed", 1)[1] for key, row in confident.items() if row["confidence"] == threshold))
            lines.append(f"| {threshold} | {seeds} | {measured[0]['entities']} | {measured[0]['counts']['doubted_words']} | "
                         + " | ".join(f"{sum(row['gold'][gold]['f'] for row in measured) / len(measured):.1f}" for gold in golds) + " |")
    if projection:
        lines += ["", "| Europarl-NER | teacher's English entities F1 | projected onto the target F1 |", "|---|---|---|"]
        lines += [f"| en-{lang} | {row['english']['f']:.1f} | {row['projected']['f']:.1f} |" for lang, row in sorted(projection.items())]
    lines += ["", f"Teacher: {teacher.get('dev')} F1 {teacher.get('f')} (P {teacher.get('p')} / R {teacher.get('r')}), trained in "
              f"{teacher.get('train_seconds', 0) / 60:.1f} min; the zero-shot rows are that teacher, its training time repeated. "
              f"{setup.get('pairs')} parallel pairs per language, at most {setup.get('eval_limit')} sentences per gold set, "
              f"fine-tuned students {setup.get('fine_tuned_steps')} steps, frozen students epochs with early stopping."]
    return "\n".join(lines) + "\n"


def pairs_curve(data: Dict) -> Dict[Tuple[str, str], List[Tuple[int, float]]]:
    """(language, gold set) -> [(pairs, F1 mean over seeds)], the --pairs rows of projection-frozen included."""
    points: Dict[Tuple[str, str, int], List[float]] = {}
    measured = [(key.split("/")[0], data["setup"]["pairs"], row) for key, row in data["rows"].items() if key.split("/")[1] == "projection-frozen"]
    measured += [(key.split("/")[0], row["pairs"], row) for key, row in data.get("pairs_curve", {}).items()]
    curve_langs = {key.split("/")[0] for key in data.get("pairs_curve", {})}
    for lang, pairs, row in measured:
        if lang in curve_langs:
            for gold, scores in row["gold"].items():
                points.setdefault((lang, gold, pairs), []).append(scores["f"])
    curves: Dict[Tuple[str, str], List[Tuple[int, float]]] = {}
    for (lang, gold, pairs), values in sorted(points.items()):
        curves.setdefault((lang, gold), []).append((pairs, sum(values) / len(values)))
    return curves


def draw_pairs_curve(data: Dict, path: Path) -> None:
    """Student F1 against projected pairs (log scale), one line per gold dev set, as SVG."""
    import matplotlib

    matplotlib.use("Agg")  # no display here or in CI
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.6))
    for (lang, gold), points in pairs_curve(data).items():
        axes.plot([p for p, _ in points], [f for _, f in points], marker="o", label=f"{lang} {gold}")
    axes.set_xscale("log")
    axes.set_xlabel("projected sentence pairs")
    axes.set_ylabel("student F1")
    axes.set_title("projection-frozen student, mean of the seeds measured", fontsize=10)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    # no timestamp and fixed element ids: a re-run with the same data writes the same file
    with matplotlib.rc_context({"svg.hashsalt": "pairs-curve"}):
        figure.savefig(path, format="svg", metadata={"Date": None})
    plt.close(figure)


app = typer.Typer(add_completion=False)


@app.command()
def main(
    shared_data: Path = shared_data_option(),
    teacher: Path = teacher_option(),
    work_dir: Path = typer.Option(Path("training/bench-converged"), "--work-dir", help="Projected corpora and students (large; not committed)."),
    output: Path = typer.Option(Path("metrics/transfer_converged.json"), "--output", help="The results file (resumed row by row)."),
    table: Optional[Path] = typer.Option(Path("docs/results/transfer-converged.md"), "--table", help="Write the table here (a generated file)."),
    langs: List[str] = typer.Option(["de", "es", "nl"], "--lang", help="Target languages, in the order measured (repeat the option)."),
    systems: List[str] = typer.Option(list(SYSTEMS), "--system", help="Systems, in the order measured (repeat the option)."),
    seeds: List[int] = typer.Option([0], "--seed", help="Training seeds of the students (repeat the option)."),
    pairs: int = typer.Option(3000, "--pairs", min=1, help="Parallel pairs projected per language."),
    other_teachers: List[str] = typer.Option([], "--other-teacher", help="Teacher-quality table: also train the frozen student of the first language on what this pipeline projects (repeat the option)."),
    curve_pairs: List[int] = typer.Option([], "--curve-pairs", help="Pairs curve: also train projection-frozen of the first language on the first N pairs (repeat the option; the --pairs point is its row)."),
    curve_picture: Optional[Path] = typer.Option(Path("docs/results/pairs-curve.svg"), "--curve-picture", help="Draw the pairs curve here (SVG)."),
    teacher_sentences: List[int] = typer.Option([], "--teacher-sentences", help="Teacher-quality table: also a teacher trained on the first N sentences of eng.train (repeat the option)."),
    teacher_confidences: List[float] = typer.Option([], "--teacher-confidence", callback=lambda values: [off_or_confidence(v) for v in values], help="Teacher-confidence table: also train projection-frozen of the first language on what the teacher projects at this confidence (repeat the option)."),
    fresh: bool = typer.Option(False, "--fresh", help="Measure every row again."),
) -> None:
    """Measure the transfer systems with the trained English teacher; resumable row by row."""
    settings = ConvergedSettings(shared_data=shared_data, work_dir=work_dir, teacher=teacher, pairs=pairs)
    try:
        data = run_converged_benchmark(settings, output, langs, systems, seeds, fresh, other_teachers=other_teachers,
                                       teacher_sentences=teacher_sentences, curve_pairs=curve_pairs, teacher_confidences=teacher_confidences, command=shlex.join([
                                           "python", "-m", "benchmarks", "transfer-converged", *(f"--lang={lang}" for lang in langs),
                                           *(f"--system={system}" for system in systems), *(f"--seed={seed}" for seed in seeds),
                                           *(f"--other-teacher={name}" for name in other_teachers), *(f"--teacher-sentences={n}" for n in teacher_sentences),
                                           *(f"--curve-pairs={n}" for n in curve_pairs), *(f"--teacher-confidence={c}" for c in teacher_confidences)]))
    except (ValueError, FileNotFoundError) as error:
        fail(error)
    if table is not None:
        table.write_text(f"<!-- generated by `python -m benchmarks transfer-converged` (each run's options: `runs` in {output}); do not edit -->\n\n"
                         + render_converged_table(data), encoding="utf-8")
    if curve_picture is not None and data.get("pairs_curve"):
        draw_pairs_curve(data, curve_picture)


if __name__ == "__main__":
    app()
