"""Benchmark results: a JSON file written row by row (so runs resume) and README tables kept in sync."""
import json
from pathlib import Path
from typing import Dict, Sequence

from spacy_xproj.files import atomic_write_bytes


class Results:
    """The metrics JSON, rewritten atomically after every row."""

    def __init__(self, path: Path, fresh: bool):
        self.path = path
        self.data: Dict[str, Dict] = {} if fresh or not path.exists() else json.loads(path.read_text())
        self.data.setdefault("rows", {})

    def use_setup(self, setup: Dict, measured_with: Sequence[str], defaults: Dict) -> None:
        """Record the run's setup. Rows measured under other values of `measured_with` are not mixed
        in: refused, naming the entries that changed (an entry missing from an older file counts
        as its value in `defaults`)."""
        previous = self.data.get("setup", {})
        changed = [
            f"{key} {previous.get(key, defaults.get(key))} (now {setup[key]})"
            for key in measured_with if previous.get(key, defaults.get(key)) != setup[key]
        ]
        if self.data["rows"] and changed:
            raise ValueError(f"{self.path} holds rows measured with other settings: {', '.join(changed)}; pass --fresh to measure again, or use another --output.")
        self.data["setup"] = setup
        self.save()

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

