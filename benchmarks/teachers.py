"""Each English teacher on each English gold dev set, on the labels both have: which gold teaches what.

    python -m benchmarks teachers --teacher conll=training/en/teacher/model-best --teacher ewt=training/en/ewt-teacher/model-best \
        --gold conll-dev=../shared/data/conll/eng.testa --gold ewt-dev=assets/uner-ewt/en_ewt-ud-dev.iob2 \
        --gold europarl-en=../shared/data/europarl-ner/en-europarl.test.conll02

Rows `<teacher>/<gold>` in metrics/teachers.json (resumable: a row there is not measured again), each the
`evaluate --labels shared` scores (`labels` scored, `left_out`), with the teacher's own training record; the table
goes to docs/results/teachers.md.
"""
import json
import shlex
import sys
from pathlib import Path
from typing import List, Optional

import typer

from benchmarks.results import Results


def named(values: List[str], option: str) -> List[tuple]:
    pairs = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise typer.BadParameter(f"expected NAME=PATH, got {value!r}", param_hint=option)
        pairs.append((name, Path(path)))
    return pairs


def teacher_scores(nlp, name: str, gold_name: str, gold_path: Path) -> dict:
    """The teacher on the gold set, its labels mapped as projection maps them (an OntoNotes pipeline's PERSON is
    PER), on the labels both then have."""
    from spacy_xproj.components.label_maps import ONTONOTES_TO_CONLL, label_map_for, map_label, ner_labels
    from spacy_xproj.corpus.conll import read_gold_file, score_entities
    from spacy_xproj.corpus.evaluation import only_labels, predict_on_gold_words

    teacher_labels = ner_labels(nlp, name)  # from the loaded pipeline: the teacher is not loaded again
    label_map = label_map_for(teacher_labels, name)
    label_map = ONTONOTES_TO_CONLL if label_map is None else label_map
    sentences = read_gold_file(gold_path)
    mapped = {map_label(label, label_map) for label in teacher_labels} - {None}
    gold_labels = {span[2] for _, spans in sentences for span in spans}
    labels = sorted(mapped & gold_labels)
    predicted = [{(s, e, map_label(label, label_map)) for s, e, label in spans if map_label(label, label_map)}
                 for spans in predict_on_gold_words(nlp, [words for words, _ in sentences])]
    scores = score_entities([only_labels(spans, labels) for spans in predicted], [only_labels(spans, labels) for _, spans in sentences])
    return {"path": str(gold_path), **scores, "labels": labels, "left_out": sorted((gold_labels | mapped) - set(labels)), "sentences": len(sentences)}


def table(rows: dict, teachers: List[str], golds: List[str], command: str) -> str:
    lines = ["# English teachers on English gold dev sets", "",
             "Entity F1 on the labels both the teacher and the gold set have (CoNLL has MISC, UNER English-EWT has not). Made by",
             "", f"    {command}", "", "| teacher | train minutes | " + " | ".join(golds) + " |", "|---|---|" + "---|" * len(golds)]
    for teacher in teachers:
        cells = []
        for gold in golds:
            row = rows.get(f"{teacher}/{gold}")
            cells.append(f"{row['f']:.1f} ({'/'.join(row['labels'])})" if row else "not measured")
        minutes = next((r.get("train_minutes") for key, r in rows.items() if key.startswith(f"{teacher}/") and r.get("train_minutes")), None)
        lines.append(f"| {teacher} | {minutes if minutes is not None else '-'} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(
    teacher: List[str] = typer.Option(..., "--teacher", help="NAME=PIPELINE (a trained teacher's model-best); repeat."),
    gold: List[str] = typer.Option(..., "--gold", help="NAME=FILE of English gold (CoNLL, .conllu or .iob2); repeat."),
    output: Path = typer.Option(Path("metrics/teachers.json"), "--output"),
    docs: Optional[Path] = typer.Option(Path("docs/results/teachers.md"), "--docs", help="Write the table here."),
) -> None:
    """Each teacher on each gold dev set, on the labels both have."""
    import spacy

    teachers, golds = named(teacher, "--teacher"), named(gold, "--gold")
    results = Results(output, False)
    command = shlex.join(["python", "-m", "benchmarks", "teachers", *sys.argv[2:]])
    if command not in results.data.setdefault("runs", []):
        results.data["runs"].append(command)
    for name, path in teachers:
        nlp = None
        record_file = path.parent / "teacher.json"
        record = json.loads(record_file.read_text()) if record_file.exists() else {}
        for gold_name, gold_path in golds:
            key = f"{name}/{gold_name}"
            if results.has(key):
                continue
            nlp = nlp or spacy.load(str(path))  # a path or an installed package name
            scores = teacher_scores(nlp, str(path), gold_name, gold_path)
            results.put(key, {**scores, "teacher": str(path), "trained_on": record.get("train"), "train_minutes": round(record["train_seconds"] / 60, 1)
                              if record.get("train_seconds") else None})
            typer.echo(f"{key}: F1 {scores['f']:.1f} on {'/'.join(scores['labels'])}", err=True)
            results.save()
    if docs is not None:
        docs.write_text(table(results.data["rows"], [n for n, _ in teachers], [g for g, _ in golds], command), encoding="utf-8")
