"""Descriptive summaries over seeds, and the metric-against-parameter figure."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from nbsupport.plots import plot_metric_vs  # noqa: E402
from nbsupport.summary import mean_sd, summarize  # noqa: E402


def test_summarize_aggregates_over_seeds():
    df = pd.DataFrame({"schedule": ["a", "a", "a", "b"], "lr": [1, 1, 1, 2], "seed": [0, 1, 2, 0],
                       "val_acc": [0.90, 0.92, 0.94, 0.5]})
    s = summarize(df, ["schedule", "lr"])
    row = s[s["schedule"] == "a"].iloc[0]
    assert row["n"] == 3 and row["val_acc_mean"] == pytest.approx(0.92) and row["val_acc_sd"] == pytest.approx(0.02)
    assert (row["val_acc_min"], row["val_acc_max"]) == (0.90, 0.94)
    assert s[s["schedule"] == "b"].iloc[0]["n"] == 1
    with pytest.raises(KeyError, match="columns \\['loss'\\]"):
        summarize(df, "schedule", metrics=("loss",))


def test_plot_metric_vs_draws_one_line_per_configuration_with_error_bars():
    df = pd.DataFrame({"schedule": ["a"] * 4 + ["b"] * 2, "lr": [1e-3, 1e-3, 1e-2, 1e-2, 1e-3, 1e-2],
                       "val_acc": [0.9, 0.92, 0.95, 0.97, 0.8, 0.85]})
    fig = plot_metric_vs(df, "lr", logx=True, labels={"a": "one-cycle"})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["one-cycle (n=2)", "b (n=1)"]
    assert ax.get_xscale() == "log"
    line = ax.containers[0].lines[0]
    assert list(line.get_ydata()) == pytest.approx([0.91, 0.96])
    plt.close(fig)
    fig = plot_metric_vs(df[df.schedule == "b"], "lr", single_run_sd=0.004)
    segments = fig.axes[0].containers[0].lines[2][0].get_segments()
    assert [s[1][1] - s[0][1] for s in segments] == pytest.approx([0.008, 0.008])
    plt.close(fig)


def test_mean_sd_formats_a_summary_column():
    df = pd.DataFrame({"g": ["a", "a", "b"], "val_acc": [0.9, 0.92, 0.5]})
    assert mean_sd(summarize(df, "g"), "val_acc", 3) == ["0.910 ± 0.014", "0.500"]

