import json

import pytest

from spacy_xproj.encoders.aligner_training import AlignerTrainingSettings
from benchmarks.aligner_finetune import render_finetune_table, run_finetune_benchmark, sample_training_pairs

from ..test_project_workflow import tiny_corpus, write_conll


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
    from benchmarks.aligner_finetune import gold_sentence_keys

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


def finished_small_run(tmp_path, model_dir):
    """A benchmark run on en-fr news only, 2 steps of 4: (shared data, output, work dir, settings)."""
    shared = tmp_path / "shared"
    tiny_benchmark_data(shared)
    output, work = tmp_path / "metrics.json", tmp_path / "work"
    settings = AlignerTrainingSettings(model=model_dir, layer=1, steps=2, batch_size=4)
    run_finetune_benchmark(shared, output, work, model_dir, settings, langs=("fr",), adapt_steps=1, log=lambda m: None)
    return shared, output, work, settings


def test_benchmark_refuses_to_mix_rows_of_other_settings(tmp_path, tiny_model_dir):
    shared, output, work, settings = finished_small_run(tmp_path, tiny_model_dir)
    changed = AlignerTrainingSettings(model=tiny_model_dir, layer=1, steps=3, batch_size=4)
    with pytest.raises(ValueError, match="--fresh"):
        run_finetune_benchmark(shared, output, work, tiny_model_dir, changed, langs=("fr",), adapt_steps=1, log=lambda m: None)
    data = run_finetune_benchmark(shared, output, work, tiny_model_dir, changed, langs=("fr",), adapt_steps=1, fresh=True, log=lambda m: None)
    assert data["rows"]["training"]["steps"] == 3


def test_in_language_text_adds_an_encoder_per_seed_without_retraining_the_rest(tmp_path, tiny_model_dir):
    from benchmarks.aligner_finetune import InLanguageText

    shared, output, work, settings = finished_small_run(tmp_path, tiny_model_dir)
    news_model = work / "aligner" / "model.safetensors"
    stamp = news_model.stat().st_mtime_ns

    english = [f"the cat sits on the mat number {k}" for k in range(30)] + ["the mat"]  # the last one is a gold sentence
    (tmp_path / "t.en").write_text("\n".join(english) + "\n", encoding="utf-8")
    (tmp_path / "t.ro").write_text("\n".join(f"pisica stă pe covor {k}" for k in range(31)) + "\n", encoding="utf-8")
    text = InLanguageText.parse(f"ro={tmp_path / 't.en'},{tmp_path / 't.ro'}")
    data = run_finetune_benchmark(shared, output, work, tiny_model_dir, settings, langs=("fr",), adapt_steps=1, log=lambda m: None,
                                  in_language=[text], in_language_sizes=(12, None), in_language_seeds=(0, 1))
    rows = data["rows"]
    assert news_model.stat().st_mtime_ns == stamp  # the news rows were kept, not retrained
    for seed in (0, 1):
        training = rows[f"in-language-ro/12/seed{seed}/training"]
        assert training["steps"] == 3 and training["pairs"] == 12  # one pass: 12 pairs in batches of 4
        assert training["sample"] == {"available": 31, "excluded_as_gold": 1, "used": 12}  # "the mat" is a gold sentence
        everything = rows[f"in-language-ro/all/seed{seed}/training"]
        assert everything["pairs"] == 30 and everything["steps"] == 8  # all 31 lines but the gold one, 4 a step
        for name in ("enfr", "roen", "jaen"):
            assert 0.0 <= rows[f"in-language-ro/12/seed{seed}/{name}/itermax"]["aer"] <= 1.0
    table = render_finetune_table(data)
    assert "| default encoder | en-ro text, 12 pairs | change | en-ro text, all pairs | change |" in table
    assert table.count("| roen | AER") == 6  # three methods in the news table and three in the in-language table
    roen = rows["in-language-ro/all/seed0/roen/bisoftmax"]["aer"], rows["in-language-ro/all/seed1/roen/bisoftmax"]["aer"]
    assert f"| {100 * roen[0]:.2f} / {100 * roen[1]:.2f} | {50 * (roen[0] + roen[1]) - 100 * rows['default/roen/bisoftmax']['aer']:+.2f} |" in table
    assert "- all pairs: seeds 0, 1: 30 / 30 pairs trained (pairs over 96 subwords left out), 8 / 8 steps" in table

    # the same text at another path: recognised, nothing trains again
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("t.en", "t.ro"):
        (moved / name).write_bytes((tmp_path / name).read_bytes())
    in_language_model = work / "in-language-ro-all-seed0" / "model.safetensors"
    stamp = in_language_model.stat().st_mtime_ns
    again = run_finetune_benchmark(shared, output, work, tiny_model_dir, settings, langs=("fr",), adapt_steps=1, log=lambda m: None,
                                   in_language=[InLanguageText.parse(f"ro={moved / 't.en'},{moved / 't.ro'}")], in_language_sizes=(12, None), in_language_seeds=(0, 1))
    assert in_language_model.stat().st_mtime_ns == stamp and again["rows"] == rows
    # other text under the same path: refused
    (moved / "t.ro").write_text("\n".join(f"câinele stă pe covor {k}" for k in range(31)) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="en-ro rows measured on other text"):
        run_finetune_benchmark(shared, output, work, tiny_model_dir, settings, langs=("fr",), adapt_steps=1, log=lambda m: None,
                               in_language=[InLanguageText.parse(f"ro={moved / 't.en'},{moved / 't.ro'}")])
    with pytest.raises(ValueError, match="One --in-language-text per language"):
        run_finetune_benchmark(shared, output, work, tiny_model_dir, settings, langs=("fr",), adapt_steps=1, log=lambda m: None, in_language=[text, text])
    with pytest.raises(ValueError, match="no language 'qq'"):
        run_finetune_benchmark(shared, output, work, tiny_model_dir, settings, langs=("fr",), adapt_steps=1, log=lambda m: None,
                               in_language=[InLanguageText.parse(f"qq={tmp_path / 't.en'},{tmp_path / 't.ro'}")])
    (tmp_path / "t.ro").write_text("pisica\n", encoding="utf-8")
    with pytest.raises(ValueError, match="t.ro"):  # line counts differ: refused before anything trains
        run_finetune_benchmark(shared, output, work, tiny_model_dir, settings, langs=("fr",), adapt_steps=1, log=lambda m: None,
                               in_language=[text])


def test_in_language_text_spec_is_checked():
    from benchmarks.aligner_finetune import InLanguageText

    assert InLanguageText.parse("ro=a.en,b.ro").target.name == "b.ro"
    for bad in ("ro", "ro=a.en", "=a.en,b.ro", "ro=a.en,"):
        with pytest.raises(ValueError, match="LANG=ENGLISH_FILE,LANG_FILE"):
            InLanguageText.parse(bad)
