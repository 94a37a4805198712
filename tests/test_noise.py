"""The noise yardstick on known numbers, and the metric-against-parameter figure."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from nbsupport.noise import binomial_se, compare, run_noise, summarize  # noqa: E402
from nbsupport.plots import plot_metric_vs  # noqa: E402


def test_binomial_standard_error_of_an_accuracy_on_5000_images():
    assert binomial_se(0.97) == pytest.approx(math.sqrt(0.97 * 0.03 / 5000))  # 0.00241
    assert binomial_se(0.5, n=100) == pytest.approx(0.05)
    assert binomial_se(1.0) == 0.0
    with pytest.raises(ValueError, match="accuracy must be in \\[0, 1\\]"):
        binomial_se(97.0)
    with pytest.raises(ValueError, match="n=0"):
        binomial_se(0.9, n=0)


def test_compare_combines_seed_spread_and_binomial_error():
    a, b = [0.970, 0.972, 0.974], [0.960, 0.962, 0.964]  # sd 0.002 each, means 0.972 and 0.962
    c = compare(a, b)
    expected = math.sqrt(2 * 0.002 ** 2 / 3 + binomial_se(0.972) ** 2 + binomial_se(0.962) ** 2)
    assert c.diff == pytest.approx(0.010) and c.noise == pytest.approx(expected)
    assert c.z == pytest.approx(0.010 / expected) and c.real and c.verdict == "real"
    close = compare([0.970, 0.972, 0.974], [0.968, 0.970, 0.972])
    assert close.diff == pytest.approx(0.002) and not close.real and close.verdict == "within noise"
    assert "within noise" in str(close) and "0.0020" in str(close)


def test_compare_needs_a_spread_for_single_runs_and_refuses_nan():
    with pytest.raises(ValueError, match="single run.*seed_sd"):
        compare([0.97], [0.96, 0.961])
    one = compare([0.97], [0.96], seed_sd=0.002)
    assert one.noise == pytest.approx(math.sqrt(2 * 0.002 ** 2 + binomial_se(0.97) ** 2 + binomial_se(0.96) ** 2))
    losses = compare([0.10, 0.12, 0.14], [0.20, 0.22, 0.24], n_valid=None)
    assert losses.noise == pytest.approx(math.sqrt(2 * 0.02 ** 2 / 3)) and losses.real
    with pytest.raises(ValueError, match="NaN"):
        compare([0.97, float("nan")], [0.96, 0.95])
    assert run_noise([0.970, 0.972, 0.974]) == pytest.approx(math.sqrt(0.002 ** 2 + binomial_se(0.972) ** 2))


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


def test_compare_to_reference_gives_one_verdict_per_configuration():
    from nbsupport.noise import compare_to_reference

    df = pd.DataFrame({"schedule": ["oc"] * 3 + ["cos"] * 3 + ["const"] * 3,
                       "val_acc": [0.970, 0.972, 0.974, 0.969, 0.971, 0.973, 0.940, 0.942, 0.944]})
    out = compare_to_reference(df, "schedule", "oc")
    assert list(out["schedule"]) == ["cos", "const"]
    assert list(out["verdict"]) == ["within noise", "real"]
    assert out.loc[1, "diff"] == pytest.approx(-0.030)
    with pytest.raises(ValueError, match="reference 'x' is not among"):
        compare_to_reference(df, "schedule", "x")


def test_mean_sd_formats_a_summary_column():
    from nbsupport.noise import mean_sd

    df = pd.DataFrame({"g": ["a", "a", "b"], "val_acc": [0.9, 0.92, 0.5]})
    assert mean_sd(summarize(df, "g"), "val_acc", 3) == ["0.910 ± 0.014", "0.500"]

