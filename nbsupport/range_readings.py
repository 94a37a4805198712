"""Reading stored LR range tests: every suggestion rule off a stored curve, and chapter 5's calibration plan.

A stored test (``nbsupport.range_tests``) holds the raw loss of every step; ``replay`` smooths and stops it as
``lr_range_test`` would have with any smoothing and stop, ``suggestions`` reads every rule of ``RULES`` off it.
"""

import json

import numpy as np

from .lr_finder import SmoothedStop, fastai_suggestions, lightning_suggestion, suggest_before_stop
from .range_tests import DIVERGE_FACTOR, LIBRARY_DIVERGE, LIBRARY_SMOOTH, SMOOTH, TLF_SKIP, RangeTestConfig


def _stored(row):
    """A stored test's config, lrs, losses and evaluations (the row's JSON columns parsed, or taken as lists)."""
    parse = lambda value: json.loads(value) if isinstance(value, str) else list(value)  # noqa: E731
    config = RangeTestConfig.from_record(row)
    losses = parse(row["losses"])
    return config, config.lrs[:len(losses)], losses, parse(row["valid"])


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
    out.update(suggest_before_stop(kept, smoothed, diverged))
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
    return LRFinderResult(kept, losses[:len(kept)], smoothed, suggest_before_stop(kept, smoothed, diverged),
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
