import json
from pathlib import Path

import pytest

from spacy_xproj.bench_transfer import TransferSettings, render_transfer_table, run_transfer_benchmark, sample_parallel_lines

from .test_project_workflow import tiny_corpus, write_conll


def test_sample_parallel_lines_is_seeded_and_pairs_files_by_suffix(tmp_path):
    folder = tmp_path / "parallel" / "wmt-news" / "spa-eng"
    folder.mkdir(parents=True)
    (folder / "a.eng").write_text("one\ntwo\n", encoding="utf-8")
    (folder / "a.spa").write_text("uno\ndos\n", encoding="utf-8")
    (folder / "b.eng").write_text("three\n", encoding="utf-8")  # no translation: ignored
    lines = sample_parallel_lines(tmp_path, "es", 5, seed=0)
    assert sorted((line.source, line.target) for line in lines) == [("one", "uno"), ("two", "dos")]
    assert [line.source for line in sample_parallel_lines(tmp_path, "es", 1, seed=0)] == [lines[0].source]
    with pytest.raises(FileNotFoundError, match="no parallel de text"):
        sample_parallel_lines(tmp_path, "de", 5, seed=0)


def test_transfer_table_shows_each_gold_set_and_the_projection_gain():
    def row(f1s, seconds):
        return {"gold": {name: {"f": f, "words_per_second": 500.0} for name, f in f1s.items()}, "train_seconds": seconds, "train_command": "x"}

    data = {"setup": {"pairs": 3000, "max_steps": 250, "eval_limit": 1000}, "rows": {
        "nl/zero-shot": row({"conll2002": 60.0, "wikiann": 50.0}, 600),
        "nl/projection": row({"conll2002": 65.5, "wikiann": 48.0}, 540),
        "nl/combined": row({"conll2002": 67.0, "wikiann": 52.0}, 660),
        "nl/sequential": row({"conll2002": 68.5}, 300),
    }}
    table = render_transfer_table(data)
    assert "| nl | conll2002 | 60.0 | 65.5 | 67.0 | 68.5 | +5.5 |" in table
    assert "| nl | wikiann | 50.0 | 48.0 | 52.0 |  | -2.0 |" in table
    assert "| nl | projection | 9.0 | 500 |" in table
    assert "3000 parallel pairs per language, 250 training steps" in table


def tiny_shared_data(shared: Path, n_pairs: int, parallel_folder: str, source_name: str, target_name: str):
    """English gold (CoNLL layout) and one parallel file pair laid out as in ../shared/data; returns the pairs."""
    pairs = tiny_corpus(n_pairs)
    (shared / "conll").mkdir(parents=True)
    write_conll(shared / "conll" / "eng.train", [en for en, _ in pairs])
    write_conll(shared / "conll" / "eng.testa", [en for en, _ in pairs[:8]])
    folder = shared / "parallel" / parallel_folder
    folder.mkdir(parents=True)
    (folder / source_name).write_text("\n".join(" ".join(en[0]) for en, _ in pairs) + "\n", encoding="utf-8")
    (folder / target_name).write_text("\n".join(" ".join(de[0]) for _, de in pairs) + "\n", encoding="utf-8")
    return pairs


def test_transfer_benchmark_runs_end_to_end_on_tiny_data_and_resumes(tmp_path, tiny_model_dir):
    shared = tmp_path / "shared"
    pairs = tiny_shared_data(shared, 24, "ntrex128", "newstest2019-src.eng.txt", "newstest2019-ref.nld.txt")
    write_conll(shared / "conll" / "ned.testa", [de for _, de in pairs[:8]])  # stands in for Dutch gold
    (shared / "wikiann" / "nl").mkdir(parents=True)
    (shared / "wikiann" / "nl" / "val.conllu").write_text("0\tAnna\tB-PER\n1\tSchmidt\tI-PER\n\n", encoding="utf-8")
    settings = TransferSettings(shared_data=shared, work_dir=tmp_path / "work", encoder=tiny_model_dir, layer=1, pairs=20, max_steps=6, eval_limit=0)
    output = tmp_path / "transfer.json"

    data = run_transfer_benchmark(settings, output, ["nl"], log=lambda m: None)
    assert set(data["rows"]) == {"nl/zero-shot", "nl/projection", "nl/combined", "nl/sequential"}
    english_model = tmp_path / "work" / "en" / "model" / "model-best"
    assert f"--initialize.after_init.initial_weights {english_model}" in data["rows"]["nl/sequential"]["train_command"]
    assert "initial_weights" not in data["rows"]["nl/projection"]["train_command"]
    for row in data["rows"].values():
        assert set(row["gold"]) == {"conll2002", "wikiann"}
        assert row["gold"]["conll2002"]["sentences"] == 8 and row["gold"]["wikiann"]["support"] == 1
        assert row["train_seconds"] > 0
    assert data["projection_reports"]["nl"]["counts"]["read"] == 20
    assert json.loads(output.read_text())["rows"] == data["rows"]

    # a second run trains nothing again: every training left its record
    trained = sorted(p.stat().st_mtime for p in (tmp_path / "work").rglob("training.json"))
    again = run_transfer_benchmark(settings, output, ["nl"], log=lambda m: None)
    assert again["rows"] == data["rows"]
    assert sorted(p.stat().st_mtime for p in (tmp_path / "work").rglob("training.json")) == trained
    with pytest.raises(ValueError, match="not \\['fr'\\]"):
        run_transfer_benchmark(settings, output, ["fr"])


def test_ablation_benchmark_runs_every_row_per_seed_on_tiny_data(tmp_path, tiny_model_dir):
    from spacy_xproj.bench_ablation import SELF_TRAINED, render_ablation_table, run_ablation_benchmark
    from spacy_xproj.bench_transfer import GOLD_SETS

    shared = tmp_path / "shared"
    pairs = tiny_shared_data(shared, 48, "wmt-news/deu-eng", "tiny.eng", "tiny.deu")
    (shared / "wikiann" / "de").mkdir(parents=True)
    (shared / "wikiann" / "de" / "val.conllu").write_text("0\tAnna\tB-PER\n1\tSchmidt\tI-PER\n\n", encoding="utf-8")
    (shared / "europarl-ner").mkdir()
    write_conll(shared / "europarl-ner" / "de-europarl.test.conll02", [de for _, de in pairs[:6]])
    assert set(GOLD_SETS["de"]) == {"wikiann", "europarl"}
    settings = TransferSettings(shared_data=shared, work_dir=tmp_path / "work", encoder=tiny_model_dir, layer=1, pairs=20, max_steps=4, eval_limit=0)
    root = Path(__file__).resolve().parents[1]
    data = run_ablation_benchmark(settings, tmp_path / "ablation.json", ["de"], [0, 1], config_dir=root, log=lambda m: None)
    assert set(data["rows"]) == {f"de/{row}/seed{s}" for row in data["setup"]["rows"] for s in (0, 1)}
    assert SELF_TRAINED in data["setup"]["rows"]
    # the reverse-focal rows really train with gamma = 1, the cross-entropy row with 0
    assert "--components.token_ner.loss.gamma 1.0" in data["rows"]["de/token-ner-rfl/seed1"]["train_command"]
    assert "--components.token_ner.loss.gamma 0.0" in data["rows"]["de/token-ner-ce/seed0"]["train_command"]
    assert "--system.seed 1" in data["rows"]["de/token-ner-rfl-mix/seed1"]["train_command"]
    assert (tmp_path / "work" / "de" / "ablation" / "self-labelled-seed0.spacy").exists()
    table = render_ablation_table(data)
    assert table.count("| de |") == 2 and "token-ner-rfl-self" in table
    mean_row = next(line for line in table.splitlines() if line.startswith("| all | mean"))
    ce = [r["gold"][g]["f"] for k, r in data["rows"].items() if "/token-ner-ce/" in k for g in r["gold"]]
    assert mean_row.split(" | ")[3] == f"{sum(ce) / len(ce):.1f}"
