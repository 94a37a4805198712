import matplotlib

matplotlib.use("Agg")

import math  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from nbsupport import activation_stats, mnist_model, one_cycle_schedule, train_one_cycle  # noqa: E402
from nbsupport.lr_finder import LRFinderResult  # noqa: E402
from nbsupport.plots import plot_warmup_over_finder  # noqa: E402
from nbsupport.book import markdown_table  # noqa: E402
from helpers import synthetic_loaders  # noqa: E402


def test_one_cycle_schedule_matches_pytorch_defaults():
    lr, beta1 = one_cycle_schedule(100, max_lr=0.01)
    peak = lr.index(max(lr))
    assert len(lr) == len(beta1) == 100
    assert peak == 29 and lr[peak] == pytest.approx(0.01)
    assert lr[0] == pytest.approx(0.0004) and lr[-1] == pytest.approx(0.0004 / 1e4)
    assert beta1[0] == beta1[-1] == 0.95 and beta1[peak] == pytest.approx(0.85)
    lr_sgd, momentum = one_cycle_schedule(10, max_lr=0.1, optimizer="sgd", pct_start=0.5)
    assert max(lr_sgd) == pytest.approx(0.1) and min(momentum) == pytest.approx(0.85)
    with pytest.raises(ValueError, match="optimizer must be 'adamw' or 'sgd'"):
        one_cycle_schedule(10, optimizer="adam")
    with pytest.raises(ValueError, match="total_steps"):
        one_cycle_schedule(1)


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_train_one_cycle_cycles_or_fixes_momentum(optimizer):
    train, valid = synthetic_loaders()
    cycled = train_one_cycle(train, valid, optimizer=optimizer, max_lr=0.05, epochs=2, verbose=False, progress=False)
    fixed = train_one_cycle(train, valid, optimizer=optimizer, max_lr=0.05, epochs=2, momentum=0.9, verbose=False,
                            progress=False)
    assert min(cycled.stats.momentum) == pytest.approx(0.85, abs=0.01) and max(cycled.stats.momentum) == 0.95
    assert set(fixed.stats.momentum) == {0.9}
    assert cycled.stats.lr == fixed.stats.lr  # same lr schedule either way
    assert not cycled.diverged and 0 <= cycled.val_acc <= 1 and cycled.seconds_per_epoch > 0


def test_train_one_cycle_reports_divergence_instead_of_raising():
    train, valid = synthetic_loaders()
    run = train_one_cycle(train, valid, optimizer="sgd", max_lr=1e6, verbose=False, progress=False)
    assert "loss is" in run.diverged and math.isnan(run.val_acc)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        train_one_cycle(train, valid, optimizer="rmsprop")
    with pytest.raises(ValueError, match="momentum must be in"):
        train_one_cycle(train, valid, momentum=1.5)


def test_activation_stats_measures_each_activation_layer():
    model = mnist_model("tanh")
    x = torch.randn(8, 1, 28, 28)
    stats = activation_stats(model, x)
    assert [i for i, _, _ in stats] == [1, 4, 8]
    out = model[:2](x)
    assert stats[0][1] == pytest.approx(out.mean().item()) and stats[0][2] == pytest.approx(out.std().item())
    assert model.training  # mode restored
    assert [i for i, _, _ in activation_stats(model, x, layer_type=nn.Linear)] == [7, 10]


def test_markdown_table_formats_numbers():
    table = markdown_table([("a", 0.123456, 3), ("b", float("nan"), 4)], ["name", "x", "n"], digits=3)
    assert table.data.splitlines() == ["| name | x | n |", "|---|---|---|", "| a | 0.123 | 3 |", "| b | – | 4 |"]


def test_warmup_overlay_figure():
    train, valid = synthetic_loaders()
    runs = {None: train_one_cycle(train, valid, epochs=2, verbose=False, progress=False)}
    finder = LRFinderResult(lrs=[1e-4, 1e-3, 1e-2], losses=[2.3, 2.0, 3.0], smoothed=[2.3, 2.1, 2.4])
    fig = plot_warmup_over_finder(finder, runs[None])
    peak = runs[None].stats.lr.index(max(runs[None].stats.lr))
    assert len(fig.axes[0].lines[-1].get_xdata()) == peak + 1
    plt.close(fig)


def test_loss_spike_finds_stall_spike_and_noise_on_a_known_curve():
    from nbsupport.probes import loss_spike

    steps, peak = 400, 150
    avg = [2.0 - i * 0.01 for i in range(100)] + [1.0 + (i - 100) * 0.05 for i in range(100, 160)]
    avg += [4.0 - (i - 160) * 0.01 for i in range(160, steps)]
    noise = [(-1) ** i * (0.5 if abs(i - peak) < 50 else 0.1) for i in range(steps)]
    log = {"loss": [a + n for a, n in zip(avg, noise)], "loss_avg": avg}
    lr = [i * 1e-4 for i in range(steps)]
    out = loss_spike(log, lr, peak, steps_per_epoch=200, noise_window=50, tail=100)
    assert out["stall_step"] == 100 and out["spike_step"] == 160
    assert out["rise"] == pytest.approx(3.0) and out["spike_lr"] == pytest.approx(0.016)
    assert out["noise_peak"] == pytest.approx(0.5, rel=0.02) and out["noise_end"] == pytest.approx(0.1, rel=0.02)
    with pytest.raises(ValueError, match="peak_step=10"):
        loss_spike(log, lr, 10, steps_per_epoch=200)


def test_glue_stores_numpy_scalars_as_plain_numbers(monkeypatch):
    import numpy as np

    import nbsupport.book as book

    seen = {}
    monkeypatch.setattr(book, "_myst_glue", lambda name, value, display=True: seen.update({name: value}))
    book.glue("x", np.float64(0.25), display=False)
    book.glue("n", np.int64(3), display=False)
    book.glue("s", "text", display=False)
    assert seen == {"x": 0.25, "n": 3, "s": "text"} and type(seen["x"]) is float and type(seen["n"]) is int
