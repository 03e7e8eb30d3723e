"""bench-scale: `project-corpus` end to end on WMT news en-de, by engine and number of workers, with
the peak memory of all its processes by corpus size and the cost of each stage.

Every row runs the installed command as a new process into a fresh folder and is written to the
JSON as soon as it is measured, so an interrupted run resumes at the next row. Each engine's output is
compared with the one-process output: byte for byte (the sha256 of every shard DocBin the manifests
list), and Doc by Doc (texts, entities, alignment links, and the largest difference of a link score).
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
from typing import Callable, Dict, Sequence, Tuple

from spacy_xproj.defaults import DEFAULT_ENCODER, DEFAULT_LAYER, DEFAULT_TEACHER, PROJECTION_PRECISION

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
    precision: str = PROJECTION_PRECISION  # the aligner's, as project-corpus takes it; "auto" is recorded as what it resolved to


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


def peak_tree_rss(process, stop: threading.Event, into: Dict, output: Path) -> None:
    """The largest sum of resident memory over `process` and all its descendants (Ray's raylet and actors
    included), sampled every 0.2 s; and a trace, every 10 s, of [seconds, shards written, MiB]: whether
    memory grows with the pairs done or with what they hold (longer sentences make larger batches)."""
    import psutil

    root = psutil.Process(process.pid)
    peak, trace, start = 0, [], time.perf_counter()
    while not stop.is_set():
        try:
            total = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
        except psutil.Error:  # a process ended between listing and reading
            total = 0
        peak = max(peak, total)
        elapsed = time.perf_counter() - start
        if not trace or elapsed - trace[-1][0] >= 10:
            trace.append([round(elapsed, 1), len(list((output / "shards").glob("shard-*.json"))), round(total / 2**20, 1)])
        stop.wait(0.2)
    into["peak_rss_mb"], into["rss_trace"] = round(peak / 2**20, 1), trace


def run_command(settings: ScaleSettings, pairs: int, engine: str, workers: int, log: Callable[[str], None], name: str, precision: str = "") -> Dict:
    """One timed `project-corpus` run into a fresh folder `name`: seconds, pairs/s, peak memory, stage seconds, shard hashes."""
    source, target = write_corpus(settings, pairs)
    output = settings.work_dir / name
    shutil.rmtree(output, ignore_errors=True)
    command = [sys.executable, "-m", "spacy_xproj", "project-corpus", str(source), str(output), "--target", str(target), "--target-lang", "de",
               "--teacher", settings.teacher, "--model", settings.model, "--layer", str(settings.layer), "--shard-size", str(settings.shard_size),
               "--engine", engine, "--workers", str(workers), "--precision", precision or settings.precision]
    log(" ".join(command[1:]))
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stop, memory = threading.Event(), {}
    sampler = threading.Thread(target=peak_tree_rss, args=(process, stop, memory, output))
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
        "peak_rss_mb": memory["peak_rss_mb"], "rss_trace": memory["rss_trace"], "counts": report["counts"],
        "stage_seconds": {stage: report["seconds"].get(stage, 0.0) for stage in STAGES},
        "shard_sha256": [[f["sha256"] for f in shard["files"].values()] for shard in manifest["shards"]],
        "precision": manifest["settings"]["precision"], "output": name, "command": " ".join(command[1:]),
    }


def compare_outputs(settings: ScaleSettings, reference: str, other: str) -> Dict:
    """Doc by Doc, shard by shard: are texts, entities and alignment links the same, and by how much do link scores differ?"""
    import spacy

    from spacy_xproj.corpus.docbins import read_docbin
    from spacy_xproj.corpus.schema import get_alignment

    vocab = spacy.blank("de").vocab
    same, largest = True, 0.0
    for split in ("train", "dev"):
        for path in sorted((settings.work_dir / reference / split).glob("*.spacy")):
            ours = list(read_docbin(path).get_docs(vocab))
            theirs = list(read_docbin(settings.work_dir / other / split / path.name).get_docs(vocab))
            for a, b in itertools.zip_longest(ours, theirs):
                if a is None or b is None:
                    same = False
                    continue
                links_a, links_b = get_alignment(a) or [], get_alignment(b) or []
                if (a.text, [(e.start, e.end, e.label_) for e in a.ents], [l[:2] for l in links_a]) != (
                        b.text, [(e.start, e.end, e.label_) for e in b.ents], [l[:2] for l in links_b]):
                    same = False
                    continue
                largest = max([largest] + [abs(x[2] - y[2]) for x, y in zip(links_a, links_b)])
    return {"same_entities_and_links": same, "largest_link_score_difference": round(largest, 6)}


def run_scale_benchmark(settings: ScaleSettings, output: Path, sizes: Sequence[int] = (2000, 20000, 200000), engines: Sequence[Tuple[str, int]] = ENGINES,
                        fresh: bool = False, log: Callable[[str], None] = print) -> Dict:
    from spacy_xproj.encoders.subword_encoder import resolve_precision

    results = Results(output, fresh)
    settings = ScaleSettings(**{**asdict(settings), "precision": resolve_precision(settings.precision)})
    setup = {k: str(v) for k, v in asdict(settings).items() if k not in ("shared_data", "work_dir")}
    results.use_setup(setup, measured_with=list(setup), defaults={})
    rows = results.data["rows"]
    for engine, workers in engines:
        key = f"engine/{engine}/{workers}"
        if not results.has(key):
            row = run_command(settings, settings.pairs, engine, workers, log, f"out-{settings.pairs}-{engine}-{workers}")
            if "engine/local/1" in rows and key != "engine/local/1":
                row.update(compare_outputs(settings, rows["engine/local/1"]["output"], row["output"]))
            results.put(key, row)
        log(f"{key}: {rows[key]['pairs_per_second']} pairs/s")
    if rows.get("engine/local/1", {}).get("precision") == "bfloat16" and not results.has("precision/float32"):
        # what bfloat16 buys: the one-process row again in float32
        results.put("precision/float32", run_command(settings, settings.pairs, "local", 1, log, f"out-{settings.pairs}-float32", precision="float32"))
    for size in sizes:
        key = f"memory/{size}"
        if not results.has(key):
            results.put(key, run_command(settings, size, "local", 1, log, f"out-memory-{size}"))
        log(f"{key}: {rows[key]['peak_rss_mb']} MiB")
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
        "same_entities_and_links": bool(reference) and all(row.get("same_entities_and_links", True) for row in engine_rows),
        "stage_seconds_per_1000_pairs": {s: round(stage["stage_seconds"][s] * 1000 / pairs, 2) for s in STAGES} if stage else {},
    }


def render_table(data: Dict) -> str:
    rows = data["rows"]
    one = rows.get("engine/local/1")
    precision = one["precision"] if one else ""
    lines = ["| engine | workers | pairs | seconds | pairs/s | vs local, 1 worker | peak memory (MiB, all processes) | output against local, 1 worker |",
             "|---|---|---|---|---|---|---|---|"]
    for engine, workers in ENGINES:
        row = rows.get(f"engine/{engine}/{workers}")
        if row:
            ratio = f"{row['pairs_per_second'] / one['pairs_per_second']:.2f}x" if one else ""
            if row is one:
                same = "(itself)"
            elif one and row["shard_sha256"] == one["shard_sha256"]:
                same = "identical bytes"
            elif row.get("same_entities_and_links"):
                same = f"same Docs, entities and links; link scores within {row['largest_link_score_difference']}"
            else:
                same = "differs"
            lines.append(f"| {engine} | {workers} | {row['pairs']:,} | {row['seconds']} | {row['pairs_per_second']} | {ratio} | {row['peak_rss_mb']} | {same} |")
    lines += ["", "| pairs (local, 1 worker) | seconds | pairs/s | peak memory (MiB, all processes) |", "|---|---|---|---|"]
    for key, row in sorted(((k, r) for k, r in rows.items() if k.startswith("memory/")), key=lambda kv: kv[1]["pairs"]):
        lines.append(f"| {row['pairs']:,} | {row['seconds']} | {row['pairs_per_second']} | {row['peak_rss_mb']} |")
    runs = [(precision, one)] + ([("float32", rows["precision/float32"])] if "precision/float32" in rows else [])
    if one:
        lines += ["", "| stage, seconds per 1,000 pairs (local, 1 worker) | " + " | ".join(name for name, _ in runs) + " |",
                  "|---|" + "---|" * len(runs)]
        for stage in STAGES:
            lines.append(f"| {stage} | " + " | ".join(f"{run['stage_seconds'][stage] * 1000 / run['pairs']:.2f}" for _, run in runs) + " |")
        lines.append("| end to end, pairs/s | " + " | ".join(str(run["pairs_per_second"]) for _, run in runs) + " |")
    return "\n".join(lines) + "\n"


def render_summary(data: Dict) -> str:
    """The README's short form: pairs/s by engine, memory by corpus size, and what ten million pairs take."""
    rows = data["rows"]
    one = rows.get("engine/local/1")
    if not one:
        return "Not measured yet.\n"
    lines = ["| engine, workers | pairs/s | vs one process | output |", "|---|---|---|---|"]
    for engine, workers in ENGINES:
        row = rows.get(f"engine/{engine}/{workers}")
        if row:
            same = "(reference)" if row is one else "identical" if row["shard_sha256"] == one["shard_sha256"] else (
                f"same entities and links, scores within {row['largest_link_score_difference']}" if row.get("same_entities_and_links") else "differs")
            lines.append(f"| {engine}, {workers} | {row['pairs_per_second']} | {row['pairs_per_second'] / one['pairs_per_second']:.2f}x | {same} |")
    memory = sorted((r for k, r in rows.items() if k.startswith("memory/")), key=lambda r: r["pairs"])
    best = max(r["pairs_per_second"] for k, r in rows.items() if k.startswith("engine/local/"))
    lines.append("")
    if memory:
        lines.append("Peak memory of all processes, one worker: " + ", ".join(f"{r['peak_rss_mb']:,.0f} MiB for {r['pairs']:,} pairs" for r in memory) + ".")
    lines.append(f"At the best local rate measured here ({best} pairs/s on this 2-core machine), ten million pairs take "
                 f"{10_000_000 / best / 3600:.0f} hours on one such machine, and about {10_000_000 / best / 3600 / 10:.1f} hours on ten "
                 "(an estimate that assumes shards spread evenly and a shared filesystem keeps up; not measured on a cluster).")
    return "\n".join(lines) + "\n"
