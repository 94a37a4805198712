"""Figures the chapters share. Each returns its matplotlib Figure."""

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
    """lr in black on ``ax``, momentum in red on a twin axis; returns the twin axis."""
    ax.plot(lr, color="black", linewidth=1.5)
    ax.set_ylabel("lr")
    ax.set_xlabel("step")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
    ax.grid(axis="both", linestyle="dotted", alpha=0.8)
    twin = ax.twinx()
    twin.plot(momentum, color="C3", linewidth=1.5)
    twin.set_ylabel(momentum_label, color="C3")
    return twin


def plot_training_curves(train_log, lr, momentum, momentum_label="beta1", title=None):
    """The page's figure: train loss and accuracy (raw and averaged) above the lr and momentum schedule."""
    fig, (ax1, ax3) = plt.subplots(2, 1, figsize=(8, 4), sharex=True, gridspec_kw={"height_ratios": [4, 1]})
    ax1.plot(train_log["loss"], color=LOSS_COLOR, linewidth=1, alpha=0.6)
    ax1.plot(train_log["loss_avg"], color=LOSS_COLOR, linewidth=2)
    ax1.set_ylabel("Train loss", color=LOSS_COLOR)
    ax1.grid(axis="both", linestyle="dotted", alpha=0.8)
    ax2 = ax1.twinx()
    ax2.plot(train_log["accs"], color=ACC_COLOR, linewidth=1, alpha=0.6)
    ax2.plot(train_log["accs_avg"], color=ACC_COLOR, linewidth=2)
    ax2.set_ylabel("Train accuracy", color=ACC_COLOR)
    plot_lr_momentum(ax3, lr, momentum, momentum_label)
    if title:
        ax1.set_title(title)
    fig.tight_layout()
    return fig


def plot_lr_finder(result, ax=None, marks=None):
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
    if top:
        ax.set_ylim(top=top * 1.05)
    ax.grid(axis="both", linestyle="dotted", alpha=0.8)
    ax.legend(loc="upper left", fontsize="small")
    fig.tight_layout()
    return fig
