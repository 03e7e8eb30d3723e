"""bench-scale: `project-corpus` end to end on WMT news en-de, by engine and number of workers, with
the peak memory of all its processes by corpus size and the cost of each stage.

Every row runs the installed command as a new process into a fresh folder and is written to the
JSON as soon as it is measured, so an interrupted run resumes at the next row. Outputs are compared
by the sha256 of every shard DocBin the manifests list: "identical" means byte for byte.
"""
import itertools
import json
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from spacy_xproj.defaults import DEFAULT_ENCODER, DEFAULT_LAYER, DEFAULT_TEACHER

from .results import Results
from .shared_data import ENGLISH_PARALLEL, PARALLEL, parallel_file_pairs

ENGINES = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))
STAGES = ("read", "teacher", "align", "project", "write")


@dataclass
class ScaleSettings:
    shared_data: Path
    work_dir: Path = Path("training/bench-scale")
    teacher: str = DEFAULT_TEACHER
    model: str = DEFAULT_ENCODER
    layer: int = DEFAULT_LAYER
    pairs: int = 2000  # the corpus of the engine rows
    shard_size: int = 500


def write_corpus(settings: ScaleSettings, pairs: int) -> Tuple[Path, Path]:
    """The first `pairs` en-de pairs of WMT news (all files in order, repeated as often as needed), as two
    line-aligned files under the work folder."""
    source, target = settings.work_dir / f"wmt-{pairs}.en", settings.work_dir / f"wmt-{pairs}.de"
    if source.exists() and target.exists():
        return source, target
    files = parallel_file_pairs(settings.shared_data / PARALLEL, ENGLISH_PARALLEL["de"])
    if not files:
        raise FileNotFoundError(f"no WMT news en-de text under {settings.shared_data / PARALLEL / ENGLISH_PARALLEL['de'].folder}")
    pool = [(s, t) for source_file, target_file in files
            for s, t in zip(source_file.read_text(encoding="utf-8").splitlines(), target_file.read_text(encoding="utf-8").splitlines())
            if s.strip() and t.strip()]
    chosen = list(itertools.islice(itertools.cycle(pool), pairs))
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    source.write_text("".join(s + "\n" for s, _ in chosen), encoding="utf-8")
    target.write_text("".join(t + "\n" for _, t in chosen), encoding="utf-8")
    return source, target


def peak_tree_rss(process, stop: threading.Event, into: Dict) -> None:
    """The largest sum of resident memory over `process` and all its descendants (Ray's raylet and actors
    included), sampled every 0.2 s."""
    import psutil

    root = psutil.Process(process.pid)
    peak = 0
    while not stop.is_set():
        try:
            total = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
        except psutil.Error:  # a process ended between listing and reading
            total = 0
        peak = max(peak, total)
        stop.wait(0.2)
    into["peak_rss_mb"] = round(peak / 2**20, 1)


def run_command(settings: ScaleSettings, pairs: int, engine: str, workers: int, log: Callable[[str], None]) -> Dict:
    """One timed `project-corpus` run into a fresh folder: seconds, pairs/s, peak memory, stage seconds, shard hashes."""
    source, target = write_corpus(settings, pairs)
    output = settings.work_dir / f"out-{pairs}-{engine}-{workers}"
    shutil.rmtree(output, ignore_errors=True)
    command = [sys.executable, "-m", "spacy_xproj", "project-corpus", str(source), str(output), "--target", str(target), "--target-lang", "de",
               "--teacher", settings.teacher, "--model", settings.model, "--layer", str(settings.layer), "--shard-size", str(settings.shard_size),
               "--engine", engine, "--workers", str(workers)]
    log(" ".join(command[1:]))
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop, memory = threading.Event(), {}
    sampler = threading.Thread(target=peak_tree_rss, args=(process, stop, memory))
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} failed ({process.returncode}): {stderr[-2000:]}")
    report = json.loads((output / "report.json").read_text())
    manifest = json.loads((output / "manifest.json").read_text())
    return {
        "pairs": pairs, "engine": engine, "workers": workers, "seconds": round(seconds, 1), "pairs_per_second": round(pairs / seconds, 2),
        "peak_rss_mb": memory["peak_rss_mb"], "counts": report["counts"],
        "stage_seconds": {stage: report["seconds"].get(stage, 0.0) for stage in STAGES},
        "shard_sha256": [[f["sha256"] for f in shard["files"].values()] for shard in manifest["shards"]],
        "command": " ".join(command[1:]),
    }


def run_scale_benchmark(settings: ScaleSettings, output: Path, sizes: Sequence[int] = (2000, 20000, 200000), engines: Sequence[Tuple[str, int]] = ENGINES,
                        fresh: bool = False, log: Callable[[str], None] = print) -> Dict:
    results = Results(output, fresh)
    setup = {k: str(v) for k, v in asdict(settings).items() if k not in ("shared_data", "work_dir")}
    results.use_setup(setup, measured_with=list(setup), defaults={})
    for engine, workers in engines:
        key = f"engine/{engine}/{workers}"
        if not results.has(key):
            results.put(key, run_command(settings, settings.pairs, engine, workers, log))
        log(f"{key}: {results.data['rows'][key]['pairs_per_second']} pairs/s")
    for size in sizes:
        key = f"memory/{size}"
        if not results.has(key):
            results.put(key, run_command(settings, size, "local", 1, log))
        log(f"{key}: {results.data['rows'][key]['peak_rss_mb']} MiB")
    results.data.update(summary(results.data["rows"], settings.pairs))
    results.save()
    return results.data


def summary(rows: Dict[str, Dict], pairs: int) -> Dict:
    """The issue's top-level fields: pairs/s by engine and workers, peak memory by size, identical outputs."""
    reference = rows.get("engine/local/1", {}).get("shard_sha256")
    engine_rows = [row for key, row in rows.items() if key.startswith("engine/")]
    pairs_per_second: Dict[str, Dict[str, float]] = {}
    for row in engine_rows:
        pairs_per_second.setdefault(row["engine"], {})[str(row["workers"])] = row["pairs_per_second"]
    stage = rows.get("engine/local/1")
    return {
        "pairs_per_second": pairs_per_second,
        "peak_rss_mb": {key.split("/")[1]: row["peak_rss_mb"] for key, row in rows.items() if key.startswith("memory/")},
        "identical_outputs": bool(reference) and all(row["shard_sha256"] == reference for row in engine_rows),
        "stage_seconds_per_1000_pairs": {s: round(stage["stage_seconds"][s] * 1000 / pairs, 2) for s in STAGES} if stage else {},
    }


def render_table(data: Dict) -> str:
    rows = data["rows"]
    one = rows.get("engine/local/1")
    lines = ["| engine | workers | pairs | seconds | pairs/s | vs local, 1 worker | peak memory (MiB, all processes) | output = local, 1 worker |",
             "|---|---|---|---|---|---|---|---|"]
    for engine, workers in ENGINES:
        row = rows.get(f"engine/{engine}/{workers}")
        if row:
            ratio = f"{row['pairs_per_second'] / one['pairs_per_second']:.2f}x" if one else ""
            same = "yes" if one and row["shard_sha256"] == one["shard_sha256"] else "no"
            lines.append(f"| {engine} | {workers} | {row['pairs']:,} | {row['seconds']} | {row['pairs_per_second']} | {ratio} | {row['peak_rss_mb']} | {same} |")
    lines += ["", "| pairs (local, 1 worker) | seconds | pairs/s | peak memory (MiB, all processes) |", "|---|---|---|---|"]
    for key, row in sorted(((k, r) for k, r in rows.items() if k.startswith("memory/")), key=lambda kv: kv[1]["pairs"]):
        lines.append(f"| {row['pairs']:,} | {row['seconds']} | {row['pairs_per_second']} | {row['peak_rss_mb']} |")
    stages = data.get("stage_seconds_per_1000_pairs") or {}
    if stages:
        lines += ["", "| stage | seconds per 1,000 pairs (local, 1 worker) |", "|---|---|"]
        lines += [f"| {stage} | {seconds} |" for stage, seconds in stages.items()]
    return "\n".join(lines) + "\n"
