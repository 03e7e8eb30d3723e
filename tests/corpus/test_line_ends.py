"""A lone carriage return inside a line (issue 36): lines are what `wc -l` counts (`\\n`, `\\r\\n`), so a `\\r` that is
not part of `\\r\\n` is text (read as a space) on both sides, never a line break on one side only."""
from pathlib import Path

import pytest
from typer.testing import CliRunner

from spacy_xproj.cli import app
from spacy_xproj.corpus.readers import read_parallel
from spacy_xproj.projecting.shards import ParallelInput, plan_shards, read_shard


def write_pairs(folder: Path, line_end: str = "\n") -> tuple:
    """Ten line-aligned pairs, line 3 holding a lone carriage return in both files; line k has k + 1 words."""
    source = [" ".join(f"s{k}w{i}" for i in range(k + 1)) for k in range(10)]
    target = [" ".join(f"t{k}w{i}" for i in range(k + 1)) for k in range(10)]
    source[2], target[2] = "Angela\rMerkel s2w2", "Angela Merkel\rt2w2"
    (folder / "src.txt").write_bytes(line_end.join(source).encode("utf-8") + line_end.encode())
    (folder / "tgt.txt").write_bytes(line_end.join(target).encode("utf-8") + line_end.encode())
    return source, target


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_a_lone_carriage_return_is_text_and_the_pairs_stay_aligned(tmp_path, line_end, encoding):
    source, target = write_pairs(tmp_path, line_end)
    for name in ("src.txt", "tgt.txt"):
        (tmp_path / name).write_bytes((tmp_path / name).read_bytes().decode("utf-8").encode(encoding))
    pairs = list(read_parallel(tmp_path / "src.txt", "lines", tmp_path / "tgt.txt", encoding=encoding))
    assert len(pairs) == 10 == (tmp_path / "src.txt").read_bytes().decode(encoding).count("\n")  # what wc -l counts
    assert [(p.source, p.target) for p in pairs] == [(s.replace("\r", " "), t.replace("\r", " ")) for s, t in zip(source, target)]
    assert [p.location for p in pairs][3] == f"{tmp_path / 'src.txt'}:4"
    # resuming reads from a tell() position: every shard reads back its own pairs
    corpus = ParallelInput(tmp_path / "src.txt", "lines", tmp_path / "tgt.txt", encoding)
    specs = list(plan_shards(corpus, 3))
    assert [s.n_pairs for s in specs] == [3, 3, 3, 1]
    assert [pair for spec in specs for pair in read_shard(corpus, spec)] == pairs


def test_align_writes_one_line_per_pair_with_a_lone_carriage_return(tmp_path, tiny_model_dir):
    write_pairs(tmp_path)
    result = CliRunner().invoke(app, ["align", str(tmp_path / "src.txt"), str(tmp_path / "links.txt"), "--target", str(tmp_path / "tgt.txt"),
                                      "--model", tiny_model_dir, "--layer", "2"])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "links.txt").read_text(encoding="utf-8").split("\n")
    assert len(lines) == 11 and lines[-1] == ""  # 10 lines, each ended by "\n"
    for k, line in enumerate(lines[:10]):  # pair k has k + 1 words a side (pair 2: 3), so every link lies inside its own pair
        links = [tuple(map(int, link.split("-"))) for link in line.split()]
        assert all(i <= k and j <= k for i, j in links), (k, line)
