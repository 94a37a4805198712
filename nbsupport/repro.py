"""Seeding, so that a chapter's numbers come out the same on every run."""

import random

import numpy as np
import torch


def seed_everything(seed: int) -> int:
    """Seed Python's, NumPy's and torch's random number generators; return the seed.

    Two seeded CPU runs with the same number of threads give identical logs.
    Different thread counts or CPU instruction sets (AVX2 vs AVX-512) reorder
    floating-point sums, so results then agree only statistically.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed
