import pytest

from spacy_xproj.files import OutputPathError, atomic_open, atomic_write_bytes, check_writable


def test_atomic_open_replaces_only_a_complete_file(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(path) as f:
            f.write("half")
            raise RuntimeError("crash")
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    with atomic_open(path) as f:
        f.write("new\n")
    assert path.read_text() == "new\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    atomic_write_bytes(tmp_path / "deeper" / "b.bin", b"\x00\x01")
    assert (tmp_path / "deeper" / "b.bin").read_bytes() == b"\x00\x01"


def test_check_writable_names_the_problem_and_creates_nothing(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "folder").mkdir()
    check_writable(tmp_path / "new" / "deeper" / "out.txt")
    check_writable(tmp_path / "folder", "folder")
    for path, kind, message in [
        (tmp_path / "folder", "file", "is a folder; give a file name"),
        (tmp_path / "file", "folder", "is a file; give a folder"),
        (tmp_path / "file" / "out.txt", "file", f"{tmp_path / 'file'} is a file, not a folder"),
        (tmp_path / "file" / "a" / "b", "folder", f"{tmp_path / 'file'} is a file, not a folder"),
    ]:
        with pytest.raises(OutputPathError, match=message):
            check_writable(path, kind)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]
