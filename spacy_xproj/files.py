"""Writing files so that a crash never leaves a half-written one under the final name."""
import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


class OutputPathError(OSError):
    """An output path that cannot be written; the message names it and says why."""


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w", encoding: str = "utf-8") -> Iterator[IO]:
    """A file to write `path` through: a hidden sibling, renamed over `path` only when the block ends without
    an exception and removed otherwise, so readers see the old file or the whole new one. Creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _partial(path)
    try:
        with tmp.open(mode, encoding=None if "b" in mode else encoding) as f:
            yield f
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a hidden sibling, then rename: readers see the old file or the whole new one. Creates the folder."""
    with atomic_open(path, "wb") as f:
        f.write(data)


def check_writable(path: Path, kind: str = "file") -> None:
    """Raise OutputPathError, naming `path`, unless a `kind` ("file" or "folder") can be written there.

    Checked before any work and without creating anything: `path` is not the other kind, its nearest existing
    ancestor is a folder (not a file), and a file can be created in that folder (read-only, or a full disk).
    """
    path = Path(path)
    if kind == "file" and path.is_dir():
        raise OutputPathError(f"{path} is a folder; give a file name to write")
    if kind == "folder" and path.exists() and not path.is_dir():
        raise OutputPathError(f"{path} is a file; give a folder to write into")
    ancestor = path if kind == "folder" and path.is_dir() else path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputPathError(f"cannot write {path}: {ancestor} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=ancestor):
            pass
    except OSError as err:
        raise OutputPathError(f"cannot write {path}: {ancestor} is not writable ({err.strerror or err})") from err
