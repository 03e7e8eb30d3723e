"""Where shards are projected: this process, worker processes on this machine, or a Ray cluster.

An engine takes `make_worker` (a picklable callable that builds a shard worker: `worker(spec) -> report`)
and the shards to do, and yields each shard's report as it finishes, in any order. Workers write their
shards' files themselves, so only specs and reports travel between processes. Each worker process
builds one worker and keeps it, so the models load once per process.
"""
import json
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Callable, Dict, Iterator, Optional, Protocol, Sequence

from .shards import ShardSpec


class Engine(Protocol):
    def run(self, make_worker: Callable, specs: Sequence[ShardSpec]) -> Iterator[Dict]:
        ...


def threads_per_worker(workers: int) -> int:
    """Workers on one machine split its cores: more threads than cores only adds contention."""
    return max(1, (os.cpu_count() or 1) // workers)


class InProcess:
    """One worker, in this process: the default, and the fastest start for small corpora.

    threads (int): threads of torch and of numpy's and scipy's BLAS (0: their defaults).
    gpu_id (int): the CUDA GPU to run on (-1: the CPU).
    """

    def __init__(self, threads: int = 0, gpu_id: int = -1):
        self.threads, self.gpu_id = threads, gpu_id

    def run(self, make_worker: Callable, specs: Sequence[ShardSpec]) -> Iterator[Dict]:
        if not specs:
            return
        worker = make_worker(threads=self.threads, gpu_id=self.gpu_id)
        for spec in specs:
            yield worker(spec)


_PROCESS_WORKER = None


def _start_process_worker(make_worker: Callable, threads: int, gpu_id: int) -> None:
    global _PROCESS_WORKER
    _PROCESS_WORKER = make_worker(threads=threads, gpu_id=gpu_id)


def _run_in_process_worker(spec: ShardSpec) -> Dict:
    return _PROCESS_WORKER(spec)


class LocalProcesses:
    """`workers` processes on this machine (started fresh: a forked copy of a process holding torch can hang).

    threads (int): torch and BLAS threads per process; 0: this machine's cores split between the workers.
    gpu_id (int): the CUDA GPU every worker runs on (-1: the CPU).
    """

    def __init__(self, workers: int, threads: int = 0, gpu_id: int = -1):
        self.workers, self.threads, self.gpu_id = workers, threads, gpu_id

    def run(self, make_worker: Callable, specs: Sequence[ShardSpec]) -> Iterator[Dict]:
        import multiprocessing

        if not specs:
            return
        workers = min(self.workers, len(specs))
        initargs = (make_worker, self.threads or threads_per_worker(workers), self.gpu_id)
        with ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"), _start_process_worker, initargs) as pool:
            waiting = list(reversed(specs))
            running = set()
            while waiting or running:
                while waiting and len(running) < 2 * workers:  # a bounded queue: specs are small, but reports come back as they finish
                    running.add(pool.submit(_run_in_process_worker, waiting.pop()))
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()


class RayShardWorker:
    """A Ray Data actor: builds its worker once, then projects one shard per batch."""

    def __init__(self, make_worker: Callable, threads: int, gpus: float):
        self.worker = make_worker(threads=threads, gpu_id=0 if gpus else -1)  # Ray shows an actor only the GPUs it holds

    def __call__(self, batch: Dict) -> Dict:
        import numpy

        reports = [json.dumps(self.worker(ShardSpec.from_json(str(spec)))) for spec in batch["spec"]]
        return {"report": numpy.array(reports, dtype=object)}


class RayData:
    """Ray Data across a cluster: `map_batches` with an actor pool of `workers` actors, one shard a batch.

    address (Optional[str]): an existing cluster to join (`ray start --head` prints it); None starts a local one.
    threads (int): CPUs (torch and BLAS threads) per actor; 0: this machine's cores split between the workers.
    gpus (float): GPUs per actor (0: the CPU).
    retries (int): times a shard that raised is run again (Ray Data's `max_map_retries`; a shard's files are
        written atomically under its own name, so a retry replaces, never duplicates).
    Every node must see the corpus files and the output folder at the same paths (a shared filesystem).
    """

    def __init__(self, workers: int, address: Optional[str] = None, threads: int = 0, retries: int = 3, gpus: float = 0):
        self.workers, self.address, self.threads, self.retries, self.gpus = workers, address, threads, retries, gpus

    def run(self, make_worker: Callable, specs: Sequence[ShardSpec]) -> Iterator[Dict]:
        try:
            import ray
        except ImportError:
            raise ImportError("--engine ray needs Ray Data: pip install 'spacy_xproj[ray]'") from None
        if not specs:
            return
        started = not ray.is_initialized()
        if started:
            ray.init(address=self.address, num_cpus=None if self.address else os.cpu_count(), include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        try:
            context = ray.data.DataContext.get_current()
            context.retried_map_errors, context.max_map_retries = True, self.retries  # a shard that raises is run again, at most `retries` times
            context.enable_progress_bars = False  # the command draws its own bar
            threads = self.threads or threads_per_worker(self.workers)
            dataset = ray.data.from_items([{"spec": spec.to_json()} for spec in specs], override_num_blocks=len(specs))
            reports = dataset.map_batches(
                RayShardWorker, fn_constructor_kwargs={"make_worker": make_worker, "threads": threads, "gpus": self.gpus}, batch_size=1,
                concurrency=self.workers, num_cpus=threads, num_gpus=self.gpus or None,
            )
            for row in reports.iter_rows():
                yield json.loads(row["report"])
        finally:
            if started:
                ray.shutdown()
