"""project-corpus locks its output folder (issue 36): a second run into it is refused at once, naming the folder and
the run that holds it; the lock is released on exit and on error, and a holder killed with SIGKILL blocks no one."""
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spacy_xproj.files import OutputLockedError, output_lock
from spacy_xproj.projecting.run import LOCK_NAME, build_training_data
from spacy_xproj.projecting.settings import CorpusSettings
from spacy_xproj.projecting.shards import ParallelInput

from .test_engines import SOURCE, TARGET, TEACHER

HOLD = "import sys, time; from pathlib import Path; from spacy_xproj.files import output_lock\n" \
       "with output_lock(Path(sys.argv[1]), sys.argv[2]):\n    print('held', flush=True)\n    time.sleep(600)\n"


@pytest.fixture
def corpus(tmp_path) -> ParallelInput:
    pytest.importorskip(TEACHER)
    (tmp_path / "src.txt").write_text("\n".join(SOURCE) + "\n", encoding="utf-8")
    (tmp_path / "tgt.txt").write_text("\n".join(TARGET) + "\n", encoding="utf-8")
    return ParallelInput(tmp_path / "src.txt", "lines", tmp_path / "tgt.txt")


def hold_lock(folder: Path) -> subprocess.Popen:
    """Another process holding the folder's lock, as a running project-corpus does."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), LOCK_NAME], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_second_run_is_refused_naming_the_holder_and_a_killed_holder_blocks_no_one(corpus, tiny_model_dir, tmp_path):
    settings = CorpusSettings(target_lang="de", model=tiny_model_dir, layer=2, shard_size=4)
    out = tmp_path / "out"
    holder = hold_lock(out)
    try:
        recorded = json.loads((out / f".{LOCK_NAME}.lock.holder").read_text())
        assert (recorded["pid"], recorded["host"]) == (holder.pid, socket.gethostname())
        with pytest.raises(OutputLockedError) as refused:
            build_training_data(corpus, out, settings, log=lambda m: None, progress=False)
        message = str(refused.value)
        assert message.startswith(f"{out} is being written by another project-corpus run (pid {holder.pid} on {socket.gethostname()}, started ")
        assert "\n" not in message and not (out / "train").exists()  # refused before any work
        result = CliRunner().invoke(app(), ["project-corpus", str(corpus.path), str(out), "--target", str(corpus.target_path), "--target-lang", "de",
                                            "--model", tiny_model_dir, "--layer", "2"])
        assert result.exit_code == 1 and f"error: {out} is being written by another project-corpus run (pid {holder.pid}" in result.output
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # the holder dies without releasing anything itself
        holder.wait()
    assert (out / f".{LOCK_NAME}.lock.holder").exists()  # its stale record is left, but the OS released the lock
    report = build_training_data(corpus, out, settings, log=lambda m: None, progress=False)
    assert report["counts"]["read"] == len(SOURCE) and (out / "report.json").is_file()
    assert not (out / f".{LOCK_NAME}.lock.holder").exists()  # released on exit


def test_the_lock_is_released_on_error_and_a_failed_first_run_leaves_no_folder(corpus, tiny_model_dir, tmp_path):
    settings = CorpusSettings(target_lang="de", model=tiny_model_dir, layer=2)
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="holds no sentence pairs"):
        build_training_data(ParallelInput(tmp_path / "empty.txt", "lines", tmp_path / "empty.txt"), tmp_path / "out", settings, progress=False)
    assert not (tmp_path / "out").exists()  # the folder it made for the lock is gone again
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ValueError, match="holds no sentence pairs"):
        build_training_data(ParallelInput(tmp_path / "empty.txt", "lines", tmp_path / "empty.txt"), tmp_path / "kept", settings, progress=False)
    with output_lock(tmp_path / "kept", LOCK_NAME):  # free again at once
        pass
    assert (tmp_path / "kept" / "notes.txt").read_text() == "mine"


def app():
    from spacy_xproj.cli import app as cli_app

    return cli_app
