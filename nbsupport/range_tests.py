"""LR range tests as values: ``RangeTestConfig`` describes one, ``run_range_test`` runs it and returns a flat record.

The record is one row of a grid's results table (``nbsupport.grid``), like a training
run's. It stores the raw loss of every mini-batch (the test runs with
``diverge_factor=None``, so it stops only at a non-finite loss or at ``end_lr``);
smoothing and the early stop are applied afterwards by ``replay`` with any factor,
which gives exactly what ``lr_range_test`` would have returned with that factor,
because a test's steps do not depend on when it is stopped. Chapter 4 reads every
suggestion rule off these stored curves (``suggestions``).

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

import numpy as np
import torch
import torch.nn.functional as F

from .configs import StoredConfig, is_int, is_number
from .data import DATASETS, SCALINGS, TensorLoader, dataset_tensors
from .fingerprint import match_rule
from .lr_finder import (MODES, SmoothedStop, exponential_lrs, fastai_suggestions, lightning_suggestion,
                        linear_lrs, lr_range_test, suggest_lrs)
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
        return (linear_lrs if self.mode == "linear" else exponential_lrs)(self.start_lr, self.end_lr,
                                                                           self.num_steps)

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
    if match_rule(record, row)[0]:
        return True, record["losses"] == row["losses"] and record["valid"] == row["valid"]
    config = RangeTestConfig.from_record(row)

    def lowest(losses):
        kept, smoothed, diverged = replay(config.lrs, json.loads(losses))
        smoothed = smoothed[:-1] if diverged else smoothed
        return kept[min(range(len(smoothed)), key=smoothed.__getitem__)] if smoothed else math.nan

    a, b = lowest(record["losses"]), lowest(row["losses"])
    return False, bool(abs(math.log10(a / b)) <= math.log10(2)) if a > 0 and b > 0 else False


# -- reading a stored curve ------------------------------------------------------------------------------------------


def _stored(row):
    """A stored test's config, lrs, losses and evaluations (the row's JSON columns parsed, or taken as lists)."""
    parse = lambda value: json.loads(value) if isinstance(value, str) else list(value)  # noqa: E731
    config = RangeTestConfig.from_record(row)
    losses = parse(row["losses"])
    return config, config.lrs[:len(losses)], losses, parse(row["valid"])


def _own_suggestions(kept, smoothed, diverged):
    """``suggest_lrs`` on a replayed curve without its stopping point, as ``lr_range_test`` suggests."""
    usable = len(kept) - 1 if diverged else len(kept)
    return suggest_lrs(kept[:usable], smoothed[:usable]) if usable >= 3 else {}


def replay(lrs, losses, smooth=SMOOTH, diverge_factor=DIVERGE_FACTOR):
    """Smooth a raw curve and stop it as ``lr_range_test(smooth=..., diverge_factor=...)`` would have.

    Returns ``(lrs, smoothed, diverged)``: the points up to and including the one that stopped the test
    (a non-finite smoothed loss, or one above ``diverge_factor`` times the best before it), and whether it
    stopped. ``lr_range_test`` suggests from all but that last point when it stopped.
    """
    lrs, losses = list(lrs)[:len(losses)], list(losses)
    if len(lrs) != len(losses):
        raise ValueError(f"replay: {len(losses)} losses but only {len(lrs)} lrs")
    if not 0 < smooth <= 1:
        raise ValueError(f"smooth (the weight of each new loss) must be in (0, 1], got {smooth!r}")
    smoother, smoothed = SmoothedStop(smooth, diverge_factor), []
    for k, loss in enumerate(losses):
        value, stop = smoother.add(loss)
        smoothed.append(value)
        if stop:
            return lrs[:k + 1], smoothed, True
    return lrs, smoothed, False


def blow_up_lr(lrs, losses, smooth=SMOOTH, diverge_factor=DIVERGE_FACTOR):
    """The lr at which a replayed test stops (None if it never does)."""
    kept, _, diverged = replay(lrs, losses, smooth, diverge_factor)
    return kept[-1] if diverged else None


#: Every suggestion ``suggestions`` can read off a curve, with the family it belongs to.
RULES = {
    "steepest": "nbsupport", "minimum/10": "nbsupport", "valley": "nbsupport",
    "blow-up/10": "nbsupport", "blow-up/2": "nbsupport",
    "fastai minimum": "fastai", "fastai steep": "fastai", "fastai valley": "fastai", "fastai slide": "fastai",
    "Lightning <2.5.3": "Lightning", "Lightning >=2.5.3": "Lightning",
    "torch-lr-finder": "torch-lr-finder",
    "accuracy peak": "Smith",
}


def suggestions(row, smooth=SMOOTH, diverge_factor=DIVERGE_FACTOR, library_smooth=LIBRARY_SMOOTH):
    """``{rule: lr}`` for a stored range test (a results row, strings or numbers), rules as in ``RULES``.

    - nbsupport's own (``suggest_lrs``) on the curve replayed with ``smooth`` and ``diverge_factor``, and
      a tenth and a half of the lr where it stopped (omitted if it never stopped);
    - fastai's four rules and Lightning's (slope against the index, as before Lightning 2.5.3, and against
      the lr, as from 2.5.3; see ``lightning_suggestion``)
      on the curve smoothed and stopped as those libraries do (weight ``library_smooth`` per new loss, by
      default theirs, ``LIBRARY_SMOOTH``; stop at ``LIBRARY_DIVERGE``; fastai's trimming with ``num_it`` =
      the test's steps);
    - for a torch-lr-finder row only ``"torch-lr-finder"``: its ``plot(suggest_lr=True)`` rule, the
      steepest ``np.gradient`` against the index after dropping 10 points at the start and 5 at the end;
    - with evaluations, ``"accuracy peak"``: the lr of the best validation accuracy (Smith's upper bound,
      read as where accuracy stops rising).
    A rule that finds nothing (too few points) is left out.
    """
    config, lrs, losses, valid = _stored(row)
    out = {}
    if config.tool == "torch_lr_finder":
        begin, end = TLF_SKIP
        if len(losses) >= begin + end + 2:
            kept = np.asarray(losses[begin:-end])
            out["torch-lr-finder"] = float(lrs[begin + int(np.argmin(np.gradient(kept)))])
        return out
    kept, smoothed, diverged = replay(lrs, losses, smooth, diverge_factor)
    out.update(_own_suggestions(kept, smoothed, diverged))
    if diverged:
        out["blow-up/10"] = kept[-1] / 10
        out["blow-up/2"] = kept[-1] / 2
    lib_lrs, lib_smoothed, _ = replay(lrs, losses, library_smooth, LIBRARY_DIVERGE)
    try:
        for rule, lr in fastai_suggestions(lib_lrs, lib_smoothed, num_it=config.num_steps).items():
            out[f"fastai {rule}"] = lr
    except ValueError:
        pass
    for name, against in (("Lightning <2.5.3", "index"), ("Lightning >=2.5.3", "lr")):
        lr = lightning_suggestion(lib_lrs, lib_smoothed, against=against)
        if lr is not None:
            out[name] = lr
    if valid:
        out["accuracy peak"] = float(max(valid, key=lambda v: v["accuracy"])["lr"])
    return out


def trained_lr(lr):
    """The max_lr a suggestion is trained at: rounded to 3 significant digits, so that a grid's run ids do not
    hang on the last bits of a float."""
    return float(f"{lr:.3g}")


def suggestion_rows(df, smooth=SMOOTH, diverge_factor=DIVERGE_FACTOR, library_smooth=LIBRARY_SMOOTH):
    """One row per (stored range test, rule): the test's config, ``rule``, ``family`` (``RULES``), ``lr``
    (the suggestion) and ``max_lr`` (``trained_lr(lr)``), from a table loaded with ``load_results``."""
    import pandas as pd

    rows = []
    for _, test in df.iterrows():
        for rule, lr in suggestions(test, smooth, diverge_factor, library_smooth).items():
            rows.append({"test_id": test["run_id"], **{f: test[f] for f in RangeTestConfig.fields()},
                         "rule": rule, "family": RULES[rule], "lr": lr, "max_lr": trained_lr(lr)})
    return pd.DataFrame(rows)


def range_test_result(row, smooth=SMOOTH, diverge_factor=DIVERGE_FACTOR):
    """A stored test as the ``LRFinderResult`` ``lr_range_test`` would have returned with this smoothing and
    stop (for ``plot_lr_finder``): up to the stopping point, with this package's suggestions. A torch-lr-finder
    row keeps its own (smoothed) curve and stop, as both ``losses`` and ``smoothed``."""
    from .lr_finder import LRFinderResult

    config, lrs, losses, valid = _stored(row)
    if config.tool == "torch_lr_finder":
        return LRFinderResult(lrs, losses, losses, suggestions(row), len(losses) < config.num_steps,
                              config.mode, valid)
    kept, smoothed, diverged = replay(lrs, losses, smooth, diverge_factor)
    return LRFinderResult(kept, losses[:len(kept)], smoothed, _own_suggestions(kept, smoothed, diverged),
                          diverged, config.mode, valid)


# -- chapter 4's calibration plan, shared by its grids and the chapter -----------------------------------------------

#: The exponential test: fastai's default range (1e-7 to 10); run at 100 (fastai's and Lightning's) and 300 steps.
EXPONENTIAL = dict(tool="nbsupport", mode="exponential", start_lr=1e-7, end_lr=10.0)
#: Smith's linear test: two epochs (2 x 1,719 steps), evaluated on the validation set 20 times.
LINEAR = dict(tool="nbsupport", mode="linear", start_lr=1e-5, end_lr=0.05, num_steps=3438, eval_every=171)
TORCH_LR_FINDER = dict(tool="torch_lr_finder", mode="exponential", start_lr=1e-7, end_lr=10.0, num_steps=100)
#: Whose suggestions are trained (``lr_finder_calibration``): the seed-0 test of each of these settings, read by
#: the rules named (None: every rule the test gives), as a practitioner runs one test.
CALIBRATION = (
    (dict(EXPONENTIAL, num_steps=100), None),
    (LINEAR, ("steepest", "minimum/10", "valley", "blow-up/10", "blow-up/2", "accuracy peak")),
    (TORCH_LR_FINDER, None),
)


def calibrated_points(table):
    """The rows of ``suggestion_rows`` whose max_lr the calibration grid trains, in ``CALIBRATION``'s order."""
    import pandas as pd

    points = suggestion_rows(table[table["seed"] == 0])
    keep = []
    for settings, rules in CALIBRATION:
        match = points[list(settings)].eq(pd.Series(settings)).all(axis=1)
        if rules is not None:
            match &= points["rule"].isin(rules)
        keep.append(points[match])
    return pd.concat(keep, ignore_index=True)
