"""Serialization for components whose whole state is their settings (weights are referenced by name, never copied).

The settings come from the pipeline's config, as for spaCy's `SpanRuler`: `spacy.load(path, config={...})`
overrides and an edited `config.cfg` must win. The `cfg` file written next to them is a record of the settings
a pipeline was saved with; loading restores only keys the config did not set (none, for this package's
components), so a saved value never silently replaces a configured one.
"""
from pathlib import Path
from typing import Any, Dict, Iterable, Union

import srsly
from spacy import util


class ConfigOnlySerialization:
    """Mixin for a `Pipe` with a JSON-able `self.cfg` built from its factory arguments."""

    cfg: Dict[str, Any]

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        return srsly.json_dumps(self.cfg).encode("utf-8")

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()):
        self._load_cfg(srsly.json_loads(bytes_data))
        return self

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        path = util.ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        if "cfg" not in exclude:
            srsly.write_json(path / "cfg", self.cfg)

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()):
        path = util.ensure_path(path)
        if "cfg" not in exclude and (path / "cfg").exists():
            self._load_cfg(srsly.read_json(path / "cfg"))
        return self

    def _load_cfg(self, cfg: Dict[str, Any]) -> None:
        """Keep every setting the config gave the constructor; take only keys it did not set."""
        for key, value in cfg.items():
            self.cfg.setdefault(key, value)
