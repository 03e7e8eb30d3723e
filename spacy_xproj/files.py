"""Writing files so that a crash never leaves a half-written one under the final name."""
import contextlib
import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import IO, Iterator, Sequence, Tuple


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


def same_path(a: Path, b: Path) -> bool:
    """Whether `a` and `b` name one file: the same inode (hard or symbolic links) or, for a path not there yet,
    the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def _inside(path: Path, folder: Path) -> bool:
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return folder in path.parents


def check_outputs_apart(outputs: Sequence[Tuple[Path, str]], inputs: Sequence[Tuple[Path, str]], written_folders: Sequence[Path] = (),
                        read_suffix: str = ".spacy") -> None:
    """Raise OutputPathError unless no output is one of the inputs; checked before any work.

    outputs: (path, name) of each file (or folder) the command writes, compared with every input through links.
    inputs: (path, name) of each file or folder the command reads; an output inside an input folder is an input
        too when its name ends in `read_suffix` (folders of DocBins are read whole, `.spacy` files at any depth).
    written_folders: folders whose every file the command may write or remove (project-corpus's train/, dev/,
        shards/): an input inside one is refused too.
    """
    for input_path, input_name in inputs:
        input_path = Path(input_path)
        for output_path, output_name in outputs:
            output_path = Path(output_path)
            inside = input_path.is_dir() and output_path.name.endswith(read_suffix) and _inside(output_path, input_path)
            if same_path(output_path, input_path) or inside:
                where = f"inside the input folder {input_path}" if inside else "also an input"
                raise OutputPathError(f"{output_path} ({output_name}) is {where} ({input_name}): writing it would replace the input; give another output path")
        for folder in written_folders:
            if _inside(input_path, folder):
                raise OutputPathError(f"{input_path} ({input_name}) lies in {folder}, which this command writes; move the input or give another output folder")


class OutputLockedError(OSError):
    """Another process holds the lock of an output folder; the message names the folder and the holder."""


@contextlib.contextmanager
def output_lock(folder: Path, command: str) -> Iterator[None]:
    """Hold `folder/.COMMAND.lock` while the block runs, or raise OutputLockedError at once, naming the folder and
    the holder (pid, host and start time, kept in `.COMMAND.lock.holder`). The lock is the operating system's
    (`filelock`), so a killed holder (even `kill -9`) releases it. A folder this call created, left holding only the
    lock's files, is removed again, so a run that fails before writing anything leaves nothing behind."""
    from filelock import FileLock, Timeout

    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock_path, holder_path = folder / f".{command}.lock", folder / f".{command}.lock.holder"
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        try:
            holder = json.loads(holder_path.read_text(encoding="utf-8"))
            who = f"pid {holder['pid']} on {holder['host']}, started {holder['started']}"
        except (OSError, ValueError, KeyError, TypeError):
            who = "a process that has not said who it is yet"
        raise OutputLockedError(f"{folder} is being written by another {command} run ({who}); wait for it to end or give another output folder") from None
    try:
        started = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime())
        atomic_write_bytes(holder_path, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started}).encode("utf-8"))
        yield
    finally:
        holder_path.unlink(missing_ok=True)  # before the lock is released, so that it never removes the next holder's file
        if created and {p.name for p in folder.iterdir()} <= {lock_path.name}:
            lock_path.unlink(missing_ok=True)
            lock.release()
            with contextlib.suppress(OSError):
                folder.rmdir()
        else:
            lock.release()
