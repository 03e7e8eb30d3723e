"""The data that ships in assets/ is what its checksums say, and each folder carries its licence."""
import hashlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("folder", ["assets/ntrex128", "assets/flores101", "assets/uner-ewt"])
def test_every_shipped_file_matches_its_checksum_and_is_listed(folder):
    listed = {}
    for line in (ROOT / folder / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name.lstrip("*")] = digest
    data = {path.name for path in (ROOT / folder).iterdir() if path.name not in ("SHA256SUMS", "LICENSE", "LICENSE.md", "LICENSE.txt", "README.md")}
    assert set(listed) == data
    for name, digest in listed.items():
        assert hashlib.sha256((ROOT / folder / name).read_bytes()).hexdigest() == digest, name
    assert any((ROOT / folder / licence).is_file() for licence in ("LICENSE", "LICENSE.md", "LICENSE.txt"))


def test_the_ntrex_files_are_line_aligned():
    lengths = {path.name: len(path.read_bytes().splitlines()) for path in (ROOT / "assets/ntrex128").glob("newstest2019-*.txt")}
    assert len(lengths) == 18 and set(lengths.values()) == {1997}
