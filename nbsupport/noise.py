"""A yardstick for noise: aggregate runs over seeds, and decide whether two configurations really differ.

Two sources of noise sit under every accuracy in this book. The seed (initial
weights, dropout masks, batch order) moves a run's result; we measure that
spread over seeds. And the validation set is one sample of 5,000 images: an
accuracy ``p`` measured on it has a binomial standard error
``sqrt(p (1 - p) / 5000)`` (about 0.0025 at p = 0.97) with respect to the
accuracy on new images. A difference between two configurations is called
real only when it exceeds ``Z`` times both combined.
"""

import math
from dataclasses import dataclass

import numpy as np

VALID_SIZE = 5_000
#: A difference counts as real when it is larger than Z combined standard errors (about 95% two-sided).
Z = 2.0


def binomial_se(acc, n=VALID_SIZE):
    """Standard error of an accuracy ``acc`` measured on ``n`` independent images."""
    acc = np.asarray(acc, dtype=float)
    if np.any((acc < 0) | (acc > 1)):
        raise ValueError(f"an accuracy must be in [0, 1], got {acc!r}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} is not allowed; it must be a positive int (the number of images)")
    se = np.sqrt(acc * (1 - acc) / n)
    return float(se) if se.ndim == 0 else se


def summarize(df, by, metrics=("val_acc",)):
    """Mean, standard deviation (over seeds, ddof=1), min, max and count of ``metrics`` per group of ``by``.

    Returns a flat DataFrame with columns ``<metric>_mean``, ``_sd``, ``_min``,
    ``_max`` and ``n`` (runs in the group), one row per group.
    """
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in by + list(metrics) if c not in df.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in the table; it has {list(df.columns)}")
    grouped = df.groupby(by, sort=True)
    out = grouped.size().rename("n").to_frame()
    for m in metrics:
        stats = grouped[m].agg(["mean", "std", "min", "max"])
        stats.columns = [f"{m}_mean", f"{m}_sd", f"{m}_min", f"{m}_max"]
        out = out.join(stats)
    return out.reset_index()


@dataclass(frozen=True)
class Comparison:
    """How two sets of accuracies compare: difference of means, its noise, and the verdict."""

    mean_a: float
    mean_b: float
    diff: float  # mean_a - mean_b
    noise: float  # combined standard error of the difference
    n_a: int
    n_b: int

    @property
    def z(self) -> float:
        return abs(self.diff) / self.noise if self.noise > 0 else math.inf

    @property
    def real(self) -> bool:
        return self.z > Z

    @property
    def verdict(self) -> str:
        return "real" if self.real else "within noise"

    def __str__(self):
        return (f"{self.mean_a:.4f} vs {self.mean_b:.4f}: difference {self.diff:+.4f}, noise (1 se) "
                f"{self.noise:.4f}, {self.z:.1f} se -> {self.verdict}")


def compare(a, b, *, n_valid=VALID_SIZE, seed_sd=None):
    """Compare the accuracies ``a`` and ``b`` (one per seed) of two configurations.

    The noise of the difference of their means combines, in quadrature, each
    side's seed spread divided by its number of seeds and each side's
    binomial standard error on ``n_valid`` images. A side with a single run
    has no measured spread: pass ``seed_sd`` (a spread measured elsewhere)
    or it is refused. The difference is real when it exceeds ``Z`` noises.
    For a metric that is not an accuracy (a loss, a gap), pass ``n_valid=None``:
    only the seed spread counts.
    """
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    for name, x in (("a", a), ("b", b)):
        if len(x) == 0:
            raise ValueError(f"{name} is empty: give at least one accuracy")
        if np.any(np.isnan(x)):
            raise ValueError(f"{name} contains NaN (a diverged run?): {x.tolist()}; compare finished runs only")
        if len(x) < 2 and seed_sd is None:
            raise ValueError(f"{name} has a single run, so its seed spread is unknown; pass seed_sd= "
                             f"(a spread measured over seeds elsewhere) or give at least 2 runs")

    def var_of_mean(x):
        sd = float(np.std(x, ddof=1)) if len(x) >= 2 else float(seed_sd)
        binomial = binomial_se(float(np.mean(x)), n_valid) ** 2 if n_valid is not None else 0.0
        return sd ** 2 / len(x) + binomial

    noise = math.sqrt(var_of_mean(a) + var_of_mean(b))
    return Comparison(float(a.mean()), float(b.mean()), float(a.mean() - b.mean()), noise, len(a), len(b))


def run_noise(acc_values, n_valid=VALID_SIZE):
    """The noise of a single run of a configuration: its seed spread and binomial error, combined."""
    x = np.asarray(acc_values, dtype=float)
    if len(x) < 2:
        raise ValueError("need at least 2 runs (seeds) to measure a spread")
    return math.sqrt(float(np.std(x, ddof=1)) ** 2 + binomial_se(float(x.mean()), n_valid) ** 2)


def compare_to_reference(df, column, reference, *, metric="val_acc", n_valid=VALID_SIZE):
    """Compare every value of ``column`` in ``df`` with ``reference``, on ``metric`` over the rows (seeds) of each.

    Returns a pandas DataFrame with one row per other value: its mean, the
    reference's mean, the difference, its noise, how many noises that is, and
    the verdict ("real" or "within noise").
    """
    import pandas as pd

    if reference not in set(df[column]):
        raise ValueError(f"reference {reference!r} is not among the values of {column!r}: {sorted(set(df[column]))}")
    ref = df.loc[df[column] == reference, metric].to_numpy()
    rows = []
    for value in dict.fromkeys(df[column]):
        if value == reference:
            continue
        c = compare(df.loc[df[column] == value, metric].to_numpy(), ref, n_valid=n_valid)
        rows.append({column: value, "mean": c.mean_a, "reference_mean": c.mean_b, "diff": c.diff,
                     "noise": c.noise, "z": c.z, "verdict": c.verdict})
    return pd.DataFrame(rows)


def mean_sd(summary, metric, digits=4):
    """'mean ± sd' strings for ``metric`` from a ``summarize`` table, one per row ('mean' alone where n = 1)."""
    means, sds = summary[f"{metric}_mean"], summary[f"{metric}_sd"]
    return [f"{m:.{digits}f}" if sd != sd else f"{m:.{digits}f} ± {sd:.{digits}f}" for m, sd in zip(means, sds)]

