"""The LR range test (Smith 2015; fastai ``lr_find``, Lightning ``Tuner.lr_find``, ``torch-lr-finder``).

Besides this package's own ``suggest_lrs``, the suggestion rules of fastai and Lightning, reimplemented
as pure functions of a recorded curve in ``nbsupport.lr_rules``, are re-exported here.
"""

import copy
import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .lr_rules import (FASTAI_RULES, SLOPE_AGAINST, debiased_ema, fastai_minimum, fastai_slide,  # noqa: F401
                       fastai_steep, fastai_suggestions, fastai_trim, fastai_valley, lightning_suggestion)
from .callbacks import Callback, CancelFit
from .training import Trainer, default_device

MODES = ("exponential", "linear")


@dataclass
class LRFinderResult:
    """What an LR range test measured: one entry per mini-batch, plus suggested learning rates.

    ``mode`` is how the lr grew (``"exponential"`` or ``"linear"``). ``valid`` holds one
    record per evaluation on the validation loader (empty if none was given): a dict with
    ``step`` (optimizer steps taken so far), ``lr`` (the lr of the last of them), ``loss``
    and ``accuracy`` (means over the validation set).
    """

    lrs: list
    losses: list
    smoothed: list
    suggestions: dict = field(default_factory=dict)
    diverged: bool = False
    mode: str = "exponential"
    valid: list = field(default_factory=list)

    def plot(self, ax=None):
        """The smoothed loss against the learning rate (log scale), suggestions marked; returns the Figure."""
        from .plots import plot_lr_finder

        return plot_lr_finder(self, ax=ax)


def exponential_lrs(start_lr, end_lr, num_steps):
    """``num_steps`` learning rates spaced evenly in log scale from ``start_lr`` to ``end_lr``."""
    ratio = end_lr / start_lr
    return [start_lr * ratio ** (i / (num_steps - 1)) for i in range(num_steps)]


def linear_lrs(start_lr, end_lr, num_steps):
    """``num_steps`` learning rates spaced evenly from ``start_lr`` to ``end_lr`` (Smith's linear range test)."""
    return [start_lr + (end_lr - start_lr) * i / (num_steps - 1) for i in range(num_steps)]


def sweep_lrs(mode, start_lr, end_lr, num_steps):
    """The lrs of a range test in ``mode``: ``exponential_lrs`` or ``linear_lrs``."""
    return (linear_lrs if mode == "linear" else exponential_lrs)(start_lr, end_lr, num_steps)


def suggest_before_stop(lrs, smoothed, diverged):
    """``suggest_lrs`` on every point of a curve but the one where the test stopped (when it stopped): the
    suggestions of ``lr_range_test``, and of a stored curve replayed (``range_readings``). None with fewer than
    3 points: ``{}``."""
    usable = len(smoothed) - 1 if diverged else len(smoothed)
    return suggest_lrs(lrs[:usable], smoothed[:usable]) if usable >= 3 else {}


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


class SmoothedStop:
    """The loss smoothing and early stop of ``lr_range_test``, one loss at a time.

    ``add(loss)`` returns ``(smoothed, stop)``: the bias-corrected moving average (weight ``smooth`` per new
    loss) and whether the test stops here, because that average is not finite or exceeds ``diverge_factor``
    times the lowest one before it (``None``: only a non-finite value stops). ``range_readings.replay`` re-reads
    stored curves with it, so a replayed test is the one ``lr_range_test`` would have run, to the last bit.
    """

    def __init__(self, smooth, diverge_factor):
        self.smooth, self.diverge_factor = smooth, diverge_factor
        self.avg, self.best, self.count = 0.0, math.inf, 0

    def add(self, loss):
        self.avg = (1 - self.smooth) * self.avg + self.smooth * loss
        self.count += 1
        value = self.avg / (1 - (1 - self.smooth) ** self.count)
        stop = not math.isfinite(value) or (self.diverge_factor is not None and value > self.diverge_factor * self.best)
        if not stop:
            self.best = min(self.best, value)
        return value, stop


def _check_args(start_lr, end_lr, num_steps, smooth, diverge_factor, train_loader, mode="exponential",
                valid_loader=None, eval_every=None):
    if not (isinstance(start_lr, (int, float)) and start_lr > 0):
        raise ValueError(f"start_lr must be a positive number, got {start_lr!r}")
    if not (isinstance(end_lr, (int, float)) and end_lr > start_lr):
        raise ValueError(f"end_lr must be larger than start_lr={start_lr}, got {end_lr!r}")
    if not isinstance(num_steps, int) or num_steps < 3:
        raise ValueError(f"num_steps must be an int of at least 3, got {num_steps!r}")
    if not 0 < smooth <= 1:
        raise ValueError(f"smooth (the weight of each new loss) must be in (0, 1], got {smooth!r}")
    if diverge_factor is not None and not diverge_factor > 1:
        raise ValueError(f"diverge_factor must be larger than 1 (a multiple of the best loss), or None to stop only "
                         f"on a non-finite loss, got {diverge_factor!r}")
    if len(train_loader) == 0:
        raise ValueError("train_loader is empty: the LR range test needs at least one batch")
    if mode not in MODES:
        raise ValueError(f"mode must be 'exponential' (fastai, Lightning) or 'linear' (Smith 2015), got {mode!r}")
    if valid_loader is None and eval_every is not None:
        raise ValueError(f"eval_every={eval_every!r} was given without a valid_loader to evaluate on")
    if valid_loader is not None:
        if eval_every is None:
            raise ValueError("valid_loader was given without eval_every: say every how many steps to evaluate, "
                             "e.g. eval_every=len(train_loader) for once per epoch")
        if not isinstance(eval_every, int) or isinstance(eval_every, bool) or not 1 <= eval_every <= num_steps:
            raise ValueError(f"eval_every must be an int from 1 to num_steps={num_steps} (steps between "
                             f"evaluations), got {eval_every!r}")
        if len(valid_loader) == 0:
            raise ValueError("valid_loader is empty: evaluation needs at least one batch")


class _Steps:
    """``num_steps`` batches of ``loader`` as one epoch of the ``Trainer``: one pass if it is long enough, else
    either new passes (epochs, reshuffled by the loader) or the first pass's batches over and over."""

    def __init__(self, loader, num_steps, fresh_epochs):
        self.loader, self.num_steps, self.fresh_epochs = loader, num_steps, fresh_epochs

    def __len__(self):
        return self.num_steps

    def __iter__(self):
        if len(self.loader) >= self.num_steps:
            batches = iter(self.loader)
        elif not self.fresh_epochs:
            batches = itertools.cycle(self.loader)
        else:
            batches = itertools.chain.from_iterable(self.loader for _ in itertools.count())
        return itertools.islice(batches, self.num_steps)


class _RangeTest(Callback):
    """The range test as ``Trainer`` callbacks: set each step's lr, record and smooth its loss, end the fit
    before the update once the smoothed loss diverges, evaluate every ``eval_every`` steps."""

    def __init__(self, lrs, smoother, valid_loader, eval_every):
        self.lrs, self.smoother = lrs, smoother
        self.valid_loader, self.eval_every = valid_loader, eval_every
        self.tried, self.losses, self.smoothed, self.valid, self.diverged = [], [], [], [], False

    def before_batch(self, trainer):
        lr = self.lrs[trainer.step]
        for group in trainer.optim.param_groups:
            group["lr"] = lr
        self.tried.append(lr)

    def after_loss(self, trainer):
        self.losses.append(trainer.loss)
        average, self.diverged = self.smoother.add(trainer.loss)
        self.smoothed.append(average)
        if self.diverged:
            raise CancelFit

    def after_step(self, trainer):
        if self.valid_loader is not None and trainer.step % self.eval_every == 0:
            val_loss, val_acc = trainer.evaluate(self.valid_loader)
            self.valid.append({"step": trainer.step, "lr": self.tried[-1], "loss": val_loss, "accuracy": val_acc})


def lr_range_test(model, optim, loss_fn, train_loader, *, start_lr=1e-7, end_lr=10.0, num_steps=100,
                  smooth=0.05, diverge_factor=4.0, scheduler=None, device=None, progress=None,
                  mode="exponential", valid_loader=None, eval_every=None):
    """Train for up to ``num_steps`` mini-batches while the lr grows from ``start_lr`` to ``end_lr``.

    ``mode="exponential"`` (the default; fastai's and Lightning's) spaces the lrs evenly in log scale
    (``exponential_lrs``); ``mode="linear"`` raises them linearly (``linear_lrs``), as in Smith's (2015)
    "LR range test", which runs for several epochs (``num_steps = epochs * len(train_loader)``) and reads the
    validation accuracy against the lr. Both reach ``end_lr`` at the last step.

    The loss is smoothed with an exponential moving average (weight ``smooth``
    per new loss, bias-corrected); the test stops early once the smoothed loss
    exceeds ``diverge_factor`` times the best one, or (always) once it is not
    finite; ``diverge_factor=None`` keeps only the latter. If the loader has
    fewer batches than ``num_steps``, the exponential mode cycles the batches of
    its first pass, while the linear mode starts a new pass (a new epoch, newly
    shuffled by the loader) each time. With ``valid_loader``, the model is
    evaluated on it (in eval mode, without gradients, then back in train mode)
    after every ``eval_every`` optimizer steps; the records are in ``valid``.

    Afterwards the model, the optimizer,
    the scheduler (if given) and torch's RNG (the CPU's and, when CUDA is in use, every GPU's) are restored
    exactly, so the test
    can run before real training without changing it. The loader's own
    shuffling generator does advance.
    """
    _check_args(start_lr, end_lr, num_steps, smooth, diverge_factor, train_loader, mode, valid_loader, eval_every)
    device = torch.device(device) if device is not None else default_device()
    saved_model = copy.deepcopy(model.state_dict())
    saved_optim = copy.deepcopy(optim.state_dict())
    saved_sched = copy.deepcopy(scheduler.state_dict()) if scheduler is not None else None
    saved_rng = torch.get_rng_state()
    # Dropout on a GPU draws from the CUDA generators: restore those too, or "restored exactly" fails there.
    saved_cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() or device.type == "cuda" else None
    was_training = model.training

    lrs = sweep_lrs(mode, start_lr, end_lr, num_steps)
    test = _RangeTest(lrs, SmoothedStop(smooth, diverge_factor), valid_loader, eval_every)
    # Training accuracy is not part of a range test: any model and loss will do (validation reports accuracy).
    trainer = Trainer(model, optim, loss_fn, callbacks=[test], device=device, progress=progress, verbose=False,
                      accuracy=valid_loader is not None)
    try:
        trainer.run(1, _Steps(train_loader, num_steps, fresh_epochs=mode == "linear"))
    finally:
        model.load_state_dict(saved_model)
        optim.load_state_dict(saved_optim)
        if scheduler is not None:
            scheduler.load_state_dict(saved_sched)
        torch.set_rng_state(saved_rng)
        if saved_cuda_rng is not None:
            torch.cuda.set_rng_state_all(saved_cuda_rng)
        model.train(was_training)
        optim.zero_grad(set_to_none=True)
    suggestions = suggest_before_stop(test.tried, test.smoothed, test.diverged)
    return LRFinderResult(test.tried, test.losses, test.smoothed, suggestions, test.diverged, mode, test.valid)
