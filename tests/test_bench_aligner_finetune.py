import json

from spacy_xproj.aligner_training import AlignerTrainingSettings
from spacy_xproj.bench_aligner_finetune import render_finetune_table, run_finetune_benchmark, sample_training_pairs

from .test_project_workflow import tiny_corpus, write_conll


def tiny_benchmark_data(shared):
    """Gold alignments, Europarl-NER in three languages and en-fr / en-de news text, laid out as in ../shared/data."""
    pairs = tiny_corpus(6)
    gold = shared / "alignment-gold"
    gold.mkdir(parents=True)
    for name in ("enfr", "roen", "jaen"):
        (gold / f"{name}.src-tgt").write_text("the cat sits ||| die katze sitzt\nthe mat ||| die matte\n", encoding="utf-8")
        (gold / f"{name}.gold").write_text("1-1 2-2 3-3\n1-1 2p2\n", encoding="utf-8")
    europarl = shared / "europarl-ner"
    europarl.mkdir()
    for lang in ("en", "de", "es"):
        write_conll(europarl / f"{lang}-europarl.test.conll02", [en if lang == "en" else de for en, de in pairs])
    for folder, suffix in (("fra-eng", ".fra"), ("deu-eng", ".deu")):
        news = shared / "parallel" / "wmt-news" / folder
        news.mkdir(parents=True)
        english = [f"the cat sits on the mat {k}" for k in range(20)] + ["the cat sits"]  # the last one is a gold sentence
        other = [f"die katze sitzt auf der matte {k}" for k in range(20)] + ["le chat"]
        (news / "news.eng").write_text("\n".join(english) + "\n", encoding="utf-8")
        (news / f"news{suffix}").write_text("\n".join(other) + "\n", encoding="utf-8")


def test_training_pairs_leave_out_every_gold_sentence(tmp_path):
    from spacy_xproj.bench_aligner_finetune import gold_sentence_keys

    tiny_benchmark_data(tmp_path)
    pairs, report = sample_training_pairs(tmp_path / "parallel", ["fr", "de"], 100, gold_sentence_keys(tmp_path), seed=0)
    assert report["fr"] == {"available": 21, "excluded_as_gold": 1, "used": 20}
    assert len(pairs) == 40 and ["the", "cat", "sits"] not in [p[0] for p in pairs]


def test_benchmark_trains_once_scores_both_encoders_and_resumes(tmp_path, tiny_model_dir):
    shared = tmp_path / "shared"
    tiny_benchmark_data(shared)
    output, work = tmp_path / "metrics.json", tmp_path / "work"
    settings = AlignerTrainingSettings(model=tiny_model_dir, layer=1, steps=4, batch_size=4, learn_rate=1e-3)
    data = run_finetune_benchmark(shared, output, work, tiny_model_dir, settings, langs=("fr", "de"), adapt_steps=2, log=lambda m: None)
    rows = data["rows"]
    assert rows["adapted-training/alignment-gold-text"]["pairs"] == 6  # two pairs in each of the three gold sets
    assert rows["adapted-training/europarl-text"]["pairs"] == 12  # six English sentences, paired with de and with es
    assert rows["training"]["steps"] == 4 and rows["training"]["pairs"] == 16  # steps * batch size, split over two languages
    for encoder in ("default", "fine-tuned", "adapted"):
        for name in ("enfr", "roen", "jaen"):
            assert 0.0 <= rows[f"{encoder}/{name}/bisoftmax"]["aer"] <= 1.0
        assert rows[f"{encoder}/projection-en-de"]["support"] == sum(len(spans) for _, (_, spans) in tiny_corpus(6))
    table = render_finetune_table(data)
    assert table.count("| enfr | AER") == 3 and "| europarl en-es | projection F1" in table
    assert "4 steps of 4, layers 1-1" in table

    model_file = work / "aligner" / "model.safetensors"
    stamp = model_file.stat().st_mtime_ns
    again = run_finetune_benchmark(shared, output, work, tiny_model_dir, settings, langs=("fr", "de"), adapt_steps=2, log=lambda m: None)
    assert model_file.stat().st_mtime_ns == stamp and again["rows"] == json.loads(output.read_text())["rows"]


def test_benchmark_refuses_to_mix_rows_of_other_settings(tmp_path, tiny_model_dir):
    import pytest

    shared = tmp_path / "shared"
    tiny_benchmark_data(shared)
    output, work = tmp_path / "metrics.json", tmp_path / "work"
    settings = AlignerTrainingSettings(model=tiny_model_dir, layer=1, steps=2, batch_size=4)
    run_finetune_benchmark(shared, output, work, tiny_model_dir, settings, langs=("fr",), adapt_steps=1, log=lambda m: None)
    changed = AlignerTrainingSettings(model=tiny_model_dir, layer=1, steps=3, batch_size=4)
    with pytest.raises(ValueError, match="--fresh"):
        run_finetune_benchmark(shared, output, work, tiny_model_dir, changed, langs=("fr",), adapt_steps=1, log=lambda m: None)
    data = run_finetune_benchmark(shared, output, work, tiny_model_dir, changed, langs=("fr",), adapt_steps=1, fresh=True, log=lambda m: None)
    assert data["rows"]["training"]["steps"] == 3
