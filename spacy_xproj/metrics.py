"""Benchmark results: a JSON file written row by row (so runs resume) and README tables kept in sync."""
import json
from pathlib import Path
from typing import Dict

from .files import atomic_write_bytes


class Results:
    """The metrics JSON, rewritten atomically after every row."""

    def __init__(self, path: Path, fresh: bool):
        self.path = path
        self.data: Dict[str, Dict] = {} if fresh or not path.exists() else json.loads(path.read_text())
        self.data.setdefault("rows", {})

    def has(self, key: str) -> bool:
        return key in self.data["rows"]

    def put(self, key: str, row: Dict) -> None:
        self.data["rows"][key] = row
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path, (json.dumps(self.data, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def update_readme(readme: Path, table: str, marker: str = "bench-align") -> None:
    """Replace the text between `<!-- marker:start -->` and `<!-- marker:end -->` with the table."""
    text = readme.read_text(encoding="utf-8")
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"{readme} has no {start} ... {end} block to update")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{table}{end}{tail}", encoding="utf-8")

