"""bench-scale: `project-corpus` end to end on WMT news en-de, by engine and number of workers, with
the peak memory of all its processes by corpus size and the cost of each stage; and on NTREX
English-isiZulu with a frozen-encoder teacher, one pass of the encoder over the English side for
teacher and aligner against two (`one_pass`).

Every row runs the installed command as a new process into a fresh folder and is written to the
JSON as soon as it is measured, so an interrupted run resumes at the next row. Each engine's output is
compared with the one-process output: byte for byte (the sha256 of every shard DocBin the manifests
list), and Doc by Doc (texts, entities, alignment links, and the largest difference of a link score).
"""
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from spacy_xproj.defaults import DEFAULT_ENCODER, DEFAULT_LAYER, DEFAULT_TEACHER, PROJECTION_PRECISION
from spacy_xproj.projecting.worker import TWO_PASSES_ENV

from .results import Results
from .shared_data import ENGLISH_PARALLEL, PARALLEL, parallel_file_pairs

ENGINES = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))
STAGES = ("read", "teacher", "align", "project", "write")
# the one_pass rows: English-isiZulu NTREX-128 news (the English source and its isiZulu reference), in this order, twice
NTREX_ZULU = ("ntrex128", "newstest2019-src.eng.txt", "newstest2019-ref.zul.txt")
ONE_PASS_RUNS = (("1", "two_passes"), ("1", "one_pass"), ("2", "two_passes"), ("2", "one_pass"))
# the per-core rows, (engine, workers, threads per worker, Ray nodes), each worker on its own cores: one
# process against two on this machine, and Ray on one node against two nodes of one CPU each made on this machine
# (two raylets and two object stores, as on two machines); then the default, one process on both cores
CORE_ROWS = (("local", 1, 1, 1), ("local", 2, 1, 1), ("ray", 1, 1, 1), ("ray", 2, 1, 2), ("local", 1, 2, 1))


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
    one_pass_teacher: str = ""  # a frozen-encoder teacher on --model (train-teacher's model-best) for the one_pass rows; "": none
    one_pass_pairs: int = 1997  # the first N pairs of NTREX English-isiZulu (all of it)
    core_pairs: int = 0  # the WMT en-de pairs of the per-core rows (0: none)
    ceiling_seconds: float = 30.0  # how long each process of the ceiling rows computes


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


def write_ntrex_zulu(settings: ScaleSettings, pairs: int) -> Tuple[Path, Path]:
    """The first `pairs` NTREX-128 English-isiZulu pairs with both sides non-empty, as two line-aligned files under
    the work folder (the NTREX files end their lines in CRLF)."""
    source, target = settings.work_dir / f"ntrex-{pairs}.en", settings.work_dir / f"ntrex-{pairs}.zu"
    if source.exists() and target.exists():
        return source, target
    folder, english, zulu = NTREX_ZULU
    lines = [(settings.shared_data / PARALLEL / folder / name).read_text(encoding="utf-8").splitlines() for name in (english, zulu)]
    chosen = [(s.strip(), t.strip()) for s, t in zip(*lines) if s.strip() and t.strip()][:pairs]
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    source.write_text("".join(s + "\n" for s, _ in chosen), encoding="utf-8")
    target.write_text("".join(t + "\n" for _, t in chosen), encoding="utf-8")
    return source, target


def peak_tree_rss(process, stop: threading.Event, into: Dict, output: Path, cluster_actors: bool = False) -> None:
    """The largest sum of resident memory over `process` and all its descendants (Ray's raylet and actors
    included), sampled every 0.2 s; and a trace, every 10 s, of [seconds, shards written, MiB]: whether
    memory grows with the pairs done or with what they hold (longer sentences make larger batches). With
    `cluster_actors`, the "ray::" processes of a cluster started apart count too. Also the seconds to the first shard."""
    import psutil

    root = psutil.Process(process.pid)
    peak, trace, start, first_shard = 0, [], time.perf_counter(), None
    while not stop.is_set():
        try:
            # a cluster started apart (`--ray-address`) runs the actors outside this tree: they are Ray's "ray::" processes
            actors = [p for p in psutil.process_iter(["name"]) if cluster_actors and (p.info["name"] or "").startswith("ray::")]
            total = sum(p.memory_info().rss for p in {*([root, *root.children(recursive=True)]), *actors})
        except psutil.Error:  # a process ended between listing and reading
            total = 0
        peak = max(peak, total)
        elapsed = time.perf_counter() - start
        shards = len(list((output / "shards").glob("shard-*.json")))
        if first_shard is None and shards:
            first_shard = round(elapsed, 1)
        if not trace or elapsed - trace[-1][0] >= 10:
            trace.append([round(elapsed, 1), shards, round(total / 2**20, 1)])
        stop.wait(0.2)
    into["peak_rss_mib"], into["rss_trace"], into["first_shard_seconds"] = round(peak / 2**20, 1), trace, first_shard


def run_command(settings: ScaleSettings, pairs: int, engine: str, workers: int, log: Callable[[str], None], name: str, precision: str = "",
                corpus: Tuple[Path, ...] = (), target_lang: str = "de", teacher_options: Tuple[str, ...] = (), env: Optional[Dict[str, str]] = None,
                extra: Tuple[str, ...] = ()) -> Dict:
    """One timed `project-corpus` run into a fresh folder `name`: seconds (wall clock and the CPU time of the command and
    its children), pairs/s, peak memory, stage seconds, shard hashes. By default on the WMT en-de pairs with
    `settings.teacher`; `corpus`, `target_lang`, `teacher_options` and `env` (added to this environment) change that."""
    source, target = corpus or write_corpus(settings, pairs)
    output = settings.work_dir / name
    shutil.rmtree(output, ignore_errors=True)
    command = [sys.executable, "-m", "spacy_xproj", "project-corpus", str(source), str(output), "--target", str(target), "--target-lang", target_lang,
               *(teacher_options or ("--teacher", settings.teacher)), "--model", settings.model, "--layer", str(settings.layer), "--shard-size", str(settings.shard_size),
               "--engine", engine, "--workers", str(workers), "--precision", precision or settings.precision, *extra]
    shown = " ".join([f"{k}={v}" for k, v in (env or {}).items()] + command[1:])
    log(shown)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env} if env else None)
    stop, memory = threading.Event(), {}
    sampler = threading.Thread(target=peak_tree_rss, args=(process, stop, memory, output, "--ray-address" in extra))
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    stop.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[1:])} failed ({process.returncode}): {stderr[-2000:]}")
    report = json.loads((output / "report.json").read_text())
    manifest = json.loads((output / "manifest.json").read_text())
    return {
        "pairs": pairs, "engine": engine, "workers": workers, "seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1),
        "pairs_per_second": round(pairs / seconds, 2), "peak_rss_mib": memory["peak_rss_mib"], "rss_trace": memory["rss_trace"],
        "first_shard_seconds": memory["first_shard_seconds"], "counts": report["counts"],
        "stage_seconds": {stage: report["seconds"].get(stage, 0.0) for stage in STAGES},
        "shard_sha256": [[f["sha256"] for f in shard["files"].values()] for shard in manifest["shards"]],
        "source_passes": report.get("source_passes", {}),
        "precision": manifest["settings"]["precision"], "output": name, "command": shown,
    }


def run_one_pass(settings: ScaleSettings, results: Results, log: Callable[[str], None]) -> None:
    """The one_pass rows: project-corpus on NTREX English-isiZulu with a frozen-encoder teacher, the encoder reading the
    English side twice (teacher, then aligner: SPACY_XPROJ_TWO_PASSES=1, as every run did before) and once for both,
    alternating, twice each, at one torch thread; each run's output is compared with the first's."""
    corpus = write_ntrex_zulu(settings, settings.one_pass_pairs)
    pairs = len(corpus[0].read_text(encoding="utf-8").splitlines())
    rows = results.data["rows"]
    measured_with = {"teacher": settings.one_pass_teacher, "pairs": pairs}
    for repeat, mode in ONE_PASS_RUNS:
        key = f"one_pass/{repeat}/{mode}"
        if key in rows and {k: rows[key].get(k) for k in measured_with} != measured_with:
            del rows[key]  # measured with another teacher or corpus: measure again
        if not results.has(key):
            env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **({TWO_PASSES_ENV: "1"} if mode == "two_passes" else {})}
            row = run_command(settings, pairs, "local", 1, log, f"out-one-pass-{repeat}-{mode}", corpus=corpus, target_lang="zu",
                              teacher_options=("--teacher", settings.one_pass_teacher, "--label-map", "auto"), env=env)
            wanted = {"1" if mode == "one_pass" else "2": len(row["shard_sha256"])}
            if row["source_passes"] != wanted:
                raise RuntimeError(f"{mode}: project-corpus read the English side in {row['source_passes']} passes (shards by passes), not {wanted}: "
                                   f"does teacher {settings.one_pass_teacher} run a frozen encoder that reads as --model {settings.model} "
                                   f"at --precision {settings.precision} does?")
            row.update(measured_with, mode=mode, threads=1)
            if key != "one_pass/1/two_passes" and "one_pass/1/two_passes" in rows:
                row.update(compare_outputs(settings, rows["one_pass/1/two_passes"]["output"], row["output"]))
            results.put(key, row)
        log(f"{key}: {rows[key]['seconds']} s ({rows[key]['cpu_seconds']} s CPU)")


def core_row_key(engine: str, workers: int, threads: int, nodes: int) -> str:
    return f"{engine}/{workers}x{threads}/{nodes}"


class LocalRayCluster:
    """Ray nodes of `cpus_per_node` CPUs each, started as separate raylets on this machine (Ray's own test cluster,
    `ray.cluster_utils.Cluster`), as `ray start --head --num-cpus 1` and `ray start --address ... --num-cpus 1` would
    make them; `address` is what project-corpus --ray-address joins."""

    def __init__(self, nodes: int, cpus_per_node: int = 1):
        from ray.cluster_utils import Cluster

        self.cluster = Cluster(initialize_head=True, connect=False, head_node_args={"num_cpus": cpus_per_node, "include_dashboard": False})
        for _ in range(nodes - 1):
            self.cluster.add_node(num_cpus=cpus_per_node)
        self.cluster.wait_for_nodes()
        self.address = self.cluster.address

    def __enter__(self) -> "LocalRayCluster":
        return self

    def __exit__(self, *exc) -> None:
        self.cluster.shutdown()


def run_core_rows(settings: ScaleSettings, results: Results, log: Callable[[str], None]) -> None:
    """The per-core rows (CORE_ROWS) on the first `core_pairs` WMT en-de pairs; each row's output is compared with
    the first's, and its peak memory divided by its workers."""
    rows = results.data["rows"]
    reference = core_row_key(*CORE_ROWS[0])
    for engine, workers, threads, nodes in CORE_ROWS:
        key = core_row_key(engine, workers, threads, nodes)
        if key in rows and rows[key].get("pairs") != settings.core_pairs:
            del rows[key]  # measured on another corpus: measure again
        if not results.has(key):
            name = f"out-cores-{engine}-{workers}x{threads}-{nodes}"
            extra = ("--threads", str(threads))
            if engine == "ray":
                with LocalRayCluster(nodes) as cluster:
                    row = run_command(settings, settings.core_pairs, engine, workers, log, name, extra=(*extra, "--ray-address", cluster.address))
            else:
                row = run_command(settings, settings.core_pairs, engine, workers, log, name, extra=extra)
            row.update(threads=threads, nodes=nodes, peak_rss_mib_per_worker=round(row["peak_rss_mib"] / workers, 1))
            if key != reference and reference in rows:
                row.update(compare_outputs(settings, rows[reference]["output"], row["output"]))
            results.put(key, row)
        log(f"{key}: {rows[key]['pairs_per_second']} pairs/s")


def matmul_rate(seconds: float, start, rates) -> None:
    """In a process of its own, on one torch thread: bfloat16 products of the encoder's feed-forward shape (a batch
    of 1,024 subwords, 384 -> 1,536) for `seconds` after every process is ready (`start`, a barrier); puts
    products per second on `rates`."""
    import torch

    torch.set_num_threads(1)
    vectors, weights = torch.randn(1024, 384, dtype=torch.bfloat16), torch.randn(384, 1536, dtype=torch.bfloat16)
    for _ in range(20):  # warm up
        vectors @ weights
    start.wait()
    began, products = time.perf_counter(), 0
    while time.perf_counter() - began < seconds:
        vectors @ weights
        products += 1
    rates.put(products / (time.perf_counter() - began))


def compute_ceiling(processes: int, seconds: float = 30.0) -> Dict:
    """What `processes` processes of one thread each compute together (`matmul_rate`, run side by side): the most a
    second worker can add on this machine when nothing but arithmetic is shared."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    start, rates = context.Barrier(processes), context.Queue()
    children = [context.Process(target=matmul_rate, args=(seconds, start, rates)) for _ in range(processes)]
    for child in children:
        child.start()
    per_process = [rates.get() for _ in children]
    for child in children:
        child.join()
    return {"processes": processes, "seconds": seconds, "products_per_second": round(sum(per_process), 1),
            "per_process": [round(rate, 1) for rate in per_process]}


def run_ceiling_rows(results: Results, seconds: float, log: Callable[[str], None]) -> None:
    """`ceiling/1` and `ceiling/2`: one and two processes of bfloat16 products, the machine's own 2-worker ratio."""
    for processes in (1, 2):
        key = f"ceiling/{processes}"
        if not results.has(key):
            results.put(key, compute_ceiling(processes, seconds))
        log(f"{key}: {results.data['rows'][key]['products_per_second']} products/s")


def steady_pairs_per_second(row: Dict, workers: int, shard_size: int) -> Optional[float]:
    """Pairs per second once every worker is running: from the row's trace (a sample every 10 s of the shards
    written), between the first sample with a shard per worker and the last; None when the trace is too short."""
    trace = row.get("rss_trace", [])
    started = next((sample for sample in trace if sample[1] >= workers), None)
    if started is None or trace[-1][0] <= started[0] or trace[-1][1] <= started[1]:
        return None
    return round((trace[-1][1] - started[1]) * shard_size / (trace[-1][0] - started[0]), 1)


def cores_summary(rows: Dict[str, Dict], shard_size: int) -> Dict:
    """`cores`: the ratios the per-core rows are for, where both rows are measured, end to end (`ratios`) and once
    every worker runs (`steady_ratios`, from the rows' traces: start-up left out)."""
    def rate(engine: str, workers: int, threads: int, nodes: int) -> Optional[float]:
        return rows.get(core_row_key(engine, workers, threads, nodes), {}).get("pairs_per_second")

    def steady(engine: str, workers: int, threads: int, nodes: int) -> Optional[float]:
        row = rows.get(core_row_key(engine, workers, threads, nodes))
        return steady_pairs_per_second(row, workers, shard_size) if row else None

    ratios = {"local 2x1 / local 1x1": (("local", 2, 1, 1), ("local", 1, 1, 1)),
              "ray 2 nodes / ray 1 node": (("ray", 2, 1, 2), ("ray", 1, 1, 1)),
              "ray 1 node / local 1x1": (("ray", 1, 1, 1), ("local", 1, 1, 1)),
              "local 1x2 / local 1x1": (("local", 1, 2, 1), ("local", 1, 1, 1))}
    measured = [core_row_key(*spec) for spec in CORE_ROWS if core_row_key(*spec) in rows]
    if not measured:
        return {}
    reference = rows.get(core_row_key(*CORE_ROWS[0]), {}).get("shard_sha256")
    found = {name: round(rate(*a) / rate(*b), 2) for name, (a, b) in ratios.items() if rate(*a) and rate(*b)}
    if "ceiling/1" in rows and "ceiling/2" in rows:
        found["ceiling: 2 processes of arithmetic / 1"] = round(rows["ceiling/2"]["products_per_second"] / rows["ceiling/1"]["products_per_second"], 2)
    steady_found = {name: round(steady(*a) / steady(*b), 2) for name, (a, b) in ratios.items() if steady(*a) and steady(*b)}
    return {"pairs": rows[measured[0]]["pairs"], "ratios": found, "steady_ratios": steady_found,
            "identical": {key: rows[key]["shard_sha256"] == reference for key in measured}}


def one_pass_summary(rows: Dict[str, Dict]) -> Dict:
    """`one_pass`: mean seconds (wall clock and CPU) of project-corpus with two passes over the English side (before) and
    with one (after), after / before, the largest peak memory of each, and whether every run wrote the same bytes."""
    runs = {mode: [rows[f"one_pass/{repeat}/{m}"] for repeat, m in ONE_PASS_RUNS if m == mode and f"one_pass/{repeat}/{m}" in rows]
            for mode in ("two_passes", "one_pass")}
    if not all(runs.values()):
        return {}
    before, after = (round(sum(r["seconds"] for r in runs[m]) / len(runs[m]), 1) for m in ("two_passes", "one_pass"))
    cpu_before, cpu_after = (round(sum(r["cpu_seconds"] for r in runs[m]) / len(runs[m]), 1) for m in ("two_passes", "one_pass"))
    rss_before, rss_after = (max(r["peak_rss_mib"] for r in runs[m]) for m in ("two_passes", "one_pass"))
    everything = runs["two_passes"] + runs["one_pass"]
    return {
        "pairs": everything[0]["pairs"], "teacher": everything[0]["teacher"], "runs": len(everything),
        "before_seconds": before, "after_seconds": after, "ratio": round(after / before, 3),
        "before_cpu_seconds": cpu_before, "after_cpu_seconds": cpu_after, "cpu_ratio": round(cpu_after / cpu_before, 3),
        "before_peak_rss_mib": rss_before, "after_peak_rss_mib": rss_after,
        "stage_seconds": {mode: {stage: round(sum(r["stage_seconds"][stage] for r in rs) / len(rs), 2) for stage in STAGES} for mode, rs in
                          (("before", runs["two_passes"]), ("after", runs["one_pass"]))},
        "identical": all(r["shard_sha256"] == everything[0]["shard_sha256"] for r in everything),
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
    # the one_pass rows record their teacher and corpus themselves
    setup = {k: str(v) for k, v in asdict(settings).items() if k not in ("shared_data", "work_dir", "one_pass_teacher", "one_pass_pairs", "core_pairs", "ceiling_seconds")}
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
        log(f"{key}: {rows[key]['peak_rss_mib']} MiB")
    if settings.one_pass_teacher:
        run_one_pass(settings, results, log)
    if settings.core_pairs:
        run_core_rows(settings, results, log)
        run_ceiling_rows(results, settings.ceiling_seconds, log)
    results.data.update(summary(results.data["rows"], settings.pairs))
    one_pass = one_pass_summary(results.data["rows"])
    if one_pass:
        results.data["one_pass"] = one_pass
    cores = cores_summary(results.data["rows"], settings.shard_size)
    if cores:
        results.data["cores"] = cores
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
        "peak_rss_mib": {key.split("/")[1]: row["peak_rss_mib"] for key, row in rows.items() if key.startswith("memory/")},
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
            lines.append(f"| {engine} | {workers} | {row['pairs']:,} | {row['seconds']} | {row['pairs_per_second']} | {ratio} | {row['peak_rss_mib']} | {same} |")
    lines += ["", "| pairs (local, 1 worker) | seconds | pairs/s | peak memory (MiB, all processes) |", "|---|---|---|---|"]
    for key, row in sorted(((k, r) for k, r in rows.items() if k.startswith("memory/")), key=lambda kv: kv[1]["pairs"]):
        lines.append(f"| {row['pairs']:,} | {row['seconds']} | {row['pairs_per_second']} | {row['peak_rss_mib']} |")
    runs = [(precision, one)] + ([("float32", rows["precision/float32"])] if "precision/float32" in rows else [])
    if one:
        lines += ["", "| stage, seconds per 1,000 pairs (local, 1 worker) | " + " | ".join(name for name, _ in runs) + " |",
                  "|---|" + "---|" * len(runs)]
        for stage in STAGES:
            lines.append(f"| {stage} | " + " | ".join(f"{run['stage_seconds'][stage] * 1000 / run['pairs']:.2f}" for _, run in runs) + " |")
        lines.append("| end to end, pairs/s | " + " | ".join(str(run["pairs_per_second"]) for _, run in runs) + " |")
    return "\n".join(lines + render_cores(data) + render_one_pass(data)) + "\n"


def render_cores(data: Dict) -> List[str]:
    """The per-core rows: pairs/s, against one worker on one thread, peak memory per worker, time to the first shard."""
    rows, cores = data["rows"], data.get("cores")
    if not cores:
        return []
    one = rows.get(core_row_key(*CORE_ROWS[0]))
    lines = ["", f"| WMT en-de, {cores['pairs']:,} pairs: engine | workers x threads | nodes | seconds | pairs/s | vs local 1x1 | "
                 "peak memory per worker (MiB) | first shard after (s) | output against local 1x1 |", "|---|---|---|---|---|---|---|---|---|"]
    for spec in CORE_ROWS:
        row = rows.get(core_row_key(*spec))
        if row:
            engine, workers, threads, nodes = spec
            ratio = f"{row['pairs_per_second'] / one['pairs_per_second']:.2f}x" if one else ""
            same = "(itself)" if row is one else "identical bytes" if cores["identical"].get(core_row_key(*spec)) else (
                f"same entities and links; scores within {row['largest_link_score_difference']}" if row.get("same_entities_and_links") else "differs")
            lines.append(f"| {engine} | {workers}x{threads} | {nodes} | {row['seconds']} | {row['pairs_per_second']} | {ratio} | "
                         f"{row['peak_rss_mib_per_worker']} | {row.get('first_shard_seconds')} | {same} |")
    steady = cores.get("steady_ratios", {})
    lines += ["", "| ratio | end to end | once every worker runs (from the 10-s trace) |", "|---|---|---|"] + [
        f"| {name} | {value:.2f}x | " + (f"{steady[name]:.2f}x" if name in steady else "") + " |" for name, value in cores["ratios"].items()]
    return lines


def render_one_pass(data: Dict) -> List[str]:
    """The one_pass rows: each run, then before and after (means), by stage."""
    rows, one_pass = data["rows"], data.get("one_pass")
    if not one_pass:
        return []
    lines = ["", f"| NTREX English-isiZulu, {one_pass['pairs']:,} pairs, teacher on the frozen encoder, 1 thread | run | seconds | CPU seconds | "
                 "teacher (s) | align (s) | peak memory (MiB) | output against the first run |", "|---|---|---|---|---|---|---|---|"]
    first = rows["one_pass/1/two_passes"]
    for repeat, mode in ONE_PASS_RUNS:
        row = rows[f"one_pass/{repeat}/{mode}"]
        same = "(itself)" if row is first else "identical bytes" if row["shard_sha256"] == first["shard_sha256"] else "differs"
        name = "two passes over the English side (before)" if mode == "two_passes" else "one pass for teacher and aligner (after)"
        lines.append(f"| {name} | {repeat} | {row['seconds']} | {row['cpu_seconds']} | {row['stage_seconds']['teacher']} | "
                     f"{row['stage_seconds']['align']} | {row['peak_rss_mib']} | {same} |")
    stages = one_pass["stage_seconds"]
    lines += ["", "| mean of 2 runs | before | after | after / before |", "|---|---|---|---|",
              f"| seconds, end to end | {one_pass['before_seconds']} | {one_pass['after_seconds']} | {one_pass['ratio']:.2f} |",
              f"| CPU seconds, end to end | {one_pass['before_cpu_seconds']} | {one_pass['after_cpu_seconds']} | {one_pass['cpu_ratio']:.2f} |",
              f"| peak memory (MiB, the larger of 2 runs) | {one_pass['before_peak_rss_mib']} | {one_pass['after_peak_rss_mib']} | "
              f"{one_pass['after_peak_rss_mib'] / one_pass['before_peak_rss_mib']:.2f} |"]
    lines += [f"| {stage} (s) | {stages['before'][stage]} | {stages['after'][stage]} | "
              f"{stages['after'][stage] / stages['before'][stage]:.2f} |" for stage in ("teacher", "align") if stages["before"][stage]]
    return lines


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
    # the engine rows (default threads) and the per-core rows (local/<workers>x<threads>/1)
    best = max(r["pairs_per_second"] for k, r in rows.items() if k.startswith(("engine/local/", "local/")))
    lines.append("")
    if memory:
        lines.append("Peak memory of all processes, one worker: " + ", ".join(f"{r['peak_rss_mib']:,.0f} MiB for {r['pairs']:,} pairs" for r in memory) + ".")
    lines.append(f"At the best local rate measured here ({best} pairs/s on this 2-core machine), ten million pairs take "
                 f"{10_000_000 / best / 3600:.0f} hours on one such machine, and about {10_000_000 / best / 3600 / 10:.1f} hours on ten "
                 "(an estimate that assumes shards spread evenly and a shared filesystem keeps up; not measured on a cluster).")
    return "\n".join(lines) + "\n"
