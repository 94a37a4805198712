"""A training run as a value: ``RunConfig`` describes it, ``train_run`` trains it and returns a flat record.

The record is one row of a grid's results table (``nbsupport.grid``): the
config, per-epoch metrics, the spike of the averaged training loss, the step
at which the loss became NaN (if it did), the wall-clock time and where it ran.
A run depends on its own seed only: its initial weights, dropout masks and
batch order are drawn from generators seeded at its start, so whatever ran
before it in the same process (an LR range test, another run) cannot change it.
"""

import dataclasses
import functools
import hashlib
import json
import math
import os
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler as sched

from .callbacks import ScheduleFreeCallback, SchedulerStatsCallback
from .data import SCALINGS, TensorLoader, mnist_tensors, repo_root
from .models import ACTIVATIONS, mnist_model
from .repro import seed_everything
from .training import Trainer

OPTIMIZERS = ("adamw", "sgd")
DEFAULT_WEIGHT_DECAY = {"adamw": 0.01, "sgd": 0.0}  # PyTorch's defaults
INITS = ("default", "lecun")
ONE_CYCLE = ("one_cycle", "one_cycle_3phase")
SCHEDULES = ("constant", "step", "cosine", "warmup_cosine", "warmup_linear", "wsd") + ONE_CYCLE + ("schedule_free",)
WARMUP_FRAC = 0.1  # warm-up share of the steps for warmup_cosine, warmup_linear, wsd and schedule_free
WARMUP_START = 1 / 25  # warm-ups start at lr/25, where OneCycleLR starts (div_factor=25)
WSD_COOLDOWN_FRAC = 0.2  # share of the steps in wsd's final linear cooldown (Hägele et al. 2024)
STEP_MILESTONES = (0.5, 0.75)  # step decay: lr x0.1 at half and at three quarters of the steps
CYCLED = "cycled"


def _allowed(name, value, allowed):
    return ValueError(f"{name}={value!r} is not allowed; use one of {tuple(allowed)}")


class StoredConfig:
    """What a frozen dataclass needs to be an entry of a grid: its field names, and itself from a table row.

    A row holds strings (as read from the CSV) or numbers (as loaded by pandas); ``from_record`` converts
    the fields named in ``INT_FIELDS`` and ``FLOAT_FIELDS`` and hands the rest to the constructor as they
    are, whose own checks convert or refuse them. Extra columns are ignored.
    """

    INT_FIELDS: tuple = ()
    FLOAT_FIELDS: tuple = ()

    @classmethod
    def fields(cls):
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_record(cls, record):
        kwargs = {}
        for name in cls.fields():
            value = record[name]
            if name in cls.INT_FIELDS:
                value = int(value)
            elif name in cls.FLOAT_FIELDS:
                value = float(value)
            kwargs[name] = value
        return cls(**kwargs)


@dataclass(frozen=True)
class RunConfig(StoredConfig):
    """One training run of the page's model on MNIST.

    ``lr`` is the peak learning rate (``max_lr`` for one-cycle). ``momentum``
    is Adam's beta1 or SGD's momentum: ``"cycled"`` (0.95 -> 0.85 -> 0.95, as
    ``OneCycleLR`` does by default; one-cycle only) or a fixed value in
    [0, 1). Left as None it is ``"cycled"`` for one-cycle and 0.9 otherwise;
    ``weight_decay`` left as None is the optimizer's PyTorch default.
    ``init="lecun"`` is SELU's self-normalizing setup (LeCun-normal weights,
    AlphaDropout). Invalid values are refused here, before any training.
    """

    INT_FIELDS = ("epochs", "seed", "batch_size")
    FLOAT_FIELDS = ("lr", "weight_decay")  # momentum: "cycled" or a number, converted in __post_init__

    schedule: str = "one_cycle"
    lr: float = 0.01
    epochs: int = 3
    seed: int = 0
    optimizer: str = "adamw"
    momentum: Union[str, float, None] = None
    weight_decay: Optional[float] = None
    activation: str = "selu"
    init: str = "default"
    scaling: str = "page"
    batch_size: int = 32

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise _allowed("schedule", self.schedule, SCHEDULES)
        if self.optimizer not in OPTIMIZERS:
            raise _allowed("optimizer", self.optimizer, OPTIMIZERS)
        if self.schedule == "schedule_free" and self.optimizer != "adamw":
            raise ValueError(f"schedule='schedule_free' uses AdamWScheduleFree: optimizer must be 'adamw', "
                             f"got {self.optimizer!r}")
        if self.activation not in ACTIVATIONS:
            raise _allowed("activation", self.activation, sorted(ACTIVATIONS))
        if self.init not in INITS:
            raise _allowed("init", self.init, INITS)
        if self.init == "lecun" and self.activation != "selu":
            raise ValueError(f"init='lecun' is SELU's self-normalizing setup: activation must be 'selu', "
                             f"got {self.activation!r}")
        if self.scaling not in SCALINGS:
            raise _allowed("scaling", self.scaling, SCALINGS)
        if not isinstance(self.lr, (int, float)) or isinstance(self.lr, bool) or not self.lr > 0 \
                or not math.isfinite(self.lr):
            raise ValueError(f"lr={self.lr!r} is not allowed; the (peak) learning rate must be a number > 0")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}={value!r} is not allowed; it must be an int >= 1")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r} is not allowed; it must be an int >= 0")
        momentum = self.momentum
        if momentum is None:
            momentum = CYCLED if self.schedule in ONE_CYCLE else 0.9
        if momentum == CYCLED:
            if self.schedule not in ONE_CYCLE:
                raise ValueError(f"momentum='cycled' is only for one-cycle schedules {ONE_CYCLE}; "
                                 f"schedule={self.schedule!r} needs a fixed momentum in [0, 1)")
        elif isinstance(momentum, str):
            try:
                momentum = float(momentum)
            except ValueError:
                raise ValueError(f"momentum={self.momentum!r} is not allowed; use 'cycled' or a number "
                                 f"in [0, 1)") from None
        if momentum != CYCLED and not (isinstance(momentum, (int, float)) and 0 <= momentum < 1):
            raise ValueError(f"momentum={self.momentum!r} is not allowed; use 'cycled' or a number in [0, 1)")
        object.__setattr__(self, "momentum", momentum if momentum == CYCLED else float(momentum))
        wd = DEFAULT_WEIGHT_DECAY[self.optimizer] if self.weight_decay is None else self.weight_decay
        if not isinstance(wd, (int, float)) or isinstance(wd, bool) or wd < 0:
            raise ValueError(f"weight_decay={self.weight_decay!r} is not allowed; it must be a number >= 0")
        object.__setattr__(self, "weight_decay", float(wd))
        object.__setattr__(self, "lr", float(self.lr))

    @property
    def run_id(self) -> str:
        """A short hash of the config: the same run has the same id in every table and session."""
        text = json.dumps(dataclasses.asdict(self), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]

    def label(self) -> str:
        """A short human-readable description, for progress bars and messages."""
        return (f"{self.schedule} lr={self.lr:g} {self.optimizer} m={self.momentum} {self.activation}"
                f"/{self.init} {self.scaling} {self.epochs}ep seed={self.seed}")


@functools.lru_cache(maxsize=2)
def _mnist_cached(scaling):
    return mnist_tensors(scaling=scaling)


def build_optimizer(config, params, total_steps):
    """The optimizer a config asks for, with its fixed momentum (cycled momentum starts at 0.95).

    ``total_steps`` sets schedule-free AdamW's warm-up (``WARMUP_FRAC`` of the steps).
    """
    momentum = 0.95 if config.momentum == CYCLED else config.momentum
    if config.schedule == "schedule_free":
        import schedulefree

        return schedulefree.AdamWScheduleFree(params, lr=config.lr, betas=(momentum, 0.999),
                                              weight_decay=config.weight_decay,
                                              warmup_steps=max(1, round(WARMUP_FRAC * total_steps)))
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, betas=(momentum, 0.999), weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=momentum, weight_decay=config.weight_decay)


def build_scheduler(config, optim, total_steps):
    """The PyTorch LR scheduler for ``config.schedule`` over ``total_steps`` steps (None: constant lr)."""
    name, T = config.schedule, total_steps
    warm = max(1, round(WARMUP_FRAC * T))
    if name in ("constant", "schedule_free"):
        return None
    if name == "step":
        return sched.MultiStepLR(optim, milestones=[round(f * T) for f in STEP_MILESTONES], gamma=0.1)
    if name == "cosine":
        return sched.CosineAnnealingLR(optim, T_max=T)
    if name in ONE_CYCLE:
        return sched.OneCycleLR(optim, max_lr=config.lr, total_steps=T, three_phase=name == "one_cycle_3phase",
                                cycle_momentum=config.momentum == CYCLED)
    warmup = sched.LinearLR(optim, start_factor=WARMUP_START, end_factor=1.0, total_iters=warm)
    if name == "warmup_cosine":
        rest = sched.CosineAnnealingLR(optim, T_max=T - warm)
        return sched.SequentialLR(optim, [warmup, rest], milestones=[warm])
    if name == "warmup_linear":
        rest = sched.LinearLR(optim, start_factor=1.0, end_factor=0.0, total_iters=T - warm)
        return sched.SequentialLR(optim, [warmup, rest], milestones=[warm])
    # wsd: warm up, hold, then cool down linearly to zero over the last WSD_COOLDOWN_FRAC of the steps.
    cool = max(1, round(WSD_COOLDOWN_FRAC * T))
    stable = sched.ConstantLR(optim, factor=1.0, total_iters=0)
    cooldown = sched.LinearLR(optim, start_factor=1.0, end_factor=0.0, total_iters=cool)
    return sched.SequentialLR(optim, [warmup, stable, cooldown], milestones=[warm, T - cool])


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
    """Where a run ran: torch version, CPU capability or GPU name, thread count, nbsupport version, commit."""
    from . import __version__

    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        hardware = torch.cuda.get_device_name(device)
    else:
        hardware = f"cpu:{torch.backends.cpu.get_cpu_capability()}"
    return {
        "torch_version": torch.__version__,
        "hardware": hardware,
        "threads": torch.get_num_threads(),
        "nbsupport_version": __version__,
        "git_commit": git_commit(),
    }


RECORD_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc")


def train_run(config: RunConfig, data=None, *, device="cpu", progress=None, verbose=False) -> dict:
    """Train ``config`` and return its flat record (see ``record_columns()`` for the fields).

    ``data`` is ``((x_train, y_train), (x_valid, y_valid))``; by default MNIST
    with the config's scaling. Runs train on the CPU by default, where a seeded
    run is reproducible for a fixed thread count. A run whose loss becomes NaN
    or infinite is a result too: ``nan_step`` is set and the later metrics are NaN.
    """
    if not isinstance(config, RunConfig):
        raise TypeError(f"config must be a RunConfig, got {type(config).__name__}")
    (xt, yt), (xv, yv) = data if data is not None else _mnist_cached(config.scaling)
    seed_everything(config.seed)
    model = mnist_model(config.activation, self_normalizing=config.init == "lecun")
    train_loader = TensorLoader(xt, yt, config.batch_size, shuffle=True, seed=config.seed)
    valid_loader = TensorLoader(xv, yv, config.batch_size)
    total_steps = config.epochs * len(train_loader)
    optim = build_optimizer(config, model.parameters(), total_steps)
    scheduler = build_scheduler(config, optim, total_steps)
    callbacks = [SchedulerStatsCallback(optim)]
    if config.schedule == "schedule_free":
        callbacks.append(ScheduleFreeCallback(optim))
    trainer = Trainer(model, optim, F.cross_entropy, scheduler, callbacks=callbacks, device=device,
                      progress=progress, verbose=verbose)
    start = time.perf_counter()
    nan_step = None
    try:
        trainer.run(config.epochs, train_loader, valid_loader)
    except FloatingPointError:
        nan_step = trainer.step + 1
    seconds = time.perf_counter() - start
    steps = len(train_loader)
    per_epoch = {"train_loss": list(trainer.epoch_log["loss"]), "train_acc": list(trainer.epoch_log["accs"]),
                 "val_loss": list(trainer.valid_log["loss"]), "val_acc": list(trainer.valid_log["accs"])}
    avg = trainer.train_log["loss_avg"]
    peak_step = max(range(len(avg)), key=avg.__getitem__) if avg else None
    record = {"run_id": config.run_id, **dataclasses.asdict(config)}
    for metric in RECORD_METRICS:
        values = per_epoch[metric]
        record[metric] = values[-1] if len(values) == config.epochs else math.nan
    record.update({
        "final_loss_avg": avg[-1] if avg and nan_step is None else math.nan,
        "peak_loss_avg": avg[peak_step] if avg else math.nan,
        "peak_step": peak_step + 1 if avg else None,
        "nan_step": nan_step,
        "steps_per_epoch": steps,
        "seconds": round(seconds, 3),
    })
    for metric in RECORD_METRICS:
        record[f"{metric}_epochs"] = json.dumps(per_epoch[metric])
    record.update(provenance(device))
    record["finished_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return record


def record_columns():
    """The columns of a results row, in order (the table's header)."""
    return (("run_id",) + RunConfig.fields() + RECORD_METRICS
            + ("final_loss_avg", "peak_loss_avg", "peak_step", "nan_step", "steps_per_epoch", "seconds")
            + tuple(f"{m}_epochs" for m in RECORD_METRICS)
            + ("torch_version", "hardware", "threads", "nbsupport_version", "git_commit", "finished_at"))


#: Columns that say where and when a run ran; they may differ between two runs of the same config.
PROVENANCE_COLUMNS = ("seconds", "torch_version", "hardware", "threads", "nbsupport_version", "git_commit",
                      "finished_at")


def flush_subnormals():
    """Flush subnormal floats to zero in this process, as the grid command does; call it before any torch work.

    At high learning rates and late in long runs some values underflow into
    subnormal numbers, and steps then ran up to 10x slower on our CPU. The flag
    is per thread, and torch's worker threads copy it from the main thread when
    they are created, so it must be set before the first parallel operation.
    It can change a run's numbers (it did under the page's [0, 1/255] input
    scaling), so stored runs are trained and re-checked with it, and the
    chapters' page code runs without it.
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


def schedule_trace(config: RunConfig, total_steps: int):
    """The lr and momentum that training step ``i`` of ``config`` uses, for ``i`` in ``range(total_steps)``.

    Steps a throwaway one-parameter optimizer built as ``train_run`` builds it,
    so nothing is trained. Schedule-free AdamW has no scheduler: its lr is the
    warm-up then constant (its averaging does the annealing).
    """
    if not isinstance(total_steps, int) or total_steps < 2:
        raise ValueError(f"total_steps={total_steps!r} is not allowed; it must be an int >= 2")
    param = torch.nn.Parameter(torch.zeros(1))
    optim = build_optimizer(config, [param], total_steps)
    scheduler = build_scheduler(config, optim, total_steps)
    stats = SchedulerStatsCallback(optim)
    if config.schedule == "schedule_free":
        optim.train()
        warm = max(1, round(WARMUP_FRAC * total_steps))
        lrs = [config.lr * min(1.0, (i + 1) / warm) for i in range(total_steps)]
        return lrs, [optim.param_groups[0]["betas"][0]] * total_steps
    for step in range(total_steps):
        stats()
        if step < total_steps - 1:
            param.grad = torch.zeros_like(param)
            optim.step()
            scheduler.step() if scheduler is not None else None
    return stats.lr, stats.momentum


#: How the book names each schedule in figures and tables.
SCHEDULE_LABELS = {
    "one_cycle": "one-cycle",
    "one_cycle_3phase": "one-cycle, 3 phases",
    "constant": "constant",
    "step": "step decay",
    "cosine": "cosine",
    "warmup_cosine": "warm-up + cosine",
    "warmup_linear": "warm-up + linear",
    "wsd": "warmup-stable-decay",
    "schedule_free": "schedule-free AdamW",
}
