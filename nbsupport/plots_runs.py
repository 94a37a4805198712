"""Figures of stored runs across configurations: means against a setting, one dot per seed, forest plots of
paired comparisons, and how each schedule's lr was chosen. Each returns its matplotlib Figure (or Axes).
"""

import math

import matplotlib.pyplot as plt


def plot_metric_vs(df, x, y="val_acc", hue="schedule", ax=None, logx=False, title=None, labels=None,
                   order=None, single_run_sd=None):
    """Mean of ``y`` against ``x``, one line per value of ``hue``, error bars one standard deviation over seeds.

    ``df`` is a results table (one row per run). Points backed by a single run
    have no error bar; a line's legend entry says how many runs each point
    averages (``n=3``, or ``n=1-3`` where it varies). ``labels`` maps hue
    values to legend text; ``order`` fixes the order of the lines.
    ``single_run_sd`` gives single-run points an error bar of that size (a
    spread measured over seeds elsewhere) instead of none.
    """
    from .summary import summarize

    summary = summarize(df, [hue, x], metrics=(y,))
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    hues = order if order is not None else list(dict.fromkeys(summary[hue]))
    for i, value in enumerate(hues):
        part = summary[summary[hue] == value].sort_values(x)
        if part.empty:
            continue
        n_lo, n_hi = int(part["n"].min()), int(part["n"].max())
        n_text = f"n={n_lo}" if n_lo == n_hi else f"n={n_lo}-{n_hi}"
        label = f"{(labels or {}).get(value, value)} ({n_text})"
        yerr = part[f"{y}_sd"].fillna(single_run_sd if single_run_sd is not None else 0)
        ax.errorbar(part[x], part[f"{y}_mean"], yerr=yerr, marker="o", markersize=4,
                    capsize=3, linewidth=1.5, label=label, color=f"C{i % 10}")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(axis="both", linestyle="dotted", alpha=0.8)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def plot_seed_points(df, x, y="val_acc", ax=None, order=None, labels=None, hue=None, hue_order=None,
                     title=None):
    """Every run of a results table as a dot (one per seed) per category of ``x``, the mean as a bar.

    Runs whose ``y`` is NaN (diverged) are drawn as an ``x`` on the bottom edge
    and counted in the tick label. ``hue`` splits each category into side-by-side
    groups (one colour each). ``labels`` maps category values to tick text.
    """
    import numpy as np

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    cats = order if order is not None else list(dict.fromkeys(df[x]))
    hues = [None] if hue is None else (hue_order or list(dict.fromkeys(df[hue])))
    width = 0.8 / len(hues)
    finite = df[y][np.isfinite(df[y].astype(float))]
    bottom = float(finite.min()) if len(finite) else 0.0
    ticks = []
    for i, cat in enumerate(cats):
        n_nan = 0
        for j, h in enumerate(hues):
            part = df[(df[x] == cat) & ((df[hue] == h) if hue is not None else True)]
            values = part[y].astype(float).to_numpy()
            ok = values[np.isfinite(values)]
            n_nan += int((~np.isfinite(values)).sum())
            centre = i - 0.4 + width * (j + 0.5)
            color = f"C{j % 10}"
            spread = np.linspace(-width / 4, width / 4, max(len(ok), 1))[:len(ok)]
            ax.plot(centre + spread, ok, "o", color=color, markersize=4, alpha=0.8,
                    label=(str(h) if h is not None and i == 0 else None))
            if len(ok):
                ax.hlines(ok.mean(), centre - width / 3, centre + width / 3, color=color, linewidth=2)
            bad = int((~np.isfinite(values)).sum())
            if bad:
                ax.plot([centre] * bad, [bottom] * bad, "x", color=color, markersize=7, clip_on=False)
        text = (labels or {}).get(cat, str(cat))
        ticks.append(f"{text}\n({n_nan} diverged)" if n_nan else text)
    ax.set_xticks(range(len(cats)), ticks)
    ax.set_xlim(-0.6, len(cats) - 0.4)
    ax.set_ylabel(y)
    ax.grid(axis="y", linestyle="dotted", alpha=0.8)
    if hue is not None:
        ax.legend(fontsize="small", title=hue)
    if title:
        ax.set_title(title)
    return fig


VERDICT_COLORS = {"better": "tab:green", "worse": "tab:red", "equivalent": "tab:blue", "undecided": "tab:gray"}


def plot_forest(rows, margin=None, ax=None, title=None, xlabel="difference in test error (points)", scale=100.0,
                cut=None):
    """One line per comparison: its difference and 95% interval, a zero line and the equivalence margin shaded.

    ``rows`` is a list of ``(label, result, verdict)`` with ``result`` a ``nbsupport.paired.PairedResult``
    (A minus B: left of zero, A is lower); ``scale`` turns the metric into the axis unit (100: points).
    Each interval is coloured by its verdict. ``cut`` (axis units) keeps one far-off interval from squashing
    the others: an interval reaching beyond it is drawn up to the cut and labelled with its difference and
    where it ends.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 0.5 + 0.45 * len(rows)))
    if margin:
        ax.axvspan(-margin * scale, margin * scale, color="tab:blue", alpha=0.12, lw=0,
                   label=f"equivalence margin (±{margin * scale:g})")
    ax.axvline(0, color="black", lw=0.8)
    edge = math.inf if cut is None else cut
    for i, (label, result, verdict) in enumerate(rows):
        y = len(rows) - 1 - i
        color = VERDICT_COLORS[verdict]
        low, diff, high = (min(v * scale, edge) for v in (result.low, result.diff, result.high))
        if low == edge:  # wholly off the scale: a stub at the cut
            low = edge - 0.04 * abs(edge or 1.0)
        ax.plot([low, high], [y, y], color=color, lw=2.5, solid_capstyle="butt")
        if result.high * scale > edge:  # above the line, ending at the cut
            ax.annotate(f"{verdict}: {result.diff * scale:+.1f} (to {result.high * scale:+.1f}) →", (high, y),
                        xytext=(0, 4), textcoords="offset points", ha="right", va="bottom", fontsize=8,
                        color=color)
        else:
            ax.plot(diff, y, "o", color=color, ms=6)
            ax.annotate(verdict, (high, y), xytext=(6, 0), textcoords="offset points", va="center",
                        fontsize=9, color=color)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([label for label, _, _ in reversed(rows)])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    lo = min([min(r.low * scale, edge) for _, r, _ in rows] + [-(margin or 0) * scale])
    hi = max([min(r.high * scale, edge) for _, r, _ in rows] + [(margin or 0) * scale])
    pad = 0.25 * (hi - lo or 1.0)
    ax.set_xlim(lo - pad, hi + 2 * pad)
    ax.xaxis.set_major_locator(plt.MaxNLocator(nbins=5))  # labels that do not run into each other
    ax.set_xlabel(xlabel)
    if margin:  # below the axis, off the data
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.24), fontsize=8, frameon=False)
    if title:
        ax.set_title(title)
    return ax


def plot_lr_choice(df, chosen, order, labels=None, ncols=3, ylim=(0.95, 0.995), y="val_acc"):
    """Small multiples of how each schedule's lr was chosen: one panel per schedule of ``order``.

    ``df`` holds the one-epoch runs of the choice (one row per run: ``schedule``, ``lr``, ``seed``, ``y``);
    ``chosen`` maps a schedule to its chosen lr. In each panel: every run as a dot, the mean over the seeds
    where all of them ran as a line, the chosen lr as a star; the other schedules' means in light grey
    behind. Runs below the axis are drawn as triangles on its bottom edge.
    """

    n_seeds = df["seed"].nunique()
    means = {}
    for s in order:
        part = df[df["schedule"] == s]
        g = part.groupby("lr")[y]
        full = part.groupby("lr")["seed"].nunique() == n_seeds
        means[s] = g.mean()[full].sort_index()
    nrows = -(-len(order) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 2.4 * nrows), sharex=True, sharey=True,
                             squeeze=False)
    for ax, s in zip(axes.flat, order):
        for other in order:
            if other != s:
                ax.plot(means[other].index, means[other].values, color="0.85", lw=1, zorder=1)
        part = df[df["schedule"] == s]
        vals = part[y].to_numpy(float)
        low = vals < ylim[0]
        ax.plot(part["lr"][~low], vals[~low], "o", color="C0", ms=3, alpha=0.7, zorder=2)
        if low.any():  # an empty unclipped line would stretch the layout's box to the figure's corner
            ax.plot(part["lr"][low], [ylim[0]] * int(low.sum()), "v", color="C0", ms=5, clip_on=False, zorder=2)
        ax.plot(means[s].index, means[s].values, "-", color="C0", lw=1.8, zorder=3)
        lr = chosen[s]
        ax.plot([lr], [means[s][lr]], "*", color="C3", ms=12, zorder=4)
        ax.set_title((labels or {}).get(s, s), fontsize=10)
        ax.set_xscale("log")
        ax.set_ylim(*ylim)
        ax.grid(linestyle="dotted", alpha=0.8)
    for ax in axes.flat[len(order):]:
        fig.delaxes(ax)  # an empty panel: gone, so that the layout does not make room for it
    for col in range(ncols):  # the x axis under the lowest panel of each column
        used = [r for r in range(nrows) if r * ncols + col < len(order)]
        if used:
            ax = axes[used[-1], col]
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("peak lr")
    for ax in axes[:, 0]:
        ax.set_ylabel("val. accuracy")
    fig.tight_layout()
    return fig


def share_x_by_column(axes):
    """Give every column of a 2-D grid of axes one x range, the union of its panels' ranges.

    For forest plots of one metric at several budgets or scalings: with a shared range, interval widths
    compare down a column.
    """
    import numpy as np

    for col in np.asarray(axes).T:
        lo = min(ax.get_xlim()[0] for ax in col)
        hi = max(ax.get_xlim()[1] for ax in col)
        for ax in col:
            ax.set_xlim(lo, hi)


#: How a verdict carried over (``comparisons.carried_over``): neutral colours, so that no cell reads as the green of
#: "better" or the red of "worse" in the forest plots beside them.
CARRIED_COLORS = {"same": "0.85", "stronger": "#6baed6", "weaker": "#fdae6b", "reversed": "#9e9ac8"}


def plot_verdict_grid(cells, rows, cols, colors, ax=None, title=None, fontsize=9):
    """A table of coloured cells: ``cells[(row, col)] = (category, text)`` drawn at ``rows`` x ``cols``.

    ``rows`` and ``cols`` are lists of ``(key, label)``; ``colors`` maps each category to a colour, and
    its keys, in order, make the legend under the grid. A (row, col) missing from ``cells`` is left white
    (not measured). For verdicts read at several budgets or on two data sets side by side.
    """
    unknown = sorted({cat for cat, _ in cells.values()} - set(colors))
    if unknown:
        raise ValueError(f"categories {unknown} have no colour; colors has {list(colors)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(1.6 + 1.6 * len(cols), 0.6 + 0.4 * len(rows)))
    for i, (r, _) in enumerate(rows):
        for j, (c, _) in enumerate(cols):
            if (r, c) not in cells:
                continue
            category, text = cells[r, c]
            ax.add_patch(plt.Rectangle((j, i), 1, 1, color=colors[category], alpha=0.6, lw=0))
            ax.text(j + 0.5, i + 0.5, text, ha="center", va="center", fontsize=fontsize)
    ax.set_xlim(0, len(cols))
    ax.set_ylim(len(rows), 0)
    ax.set_xticks([j + 0.5 for j in range(len(cols))], [label for _, label in cols])
    ax.set_yticks([i + 0.5 for i in range(len(rows))], [label for _, label in rows])
    ax.tick_params(length=0)
    for j in range(1, len(cols)):
        ax.axvline(j, color="white", lw=1.5)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c, alpha=0.6) for c in colors.values()]
    ax.legend(handles, list(colors), loc="upper center", bbox_to_anchor=(0.5, -0.08 - 0.5 / max(len(rows), 1)),
              ncol=len(colors), frameon=False, fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax
