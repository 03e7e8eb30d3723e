"""A parallel corpus cut into shards that any process can read on its own.

One streaming pass over the input (`plan_shards`) checks every line and notes, every `shard_size`
pairs, where the shard starts in each file (a `tell()` position, valid in any encoding) and a hash
of its pairs. A worker given a `ShardSpec` seeks there and reads just its pairs (`read_shard`), so
nothing holds the whole corpus, and a shard's content can be checked against its hash before it is
trusted again.
"""
import hashlib
import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

from ..corpus.schema import ParallelLine
from ..corpus.readers import parallel_files, read_parallel_at


class InputMismatchError(ValueError):
    pass


@dataclass(frozen=True)
class ParallelInput:
    """Where a parallel corpus is and how to read it (see `read_parallel`)."""

    path: Path
    format: str = "lines"
    target_path: Optional[Path] = None
    encoding: str = "utf-8"

    @property
    def files(self) -> List[Path]:
        return parallel_files(self.path, self.format, self.target_path)


@dataclass(frozen=True)
class ShardSpec:
    index: int
    first_pair: int  # 0-based index in the corpus
    n_pairs: int
    positions: Tuple[int, ...]  # where its first line starts in each input file (text-mode tell())
    pairs_sha256: str

    def lines(self, corpus: ParallelInput) -> str:
        """`file:first-last`, 1-based, for messages and the manifest."""
        return f"{corpus.files[0]}:{self.first_pair + 1}-{self.first_pair + self.n_pairs}"

    def to_json(self) -> str:
        """As JSON text: positions can exceed 64 bits, which Arrow-backed engines (Ray) cannot hold as numbers."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "ShardSpec":
        data = json.loads(text)
        return cls(**{**data, "positions": tuple(data["positions"])})


def pairs_digest(lines: Iterable[ParallelLine]) -> str:
    """A hash of the text of some pairs: a shard is reused only for the very pairs it was made from."""
    digest = hashlib.sha256()
    for line in lines:
        digest.update(json.dumps([line.source, line.target], ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def plan_shards(corpus: ParallelInput, shard_size: int, limit: int = 0) -> Iterator[ShardSpec]:
    """The shards of `corpus`, `shard_size` pairs each (the last may be shorter), from one streaming pass
    that raises ParallelFormatError naming the file and line of the first bad line.

    limit (int): the first `limit` pairs only (0: all).
    """
    from spacy.util import minibatch

    pairs = read_parallel_at(corpus.files, corpus.format, corpus.encoding, mark_every=shard_size)
    if limit:
        pairs = itertools.islice(pairs, limit)
    for index, shard in enumerate(minibatch(pairs, shard_size)):
        positions = shard[0][1]  # marked on every shard_size-th pair, the first of each batch
        yield ShardSpec(index, index * shard_size, len(shard), positions, pairs_digest(pair for pair, _ in shard))


def read_shard(corpus: ParallelInput, spec: ShardSpec) -> List[ParallelLine]:
    """The pairs of one shard; an InputMismatchError naming the lines when they are not the planned ones."""
    pairs = read_parallel_at(corpus.files, corpus.format, corpus.encoding, spec.positions, spec.first_pair)
    lines = [pair for pair, _ in itertools.islice(pairs, spec.n_pairs)]
    pairs.close()
    if len(lines) != spec.n_pairs or pairs_digest(lines) != spec.pairs_sha256:
        raise InputMismatchError(f"{spec.lines(corpus)} changed while the corpus was being projected; run the command again.")
    return lines


def file_identity(path: Path) -> Dict:
    """What decides a file's content: its path (for the message), size and sha256."""
    path = Path(path)
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return {"path": str(path), "size": path.stat().st_size, "sha256": digest.hexdigest()}
