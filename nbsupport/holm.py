"""Holm's step-down correction for a family of comparisons (``nbsupport.paired`` results or plain p-values)."""

from numbers import Real

import numpy as np


def holm(items, *, alpha=None):
    """Holm's step-down correction for several comparisons, e.g. each configuration against one reference.

    Given p-values: returns a bool array, True where the hypothesis is
    rejected at family-wise level ``alpha`` (default 0.05). Given
    ``PairedResult``s: returns their adjusted verdicts, in order
    (``alpha`` defaults to 1 - their confidence). Holm runs on the
    difference p-values ("better"/"worse" where rejected) and, separately, on
    the equivalence p-values of the results with a margin ("equivalent" where
    rejected and not better/worse); each family keeps its error rate at
    ``alpha``. With one comparison the verdict is unchanged.
    """
    items = list(items)
    if not items:
        raise ValueError("holm needs at least one p-value or PairedResult")
    results = [hasattr(x, "p_value") for x in items]
    if all(results):
        return _holm_verdicts(items, alpha)
    if any(results):
        raise ValueError("give holm either p-values or PairedResults, not a mix")
    return holm_adjust(items) <= _check_alpha(0.05 if alpha is None else alpha)


def holm_adjust(pvalues) -> np.ndarray:
    """Holm-adjusted p-values, in the input order: reject where adjusted p <= alpha."""
    p = np.asarray(pvalues, dtype=float).ravel()
    if p.size == 0 or not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"p-values must be numbers in [0, 1], got {p.tolist()}")
    order = np.argsort(p, kind="stable")
    k = p.size
    stepped = np.minimum(1.0, np.maximum.accumulate((k - np.arange(k)) * p[order]))
    out = np.empty(k)
    out[order] = stepped
    return out


def _holm_verdicts(results, alpha):
    levels = {r.confidence for r in results}
    if alpha is None and len(levels) > 1:
        raise ValueError(f"the results have different confidence levels {sorted(levels)}; pass alpha=")
    alpha = _check_alpha(1 - levels.pop() if alpha is None else alpha)
    differs = holm_adjust([r.p_value for r in results]) <= alpha
    with_margin = [k for k, r in enumerate(results) if r.margin is not None]
    equivalent = np.zeros(len(results), dtype=bool)
    if with_margin:
        equivalent[with_margin] = holm_adjust([results[k].p_equivalent for k in with_margin]) <= alpha
    return [("better" if r.diff < 0 else "worse") if dif else "equivalent" if eq else "undecided"
            for r, dif, eq in zip(results, differs, equivalent)]


def _check_alpha(alpha):
    if not (isinstance(alpha, Real) and 0 < alpha < 1):
        raise ValueError(f"alpha={alpha!r} is not allowed; give a family-wise level in (0, 1), e.g. 0.05")
    return float(alpha)
