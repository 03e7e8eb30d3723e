"""Command line: `python -m spacy_xproj COMMAND` (also installed as `spacy-xproj`).

Each module adds its commands to the one `app`; heavy modules are imported inside the commands, so `--help` loads no torch.
"""
from . import encoder, align, train, docbins  # noqa: F401  (register the commands, in the order --help lists them)
from .app import app

__all__ = ["app"]
