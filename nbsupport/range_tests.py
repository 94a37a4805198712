"""LR range tests as values: ``RangeTestConfig`` describes one, ``run_range_test`` runs it and returns a flat record.

The record is one row of a grid's results table (``nbsupport.grid``), like a training
run's. It stores the raw loss of every mini-batch (the test runs with
``diverge_factor=None``, so it stops only at a non-finite loss or at ``end_lr``);
smoothing and the early stop are applied afterwards by ``replay`` with any factor,
which gives exactly what ``lr_range_test`` would have returned with that factor,
because a test's steps do not depend on when it is stopped. Chapter 5 reads every
suggestion rule off these stored curves (``suggestions``, in ``nbsupport.range_readings``).

``tool="torch_lr_finder"`` runs the ``torch-lr-finder`` package's ``LRFinder``
instead, with its defaults (``smooth_f=0.05``, ``diverge_th=5``). That package
records only its *smoothed* loss (a moving average without bias correction), so
its rows store that curve, as the package reports it.
"""

import contextlib
import dataclasses
import hashlib
import io
import json
import math
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone

import torch
import torch.nn.functional as F

from .configs import StoredConfig, is_int, is_number
from ._lazy import lazy_reexports
from .data import DATASETS, SCALINGS, TensorLoader, dataset_tensors
from .fingerprint import match_rule
from .lr_finder import MODES, lr_range_test, sweep_lrs
from .models import mnist_model
from .provenance import PROVENANCE_TAIL, provenance
from .repro import seed_everything

TOOLS = ("nbsupport", "torch_lr_finder")
#: This package's defaults for reading a curve: smoothing weight per new loss and the early-stop factor.
SMOOTH, DIVERGE_FACTOR = 0.05, 4.0
#: fastai's (``lr_find``: ``Recorder`` beta 0.98, stop at 4x the best) and Lightning's (``beta=0.98``,
#: ``early_stop_threshold=4.0``) smoothing and stop, the same for both.
LIBRARY_SMOOTH, LIBRARY_DIVERGE = 0.02, 4.0
#: torch-lr-finder's plot trims these many points before suggesting (``plot(skip_start=10, skip_end=5)``).
TLF_SKIP = (10, 5)


@dataclass(frozen=True)
class RangeTestConfig(StoredConfig):
    """One LR range test of the page's model (SELU, default init) with AdamW (PyTorch defaults, betas (0.9,
    0.999), weight decay 0.01) on MNIST.

    ``mode`` is how the lr grows from ``start_lr`` to ``end_lr`` over ``num_steps`` mini-batches. With
    ``eval_every`` > 0 the model is evaluated on the 5,000 validation images every that many steps (Smith's
    test reads validation accuracy). ``tool`` is ``"nbsupport"`` (``lr_range_test``) or ``"torch_lr_finder"``
    (exponential mode only, no evaluation). Invalid values are refused here, before anything runs.
    """

    INT_FIELDS = ("num_steps", "seed", "eval_every", "batch_size")
    FLOAT_FIELDS = ("start_lr", "end_lr")
    ID_DEFAULTS = {"dataset": "mnist"}
    KIND = "range_test"

    tool: str = "nbsupport"
    mode: str = "exponential"
    start_lr: float = 1e-7
    end_lr: float = 10.0
    num_steps: int = 100
    seed: int = 0
    scaling: str = "page"
    eval_every: int = 0
    batch_size: int = 32
    dataset: str = "mnist"

    def __post_init__(self):
        if self.tool not in TOOLS:
            raise ValueError(f"tool={self.tool!r} is not allowed; use one of {TOOLS}")
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r} is not allowed; use one of {MODES}")
        if self.scaling not in SCALINGS:
            raise ValueError(f"scaling={self.scaling!r} is not allowed; use one of {SCALINGS}")
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset={self.dataset!r} is not allowed; use one of {DATASETS}")
        for name in ("start_lr", "end_lr"):
            value = getattr(self, name)
            if not is_number(value) or not (0 < value < math.inf):
                raise ValueError(f"{name}={value!r} is not allowed; it must be a finite number > 0")
            object.__setattr__(self, name, float(value))
        if not self.end_lr > self.start_lr:
            raise ValueError(f"end_lr={self.end_lr!r} must be larger than start_lr={self.start_lr!r}")
        for name, low in (("num_steps", 3), ("seed", 0), ("eval_every", 0), ("batch_size", 1)):
            value = getattr(self, name)
            if not is_int(value) or value < low:
                raise ValueError(f"{name}={value!r} is not allowed; it must be an int >= {low}")
            object.__setattr__(self, name, int(value))
        if self.eval_every > self.num_steps:
            raise ValueError(f"eval_every={self.eval_every} is more than num_steps={self.num_steps}: the test "
                             f"would never evaluate; use 0 (no evaluation) or at most num_steps")
        if self.tool == "torch_lr_finder" and (self.mode != "exponential" or self.eval_every):
            raise ValueError("tool='torch_lr_finder' runs here in exponential mode without evaluation only "
                             f"(got mode={self.mode!r}, eval_every={self.eval_every})")

    def legacy_run_id(self) -> str:
        """The id this test had in the store before schema 2."""
        fields = {k: v for k, v in dataclasses.asdict(self).items() if k != "dataset"}
        return hashlib.sha1(json.dumps({"kind": "range_test", **fields}, sort_keys=True).encode()).hexdigest()[:12]

    # -- as an entry of a grid (nbsupport.grid) --------------------------------------------------------------

    ENTRY = "range_test"
    HAS_PREDICTIONS = False
    CHECKED = ("steps_run",)
    FLOAT_COLUMNS = ("start_lr", "end_lr", "seconds")
    INT_COLUMNS = ("num_steps", "seed", "eval_every", "batch_size", "steps_run", "threads")

    @classmethod
    def columns(cls):
        return range_test_columns()

    @classmethod
    def older_columns(cls):
        return ()

    @classmethod
    def legacy_columns(cls):
        return LEGACY_RANGE_TEST_COLUMNS

    @classmethod
    def band(cls) -> str:
        return "lowest smoothed loss within a factor of 2 in lr"

    def train(self, data=None, progress=None) -> dict:
        return run_range_test(self, data, progress=progress)

    @staticmethod
    def match(record, row):
        return match_range_test(record, row)

    @property
    def lrs(self):
        """The lr of each step, as the test sets them (torch-lr-finder's exponential grid is the same)."""
        return sweep_lrs(self.mode, self.start_lr, self.end_lr, self.num_steps)

    def label(self) -> str:
        evals = f" eval/{self.eval_every}" if self.eval_every else ""
        return (f"range test ({self.tool}, {self.mode} {self.start_lr:g}..{self.end_lr:g}, {self.num_steps} "
                f"steps{evals}) {self.scaling} seed={self.seed}")


def _number(value):
    """A float written with 9 significant digits (exact for float32 values), as JSON-ready Python float."""
    return float(f"{value:.9g}")


def _optimizer(model, lr):
    return torch.optim.AdamW(model.parameters(), lr=lr)


def _run_nbsupport(config, xt, yt, xv, yv, progress):
    model = mnist_model()
    optim = _optimizer(model, config.start_lr)
    train = TensorLoader(xt, yt, config.batch_size, shuffle=True, seed=config.seed)
    valid = TensorLoader(xv, yv, config.batch_size) if config.eval_every else None
    result = lr_range_test(model, optim, F.cross_entropy, train, start_lr=config.start_lr, end_lr=config.end_lr,
                           num_steps=config.num_steps, diverge_factor=None, device="cpu", progress=progress,
                           mode=config.mode, valid_loader=valid, eval_every=config.eval_every or None)
    valid_records = [{"step": v["step"], "lr": v["lr"], "loss": _number(v["loss"]), "accuracy": v["accuracy"]}
                     for v in result.valid]
    return result.losses, valid_records


def _run_torch_lr_finder(config, xt, yt):
    from torch.utils.data import DataLoader, TensorDataset
    from torch_lr_finder import LRFinder

    model = mnist_model()
    optim = _optimizer(model, config.start_lr)
    generator = torch.Generator().manual_seed(config.seed)
    loader = DataLoader(TensorDataset(xt, yt), batch_size=config.batch_size, shuffle=True, generator=generator)
    finder = LRFinder(model, optim, F.cross_entropy, device="cpu")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")  # it calls scheduler.get_lr() outside step(), which warns
        finder.range_test(loader, end_lr=config.end_lr, num_iter=config.num_steps, step_mode="exp")
    return list(finder.history["loss"]), []


def run_range_test(config: RangeTestConfig, data=None, *, progress=None) -> dict:
    """Run ``config`` and return its flat record (columns: ``range_test_columns()``).

    ``data`` is ``((x_train, y_train), (x_valid, y_valid))``; by default the config's data set in its scaling.

    ``losses`` (JSON) holds the loss of each step taken: raw for ``tool="nbsupport"``, the last one possibly
    non-finite (where the test stopped); torch-lr-finder's smoothed loss for ``tool="torch_lr_finder"``.
    ``valid`` (JSON) holds the evaluations: ``step``, ``lr``, ``loss``, ``accuracy``.
    """
    if not isinstance(config, RangeTestConfig):
        raise TypeError(f"config must be a RangeTestConfig, got {type(config).__name__}")
    (xt, yt), (xv, yv) = data if data is not None else dataset_tensors(config.dataset, scaling=config.scaling)
    seed_everything(config.seed)
    start = time.perf_counter()
    if config.tool == "torch_lr_finder":
        losses, valid = _run_torch_lr_finder(config, xt, yt)
    else:
        losses, valid = _run_nbsupport(config, xt, yt, xv, yv, progress)
    seconds = time.perf_counter() - start
    record = {"run_id": config.run_id, **dataclasses.asdict(config),
              "steps_run": len(losses), "seconds": round(seconds, 3),
              "losses": json.dumps([_number(v) for v in losses]), "valid": json.dumps(valid)}
    record.update(provenance("cpu"))
    record["finished_at"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return record


def range_test_columns():
    """The columns of a range-test results row, in order (the table's header)."""
    return (("run_id",) + RangeTestConfig.fields() + ("steps_run", "seconds", "losses", "valid") + PROVENANCE_TAIL)


#: The header of a table of range tests stored before schema 2.
LEGACY_RANGE_TEST_COLUMNS = (
    ("run_id", "tool", "mode", "start_lr", "end_lr", "num_steps", "seed", "scaling", "eval_every", "batch_size",
     "steps_run", "seconds", "losses", "valid")
    + ("torch_version", "hardware", "threads", "nbsupport_version", "git_commit", "finished_at"))


def match_range_test(record, row):
    """``(exact, ok)`` for a re-run range test: on the row's floating-point path every recorded loss must
    agree exactly; elsewhere the lr of the lowest smoothed loss must agree within a factor of 2."""
    from .range_readings import replay

    if match_rule(record, row)[0]:
        return True, record["losses"] == row["losses"] and record["valid"] == row["valid"]
    config = RangeTestConfig.from_record(row)

    def lowest(losses):
        kept, smoothed, diverged = replay(config.lrs, json.loads(losses))
        smoothed = smoothed[:-1] if diverged else smoothed
        return kept[min(range(len(smoothed)), key=smoothed.__getitem__)] if smoothed else math.nan

    a, b = lowest(record["losses"]), lowest(row["losses"])
    return False, bool(abs(math.log10(a / b)) <= math.log10(2)) if a > 0 and b > 0 else False


# Reading stored curves and chapter 5's calibration plan live in ``nbsupport.range_readings``; their names are
# re-exported here (lazily: that module imports this one).
__getattr__, __dir__ = lazy_reexports(__name__, {"range_readings": (
    "CALIBRATION", "EXPONENTIAL", "LINEAR", "RULES", "TORCH_LR_FINDER", "blow_up_lr", "calibrated_points",
    "range_test_result", "replay", "suggestion_rows", "suggestions", "trained_lr")})
