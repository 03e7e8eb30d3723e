"""Torch in processes forked from one that has already run it (spaCy's `nlp.pipe(n_process=...)` forks on Linux).

A forked child inherits torch's intra-op thread pool (OpenMP) in the state the parent left it, without its
threads: the child's first multi-threaded torch operation waits forever. One thread in such a child avoids the
pool, as spacy-transformers' users are told to do by hand; the children of `n_process` share the cores anyway.
"""
import os
from typing import Optional

_TORCH_PID: Optional[int] = None  # the process that ran the package's torch work last; a fork inherits this value


def torch_threads_for_this_process() -> None:
    """Call before the package's torch work. In a process forked after its parent ran that work (the pid differs
    from the one recorded), set torch to one thread, once; elsewhere (the main process, fresh spawned workers,
    whose `--threads` is set by the projection engines) change nothing."""
    global _TORCH_PID
    pid = os.getpid()
    if _TORCH_PID == pid:
        return
    if _TORCH_PID is not None:  # forked from a process that had used torch
        import torch

        torch.set_num_threads(1)
    _TORCH_PID = pid
