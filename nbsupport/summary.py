"""Descriptive summaries of runs over seeds: mean, spread and count per configuration.

These describe; they do not compare. Whether two configurations differ is decided by the paired comparison
of ``nbsupport.comparisons`` (test images, paired by seed, with an interval), not by these spreads.
"""


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


def mean_sd(summary, metric, digits=4):
    """'mean ± sd' strings for ``metric`` from a ``summarize`` table, one per row ('mean' alone where n = 1)."""
    means, sds = summary[f"{metric}_mean"], summary[f"{metric}_sd"]
    return [f"{m:.{digits}f}" if sd != sd else f"{m:.{digits}f} ± {sd:.{digits}f}" for m, sd in zip(means, sds)]
