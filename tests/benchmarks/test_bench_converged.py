"""The converged transfer benchmark's bookkeeping: its refusals and its table (the measuring itself is
the benchmark's job, not a test's)."""
import json

import pytest

from benchmarks.transfer_converged import ConvergedSettings, render_converged_table, run_converged_benchmark


def scores(f):
    return {"f": f, "p": f, "r": f}


def test_an_untrained_teacher_is_refused_by_file(tmp_path):
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    settings = ConvergedSettings(shared_data=tmp_path, work_dir=tmp_path / "work", teacher=teacher)
    with pytest.raises(FileNotFoundError, match="teacher.json"):
        run_converged_benchmark(settings, tmp_path / "out.json", ["de"], ["zero-shot"], [0])
    (teacher / "teacher.json").write_text(json.dumps({"trained": False, "reason": "not found: eng.train"}))
    with pytest.raises(ValueError, match="not found: eng.train"):
        run_converged_benchmark(settings, tmp_path / "out.json", ["de"], ["zero-shot"], [0])
    with pytest.raises(ValueError, match="qq"):
        run_converged_benchmark(settings, tmp_path / "out.json", ["qq"], ["zero-shot"], [0])


def test_table_shows_seeds_means_minutes_and_the_teacher():
    data = {
        "setup": {"pairs": 3000, "eval_limit": 1000, "fine_tuned_steps": 300},
        "teacher": {"dev": "eng.testa", "f": 92.0, "p": 91.9, "r": 92.1, "train_seconds": 600},
        "rows": {
            "de/zero-shot/seed0": {"gold": {"europarl": scores(50.0), "wikiann": scores(57.5)}, "train_seconds": 600},
            "de/projection/seed0": {"gold": {"europarl": scores(60.0), "wikiann": scores(58.0)}, "train_seconds": 300},
            "de/projection/seed1": {"gold": {"europarl": scores(62.0), "wikiann": scores(59.0)}, "train_seconds": 360},
        },
        "teacher_projection": {"de": {"english": scores(65.0), "projected": scores(70.1)}},
    }
    table = render_converged_table(data)
    assert "| de | europarl | 50.0 | 60.0 / 62.0 (mean 61.0) |" in table
    assert "| de | projection | 5.0 / 6.0 |" in table
    assert "| en-de | 65.0 | 70.1 |" in table
    assert "F1 92.0 (P 91.9 / R 92.1), trained in 10.0 min" in table
