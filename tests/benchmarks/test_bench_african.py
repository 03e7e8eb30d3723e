"""The African-languages benchmark's bookkeeping: the MAFAND cap, its refusals, its summary and table (the
measuring itself is the benchmark's job, not a test's)."""
import json
import re
from pathlib import Path

import pytest

from benchmarks.african import AfricanSettings, first_lines, render_african_table, run_african_benchmark, summary


def row(f, per=0.0, minutes=None):
    scores = {"f": f, "p": f, "r": f, "per_type": {"PER": {"f": per}, "ORG": {"f": 0.0}, "LOC": {"f": f}}}
    return {"gold": {"masakhaner": scores}, "train_minutes": minutes or 3.0, "pairs_projected": 5997}


def test_first_lines_splits_at_newlines_only(tmp_path):
    # a line separator inside a sentence (U+2028) and a CR must not shift the pairs
    (tmp_path / "a").write_bytes("one\u2028still one\r\ntwo\nthree\n".encode("utf-8"))
    assert first_lines(tmp_path / "a", tmp_path / "b", 2) == 2
    assert (tmp_path / "b").read_bytes() == "one\u2028still one\r\ntwo\n".encode("utf-8")
    assert first_lines(tmp_path / "a", tmp_path / "c", 10) == 3


def test_unknown_languages_and_untrained_teachers_are_refused(tmp_path):
    settings = AfricanSettings(shared_data=tmp_path, work_dir=tmp_path / "work", teacher=tmp_path / "teacher")
    with pytest.raises(ValueError, match="deu"):
        run_african_benchmark(settings, tmp_path / "out.json", ["deu"], [0])
    with pytest.raises(FileNotFoundError, match="teacher.json"):
        run_african_benchmark(settings, tmp_path / "out.json", ["zul"], [0])
    (tmp_path / "teacher").mkdir()
    (tmp_path / "teacher" / "teacher.json").write_text(json.dumps({"trained": False, "reason": "not found: eng.train"}))
    with pytest.raises(ValueError, match="not found: eng.train"):
        run_african_benchmark(settings, tmp_path / "out.json", ["zul"], [0])


def test_summary_means_seeds_picks_the_best_system_and_averages_complete_languages():
    rows = {"zul/zero-shot/seed0": row(40.0), "zul/projection-itermax/seed0": row(50.0), "zul/projection-itermax/seed1": row(54.0),
            "zul/projection-bisoftmax/seed0": row(56.0, minutes=4.0),
            "yor/zero-shot/seed0": row(30.0), "yor/projection-itermax/seed0": row(20.0), "hau/zero-shot/seed0": row(60.0)}
    result = summary(rows)
    assert result["languages"]["zul"] == {"zero-shot": 40.0, "projection-itermax": {"seeds": {"0": 50.0, "1": 54.0}, "mean": 52.0},
                                          "projection-bisoftmax": {"seeds": {"0": 56.0}, "mean": 56.0},
                                          "best_by_dev": "projection-bisoftmax", "best_f": 56.0}
    assert result["languages"]["yor"]["best_by_dev"] == "zero-shot" and "best_by_dev" not in result["languages"]["hau"]
    # hau has no student yet: the averages are over zul and yor only, and say so; yor has no bisoftmax student,
    # so that system has no average
    assert result["averaged_over"] == ["zul", "yor"]
    assert result["average"] == {"zero-shot": 35.0, "projection-itermax": 36.0, "best_by_dev": 43.0}
    table = render_african_table({"rows": rows, "teacher": {"dev": "eng.testa", "f": 92.0, "train_seconds": 600}, "setup": {"mafand_pairs": 4000}})
    assert ("| language | zero-shot F1 | projection-itermax F1 mean (seed 0 / 1) | projection-itermax training minutes "
            "| projection-bisoftmax F1 mean (seed 0 / 1) | projection-bisoftmax training minutes | best by dev | pairs projected |") in table
    assert "| zul | 40.0 | 52.0 (50.0 / 54.0) | 3.0 / 3.0 | 56.0 (56.0 / -) | 4.0 | projection-bisoftmax | 5997 |" in table
    assert "| hau | 60.0 |  |  |  |  |  |  |" in table
    assert "| **average of 2 (of the published 8)** | 35.0 | 36.0 |  |  |  | 43.0 | |" in table
    assert "average of all" not in table and "average_all" not in result
    assert "| zul | 0.0 / 0.0 / 0.0 | 0.0 / 0.0 / 0.0 | 40.0 / 52.0 / 56.0 |" in table
    assert "| yor | 0.0 / 0.0 / - | 0.0 / 0.0 / - | 30.0 / 20.0 / - |" in table
    assert "Not measured yet: zul projection-bisoftmax seed 1, yor projection-itermax seed 1, yor projection-bisoftmax seed 0," in table
    assert "xho (all), sna (all)," in table
    assert "T-Projection 70.3" in table and "**test** split" in table and "**dev**" in table


def test_languages_beyond_the_published_eight_get_an_average_of_their_own():
    rows = {"zul/zero-shot/seed0": row(40.0), "zul/projection-bisoftmax/seed0": row(50.0),
            "lug/zero-shot/seed0": row(30.0), "lug/projection-bisoftmax/seed0": row(44.0)}
    result = summary(rows)
    assert result["averaged_over"] == ["zul"] and result["average"]["projection-bisoftmax"] == 50.0
    assert result["all_averaged_over"] == ["zul", "lug"] and result["average_all"] == {"zero-shot": 35.0, "projection-bisoftmax": 47.0, "best_by_dev": 47.0}
    table = render_african_table({"rows": rows, "summary": result, "setup": {"mafand_pairs": 4000}})
    assert "| **average of all 2** | 35.0 | 47.0 |  | 47.0 | |" in table


def test_unknown_systems_are_refused(tmp_path):
    settings = AfricanSettings(shared_data=tmp_path, work_dir=tmp_path / "work", teacher=tmp_path / "teacher")
    with pytest.raises(ValueError, match="projection-frozen"):
        run_african_benchmark(settings, tmp_path / "out.json", ["zul"], [0], systems=["projection-frozen"])


def test_linked_projection_table_has_a_row_per_method_and_names_variant():
    projection = {"yor": {"bisoftmax": {"f": 40.0, "sentences": 234}, "bisoftmax+names": {"f": 50.0, "sentences": 234}, "none+names": {"f": 20.0, "sentences": 234}},
                  "lug": {"bisoftmax": {"f": 60.0, "sentences": 702}, "bisoftmax+names": {"f": 64.0, "sentences": 702}}}
    table = render_african_table({"rows": {}, "projection": projection, "setup": {}})
    assert "| method | yor | lug | mean |" in table and "| sentences | 234 | 702 | |" in table
    assert "| bisoftmax | 40.0 | 60.0 | 50.0 |" in table and "| bisoftmax+names | 50.0 | 64.0 | 57.0 |" in table
    assert "| none+names | 20.0 |  |  |" in table  # a language without the row has no mean
    projection["yor"]["bisoftmax+names+DATE"] = {"f": 45.0, "sentences": 234, "per_type": {"DATE": {"f": 30.0}, "PER": {"f": 60.0}}}
    assert "| bisoftmax+names+DATE | 45.0 (30.0) |  |  |" in render_african_table({"rows": {}, "projection": projection, "setup": {}})


def test_date_students_get_a_table_of_their_own():
    """The DATE system's rows carry a second score (PER/ORG/LOC/DATE); the table shows it beside PER/ORG/LOC, with
    DATE alone, and the system joins the per-language choice like any student."""
    dated = row(50.0)
    dated["gold"]["masakhaner_date"] = {"f": 60.0, "p": 60.0, "r": 60.0, "per_type": {"DATE": {"f": 70.0}}}
    rows = {"swa/zero-shot/seed0": row(40.0), "swa/projection-bisoftmax/seed0": row(45.0), "swa/projection-bisoftmax-date/seed0": dated}
    result = summary(rows)
    assert result["languages"]["swa"]["best_by_dev"] == "projection-bisoftmax-date" and result["languages"]["swa"]["best_f"] == 50.0
    table = render_african_table({"rows": rows, "teacher": {}, "setup": {}})
    assert "| language | PER/ORG/LOC | PER/ORG/LOC/DATE | DATE |" in table
    assert "| swa | 50.0 (50.0) | 60.0 (60.0) | 70.0 (70.0) |" in table
    assert "With DATE" not in render_african_table({"rows": {k: v for k, v in rows.items() if "date" not in k}, "teacher": {}, "setup": {}})


TEACHER_RECORD = {"trained": True, "p": 92.0, "r": 92.0, "f": 92.0, "train_seconds": 600.0, "dev": "eng.testa", "config": "frozen_ner.cfg"}


def zero_shot_benchmark(tmp_path, monkeypatch):
    """Settings, output file and teacher record of a benchmark whose zero-shot rows are faked (40.0)."""
    import benchmarks.african as african

    (tmp_path / "teacher").mkdir()
    (tmp_path / "teacher" / "teacher.json").write_text(json.dumps(TEACHER_RECORD))
    monkeypatch.setattr(african, "zero_shot_row", lambda settings, lang, record: row(40.0))
    return AfricanSettings(shared_data=tmp_path, work_dir=tmp_path / "work", teacher=tmp_path / "teacher"), tmp_path / "out.json", TEACHER_RECORD


def test_combined_students_train_on_the_first_english_gold_sentences_then_the_projected_ones(tmp_path):
    """The combined system's training corpus: the first `english_sentences` of the teacher's own training corpus,
    then every projected training sentence, in one DocBin written by `merge-docbins` (its command recorded)."""
    import spacy
    from spacy.tokens import DocBin

    from benchmarks.african import PROJECTION_SYSTEMS, combined_training_corpus

    # a system that trains on another's corpus names one that projects its own
    assert all(PROJECTION_SYSTEMS[student.corpus_of].corpus_of == "" for student in PROJECTION_SYSTEMS.values() if student.corpus_of)
    assert PROJECTION_SYSTEMS["projection-bisoftmax-combined"].english_gold
    english, zulu = spacy.blank("en"), spacy.blank("xx")
    (tmp_path / "teacher" / "corpus").mkdir(parents=True)
    gold = [english(f"Sentence {i} by Ada .") for i in range(3)]
    for doc in gold:
        doc.ents = [doc.char_span(doc.text.index("Ada"), doc.text.index("Ada") + 3, label="PER")]
    DocBin(docs=gold).to_disk(tmp_path / "teacher" / "corpus" / "train.spacy")
    (tmp_path / "work" / "en-zul-bisoftmax" / "train").mkdir(parents=True)
    DocBin(docs=[zulu("uSipho uhambile")]).to_disk(tmp_path / "work" / "en-zul-bisoftmax" / "train" / "shard-00000.spacy")
    settings = AfricanSettings(shared_data=tmp_path, work_dir=tmp_path / "work", teacher=tmp_path / "teacher", english_sentences=2)
    merged, command = combined_training_corpus(settings, tmp_path / "work" / "en-zul-bisoftmax", log=lambda line: None)
    docs = list(DocBin().from_disk(merged).get_docs(english.vocab))
    assert [doc.text for doc in docs] == ["Sentence 0 by Ada .", "Sentence 1 by Ada .", "uSipho uhambile"]
    assert [(e.text, e.label_) for e in docs[1].ents] == [("Ada", "PER")]
    assert command.startswith("python -m spacy_xproj merge-docbins ") and "english-gold-2.spacy" in command
    assert merged == tmp_path / "work" / "en+zul-bisoftmax" / "train-2.spacy"
    # a second call reuses the merged corpus and records the same command
    assert combined_training_corpus(settings, tmp_path / "work" / "en-zul-bisoftmax", log=lambda line: None) == (merged, command)
    settings.teacher = tmp_path / "no-teacher"
    settings.english_sentences = 5
    with pytest.raises(FileNotFoundError, match="no-teacher/corpus/train.spacy"):
        combined_training_corpus(settings, tmp_path / "work" / "en-zul-bisoftmax", log=lambda line: None)


def test_fine_tuned_students_train_the_all_workflows_config_for_its_steps_on_the_bisoftmax_corpus(tmp_path, monkeypatch):
    """The fine-tuned system trains configs/token_ner_layer_mix.cfg (the `all` workflow's ner_config) for
    `fine_tuned_steps` steps on projection-bisoftmax's corpus; the frozen systems train configs/frozen_ner.cfg with
    the config's own schedule."""
    import benchmarks.african as african

    assert african.PROJECTION_SYSTEMS["projection-bisoftmax-fine-tuned"].corpus_of == "projection-bisoftmax"
    commands = []

    def fake_run(args, log, threads=0):
        commands.append(args)
        output = Path(args[2])
        output.mkdir(parents=True)
        (output / "training.json").write_text('{"seconds": 60.0}')
        return african.command_line(args, threads)

    monkeypatch.setattr(african, "run_command", fake_run)
    monkeypatch.setattr(african, "fine_tuned_freeze_layers", lambda: 0)
    settings = AfricanSettings(shared_data=tmp_path, work_dir=tmp_path / "work", teacher=tmp_path / "teacher", fine_tuned_steps=7)
    corpus = tmp_path / "work" / "en-zul-bisoftmax"
    model, seconds, recorded = african.trained_student(settings, "zul", "projection-bisoftmax-fine-tuned", 1, corpus, log=lambda line: None)
    assert commands[0][1] == str(african.ROOT / "configs/token_ner_layer_mix.cfg")
    assert commands[0][-2:] == ["--max-steps", "7"] and commands[0][commands[0].index("--seed") + 1] == "1"
    assert model == tmp_path / "work" / "zul" / "projection-bisoftmax-fine-tuned-seed1" / "model-best" and seconds == 60.0
    african.trained_student(settings, "zul", "projection-bisoftmax", 1, corpus, log=lambda line: None)
    assert commands[1][1] == str(african.ROOT / "configs/frozen_ner.cfg") and "--max-steps" not in commands[1]
    # a finished training is not run again; its command is still recorded
    assert african.trained_student(settings, "zul", "projection-bisoftmax-fine-tuned", 1, corpus, log=lambda line: None)[2] == recorded and len(commands) == 2
    # with the config's lowest layers frozen the fine-tuned student is another one: trained in a folder of its own
    monkeypatch.setattr(african, "fine_tuned_freeze_layers", lambda: 6)
    model, _, _ = african.trained_student(settings, "zul", "projection-bisoftmax-fine-tuned", 1, corpus, log=lambda line: None)
    assert model == tmp_path / "work" / "zul" / "projection-bisoftmax-fine-tuned-freeze6-seed1" / "model-best" and len(commands) == 3
    assert african.student_dir(settings, "zul", "projection-bisoftmax", 1) == tmp_path / "work" / "zul" / "projection-bisoftmax-seed1"


def test_the_fine_tuned_configs_frozen_layers_are_read_from_it_and_rows_of_other_ones_are_not_mixed_in(tmp_path, monkeypatch):
    import benchmarks.african as african

    config = african.FINE_TUNED_CONFIG.read_text()
    assert "\nfreeze_layers = " in config
    monkeypatch.setattr(african, "FINE_TUNED_CONFIG", tmp_path / "layer_mix.cfg")
    african.FINE_TUNED_CONFIG.write_text(re.sub(r"\nfreeze_layers = \d+", "\nfreeze_layers = 3", config))
    assert african.fine_tuned_freeze_layers() == 3

    settings, output, _ = zero_shot_benchmark(tmp_path, monkeypatch)
    assert run_african_benchmark(settings, output, ["zul"], [0], systems=["zero-shot"], log=lambda line: None)["setup"]["fine_tuned_freeze_layers"] == 3
    # a file older than the field was measured with every layer learning
    older = json.loads(output.read_text())
    del older["setup"]["fine_tuned_freeze_layers"]
    output.write_text(json.dumps(older))
    with pytest.raises(ValueError, match="fine_tuned_freeze_layers 0 \\(now 3\\)"):
        run_african_benchmark(settings, output, ["yor"], [0], systems=["zero-shot"], log=lambda line: None)


def test_rows_of_a_teacher_trained_again_are_not_mixed_with_the_old_ones(tmp_path, monkeypatch):
    """A results file whose rows came from one training of the teacher refuses a teacher trained again in the
    same folder (its record's F1 and minutes differ), also when the file predates the recorded identity."""
    import benchmarks.african as african

    settings, output, teacher = zero_shot_benchmark(tmp_path, monkeypatch)
    data = run_african_benchmark(settings, output, ["zul"], [0], systems=["zero-shot"], log=lambda line: None)
    assert data["setup"]["teacher_trained"] == {"f": 92.0, "train_seconds": 600.0} and "cores" in data["setup"]["cpu"]
    # the same teacher resumes (nothing measured again)
    monkeypatch.setattr(african, "zero_shot_row", lambda settings, lang, record: pytest.fail("measured again"))
    run_african_benchmark(settings, output, ["zul"], [0], systems=["zero-shot"], log=lambda line: None)
    (tmp_path / "teacher" / "teacher.json").write_text(json.dumps({**teacher, "f": 91.5, "train_seconds": 480.0}))
    with pytest.raises(ValueError, match="teacher_trained"):
        run_african_benchmark(settings, output, ["yor"], [0], systems=["zero-shot"], log=lambda line: None)
    # a file written before the identity was recorded: its teacher record stands for it
    older = json.loads(output.read_text())
    del older["setup"]["teacher_trained"]
    output.write_text(json.dumps(older))
    with pytest.raises(ValueError, match="teacher_trained"):
        run_african_benchmark(settings, output, ["yor"], [0], systems=["zero-shot"], log=lambda line: None)


def test_fine_tuned_combined_students_fine_tune_on_english_gold_and_the_bisoftmax_corpus(tmp_path, monkeypatch):
    import benchmarks.african as african
    from spacy.tokens import DocBin

    import spacy

    student = african.PROJECTION_SYSTEMS["projection-bisoftmax-fine-tuned-combined"]
    assert student.fine_tuned and student.english_gold and student.corpus_of == "projection-bisoftmax"
    commands = []

    def fake_run(args, log, threads=0):
        commands.append(args)
        if args[0] == "train-ner":
            Path(args[2]).mkdir(parents=True)
            (Path(args[2]) / "training.json").write_text('{"seconds": 30.0}')
        return african.command_line(args, threads)

    monkeypatch.setattr(african, "run_command", fake_run)
    (tmp_path / "teacher" / "corpus").mkdir(parents=True)
    DocBin(docs=[spacy.blank("en")("An English sentence .")]).to_disk(tmp_path / "teacher" / "corpus" / "train.spacy")
    settings = AfricanSettings(shared_data=tmp_path, work_dir=tmp_path / "work", teacher=tmp_path / "teacher", english_sentences=1)
    african.trained_student(settings, "zul", "projection-bisoftmax-fine-tuned-combined", 0, tmp_path / "work" / "en-zul-bisoftmax", log=lambda line: None)
    merge, train = commands
    assert merge[0] == "merge-docbins" and merge[-1] == str(tmp_path / "work" / "en+zul-bisoftmax" / "train-1.spacy")
    assert train[1] == str(african.ROOT / "configs/token_ner_layer_mix.cfg") and train[train.index("--train") + 1] == merge[-1]
    assert train[-2:] == ["--max-steps", "200"]
