"""Paired comparisons of stored runs: two sets of rows, paired by seed, scored on the same images.

``compare_runs(a, b)`` takes two groups of rows of results tables (as ``load_results`` returns them), pairs
row ``seed = s`` of one with ``seed = s`` of the other, loads every run's predictions on the 10,000 test
images (or the 5,000 validation images, ``split="val"``) and hands them to ``nbsupport.paired``.
"""

import numpy as np

from .paired import MARGIN_ERROR, MARGIN_LOSS, holm, paired_compare

SPLITS = ("test", "val")


def _stacked(rows, split):
    from .grid import load_predictions

    pred, loss, labels = [], [], None
    for row in rows.itertuples():
        if not isinstance(getattr(row, "grid", None), str) or str(row.store_schema) in ("", "1", "nan"):
            raise ValueError(f"run {row.run_id} has no stored predictions (a table stored before schema 2); "
                             f"re-train its grid with python -m nbsupport.grid run <grid>")
        arrays = load_predictions(row.grid, row.run_id)
        pred.append(arrays[f"{split}_pred"])
        loss.append(arrays[f"{split}_loss"].astype(np.float64))
        labels = arrays[f"{split}_labels"]
    return np.stack(pred), np.stack(loss), labels


def paired_rows(a, b):
    """``(a, b)`` sorted by seed, after checking that both hold exactly the same seeds, once each."""
    for name, rows in (("a", a), ("b", b)):
        if rows.seed.duplicated().any():
            raise ValueError(f"{name} holds seed(s) {sorted(set(rows.seed[rows.seed.duplicated()]))} more "
                             f"than once; select one configuration per group")
    if set(a.seed) != set(b.seed):
        raise ValueError(f"the two groups must hold the same seeds to be paired: a has {sorted(a.seed)}, "
                         f"b has {sorted(b.seed)}")
    return a.sort_values("seed"), b.sort_values("seed")


def compare_runs(a, b, *, metric="error", margin="default", split="test"):
    """The paired difference ``a`` minus ``b`` in test ``metric`` ("error" or "loss"), a ``PairedResult``.

    ``a`` and ``b`` are rows of results tables (each with its ``grid`` column, as ``load_results`` adds it),
    one per seed. ``margin="default"`` is the book's equivalence margin (``MARGIN_ERROR`` for error,
    ``MARGIN_LOSS`` for loss); None asks for no equivalence verdict.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not allowed; use 'test' (for comparisons) or 'val' (for choices)")
    a, b = paired_rows(a, b)
    if margin == "default":
        margin = MARGIN_ERROR if metric == "error" else MARGIN_LOSS
    a_pred, a_loss, labels = _stacked(a, split)
    b_pred, b_loss, _ = _stacked(b, split)
    return paired_compare(a_pred, b_pred, labels, a_loss, b_loss, metric=metric, margin=margin)


def compare_to_reference(groups, reference, *, metric="error", margin="default", split="test"):
    """Each group of ``groups`` (``{label: rows}``) against ``reference`` rows, with Holm's correction for the
    number of comparisons: ``{label: (result, adjusted verdict)}``."""
    results = {label: compare_runs(rows, reference, metric=metric, margin=margin, split=split)
               for label, rows in groups.items()}
    verdicts = holm(list(results.values()))
    return {label: (result, verdict) for (label, result), verdict in zip(results.items(), verdicts)}


def compare_values(a, b, column, *, confidence=0.95):
    """The paired difference in a per-run number (``column``, e.g. ``peak_loss_avg``): mean of the per-seed
    differences ``a - b`` and its t interval over seeds, as ``(diff, low, high)``. No image sample here: a
    run's number is not an average over test images."""
    from scipy import stats

    a, b = paired_rows(a, b)
    d = a[column].to_numpy(float) - b[column].to_numpy(float)
    if len(d) < 2 or not np.isfinite(d).all():
        raise ValueError(f"{column}: need at least 2 paired seeds with finite values, got {d.tolist()}")
    half = stats.t.ppf(0.5 + confidence / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def versus_reference(runs, column, reference, *, metric="error", margin="default", split="test"):
    """Every other value of ``column`` in ``runs`` against its ``reference`` value, Holm-corrected.

    ``runs`` holds one configuration per value of ``column`` (e.g. the schedules of one budget), one row per
    seed. Returns ``{value: (result, adjusted verdict)}`` in the order the values first appear, as
    ``compare_to_reference`` does with the groups made for it.
    """
    values = list(dict.fromkeys(runs[column]))
    if reference not in values:
        raise ValueError(f"reference {reference!r} is not among the values of {column!r}: {values}")
    groups = {v: runs[runs[column] == v] for v in values if v != reference}
    if not groups:
        raise ValueError(f"runs hold only the reference {reference!r}; nothing to compare it with")
    return compare_to_reference(groups, runs[runs[column] == reference], metric=metric, margin=margin,
                                split=split)


#: The four verdicts of a paired comparison (``nbsupport.paired``).
VERDICTS = ("better", "worse", "equivalent", "undecided")
#: How an answer measured on one data set looks on another: both verdicts are those of the same comparison.
CARRIED = ("same", "stronger", "weaker", "reversed")


def carried_over(first, second):
    """How the verdict ``second`` (the new data set) relates to ``first`` (the old one) for one comparison.

    'same' when they agree; 'reversed' when one is better and the other worse; 'stronger' when only the
    new one is decided (better or worse); 'weaker' when only the old one is. Between the two undecided
    kinds, 'undecided' then 'equivalent' is 'stronger' and the other way round 'weaker'.
    """
    for name, v in (("first", first), ("second", second)):
        if v not in VERDICTS:
            raise ValueError(f"{name}={v!r} is not a verdict; use one of {VERDICTS}")
    decided = ("better", "worse")
    if first == second:
        return "same"
    if first in decided and second in decided:
        return "reversed"
    if first in decided:
        return "weaker"
    if second in decided or second == "equivalent":
        return "stronger"
    return "weaker"


#: Verdicts that show a configuration at least as good as its reference (lower error, or within the margin).
AT_LEAST_AS_GOOD = ("better", "equivalent")


def epochs_needed(verdicts):
    """The fewest epochs from which on a configuration was shown at least as good as its reference.

    ``verdicts`` maps a budget in epochs to the verdict of the configuration trained that long against one
    fixed reference (e.g. one-cycle after one epoch). Returns the smallest budget whose verdict, and the
    verdict of every larger budget measured, is 'better' or 'equivalent'; None when the largest budget's
    is not (more epochs than were measured, or undecided).
    """
    if not verdicts:
        raise ValueError("verdicts is empty; give {epochs: verdict} for at least one budget")
    bad = {e: v for e, v in verdicts.items() if v not in VERDICTS}
    if bad:
        raise ValueError(f"{bad} are not verdicts; use better, worse, equivalent or undecided")
    needed = None
    for epochs in sorted(verdicts, reverse=True):
        if verdicts[epochs] not in AT_LEAST_AS_GOOD:
            break
        needed = epochs
    return needed
