"""A shard's worker: freed memory and threads."""
import os
import subprocess
import sys

import pytest

from spacy_xproj.projecting.worker import return_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm; malloc_trim is glibc's")
def test_freed_heap_pages_go_back_to_the_system_after_a_shard():
    """A worker frees a shard's Docs and tensors; glibc keeps those heap pages resident (the block allocated after them
    pins the heap's top) until return_freed_memory hands them back."""
    def resident_mib():
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    blocks = [b"x" * 65536 for _ in range(3000)]  # 188 MiB of heap blocks, each below glibc's mmap threshold
    pinned = b"y" * 65536
    del blocks
    freed = resident_mib()
    assert return_freed_memory()
    assert freed - resident_mib() > 150 and len(pinned) == 65536


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: every library already starts one thread")
def test_a_worker_limited_to_one_thread_runs_one_thread_in_every_maths_library():
    """numpy's OpenBLAS starts a thread per core; a worker given one thread (as `--workers 2 --threads 1` gives
    each) limits torch and every BLAS and OpenMP library loaded to one."""
    script = ("import numpy, scipy.linalg, torch; from threadpoolctl import threadpool_info as info; "
              "from spacy_xproj.projecting.worker import limit_threads; "
              "before = max(i['num_threads'] for i in info()); limit_threads(1); "
              "print(before, max(i['num_threads'] for i in info()), torch.get_num_threads())")
    env = {key: value for key, value in os.environ.items() if not key.endswith("_NUM_THREADS")}
    before, after, torch_threads = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env).stdout.split()
    assert int(before) > 1 and (int(after), int(torch_threads)) == (1, 1)
