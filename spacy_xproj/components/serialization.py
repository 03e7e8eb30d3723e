"""Serialization for components whose whole state is their settings (weights are referenced by name, never copied).

The settings live in the pipeline's config, as for spaCy's `SpanRuler`: `spacy.load(path, config={...})` overrides
and an edited `config.cfg` win, so the component itself writes no state of its own. A `cfg` file in the folder of
a pipeline saved by an earlier release is ignored: it only ever repeated the config.
"""
from pathlib import Path
from typing import Iterable, Union

from spacy import util


class ConfigOnlySerialization:
    """Mixin for a `Pipe` whose state is its factory arguments, which the pipeline's config already holds."""

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        return b""

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()):
        return self

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        util.ensure_path(path).mkdir(parents=True, exist_ok=True)

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()):
        return self
