"""Where a stored entry ran, and the process state its arithmetic depends on.

``provenance()`` is what ends every stored row: the floating-point fingerprint (``nbsupport.fingerprint``),
nbsupport's version and the checkout's commit. ``set_threads`` and ``flush_subnormals`` set the two parts of
that state a process chooses itself.
"""

import os
import subprocess
from typing import Optional

import torch

from .data import repo_root
from .fingerprint import FINGERPRINT_COLUMNS, fingerprint
from .store import STORE_SCHEMA

#: The provenance columns that end every row of every kind: the fingerprint, then version, commit, time.
PROVENANCE_TAIL = FINGERPRINT_COLUMNS + ("nbsupport_version", "git_commit", "store_schema", "finished_at")
#: Columns that say where and when a run ran; they may differ between two runs of the same config.
PROVENANCE_COLUMNS = ("seconds",) + PROVENANCE_TAIL


def git_commit() -> str:
    """The checkout's commit (with ``+dirty`` if it has uncommitted changes), or '' outside a git checkout."""
    try:
        root = repo_root()
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        if not commit:
            return ""
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "nbsupport"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return ""


def provenance(device=None) -> dict:
    """Where and with what a run ran: its fingerprint (``nbsupport.fingerprint``), nbsupport version, commit."""
    from . import __version__

    return {**fingerprint(device if device is not None else "cpu"), "nbsupport_version": __version__,
            "git_commit": git_commit(), "store_schema": STORE_SCHEMA}


def flush_subnormals():
    """Flush subnormal floats to zero in this process for good; call it before any torch work.

    The grid command calls it first, and ``run_grid`` and ``retrain_stored`` switch flushing on around
    their runs themselves (``nbsupport.fingerprint.flush_to_zero``) and restore the previous state. The flag
    is per thread and torch's worker threads copy it when they are created, so a process that re-trains
    rows stored with several threads should call this before its first parallel operation.
    """
    return torch.set_flush_denormal(True)


def set_threads(threads: Optional[int]):
    """Pin torch's intra-op thread count (None leaves it); a seeded CPU run depends on it.

    Returns the thread count before the call, so ``previous = set_threads(n)`` ...
    ``set_threads(previous)`` restores it.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads={threads!r} is not allowed; it must be an int >= 1")
        torch.set_num_threads(threads)
    return previous


def default_threads(workers: int) -> int:
    """CPU cores per worker, at least 1."""
    return max(1, (os.cpu_count() or 1) // workers)
