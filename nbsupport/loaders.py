"""Mini-batches of the runs' data: ``TensorLoader`` (in memory, the fast path) and the loaders the chapters
and the page's code use, ``mnist_loaders`` and ``dataset_loaders`` (the data itself: ``nbsupport.data``)."""

import math

import torch
from torch.utils.data import DataLoader

from .data import _check_dataset, _check_scaling, dataset_tensors, mnist_datasets, mnist_tensors


class TensorLoader:
    """Mini-batches from in-memory tensors, no per-sample work.

    With ``shuffle=True`` and a ``seed``, batches come in exactly the order of
    ``DataLoader(..., shuffle=True, generator=torch.Generator().manual_seed(seed))``,
    epoch after epoch, so the fast path trains on the same batches as the page's.
    """

    def __init__(self, x, y, batch_size=32, shuffle=False, seed=0, drop_last=False, memory_format=None):
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.memory_format = memory_format
        self.generator = torch.Generator().manual_seed(seed) if shuffle else None

    def __len__(self):
        n = len(self.x)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.x)
        if self.shuffle:
            # A DataLoader epoch draws a base seed from its generator, then the
            # sampler's permutation, then (when the sampler runs out) one more
            # permutation it discards. Drawing the same here keeps the two in step.
            torch.empty((), dtype=torch.int64).random_(generator=self.generator)
            order = torch.randperm(n, generator=self.generator)
            torch.randperm(n, generator=self.generator)
        for i in range(len(self)):
            if self.shuffle:
                idx = order[i * self.batch_size:(i + 1) * self.batch_size]
                xb, yb = self.x[idx], self.y[idx]
            else:
                xb = self.x[i * self.batch_size:(i + 1) * self.batch_size]
                yb = self.y[i * self.batch_size:(i + 1) * self.batch_size]
            if self.memory_format is not None:
                xb = xb.contiguous(memory_format=self.memory_format)
            yield xb, yb


def mnist_loaders(root=None, *, scaling: str, batch_size: int = 32, seed: int = 0,
                  in_memory: bool = True, download: bool = True, memory_format=None):
    """Train and valid loaders for the page's split; train is shuffled with a seeded generator.

    ``scaling`` must be chosen: ``"page"`` or ``"normalized"``. ``in_memory=True``
    is the fast path (``TensorLoader``); ``False`` is the page's torchvision
    pipeline through a ``DataLoader``. Both yield the same batches for a seed.
    """
    _check_scaling(scaling)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if in_memory:
        (xt, yt), (xv, yv) = mnist_tensors(root, scaling=scaling, download=download)
        return (
            TensorLoader(xt, yt, batch_size, shuffle=True, seed=seed, memory_format=memory_format),
            TensorLoader(xv, yv, batch_size, shuffle=False, memory_format=memory_format),
        )
    if memory_format is not None:
        raise ValueError("memory_format is only supported with in_memory=True")
    train, valid = mnist_datasets(root, scaling=scaling, download=download)
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True,
                   generator=torch.Generator().manual_seed(seed)),
        DataLoader(valid, batch_size=batch_size, shuffle=False),
    )


def dataset_loaders(dataset: str, root=None, *, scaling: str, batch_size: int = 32, seed: int = 0,
                    download: bool = True, memory_format=None):
    """In-memory train and valid ``TensorLoader``s of a data set's split, train shuffled with a seeded
    generator: ``mnist_loaders(..., in_memory=True)`` for any of ``DATASETS``."""
    _check_dataset(dataset)
    _check_scaling(scaling, dataset)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    (xt, yt), (xv, yv) = dataset_tensors(dataset, root, scaling=scaling, download=download)
    return (
        TensorLoader(xt, yt, batch_size, shuffle=True, seed=seed, memory_format=memory_format),
        TensorLoader(xv, yv, batch_size, shuffle=False, memory_format=memory_format),
    )
