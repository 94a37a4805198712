import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from nbsupport import plot_lr_finder, plot_training_curves  # noqa: E402
from nbsupport.lr_finder import LRFinderResult  # noqa: E402


def test_training_curves_has_the_page_layout():
    log = {"loss": [2.0, 1.0, 0.5], "loss_avg": [2.0, 1.5, 1.2], "accs": [0.1, 0.5, 0.9], "accs_avg": [0.1, 0.3, 0.5]}
    fig = plot_training_curves(log, lr=[1e-3, 1e-2, 1e-4], momentum=[0.95, 0.85, 0.95])
    top, bottom = fig.axes[0], fig.axes[1]
    assert tuple(fig.get_size_inches()) == (8, 4)
    assert len(fig.axes) == 4  # loss + twin accuracy, lr + twin beta1
    assert top.get_position().height > 3 * bottom.get_position().height
    assert [len(line.get_ydata()) for line in top.lines] == [3, 3]
    assert fig.axes[3].get_ylabel() == "beta1"
    plt.close(fig)
    fig = plot_training_curves(log, lr=[1e-3, 1e-2, 1e-4], momentum=[0.95, 0.85, 0.95], log_loss=True, chance=2.3)
    assert fig.axes[0].get_yscale() == "log" and fig.axes[0].lines[-1].get_ydata()[0] == 2.3
    plt.close(fig)


def test_lr_finder_plot_marks_suggestions():
    result = LRFinderResult(lrs=[1e-4, 1e-3, 1e-2], losses=[2.3, 1.5, 3.0], smoothed=[2.3, 1.8, 2.0],
                            suggestions={"steepest": 1e-3, "valley": 1e-3})
    fig = result.plot()
    ax = fig.axes[0]
    assert plot_lr_finder(result, title="a title").axes[0].get_title() == "a title"
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "steepest: 0.001" in labels and "valley: 0.001" in labels
    plt.close(fig)


def test_lr_finder_plot_keeps_a_diverged_tests_loss_axis_between_zero_and_three_times_the_start():
    # a test that blew up: raw losses of 1e4 at the end, smoothed ones far above the start
    result = LRFinderResult(lrs=[1e-4, 1e-3, 1e-2, 1e-1], losses=[2.3, 2.2, 50.0, 1e4],
                            smoothed=[2.3, 2.25, 10.0, 500.0], suggestions={})
    fig = plot_lr_finder(result)
    low, high = fig.axes[0].get_ylim()
    assert low == 0.0, "a loss axis that runs below zero"
    assert abs(high - 3 * 2.3 * 1.05) < 1e-9
    plt.close(fig)


def test_schedule_shapes_draw_one_panel_per_schedule_and_momentum_only_where_it_moves():
    from nbsupport import RunConfig, schedule_trace
    from nbsupport.plots import plot_schedule_shapes

    traces = {s: schedule_trace(RunConfig(schedule=s, lr=0.01), 100) for s in ("constant", "one_cycle", "cosine", "wsd")}
    fig = plot_schedule_shapes(traces, titles={"one_cycle": "one-cycle"}, steps_per_epoch=50)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 5  # four panels plus one twin axis for one-cycle's beta1
    assert [ax.get_title() for ax in visible[:4]] == ["constant", "one-cycle", "cosine", "wsd"]
    plt.close(fig)


def test_benchmark_figure_draws_each_path_and_operator_from_the_stored_results():
    import json

    from nbsupport.data import repo_root
    from nbsupport.plots import plot_benchmark

    results = json.loads((repo_root() / "benchmarks" / "results.json").read_text())
    fig = plot_benchmark(results)
    left, right = fig.axes
    assert len(left.patches) == len(results["rows"]) and len(right.patches) == len(results["profile"])
    assert left.lines[0].get_xdata()[0] == results["compute_bound_ms_per_step"]
    plt.close(fig)


def test_seed_points_draw_one_dot_per_run_and_count_diverged_runs():
    import math

    import pandas as pd

    from nbsupport.plots import plot_seed_points

    df = pd.DataFrame({"setting": ["a", "a", "a", "b", "b", "b"],
                       "opt": ["sgd"] * 6,
                       "val_acc": [0.97, 0.98, 0.99, 0.5, math.nan, math.nan]})
    fig = plot_seed_points(df, "setting", order=["b", "a"], labels={"a": "A"})
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["b\n(2 diverged)", "A"]
    dots = [line for line in ax.lines if line.get_marker() == "o"]
    crosses = [line for line in ax.lines if line.get_marker() == "x"]
    assert sorted(len(d.get_ydata()) for d in dots) == [1, 3]
    assert len(crosses) == 1 and list(crosses[0].get_ydata()) == [0.5, 0.5]
    plt.close(fig)
    fig = plot_seed_points(df, "setting", hue="opt")
    assert fig.axes[0].get_legend() is not None
    plt.close(fig)


def test_suggestion_strip_draws_each_rule_row_and_each_seed():
    import pandas as pd

    from nbsupport.plots import plot_suggestions

    result = LRFinderResult(lrs=[1e-4, 1e-3, 1e-2], losses=[2.3, 1.5, 3.0], smoothed=[2.3, 1.8, 2.0])
    points = pd.DataFrame({"rule": ["a", "a", "b"], "lr": [1e-3, 2e-3, 5e-3], "seed": [0, 1, 0]})
    fig = plot_suggestions({"left": {"ours": result, "theirs": result}}, {"left": points}, ["a", "b", "c"],
                           good={"left": (1e-3, 3e-3)})
    top, bottom = fig.axes
    assert [t.get_text() for t in bottom.get_yticklabels()] == ["c", "b", "a"]  # first rule on top
    assert len(top.lines) == 3  # raw and smoothed of the first curve, smoothed of the second
    drawn = [(tuple(line.get_xdata()), tuple(line.get_ydata())) for line in bottom.lines if len(line.get_xdata())]
    # rule "a" is row 2 (seed 1 hollow, seed 0 filled), "b" row 1, "c" has no points
    assert ((2e-3,), (2,)) in drawn and ((1e-3,), (2,)) in drawn and ((5e-3,), (1,)) in drawn
    assert len(top.patches) == 1 and len(bottom.patches) == 1  # the green span on both
    plt.close(fig)
    fig = plot_suggestions({"left": {"ours": result}}, {"left": points}, ["a", "b"], best={"left": 4e-3})
    top, bottom = fig.axes
    for ax in (top, bottom):  # the best max_lr: one vertical line at 4e-3 on both rows
        assert [tuple(line.get_xdata()) for line in ax.lines if line.get_linestyle() == "--"] == [(4e-3, 4e-3)]
    assert "best max_lr" in [t.get_text() for t in top.get_legend().get_texts()]
    plt.close(fig)


def test_calibration_plot_puts_diverged_runs_at_error_one():
    import math

    import pandas as pd

    from nbsupport.plots import plot_calibration

    truth = pd.DataFrame({"lr": [1e-3, 1e-3, 1e-2], "val_acc": [0.98, 0.97, math.nan]})
    suggested = pd.DataFrame({"lr": [3e-3, 3e-3], "val_acc": [0.96, 0.94], "family": ["x", "x"]})
    fig = plot_calibration(truth, suggested, title="t")
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and ax.get_title() == "t"
    grey = ax.lines[0]
    assert list(grey.get_ydata()) == [pytest_approx(0.02), pytest_approx(0.03), 1.0]
    mean_line = ax.lines[1]
    assert list(mean_line.get_xdata()) == [1e-3, 1e-2] and mean_line.get_ydata()[0] == pytest_approx(0.025)
    assert ax.lines[3].get_ydata()[0] == pytest_approx(0.05)  # the suggestion's mean marker
    plt.close(fig)


def pytest_approx(x):
    import pytest

    return pytest.approx(x, abs=1e-12)


def test_plot_forest_draws_one_interval_per_comparison_with_the_margin_and_verdicts():
    import numpy as np

    from nbsupport.paired import MARGIN_ERROR, compare_scores
    from nbsupport.plots import plot_forest

    rng = np.random.default_rng(0)
    base = (rng.random((3, 2000)) < 0.02).astype(float)
    worse = np.maximum(base, (rng.random((3, 2000)) < 0.03).astype(float))
    rows = [(name, r, r.verdict) for name, r in
            (("same", compare_scores(base, base.copy())), ("worse", compare_scores(worse, base)))]
    ax = plot_forest(rows, margin=MARGIN_ERROR)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["worse", "same"]
    assert [t.get_text() for t in ax.texts] == [r.verdict for _, r, _ in rows]
    lo, hi = ax.get_xlim()
    assert lo <= 100 * min(r.low for _, r, _ in rows) and hi >= 100 * max(r.high for _, r, _ in rows)
    assert len(ax.patches) == 1  # the shaded margin


def test_plot_forest_cuts_a_far_off_interval_and_labels_where_it_ends():
    from types import SimpleNamespace

    from nbsupport.plots import plot_forest

    near = SimpleNamespace(diff=-0.002, low=-0.004, high=0.001)  # all plot_forest reads of a result
    far = SimpleNamespace(diff=0.87, low=0.86, high=0.88)
    ax = plot_forest([("near", near, "undecided"), ("far", far, "worse")], margin=0.001, cut=2.0)
    right = max(x for line in ax.lines for x in line.get_xdata())
    assert right == 2.0, "no line runs past the cut"
    assert ax.get_xlim()[1] < 10, "the far interval does not set the axis"
    texts = [t.get_text() for t in ax.texts]
    assert "worse: +87.0 (to +88.0) →" in texts and "undecided" in texts
    plt.close(ax.figure)


def test_lr_choice_marks_the_chosen_lr_at_the_mean_over_seeds_and_runs_below_the_axis():
    import pandas as pd

    from nbsupport.plots import plot_lr_choice

    rows = [("a", lr, seed, acc) for lr, accs in ((1e-3, (0.97, 0.98, 0.99)), (1e-2, (0.96, 0.97, 0.5)))
            for seed, acc in enumerate(accs)]
    rows += [("a", 1e-1, 0, 0.99)]  # one seed only: a dot, not part of the mean line
    rows += [("b", lr, seed, 0.975) for lr in (1e-3, 1e-2) for seed in range(3)]
    df = pd.DataFrame(rows, columns=["schedule", "lr", "seed", "val_acc"])
    fig = plot_lr_choice(df, {"a": 1e-3, "b": 1e-2}, order=["a", "b"], labels={"a": "A"}, ncols=2)
    ax = fig.axes[0]
    assert ax.get_title() == "A"
    star = [line for line in ax.lines if line.get_marker() == "*"]
    assert len(star) == 1 and list(star[0].get_xdata()) == [1e-3]
    assert abs(star[0].get_ydata()[0] - 0.98) < 1e-12
    mean_line = [line for line in ax.lines if line.get_color() == "C0" and line.get_linestyle() == "-"]
    assert list(mean_line[0].get_xdata()) == [1e-3, 1e-2]  # the one-seed lr is not on it
    below = [line for line in ax.lines if line.get_marker() == "v"]
    assert list(below[0].get_ydata()) == [0.95]  # the 0.5 run, on the bottom edge
    grey = [line for line in ax.lines if line.get_color() == "0.85"]
    assert len(grey) == 1  # the other schedule behind
    plt.close(fig)


def test_lr_choice_lays_out_a_ragged_grid_without_a_warning_and_labels_each_columns_lowest_panel():
    import warnings

    import pandas as pd

    from nbsupport.plots import plot_lr_choice

    order = list("abcdefg")  # 7 panels in 3 columns: two empty slots in the last row
    rows = [(s, lr, seed, 0.97 + 0.001 * seed) for s in order for lr in (1e-3, 1e-2) for seed in range(2)]
    df = pd.DataFrame(rows, columns=["schedule", "lr", "seed", "val_acc"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Tight layout not applied" would fail here
        fig = plot_lr_choice(df, {s: 1e-3 for s in order}, order=order, ncols=3)
    assert len(fig.axes) == 7  # the empty slots are removed, not hidden
    labelled = sorted(ax.get_title() for ax in fig.axes if ax.get_xlabel() == "peak lr")
    assert labelled == ["e", "f", "g"]  # the lowest panel of each column
    plt.close(fig)


def test_calibration_plot_reads_the_accuracy_column_it_is_given():
    import pandas as pd
    import pytest

    from nbsupport.plots import plot_calibration

    truth = pd.DataFrame({"lr": [1e-3], "val_acc": [0.5], "test_acc": [0.9]})
    suggested = pd.DataFrame({"lr": [3e-3], "val_acc": [0.5], "test_acc": [0.8], "family": ["x"]})
    fig = plot_calibration(truth, suggested, acc="test_acc")
    ax = fig.axes[0]
    assert ax.lines[0].get_ydata()[0] == pytest_approx(0.1) and "test error" in ax.get_ylabel()
    plt.close(fig)
    with pytest.raises(ValueError, match="test_acc"):
        plot_calibration(truth, suggested, acc="accuracy")


def test_training_curves_can_draw_loss_and_accuracy_in_their_own_panels():
    log = {"loss": [2.0, 1e-6, 0.5, 0.4], "loss_avg": [2.0, 1.5, 1.2, 1.0], "accs": [0.1, 0.5, 0.9, 0.9],
           "accs_avg": [0.1, 0.3, 0.5, 0.6]}
    fig = plot_training_curves(log, lr=[1e-3, 1e-2, 1e-4, 1e-5], momentum=[0.95, 0.85, 0.95, 0.95],
                               log_loss=True, separate=True)
    loss, acc, lr = fig.axes[0], fig.axes[1], fig.axes[2]
    assert len(fig.axes) == 4  # loss, accuracy, lr + twin beta1
    assert acc.get_ylabel() == "Train accuracy" and list(acc.lines[1].get_ydata()) == log["accs_avg"]
    assert loss.get_ylim()[0] > 1e-6  # the near-zero loss does not set the bottom
    assert lr.get_ylabel() == "lr (x 1e-2)"
    plt.close(fig)


def test_share_x_by_column_gives_each_column_the_union_of_its_ranges():
    from nbsupport.plots import share_x_by_column

    fig, axes = plt.subplots(2, 2)
    for ax, lim in zip(axes.flat, [(-1, 1), (0, 5), (-3, 0.5), (2, 4)]):
        ax.set_xlim(*lim)
    share_x_by_column(axes)
    assert [ax.get_xlim() for ax in axes[:, 0]] == [(-3, 1), (-3, 1)]
    assert [ax.get_xlim() for ax in axes[:, 1]] == [(0, 5), (0, 5)]
    plt.close(fig)


def test_verdict_grid_colours_each_measured_cell_and_leaves_the_rest_white():
    import pytest

    from nbsupport.plots import CARRIED_COLORS, plot_verdict_grid

    cells = {("a", 1): ("same", "x"), ("b", 1): ("weaker", "y"), ("b", 3): ("reversed", "z")}
    ax = plot_verdict_grid(cells, [("a", "A"), ("b", "B")], [(1, "one"), (3, "three")], CARRIED_COLORS)
    assert [t.get_text() for t in ax.texts] == ["x", "y", "z"]
    boxes = {(p.get_x(), p.get_y()): p.get_facecolor()[:3] for p in ax.patches}
    assert set(boxes) == {(0, 0), (0, 1), (1, 1)}  # ("a", 3) not measured: no box
    assert boxes[1, 1] == pytest.approx(matplotlib.colors.to_rgb(CARRIED_COLORS["reversed"]))
    assert [t.get_text() for t in ax.get_yticklabels()] == ["A", "B"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(CARRIED_COLORS)
    with pytest.raises(ValueError, match="no colour"):
        plot_verdict_grid({("a", 1): ("failed", "")}, [("a", "A")], [(1, "one")], CARRIED_COLORS)
    plt.close(ax.figure)
