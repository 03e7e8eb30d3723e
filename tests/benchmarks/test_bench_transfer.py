import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from benchmarks.transfer import TransferSettings, render_transfer_table, run_transfer_benchmark, sample_parallel_lines, training_differences

from ..test_project_workflow import tiny_corpus, write_conll


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


def test_tatoeba_pairs_are_read_from_the_language_pair_files(tmp_path):
    from benchmarks.shared_data import TATOEBA

    folder = tmp_path / "parallel" / "tatoeba"
    folder.mkdir(parents=True)
    (folder / "eng-deu.eng").write_text("Tom runs.\nI see.\n", encoding="utf-8")
    (folder / "eng-deu.deu").write_text("Tom rennt.\nIch sehe.\n", encoding="utf-8")
    (folder / "eng-spa.eng").write_text("Hello.\n", encoding="utf-8")  # the other language's file is not read
    lines = sample_parallel_lines(tmp_path, "de", 10, seed=0, text=TATOEBA["de"])
    assert sorted((line.source, line.target) for line in lines) == [("I see.", "Ich sehe."), ("Tom runs.", "Tom rennt.")]


def test_transfer_table_shows_each_gold_set_and_the_projection_gain():
    def row(f1s, seconds):
        return {"gold": {name: {"f": f, "words_per_second": 500.0} for name, f in f1s.items()}, "train_seconds": seconds, "train_command": "x"}

    data = {"setup": {"pairs": 3000, "max_steps": 250, "eval_limit": 1000, "seeds": [0]}, "rows": {
        "nl/zero-shot/seed0": row({"conll2002": 60.0, "wikiann": 50.0}, 600),
        "nl/projection/seed0": row({"conll2002": 65.5, "wikiann": 48.0}, 540),
        "nl/combined/seed0": row({"conll2002": 67.0, "wikiann": 52.0}, 660),
        "nl/sequential/seed0": row({"conll2002": 68.5}, 300),
    }}
    table = render_transfer_table(data)
    assert "| nl | conll2002 | 60.0 | 65.5 | 67.0 | 68.5 | +5.5 | +7.0 | +8.5 |" in table
    assert "| nl | wikiann | 50.0 | 48.0 | 52.0 |  | -2.0 | +2.0 |  |" in table
    assert "| nl | projection | 9.0 | 500 |" in table
    assert "3000 parallel pairs per language, 250 training steps" in table
    assert "one value per training seed" not in table

    # a second seed: one value per seed in each cell, gains and times between means
    data["setup"]["seeds"] = [0, 1]
    data["rows"].update({
        "nl/zero-shot/seed1": row({"conll2002": 62.0, "wikiann": 50.0}, 660),
        "nl/sequential/seed1": row({"conll2002": 70.5}, 420),
    })
    table = render_transfer_table(data)
    assert "| nl | conll2002 | 60.0 / 62.0 | 65.5 | 67.0 | 68.5 / 70.5 | +4.5 | +6.0 | +8.5 |" in table
    assert "| nl | sequential | 6.0 | 500 |" in table
    assert "one value per training seed (0, 1), gains between means" in table


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
    assert set(data["rows"]) == {"nl/zero-shot/seed0", "nl/projection/seed0", "nl/combined/seed0", "nl/sequential/seed0"}
    english_model = tmp_path / "work" / "en" / "model" / "model-best"
    assert f"--initialize.after_init.initial_weights {english_model}" in data["rows"]["nl/sequential/seed0"]["train_command"]
    assert "initial_weights" not in data["rows"]["nl/projection/seed0"]["train_command"]
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
    # a second training seed: every model again with that seed (the sequential one from that seed's
    # English model), on the same projected corpus; the first seed's rows stay as they were
    corpus = (tmp_path / "work" / "en-nl" / "report.json").stat().st_mtime
    seeded = run_transfer_benchmark(settings, output, ["nl"], log=lambda m: None, seeds=[0, 1])
    assert set(seeded["rows"]) == set(data["rows"]) | {f"nl/{system}/seed1" for system in ("zero-shot", "projection", "combined", "sequential")}
    assert all(seeded["rows"][key] == row for key, row in data["rows"].items())
    assert "--system.seed 1" in seeded["rows"]["nl/projection/seed1"]["train_command"]
    second_english = tmp_path / "work" / "en" / "model-seed1" / "model-best"
    assert f"--initialize.after_init.initial_weights {second_english}" in seeded["rows"]["nl/sequential/seed1"]["train_command"]
    assert (tmp_path / "work" / "en-nl" / "report.json").stat().st_mtime == corpus
    assert seeded["setup"]["seeds"] == [0, 1]
    with pytest.raises(ValueError, match="not \\['fr'\\]"):
        run_transfer_benchmark(settings, output, ["fr"])
    # other settings in the same work folder: the finished trainings are refused, not reused
    with pytest.raises(ValueError, match=r"en/model holds a model trained with other settings \(not with --training.max_steps 7\); delete"):
        run_transfer_benchmark(dataclasses.replace(settings, max_steps=7), tmp_path / "other.json", ["nl"], log=lambda m: None)
    # another projector setting: its rows are not mixed into this output, and its corpus and models live
    # beside the default ones, with the same English teacher
    dropping = dataclasses.replace(settings, drop_derived_adjectives=True)
    with pytest.raises(ValueError, match=r"rows measured with other settings: drop_derived_adjectives False \(now True\)"):
        run_transfer_benchmark(dropping, output, ["nl"], log=lambda m: None)
    teacher = (tmp_path / "work" / "en" / "model" / "training.json").stat().st_mtime
    dropped = run_transfer_benchmark(dropping, tmp_path / "dropped.json", ["nl"], log=lambda m: None)
    assert set(dropped["rows"]) == set(data["rows"]) and dropped["setup"]["drop_derived_adjectives"] is True
    assert (tmp_path / "work" / "en" / "model" / "training.json").stat().st_mtime == teacher
    assert (tmp_path / "work" / "en-nl-no-derived-adjectives" / "train").is_dir()
    assert f"--paths.train {tmp_path / 'work' / 'en-nl-no-derived-adjectives' / 'train'}" in dropped["rows"]["nl/projection/seed0"]["train_command"]
    assert (tmp_path / "work" / "nl-no-derived-adjectives" / "sequential" / "model-best").exists()
    # the recorded rows alone resume a run: without the work folder nothing is trained again
    shutil.rmtree(tmp_path / "work")
    resumed = run_transfer_benchmark(settings, output, ["nl"], log=lambda m: None, seeds=[0, 1])
    assert resumed["rows"] == seeded["rows"]
    assert not list((tmp_path / "work").rglob("training.json"))


def test_training_commands_compare_materialized_encoders_by_their_source(tmp_path):
    for folder, source in (("a", "1571fc"), ("b", "1571fc"), ("c", "99aa00")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "xproj-encoder.json").write_text(json.dumps({"source_sha256": source, "conversion_version": 3}))

    def differences(recorded_encoder, encoder):
        out = tmp_path / "model"
        out.mkdir(exist_ok=True)
        (out / "training.json").write_text(json.dumps({"command": f"-m spacy train {tmp_path / 'x.cfg'} --output {out} --components.transformer.model.name {recorded_encoder} --system.seed 0"}))
        return training_differences(out, tmp_path / "x.cfg", [("--components.transformer.model.name", str(encoder)), ("--system.seed", "0")])

    assert differences(tmp_path / "a", tmp_path / "b") == differences(tmp_path / "a", tmp_path / "a") == []
    assert differences(tmp_path / "a", tmp_path / "c") == [f"--components.transformer.model.name {tmp_path / 'c'}"]
    assert differences("xlm-roberta-large", "xlm-roberta-large") == []


def test_ablation_benchmark_runs_every_row_per_seed_on_tiny_data(tmp_path, tiny_model_dir):
    import re

    from benchmarks.ablation import SELF_TRAINED, render_ablation_table, run_ablation_benchmark
    from benchmarks.shared_data import GOLD_DEV_SETS

    shared = tmp_path / "shared"
    pairs = tiny_shared_data(shared, 48, "wmt-news/deu-eng", "tiny.eng", "tiny.deu")
    (shared / "wikiann" / "de").mkdir(parents=True)
    (shared / "wikiann" / "de" / "val.conllu").write_text("0\tAnna\tB-PER\n1\tSchmidt\tI-PER\n\n", encoding="utf-8")
    (shared / "europarl-ner").mkdir()
    write_conll(shared / "europarl-ner" / "de-europarl.test.conll02", [de for _, de in pairs[:6]])
    assert set(GOLD_DEV_SETS["de"]) == {"wikiann", "europarl"}
    settings = TransferSettings(shared_data=shared, work_dir=tmp_path / "work", encoder=tiny_model_dir, layer=1, pairs=20, max_steps=4, eval_limit=0)
    root = Path(__file__).resolve().parents[2]
    work = tmp_path / "work"
    # the transfer benchmark's projection model, trained with the same options but another config: not the spacy-ner row's
    projection = work / "de" / "projection"
    projection.mkdir(parents=True)
    (projection / "training.json").write_text(json.dumps({"seconds": 1.0, "command": (
        f"-m spacy train {root / 'configs' / 'token_ner_layer_mix.cfg'} --output {projection} --paths.train {work / 'en-de' / 'train'} "
        f"--paths.dev {work / 'en-de' / 'dev'} --nlp.lang de --components.transformer.model.name {tiny_model_dir} "
        "--training.max_steps 4 --corpora.dev.limit 500 --system.seed 0")}))
    data = run_ablation_benchmark(settings, tmp_path / "ablation.json", ["de"], [0, 1], config_dir=root, log=lambda m: None)
    assert set(data["rows"]) == {f"de/{row}/seed{s}" for row in data["setup"]["rows"] for s in (0, 1)}
    assert f"--output {work / 'de' / 'ablation' / 'spacy-ner-seed0'} " in data["rows"]["de/spacy-ner/seed0"]["train_command"]
    assert SELF_TRAINED in data["setup"]["rows"]
    # the reverse-focal rows really train with gamma = 1, the cross-entropy row with 0
    assert "--components.token_ner.loss.gamma 1.0" in data["rows"]["de/token-ner-rfl/seed1"]["train_command"]
    assert "--components.token_ner.loss.gamma 0.0" in data["rows"]["de/token-ner-ce/seed0"]["train_command"]
    assert "--system.seed 1" in data["rows"]["de/token-ner-rfl-mix/seed1"]["train_command"]
    assert len(list((work / "de" / "ablation").glob("self-labelled-seed0-threshold0.9-*.spacy"))) == 1
    table = render_ablation_table(data)
    assert table.count("| de |") == 2 and "token-ner-rfl-self" in table
    mean_row = next(line for line in table.splitlines() if line.startswith("| all | mean"))
    ce = [r["gold"][g]["f"] for k, r in data["rows"].items() if "/token-ner-ce/" in k for g in r["gold"]]
    assert mean_row.split(" | ")[3] == f"{sum(ce) / len(ce):.1f}"

    # other settings: the measured rows are not mixed with new ones, and no cached model or data is reused
    with pytest.raises(ValueError, match=r"measured with other settings: gamma 1.0 \(now 2.0\); pass --fresh"):
        run_ablation_benchmark(settings, tmp_path / "ablation.json", ["de"], [0, 1], gamma=2.0, config_dir=root, log=lambda m: None)
    teacher = work / "de" / "ablation" / "token-ner-rfl-seed0"
    with pytest.raises(ValueError, match=re.escape(f"{teacher} holds a model trained with other settings (not with --components.token_ner.loss.gamma 2.0); delete {teacher}")):
        run_ablation_benchmark(settings, tmp_path / "gamma2.json", ["de"], [0], gamma=2.0, config_dir=root, log=lambda m: None)
    student = work / "de" / "ablation" / "token-ner-rfl-self-seed0"
    with pytest.raises(ValueError, match=re.escape(f"{student} holds a model trained with other settings (not with --paths.train ") + ".*threshold0.5-"):
        run_ablation_benchmark(settings, tmp_path / "threshold.json", ["de"], [0], threshold=0.5, config_dir=root, log=lambda m: None)

    # a projection model trained exactly as the spacy-ner row would be stands in for its seed
    shutil.rmtree(projection)
    shutil.copytree(work / "de" / "ablation" / "spacy-ner-seed0", projection)
    record = json.loads((projection / "training.json").read_text())
    record["command"] = record["command"].replace(str(work / "de" / "ablation" / "spacy-ner-seed0"), str(projection))
    (projection / "training.json").write_text(json.dumps(record))
    again = run_ablation_benchmark(settings, tmp_path / "reused.json", ["de"], [0], config_dir=root, log=lambda m: None)
    assert f"--output {projection} " in again["rows"]["de/spacy-ner/seed0"]["train_command"]
    assert again["rows"]["de/token-ner-rfl-self/seed0"]["train_command"] == data["rows"]["de/token-ner-rfl-self/seed0"]["train_command"]


def test_ablation_refuses_unknown_languages_before_any_work(tmp_path):
    from benchmarks.ablation import run_ablation_benchmark

    settings = TransferSettings(shared_data=tmp_path / "shared", work_dir=tmp_path / "work", encoder="unused")
    with pytest.raises(ValueError, match=r"bench-ablation knows the languages \['de', 'es', 'nl'\], not \['fr'\]"):
        run_ablation_benchmark(settings, tmp_path / "ablation.json", ["de", "fr"], log=lambda m: None)
    assert not (tmp_path / "ablation.json").exists() and not (tmp_path / "work").exists()


def test_ablation_table_keeps_each_seed_in_its_place():
    from benchmarks.ablation import render_ablation_table

    def row(f1s):
        return {"gold": {name: {"f": f} for name, f in f1s.items()}, "train_seconds": 60.0, "train_command": "x"}

    setup = {"seeds": [2, 10], "rows": ["spacy-ner", "token-ner-ce"], "gamma": 1.0, "max_steps": 250}
    rows = {
        "de/spacy-ner/seed2": row({"wikiann": 50.0, "europarl": 40.0}), "de/spacy-ner/seed10": row({"wikiann": 60.0, "europarl": 45.0}),
        "de/token-ner-ce/seed10": row({"wikiann": 70.0}),  # seed 2 not measured, europarl missing
        "de/token-ner-ce/seed7": row({"wikiann": 10.0, "europarl": 10.0}),  # a seed outside the setup
    }
    data = json.loads(json.dumps({"setup": setup, "rows": rows}, sort_keys=True))  # as the results file reloads: seed10 before seed2
    table = render_ablation_table(data)
    assert "| de | wikiann | 50.0 / 60.0 |  / 70.0 |" in table
    assert "| de | europarl | 40.0 / 45.0 |  |" in table
    assert "| all | mean of the cells | 48.8 | 70.0 |" in table


def test_ablation_knows_how_a_cached_model_was_trained(tmp_path):
    from benchmarks.transfer import recorded_config

    out = tmp_path / "model"
    assert training_differences(out, Path("configs/ner.cfg"), []) is None
    out.mkdir()
    command = f"-m spacy train {tmp_path / 'my configs' / 'ner.cfg'} --output {out} --training.max_steps 250 --system.seed 10 --x.gamma 1.0"
    (out / "training.json").write_text(json.dumps({"command": command}))
    assert recorded_config(command) == tmp_path / "my configs" / "ner.cfg"
    assert recorded_config("-m spacy evaluate model") is None
    config = tmp_path / "my configs" / ".." / "my configs" / "ner.cfg"
    assert training_differences(out, config, [("--system.seed", "10"), ("--x.gamma", "1.0")]) == []
    assert training_differences(out, config, [("--system.seed", "1"), ("--x.gamma", "2.0"), ("--training.max_steps", "250")]) == [
        "--system.seed 1", "--x.gamma 2.0"]
    assert training_differences(out, tmp_path / "token_ner.cfg", []) == [f"config {tmp_path / 'token_ner.cfg'} (it used {tmp_path / 'my configs' / 'ner.cfg'})"]
