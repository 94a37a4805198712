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
import numbers
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Optional, Union

import torch
import torch.nn.functional as F

from .callbacks import ScheduleFreeCallback, SchedulerStatsCallback, StopAfterEpochs
from .data import DATASETS, SCALINGS, TensorLoader, dataset_tensors, dataset_test_tensors
from .models import ACTIVATIONS, mnist_model
from .repro import seed_everything
from .schedules import ONE_CYCLE, SCHEDULE_LABELS, SCHEDULES, build_scheduler, schedule_constants  # noqa: F401
from .training import Trainer
from .run_records import (CHECK_BAND, LEGACY_RECORD_COLUMNS, RECORD_METRICS, TEST_METRICS,  # noqa: F401
                          match_stored, record_columns, stored_epoch)
from .configs import StoredConfig, _allowed, is_int, is_number  # noqa: F401  (re-exported)
from .optimizers import (CYCLED, DEFAULT_WEIGHT_DECAY, LR_FREE, OPTIMIZERS, adapted_lr,  # noqa: F401
                         build_optimizer, schedule_trace)
from .provenance import (PROVENANCE_COLUMNS, PROVENANCE_TAIL, default_threads, flush_subnormals,  # noqa: F401
                         git_commit, provenance, set_threads)

INITS = ("default", "lecun")


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
    ID_DEFAULTS = {"dataset": "mnist"}

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
    dataset: str = "mnist"

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
        if self.dataset not in DATASETS:
            raise _allowed("dataset", self.dataset, DATASETS)
        if not is_number(self.lr) or not self.lr > 0 or not math.isfinite(self.lr):
            raise ValueError(f"lr={self.lr!r} is not allowed; the (peak) learning rate must be a finite "
                             f"number > 0")
        for name, low in (("epochs", 1), ("batch_size", 1), ("seed", 0)):
            value = getattr(self, name)
            if not is_int(value) or value < low:
                raise ValueError(f"{name}={value!r} is not allowed; it must be an int >= {low}")
            object.__setattr__(self, name, int(value))
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
        if momentum != CYCLED and not (is_number(momentum) and 0 <= momentum < 1):
            raise ValueError(f"momentum={self.momentum!r} is not allowed; use 'cycled' or a number in [0, 1)")
        object.__setattr__(self, "momentum", momentum if momentum == CYCLED else float(momentum))
        wd = DEFAULT_WEIGHT_DECAY[self.optimizer] if self.weight_decay is None else self.weight_decay
        if not is_number(wd) or not 0 <= wd < math.inf:
            raise ValueError(f"weight_decay={self.weight_decay!r} is not allowed; it must be a finite "
                             f"number >= 0")
        object.__setattr__(self, "weight_decay", float(wd))
        object.__setattr__(self, "lr", float(self.lr))

    def id_extras(self) -> dict:
        """The constants of the run's schedule (warm-up share, cooldown share, milestones)."""
        constants = schedule_constants(self.schedule)
        return {"schedule_constants": constants} if constants else {}

    def legacy_run_id(self) -> str:
        """The id this run had in the store before schema 2 (a hash of the config fields alone)."""
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k != "dataset"}
        return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]

    # -- as an entry of a grid (nbsupport.grid): its table's columns, how it is made and checked --------------

    ENTRY = "run"
    HAS_PREDICTIONS = True
    CHECKED = ("train_loss", "train_acc", "val_loss", "val_acc")
    FLOAT_COLUMNS = ("lr", "weight_decay", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
                     "final_loss_avg", "peak_loss_avg", "peak_step", "nan_step", "seconds", "adapted_lr")
    INT_COLUMNS = ("epochs", "seed", "batch_size", "steps_per_epoch", "threads")

    @classmethod
    def columns(cls):
        return record_columns()

    @classmethod
    def legacy_columns(cls):
        return LEGACY_RECORD_COLUMNS

    @classmethod
    def older_columns(cls):
        """Earlier headers of schema 2 that are still read (and appended to in their own layout)."""
        return (record_columns(adapted=False),)

    @classmethod
    def band(cls) -> str:
        return ", ".join(f"{m} ±{b:g}" for m, b in CHECK_BAND.items())

    def train(self, data=None, progress=None, stop_after=None) -> dict:
        return train_run(self, data, progress=progress, stop_after=stop_after)

    @staticmethod
    def match(record, row, epochs=None):
        return match_stored(record, row, epochs)

    def label(self) -> str:
        """A short human-readable description, for progress bars and messages."""
        return (f"{self.schedule} lr={self.lr:g} {self.optimizer} m={self.momentum} {self.activation}"
                f"/{self.init} {self.scaling} {self.epochs}ep seed={self.seed}")


@functools.lru_cache(maxsize=2)  # one data set's two scalings: about 190 MB each
def _dataset_cached(dataset, scaling):
    return dataset_tensors(dataset, scaling=scaling)


@torch.no_grad()
def per_image(model, x, y, device="cpu", batch_size=1000):
    """Each image's predicted class and cross-entropy loss (float32), with the model in eval mode."""
    was_training = model.training
    model.eval()
    preds, losses = [], []
    try:
        for i in range(0, len(x), batch_size):
            out = model(x[i:i + batch_size].to(device)).float()
            target = y[i:i + batch_size].to(device)
            preds.append(out.argmax(dim=1).cpu())
            losses.append(F.cross_entropy(out, target, reduction="none").cpu())
    finally:
        model.train(was_training)
    return torch.cat(preds).numpy(), torch.cat(losses).numpy()


def _dataset_tensors(config):
    """The default data of a run: its data set's split and test images, in its scaling."""
    (xt, yt), (xv, yv) = _dataset_cached(config.dataset, config.scaling)
    return (xt, yt), (xv, yv), _dataset_test_cached(config.dataset, config.scaling)


@functools.lru_cache(maxsize=2)
def _dataset_test_cached(dataset, scaling):
    return dataset_test_tensors(dataset, scaling=scaling)


def build_trainer(config, data, callbacks=(), *, device="cpu", progress=None, verbose=False):
    """The ``Trainer`` that trains ``config`` on ``data`` (``(train, valid, ...)`` pairs of tensors), with its
    train and validation loaders: ``(trainer, train_loader, valid_loader)``. The train loader shuffles with
    the config's seed; ``trainer_for`` builds the rest. ``train_run`` and ``probes.probe_run`` train through it.
    """
    (xt, yt), (xv, yv) = data[:2]
    train_loader = TensorLoader(xt, yt, config.batch_size, shuffle=True, seed=config.seed)
    valid_loader = TensorLoader(xv, yv, config.batch_size)
    trainer = trainer_for(config, train_loader, callbacks, device=device, progress=progress, verbose=verbose)
    return trainer, train_loader, valid_loader


def trainer_for(config, train_loader, callbacks=(), *, device="cpu", progress=None, verbose=False):
    """The ``Trainer`` of ``config`` over ``train_loader``: the model from the config's seed (initial weights,
    dropout masks), the config's optimizer and scheduler over all ``config.epochs * len(train_loader)`` steps,
    and its own callbacks (the lr and momentum recorder first, schedule-free AdamW's switch) before
    ``callbacks``, so those see every event last. ``device=None``: ``training.default_device()``.
    """
    seed_everything(config.seed)
    model = mnist_model(config.activation, self_normalizing=config.init == "lecun")
    total_steps = config.epochs * len(train_loader)
    optim = build_optimizer(config, model.parameters(), total_steps)
    scheduler = build_scheduler(config, optim, total_steps)
    own = [SchedulerStatsCallback(optim)]
    if config.schedule == "schedule_free":
        own.append(ScheduleFreeCallback(optim))
    return Trainer(model, optim, F.cross_entropy, scheduler, callbacks=own + list(callbacks), device=device,
                   progress=progress, verbose=verbose)


def train_run(config: RunConfig, data=None, *, device="cpu", progress=None, verbose=False, stop_after=None) -> dict:
    """Train ``config`` and return its flat record (see ``record_columns()`` for the fields).

    ``data`` is ``((x_train, y_train), (x_valid, y_valid))`` or the same with a third pair
    ``(x_test, y_test)``; by default the config's data set (``dataset``: MNIST or Fashion-MNIST) with the
    config's scaling, its 10,000 test images included.
    Runs train on the CPU by default, where a seeded run is reproducible on the same floating-point path
    (``nbsupport.fingerprint``). A run whose loss becomes NaN or infinite is a result too: ``nan_step`` is
    set and the later metrics are NaN.

    After training, every validation and test image is scored: ``record["predictions"]`` holds the arrays
    of the run's predictions file (``nbsupport.store.PREDICTION_ARRAYS``; None without test data), and
    ``test_loss``/``test_acc`` their means on the test images. That key is not a column: the grid command
    writes it to the run's own file.

    ``stop_after`` (epochs) trains only the first epochs of the run, with the schedule of all
    ``config.epochs``: the record's metrics are then those after its last epoch, and nothing is scored on the
    test images. It checks a long stored run on its first epoch (``retrain_stored(row, epochs=1)``).
    """
    if not isinstance(config, RunConfig):
        raise TypeError(f"config must be a RunConfig, got {type(config).__name__}")
    epochs_run = config.epochs if stop_after is None else stop_after
    if isinstance(epochs_run, bool) or not isinstance(epochs_run, numbers.Integral) or not (
            1 <= epochs_run <= config.epochs):
        raise ValueError(f"stop_after={stop_after!r}: give a whole number of epochs from 1 to the run's "
                         f"{config.epochs}, or None for all of them")
    epochs_run = int(epochs_run)
    data = data if data is not None else _dataset_tensors(config)
    if len(data) not in (2, 3):
        raise ValueError(f"data must be (train, valid) or (train, valid, test) pairs of tensors, got "
                         f"{len(data)} parts")
    (xv, yv) = data[1]
    test = data[2] if len(data) == 3 else None
    # last: every other callback sees the epoch's end first
    stop = [StopAfterEpochs(epochs_run)] if epochs_run < config.epochs else []
    trainer, train_loader, valid_loader = build_trainer(config, data, stop, device=device, progress=progress,
                                                        verbose=verbose)
    model, optim = trainer.model, trainer.optim
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
        record[metric] = values[-1] if len(values) == epochs_run else math.nan
    predictions = None
    if test is not None and epochs_run == config.epochs:
        val_pred, val_loss = per_image(model, xv, yv, device)
        test_pred, test_loss = per_image(model, test[0], test[1], device)
        predictions = {"val_pred": val_pred, "val_loss": val_loss, "test_pred": test_pred, "test_loss": test_loss}
        finished = nan_step is None
        record["test_loss"] = float(test_loss.astype("float64").mean()) if finished else math.nan
        record["test_acc"] = float((test_pred == test[1].numpy()).mean()) if finished else math.nan
    else:
        record.update(dict.fromkeys(TEST_METRICS, math.nan))
    record.update({
        "final_loss_avg": avg[-1] if avg and nan_step is None else math.nan,
        "peak_loss_avg": avg[peak_step] if avg else math.nan,
        "peak_step": peak_step + 1 if avg else None,
        "nan_step": nan_step,
        "steps_per_epoch": steps,
        "seconds": round(seconds, 3),
        "adapted_lr": adapted_lr(config, optim),
    })
    for metric in RECORD_METRICS:
        record[f"{metric}_epochs"] = json.dumps(per_epoch[metric])
    record.update(provenance(device))
    record["finished_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    record["predictions"] = predictions
    return record
