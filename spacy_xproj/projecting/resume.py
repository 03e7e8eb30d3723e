"""Resuming a corpus projection: where each shard's files live, which finished shards may be kept, the settings and
input files recorded beside them, and the manifest and report written from the shards' reports.

A shard is reused only if it was made from the same pairs (its report holds their hash) and its DocBins are the
ones written (the report holds their hashes too); otherwise it is projected again. The settings and the input
files (path, size, sha256) are recorded in `shards/`, and a run with other settings or on other files is refused,
naming the folder or file.
"""
import hashlib
import json
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import spacy

from ..components.projector import LABEL_DROPPED
from ..corpus.languages import resolve_language
from ..files import atomic_write_bytes
from .settings import CorpusSettings, projector_config
from .shards import InputMismatchError, ShardSpec, file_identity


SPLITS = ("train", "dev")


def shard_file(output_dir: Path, kind: str, index: int) -> Path:
    """`train/` and `dev/` hold one DocBin per shard (`spacy train --paths.train OUTPUT/train` reads the folder);
    `shards/` their reports."""
    if kind == "report":
        return Path(output_dir) / "shards" / f"shard-{index:05d}.json"
    return Path(output_dir) / kind / f"shard-{index:05d}.spacy"


def reusable_shard(output_dir: Path, spec: ShardSpec) -> Optional[str]:
    """None if the shard on disk is complete and made from `spec`'s pairs; else why it must be projected again."""
    report_path = shard_file(output_dir, "report", spec.index)
    if not report_path.exists():
        return "missing"
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
    except ValueError:
        return "its report is not JSON"
    if (report.get("pairs_sha256"), report.get("first_pair"), report.get("n_pairs")) != (spec.pairs_sha256, spec.first_pair, spec.n_pairs):
        return "made from other pairs"
    for split in SPLITS:
        path = shard_file(output_dir, split, spec.index)
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != report.get(f"{split}_sha256"):
            return f"its {split} DocBin is missing, truncated or changed"
    return None


def projector_identity(settings: CorpusSettings) -> Dict:
    """The projector's full config, defaults filled in: shards projected under other defaults (an older
    spacy_xproj) must not be reused as if they were current."""
    nlp = spacy.blank(resolve_language(settings.target_lang).spacy_lang)
    nlp.add_pipe("entity_projector", config=projector_config(settings))
    return nlp.config["components"]["entity_projector"]


def settings_record(settings: CorpusSettings) -> str:
    return json.dumps({**settings.__dict__, "projector": projector_identity(settings)}, sort_keys=True, default=str)


def check_inputs(shard_dir: Path, inputs: Sequence[Path]) -> List[Dict]:
    """The identities of the input files; an InputMismatchError naming the file when the shards were made from others."""
    current = [file_identity(path) for path in inputs]
    record = shard_dir / "inputs.json"
    if current and record.exists():
        recorded = json.loads(record.read_text(encoding="utf-8"))
        if len(recorded) != len(current):
            raise InputMismatchError(f"{shard_dir} holds shards projected from {len(recorded)} input files, not {len(current)}; remove it or choose another output directory.")
        for old, new in zip(recorded, current):
            if (old["size"], old["sha256"]) != (new["size"], new["sha256"]):
                raise InputMismatchError(
                    f"{new['path']} ({new['size']} bytes, sha256 {new['sha256'][:12]}) is not the file the shards in {shard_dir} were projected from "
                    f"({old['path']}, {old['size']} bytes, sha256 {old['sha256'][:12]}); remove {shard_dir} or choose another output directory."
                )
    return current


def remove_other_shards(output_dir: Path, n_shards: int) -> None:
    """Shards beyond this plan (left by a run with a larger --limit) would be read by `spacy train`: remove them."""
    for kind, pattern in (("train", "*.spacy"), ("dev", "*.spacy"), ("shards", "shard-*.json")):
        for path in (Path(output_dir) / kind).glob(pattern):
            stem = path.stem
            if stem.startswith("shard-") and stem[6:].isdigit() and int(stem[6:]) >= n_shards:
                path.unlink()


def dropped_by_label(reasons: Dict[str, int]) -> Dict[str, int]:
    """Teacher entities the label map dropped, by teacher label, from the projector's reasons (`LABEL_DROPPED`)."""
    import re

    pattern = "^" + re.escape(LABEL_DROPPED).replace(re.escape("{label}"), "(.+)") + "$"
    found = {match.group(1): count for reason, count in reasons.items() for match in [re.match(pattern, reason)] if match}
    return dict(sorted(found.items(), key=lambda item: -item[1]))


def write_manifest(output_dir: Path, specs: Sequence[ShardSpec], settings: CorpusSettings, record: str, inputs: List[Dict],
                   log: Callable[[str], None]) -> Dict:
    """`manifest.json` (each shard's lines, counts and failures, the settings and their hash) and `report.json`
    (the shards' reports summed); returns the report."""
    report: Dict = {"counts": {}, "unprojected_reasons": {}, "entities": {}, "seconds": {}, "failures": [], "long_pairs": [], "train_docs": 0, "dev_docs": 0,
                    "source_passes": {}}
    shards = []
    for spec in specs:
        shard = json.loads(shard_file(output_dir, "report", spec.index).read_text(encoding="utf-8"))
        for section in ("counts", "unprojected_reasons", "entities", "seconds"):
            for key, value in shard[section].items():
                report[section][key] = report[section].get(key, 0) + value
        report["failures"].extend(shard["failures"])
        report["long_pairs"].extend(shard["long_pairs"])
        report["train_docs"] += shard["train_docs"]
        report["dev_docs"] += shard["dev_docs"]
        passes = str(shard.get("source_passes", 2))  # shards of the teacher and the aligner by their passes over the source side
        report["source_passes"][passes] = report["source_passes"].get(passes, 0) + 1
        shards.append({key: shard[key] for key in ("shard", "lines", "first_pair", "n_pairs", "counts", "failures", "train_docs", "dev_docs")})
        shards[-1]["files"] = {split: {"path": str(shard_file(Path(), split, spec.index)), "sha256": shard[f"{split}_sha256"]} for split in SPLITS}
    report["seconds"] = {k: round(v, 2) for k, v in report["seconds"].items()}
    report["dropped_by_label_map"] = dropped_by_label(report["unprojected_reasons"])
    report["settings"], report["inputs"] = settings.__dict__, inputs
    long_pairs, report["long_pairs"] = report["long_pairs"], {"count": len(report["long_pairs"]), "first": report["long_pairs"][:20]}
    report["failures"] = report["failures"][:100]
    manifest = {"settings": json.loads(record), "settings_sha256": hashlib.sha256(record.encode("utf-8")).hexdigest(), "inputs": inputs,
                "shards": shards, "totals": {k: report[k] for k in ("counts", "train_docs", "dev_docs", "seconds")}}
    atomic_write_bytes(Path(output_dir) / "manifest.json", json.dumps(manifest, indent=2, default=str).encode())
    atomic_write_bytes(Path(output_dir) / "report.json", json.dumps(report, indent=2, default=str).encode())
    if long_pairs:
        shown = ", ".join(long_pairs[:10]) + (f" and {len(long_pairs) - 10} more" if len(long_pairs) > 10 else "")
        log(f"warning: {len(long_pairs)} pairs are longer than the encoder's window and were aligned in overlapping windows, "
            f"which finds fewer links: {shown}. Split such lines into sentences.")
    if report["dropped_by_label_map"]:
        dropped = report["dropped_by_label_map"]
        log(f"{sum(dropped.values())} teacher entities were not projected because the label map drops their label: "
            + ", ".join(f"{label} {count}" for label, count in dropped.items()))
    if "1" in report["source_passes"]:
        log(f"{report['source_passes']['1']} of {len(specs)} shards: one pass of the encoder over the source side served the teacher and the aligner")
    log(f"{report['counts']} -> train {report['train_docs']}, dev {report['dev_docs']} docs in {output_dir}/train and {output_dir}/dev")
    return report
