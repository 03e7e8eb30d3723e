"""A parallel corpus projected into target-language NER training data, shard by shard, by whichever engine:
`train/` and `dev/` (a DocBin per shard), `manifest.json` and `report.json`. The same output whichever engine
runs it, resumable after any interruption (resume.py)."""
import json
from functools import partial
from pathlib import Path
from typing import Callable, Dict, Optional

from ..files import atomic_write_bytes, check_outputs_apart, output_lock
from .engines import Engine, InProcess
from .resume import check_inputs, remove_other_shards, reusable_shard, settings_record, write_manifest
from .settings import CorpusSettings
from .shards import ParallelInput, plan_shards
from .worker import ShardProjector


LOCK_NAME = "project-corpus"  # OUT/.project-corpus.lock, and .lock.holder naming the run that holds it


def check_output_folder(corpus: ParallelInput, output_dir: Path) -> None:
    """An OutputPathError when writing `output_dir` would write over an input: OUT_DIR is an input file, or an
    input lies where the run writes (train/, dev/, shards/, manifest.json, report.json, the lock). An input
    elsewhere in OUT_DIR is read and left alone."""
    output_dir = Path(output_dir)
    written = [(output_dir, "OUT_DIR")] + [(output_dir / name, "OUT_DIR")
                                           for name in ("manifest.json", "report.json", f".{LOCK_NAME}.lock", f".{LOCK_NAME}.lock.holder")]
    inputs = [(path, name) for path, name in zip(corpus.files, ("SOURCE", "--target"))]
    check_outputs_apart(written, inputs, written_folders=[output_dir / folder for folder in ("train", "dev", "shards")])


def build_training_data(
    corpus: ParallelInput,
    output_dir: Path,
    settings: CorpusSettings,
    log: Callable[[str], None] = print,
    limit: int = 0,
    engine: Optional[Engine] = None,
    progress: bool = True,
    projector: Callable[..., ShardProjector] = ShardProjector,
) -> Dict:
    """Project `corpus` into `output_dir`: `train/` and `dev/` (a DocBin per shard), `manifest.json` and
    `report.json`; resumable by shard, and the same output whichever engine runs it.

    limit (int): the first `limit` pairs only (0: all).
    engine (Engine): where shards are projected (default: this process).
    progress (bool): a tqdm bar of projected pairs on stderr (rate and time left), when stderr is a terminal.
    projector: builds the per-worker shard projector (a seam for engines' tests).
    Raises OutputPathError when OUT_DIR would write over an input, OutputLockedError while another run writes it.
    """
    output_dir = Path(output_dir)
    check_output_folder(corpus, output_dir)
    with output_lock(output_dir, LOCK_NAME):  # a second run into the folder is refused, naming this one
        return _build(corpus, output_dir, settings, log, limit, engine, progress, projector)


def _build(corpus: ParallelInput, output_dir: Path, settings: CorpusSettings, log: Callable[[str], None], limit: int, engine: Optional[Engine],
           progress: bool, projector: Callable[..., ShardProjector]) -> Dict:
    from tqdm import tqdm

    shard_dir = output_dir / "shards"
    record = settings_record(settings)
    settings_file = shard_dir / "settings.json"
    if settings_file.exists() and settings_file.read_text() != record:
        raise ValueError(f"{output_dir} holds shards made with other settings or another version's projector; remove it or choose another output directory.")
    identities = check_inputs(shard_dir, corpus.files)
    specs = list(plan_shards(corpus, settings.shard_size, limit))
    if not specs:
        raise ValueError(f"{corpus.files[0]} holds no sentence pairs")
    remove_other_shards(output_dir, len(specs))
    pending = []
    for spec in specs:
        why = reusable_shard(output_dir, spec)
        if why is None:
            continue
        if why != "missing":
            log(f"shard {spec.index + 1}/{len(specs)} ({spec.lines(corpus)}) is projected again: {why}")
        pending.append(spec)
    engine = engine or InProcess()
    bar = tqdm(total=sum(s.n_pairs for s in pending), desc="projecting", unit="pair", disable=None if progress else True)  # None: off unless a terminal
    recorded = False
    for report in engine.run(partial(projector, corpus, output_dir, settings), pending):
        if not recorded:  # once a shard is done, so a typo in --teacher or --model leaves nothing to refuse later
            atomic_write_bytes(settings_file, record.encode("utf-8"))
            atomic_write_bytes(shard_dir / "inputs.json", json.dumps(identities, indent=2).encode("utf-8"))
            recorded = True
        bar.update(report["n_pairs"])
        with tqdm.external_write_mode():
            log(f"shard {report['shard'] + 1}/{len(specs)}: {report['n_pairs']} pairs projected")
    bar.close()
    return write_manifest(output_dir, specs, settings, record, identities, log)
