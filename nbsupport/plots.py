"""Figures the chapters share. Each returns its matplotlib Figure.

Figures that compare stored runs across configurations (seed points, forest plots, the lr choice) are in
``nbsupport.plots_runs`` and re-exported here.
"""

import matplotlib.pyplot as plt

LOSS_COLOR, ACC_COLOR = "C0", "C1"


def use_svg():
    """Render notebook figures as SVG, with stable element ids so stored outputs do not churn."""
    plt.rcParams["svg.hashsalt"] = "nbsupport"
    plt.rcParams["svg.fonttype"] = "none"
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:  # not in a notebook kernel
        return
    set_matplotlib_formats("svg")


def plot_lr_momentum(ax, lr, momentum, momentum_label="beta1"):
    """lr in black on ``ax``, momentum in red on a twin axis; returns the twin axis.

    The lr axis is labelled with its power of ten ("lr (x 1e-2)") instead of an offset text in its corner.
    """
    import numpy as np

    ax.plot(lr, color="black", linewidth=1.5)
    top = float(np.nanmax(np.abs(lr))) if len(lr) else 0.0
    power = int(np.floor(np.log10(top))) if top > 0 else 0
    if power != 0:
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v / 10 ** power:g}"))
    ax.set_ylabel("lr" if power == 0 else f"lr (x 1e{power})")
    ax.set_xlabel("step")
    ax.grid(axis="both", linestyle="dotted", alpha=0.8)
    twin = ax.twinx()
    twin.plot(momentum, color="C3", linewidth=1.5)
    twin.set_ylabel(momentum_label, color="C3")
    return twin


def plot_training_curves(train_log, lr, momentum, momentum_label="beta1", title=None, log_loss=False,
                         chance=None, separate=False):
    """The page's figure: train loss and accuracy (raw and averaged) above the lr and momentum schedule.

    ``log_loss=True`` draws the loss on a log scale, so a spike far above chance
    and the small step-to-step noise at the end are both visible (its lower end is
    cut at the 1st percentile of the per-step loss, so a few near-zero losses do
    not squash the rest); ``chance`` draws that loss level (e.g. ln 10 for ten
    classes) as a dashed line. ``separate=True`` draws loss and accuracy in
    panels of their own instead of the page's twin axes.
    """
    import numpy as np

    if separate:
        fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(8, 6), sharex=True,
                                            gridspec_kw={"height_ratios": [3, 2, 1.2]})
    else:
        fig, (ax1, ax3) = plt.subplots(2, 1, figsize=(8, 4), sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    ax1.plot(train_log["loss"], color=LOSS_COLOR, linewidth=1, alpha=0.6)
    ax1.plot(train_log["loss_avg"], color=LOSS_COLOR, linewidth=2)
    ax1.set_ylabel("Train loss" + (" (log scale)" if log_loss else ""), color=LOSS_COLOR)
    ax1.grid(axis="both", linestyle="dotted", alpha=0.8)
    if log_loss:
        ax1.set_yscale("log")
        losses = np.asarray(train_log["loss"], dtype=float)
        losses = losses[np.isfinite(losses) & (losses > 0)]
        if len(losses):
            ax1.set_ylim(bottom=float(np.percentile(losses, 1)))
    if chance is not None:
        ax1.axhline(chance, color="grey", linestyle="--", linewidth=1)
        ax1.annotate("chance", (0, chance), xytext=(2, 2), textcoords="offset points", color="grey",
                     fontsize="small")
    if not separate:
        ax2 = ax1.twinx()
    ax2.plot(train_log["accs"], color=ACC_COLOR, linewidth=1, alpha=0.6)
    ax2.plot(train_log["accs_avg"], color=ACC_COLOR, linewidth=2)
    ax2.set_ylabel("Train accuracy", color=ACC_COLOR)
    if separate:
        ax2.grid(axis="both", linestyle="dotted", alpha=0.8)
    plot_lr_momentum(ax3, lr, momentum, momentum_label)
    if title:
        ax1.set_title(title)
    fig.tight_layout()
    return fig


def plot_lr_finder(result, ax=None, marks=None, title=None):
    """An LR range test: raw and smoothed loss against lr on a log axis, suggestions as vertical lines.

    ``marks`` adds more labelled learning rates, e.g. ``{"page max_lr": 0.01}``.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 4))
    else:
        fig = ax.figure
    ax.plot(result.lrs, result.losses, color=LOSS_COLOR, linewidth=1, alpha=0.35, label="loss")
    ax.plot(result.lrs, result.smoothed, color=LOSS_COLOR, linewidth=2, label="smoothed loss")
    styles = ["--", ":", "-."]
    for (name, lr), style in zip({**result.suggestions, **(marks or {})}.items(), styles * 3):
        ax.axvline(lr, color="black", linestyle=style, linewidth=1, label=f"{name}: {lr:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("train loss")
    top = min(max(result.smoothed), 3 * result.smoothed[0]) if result.smoothed else None
    if top:  # a diverged test's huge raw losses would stretch the axis; clip at the top, start at 0
        ax.set_ylim(min(0.0, min(result.losses)), top * 1.05)
    ax.grid(axis="both", linestyle="dotted", alpha=0.8)
    ax.legend(loc="upper left", fontsize="small")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_warmup_over_finder(result, run, label="one-cycle warm-up", title=None):
    """The LR finder's curve with a one-cycle run's (lr, averaged loss) trace up to its peak lr laid over it."""
    fig = plot_lr_finder(result, title=title)
    ax = fig.axes[0]
    lrs = run.stats.lr
    peak = lrs.index(max(lrs))
    # stats.lr[i] is the lr set after step i, i.e. the one step i + 1 used; shift by one to pair lr with loss.
    used = [run.stats.lr[0]] + lrs[:peak]
    ax.plot(used, run.trainer.train_log["loss_avg"][: peak + 1], color="C2", linewidth=2, label=label)
    ax.legend(loc="upper left", fontsize="small")
    return fig


def plot_schedule_shapes(traces, titles=None, ncols=3, steps_per_epoch=None):
    """Small multiples of lr schedules: ``traces`` maps a name to ``(lrs, momenta)`` (one entry per step).

    The lr is drawn in black against the step, momentum (beta1) in red on a
    twin axis where it changes; dotted lines mark epoch boundaries.
    """
    names = list(traces)
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3 * ncols, 1.9 * nrows), sharex=True, sharey=True,
                             squeeze=False)
    for ax, name in zip(axes.flat, names):
        lrs, momenta = traces[name]
        ax.plot(lrs, color="black", linewidth=1.5)
        ax.set_title((titles or {}).get(name, name), fontsize="medium")
        ax.grid(axis="both", linestyle="dotted", alpha=0.8)
        if steps_per_epoch:
            for boundary in range(steps_per_epoch, len(lrs), steps_per_epoch):
                ax.axvline(boundary, color="grey", linestyle="dotted", linewidth=1)
        if len(set(momenta)) > 1:
            twin = ax.twinx()
            twin.plot(momenta, color="C3", linewidth=1.2)
            twin.set_ylim(0.8, 1.0)
            twin.tick_params(axis="y", labelcolor="C3", labelsize="small")
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("lr")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    for ax in axes[-1, :]:
        ax.set_xlabel("step")
    fig.tight_layout()
    return fig


def plot_benchmark(results):
    """The appendix's figure from ``benchmarks/results.json``: ms per step of each path against the
    compute-bound limit (left), and the share of step time of the largest operators (right)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1.1, 1]})
    rows = results["rows"]
    names = [r["path"] for r in rows]
    left.barh(names, [r["ms_per_step"] for r in rows], color="C0")
    bound = results["compute_bound_ms_per_step"]
    left.axvline(bound, color="C3", linestyle="--", linewidth=1.5)
    left.invert_yaxis()
    left.text(bound, -0.6, " compute-bound limit", color="C3", fontsize="small", va="bottom")
    left.set_xlabel("ms per training step (batch 32)")
    left.tick_params(axis="y", labelsize="small")
    left.grid(axis="x", linestyle="dotted", alpha=0.8)
    ops = results["profile"]
    right.barh([o["op"].replace("aten::", "") for o in ops], [100 * o["share"] for o in ops], color="C1")
    right.invert_yaxis()
    right.set_xlabel("% of step time, nbsupport path")
    right.tick_params(axis="y", labelsize="small")
    right.grid(axis="x", linestyle="dotted", alpha=0.8)
    fig.tight_layout()
    return fig


def plot_suggestions(curves, points, rules, good=None, titles=None, highlight_seed=0, best=None):
    """LR range tests (top row) above where each rule's suggestion lands (bottom row), one column per panel.

    ``curves`` maps a panel title to ``{label: LRFinderResult}`` (the smoothed loss is drawn, and the raw loss
    faintly for the first); ``points`` maps the same titles to a DataFrame with columns ``rule``, ``lr`` and
    ``seed`` (one row per suggestion); ``rules`` orders the rows of the strip (top first). ``good`` maps a
    title to ``(low, high)``, a span of max_lr drawn in green on both rows (e.g. those within noise of the
    best). ``best`` maps a title to one max_lr (the best of a tuned grid), drawn as a dashed line on both rows.
    Seed ``highlight_seed`` is drawn filled, the others hollow.
    """
    titles = list(curves)
    fig, axes = plt.subplots(2, len(titles), figsize=(5.2 * len(titles), 3.2 + 0.24 * len(rules)),
                             squeeze=False, sharex="col",
                             gridspec_kw={"height_ratios": [3.2, 0.24 * len(rules)]})
    for col, title in enumerate(titles):
        top, bottom = axes[0, col], axes[1, col]
        for i, (label, result) in enumerate(curves[title].items()):
            if i == 0:
                top.plot(result.lrs, result.losses, color=f"C{i}", linewidth=0.8, alpha=0.3)
            top.plot(result.lrs, result.smoothed, color=f"C{i}", linewidth=1.8, label=label)
        first = next(iter(curves[title].values()))
        top.set_ylim(0, min(max(max(r.smoothed) for r in curves[title].values()), 2.5 * first.smoothed[0]) * 1.05)
        top.set_xscale("log")
        top.set_ylabel("train loss")
        top.set_title(title)
        top.grid(axis="both", linestyle="dotted", alpha=0.8)
        top.legend(fontsize="small", loc="lower left")
        df = points[title]
        for row, rule in enumerate(rules):
            part = df[df["rule"] == rule]
            y = len(rules) - 1 - row
            others = part[part["seed"] != highlight_seed]
            bottom.plot(others["lr"], [y] * len(others), "o", markerfacecolor="none", color="C0", markersize=4,
                        alpha=0.7)
            mine = part[part["seed"] == highlight_seed]
            bottom.plot(mine["lr"], [y] * len(mine), "o", color="C3", markersize=5)
        bottom.set_yticks(range(len(rules)), list(reversed(rules)), fontsize="small")
        bottom.set_ylim(-0.7, len(rules) - 0.3)
        bottom.set_xscale("log")
        bottom.set_xlabel("learning rate")
        bottom.grid(axis="x", linestyle="dotted", alpha=0.8)
        if good and title in good:
            for ax in (top, bottom):
                ax.axvspan(*good[title], color="C2", alpha=0.15, linewidth=0)
        if best and title in best:
            for ax in (top, bottom):
                ax.axvline(best[title], color="C2", linestyle="--", linewidth=1.2,
                           label="best max_lr" if ax is top else None)
            top.legend(fontsize="small", loc="lower left")
    fig.tight_layout()
    return fig


def plot_calibration(truth, suggested, ax=None, title=None, families=None, acc="val_acc"):
    """Error (log scale) against one-cycle's max_lr: ``truth`` runs as grey dots with their mean per max_lr as a
    line, ``suggested`` runs (column ``family``) as coloured dots, their mean as a larger marker.

    Both are DataFrames of runs with ``lr`` and the accuracy column ``acc`` ("val_acc" or "test_acc"); a run
    whose accuracy is NaN (it diverged) is drawn at error 1.
    """
    if acc not in ("val_acc", "test_acc"):
        raise ValueError(f"acc={acc!r}: use 'val_acc' (validation images) or 'test_acc' (test images)")

    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    err = lambda df: (1 - df[acc].astype(float)).fillna(1.0)
    ax.plot(truth["lr"], err(truth), "o", color="0.6", markersize=3, label="max_lr grid (each seed)")
    means = truth.assign(err=err(truth)).groupby("lr")["err"].mean()
    ax.plot(means.index, means.values, "-", color="0.4", linewidth=1.5, label="max_lr grid (mean)")
    markers = "sD^vP*X"
    for i, family in enumerate(families or list(dict.fromkeys(suggested["family"]))):
        part = suggested[suggested["family"] == family]
        if part.empty:
            continue
        ax.plot(part["lr"], err(part), markers[i % len(markers)], color=f"C{i}", markersize=4, alpha=0.5)
        m = part.assign(err=err(part)).groupby("lr")["err"].mean()
        ax.plot(m.index, m.values, markers[i % len(markers)], color=f"C{i}", markersize=8,
                markeredgecolor="black", label=f"{family} suggestions (mean)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("one-cycle max_lr")
    ax.set_ylabel(f"{'validation' if acc == 'val_acc' else 'test'} error (fraction, log scale)")
    ax.grid(axis="both", linestyle="dotted", alpha=0.8)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


from .plots_runs import (CARRIED_COLORS, VERDICT_COLORS, plot_forest, plot_lr_choice,  # noqa: E402,F401
                         plot_metric_vs, plot_seed_points, plot_verdict_grid, share_x_by_column)
