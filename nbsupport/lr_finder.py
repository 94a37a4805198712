"""The LR range test (Smith 2015; fastai ``lr_find``, Lightning ``Tuner.lr_find``, ``torch-lr-finder``)."""

import copy
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from .training import default_device, progress_enabled


@dataclass
class LRFinderResult:
    """What an LR range test measured: one entry per mini-batch, plus suggested learning rates."""

    lrs: list
    losses: list
    smoothed: list
    suggestions: dict = field(default_factory=dict)
    diverged: bool = False

    def plot(self, ax=None):
        """The smoothed loss against the learning rate (log scale), suggestions marked; returns the Figure."""
        from .plots import plot_lr_finder

        return plot_lr_finder(self, ax=ax)


def exponential_lrs(start_lr, end_lr, num_steps):
    """``num_steps`` learning rates spaced evenly in log scale from ``start_lr`` to ``end_lr``."""
    ratio = end_lr / start_lr
    return [start_lr * ratio ** (i / (num_steps - 1)) for i in range(num_steps)]


def suggest_lrs(lrs, smoothed):
    """Suggested learning rates from a smoothed LR-finder curve.

    - ``steepest``: where the loss falls fastest per decade of learning rate
      (before the minimum);
    - ``minimum/10``: a tenth of the learning rate at the lowest loss;
    - ``valley``: the middle of the longest stretch over which the loss keeps falling.
    """
    lrs, losses = np.asarray(lrs, dtype=float), np.asarray(smoothed, dtype=float)
    if len(lrs) < 3:
        raise ValueError(f"need at least 3 points to suggest a learning rate, got {len(lrs)}")
    i_min = int(np.argmin(losses))
    slopes = np.gradient(losses, np.log10(lrs))
    i_steep = int(np.argmin(slopes[: max(i_min, 1)]))
    # Longest decreasing subsequence, O(n^2) on at most a few hundred points.
    n = len(losses)
    length, prev = [1] * n, list(range(n))
    for j in range(n):
        for i in range(j):
            if losses[i] > losses[j] and length[i] + 1 > length[j]:
                length[j], prev[j] = length[i] + 1, i
    end = int(np.argmax(length))
    start = end
    while prev[start] != start:
        start = prev[start]
    i_valley = start + (end - start) // 2
    return {
        "steepest": float(lrs[i_steep]),
        "minimum/10": float(lrs[i_min] / 10),
        "valley": float(lrs[i_valley]),
    }


def _check_args(start_lr, end_lr, num_steps, smooth, diverge_factor, train_loader):
    if not (isinstance(start_lr, (int, float)) and start_lr > 0):
        raise ValueError(f"start_lr must be a positive number, got {start_lr!r}")
    if not (isinstance(end_lr, (int, float)) and end_lr > start_lr):
        raise ValueError(f"end_lr must be larger than start_lr={start_lr}, got {end_lr!r}")
    if not isinstance(num_steps, int) or num_steps < 3:
        raise ValueError(f"num_steps must be an int of at least 3, got {num_steps!r}")
    if not 0 < smooth <= 1:
        raise ValueError(f"smooth (the weight of each new loss) must be in (0, 1], got {smooth!r}")
    if not diverge_factor > 1:
        raise ValueError(f"diverge_factor must be larger than 1 (a multiple of the best loss), got {diverge_factor!r}")
    if len(train_loader) == 0:
        raise ValueError("train_loader is empty: the LR range test needs at least one batch")


def lr_range_test(model, optim, loss_fn, train_loader, *, start_lr=1e-7, end_lr=10.0, num_steps=100,
                  smooth=0.05, diverge_factor=4.0, scheduler=None, device=None, progress=None):
    """Train for up to ``num_steps`` mini-batches while the lr grows exponentially from ``start_lr`` to ``end_lr``.

    The loss is smoothed with an exponential moving average (weight ``smooth``
    per new loss, bias-corrected); the test stops early once the smoothed loss
    exceeds ``diverge_factor`` times the best one. The loader is cycled if it
    has fewer batches than ``num_steps``. Afterwards the model, the optimizer,
    the scheduler (if given) and torch's RNG are restored exactly, so the test
    can run before real training without changing it. The loader's own
    shuffling generator does advance.
    """
    _check_args(start_lr, end_lr, num_steps, smooth, diverge_factor, train_loader)
    device = torch.device(device) if device is not None else default_device()
    saved_model = copy.deepcopy(model.state_dict())
    saved_optim = copy.deepcopy(optim.state_dict())
    saved_sched = copy.deepcopy(scheduler.state_dict()) if scheduler is not None else None
    saved_rng = torch.get_rng_state()
    was_training = model.training

    lrs = exponential_lrs(start_lr, end_lr, num_steps)
    tried, losses, smoothed = [], [], []
    avg, best, diverged = 0.0, math.inf, False
    batches = itertools.cycle(train_loader) if len(train_loader) < num_steps else iter(train_loader)
    model.to(device).train()
    try:
        for step, lr in enumerate(tqdm(lrs, disable=not progress_enabled(progress), leave=False, unit="step")):
            for group in optim.param_groups:
                group["lr"] = lr
            x, y = next(batches)
            x, y = x.to(device), y.to(device)
            loss = loss_fn(model(x), y)
            value = loss.item()
            tried.append(lr)
            losses.append(value)
            avg = (1 - smooth) * avg + smooth * value
            smoothed.append(avg / (1 - (1 - smooth) ** (step + 1)))
            if not math.isfinite(smoothed[-1]) or smoothed[-1] > diverge_factor * best:
                diverged = True
                break
            best = min(best, smoothed[-1])
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
    finally:
        model.load_state_dict(saved_model)
        optim.load_state_dict(saved_optim)
        if scheduler is not None:
            scheduler.load_state_dict(saved_sched)
        torch.set_rng_state(saved_rng)
        model.train(was_training)
        optim.zero_grad(set_to_none=True)
    usable = len(smoothed) - 1 if diverged else len(smoothed)
    suggestions = suggest_lrs(tried[:usable], smoothed[:usable]) if usable >= 3 else {}
    return LRFinderResult(tried, losses, smoothed, suggestions, diverged)
