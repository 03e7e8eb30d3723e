"""benchmarks teachers: each teacher on each gold set, on the labels both have, resumable row by row."""
import json

import spacy
from typer.testing import CliRunner

from benchmarks.cli import app


def test_each_teacher_is_scored_on_the_labels_it_shares_with_each_gold_set(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "PER", "pattern": "Ada"}, {"label": "MISC", "pattern": "English"}])
    (tmp_path / "conll").mkdir()
    nlp.to_disk(tmp_path / "conll" / "model-best")
    (tmp_path / "conll" / "teacher.json").write_text(json.dumps({"train": "eng.train", "train_seconds": 120}), encoding="utf-8")
    (tmp_path / "with-misc.conll").write_text("Ada B-PER\nspeaks O\nEnglish B-MISC\n\n", encoding="utf-8")
    (tmp_path / "web.iob2").write_text("# text = Ada speaks English\n1\tAda\tB-PER\t-\t-\n2\tspeaks\tO\t-\t-\n3\tEnglish\tO\t-\t-\n", encoding="utf-8")
    args = ["teachers", "--teacher", f"conll={tmp_path}/conll/model-best", "--gold", f"news={tmp_path}/with-misc.conll",
            "--gold", f"web={tmp_path}/web.iob2", "--output", str(tmp_path / "teachers.json"), "--docs", str(tmp_path / "teachers.md")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "teachers.json").read_text())["rows"]
    assert rows["conll/news"]["labels"] == ["MISC", "PER"] and rows["conll/news"]["f"] == 100.0
    assert rows["conll/web"]["labels"] == ["PER"] and rows["conll/web"]["left_out"] == ["MISC"] and rows["conll/web"]["f"] == 100.0
    assert rows["conll/web"]["train_minutes"] == 2.0
    assert "| conll | 2.0 | 100.0 (MISC/PER) | 100.0 (PER) |" in (tmp_path / "teachers.md").read_text()
