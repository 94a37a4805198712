"""unit_activity, adam_direction_rms and probe_run: the measuring tools of chapters 2 and 3."""

import math

import pytest
import torch
import torch.nn as nn

from nbsupport import RunConfig, mnist_model, train_run
from nbsupport.optimizers import schedule_trace
from nbsupport.probes import adam_direction_rms, probe_run, unit_activity
from helpers import synthetic_mnist


def tiny_data(n_train=128, n_valid=32, seed=0):
    x, y = synthetic_mnist(n_train + n_valid, seed)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def test_unit_activity_separates_bias_from_signal_and_counts_units_that_never_fire():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]))
        model[0].bias.copy_(torch.tensor([0.0, -1.0, 2.0]))
    x = torch.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0], [3.0, 0, 0, 0]])
    first, last = unit_activity(model, x)
    assert (first["layer"], first["kind"], last["layer"]) == (0, "Linear", 2)
    # unit 0 follows the input (on for 2 of 3 images), unit 1 is always off, unit 2 always on
    assert first["never_on"] == pytest.approx(1 / 3) and first["always_on"] == pytest.approx(1 / 3)
    assert first["bias_sd"] == pytest.approx(torch.tensor([0.0, -1.0, 2.0]).std().item())
    signal = torch.tensor([[1.0, 0, 0], [-1.0, 0, 0], [3.0, 0, 0]])
    assert first["signal_sd"] == pytest.approx(signal.std().item())
    assert first["across_images"] == pytest.approx(torch.tensor([1.0, -1.0, 3.0]).std().item() / 3)


def test_unit_activity_on_the_page_model_restores_the_mode_and_checks_its_input():
    model = mnist_model("relu").train()
    rows = unit_activity(model, torch.rand(8, 1, 28, 28))
    assert [r["kind"] for r in rows] == ["Conv2d", "Conv2d", "Linear", "Linear"] and model.training
    with pytest.raises(ValueError, match="at least 2 images"):
        unit_activity(model, torch.rand(1, 1, 28, 28))
    with pytest.raises(ValueError, match="no Conv2d or Linear"):
        unit_activity(nn.Sequential(nn.ReLU()), torch.rand(4, 3))


@pytest.mark.parametrize("beta1", [0.0, 0.9])
def test_adam_direction_is_one_for_a_constant_gradient(beta1):
    p = nn.Parameter(torch.zeros(5))
    optim = torch.optim.AdamW([p], lr=1e-3, betas=(beta1, 0.999), eps=0.0, weight_decay=0.0)
    for _ in range(20):
        p.grad = torch.full((5,), 0.3)
        optim.step()
    assert adam_direction_rms(optim) == pytest.approx(1.0, rel=1e-5)


def test_larger_beta1_shrinks_the_direction_for_noisy_gradients():
    def rms(beta1):
        g = torch.Generator().manual_seed(0)
        p = nn.Parameter(torch.zeros(2000))
        optim = torch.optim.Adam([p], lr=1e-3, betas=(beta1, 0.999))
        for _ in range(300):
            p.grad = 0.1 + torch.randn(2000, generator=g)  # small mean, unit noise
            optim.step()
        return adam_direction_rms(optim)
    small, large = rms(0.85), rms(0.95)
    # m averages unit noise down to variance (1-beta1)/(1+beta1) around the mean 0.1; v ~ 1 + 0.1**2
    expected = lambda b: math.sqrt((0.01 + (1 - b) / (1 + b)) / 1.01)
    assert small == pytest.approx(expected(0.85), rel=0.1)
    assert large == pytest.approx(expected(0.95), rel=0.1)
    assert large < small


def test_adam_direction_needs_adam_state():
    p = nn.Parameter(torch.zeros(3))
    with pytest.raises(ValueError, match="no Adam state"):
        adam_direction_rms(torch.optim.AdamW([p]))
    with pytest.raises(ValueError, match="no Adam state"):
        sgd = torch.optim.SGD([p], lr=0.1, momentum=0.9)
        p.grad = torch.ones(3)
        sgd.step()
        adam_direction_rms(sgd)


def test_probe_run_measures_the_same_run_train_run_trains():
    data = tiny_data()
    config = RunConfig(schedule="one_cycle", lr=0.01, epochs=2, seed=3, batch_size=16)  # 8 steps per epoch
    rows = probe_run(config, [1, 8, 12], lambda model, optim: {"rms": adam_direction_rms(optim)}, data=data)
    assert [r["step"] for r in rows] == [1, 8, 12]
    assert rows[0]["lr"] == pytest.approx(0.01 / 25) and rows[0]["momentum"] == pytest.approx(0.95)
    assert all(r["rms"] > 0 for r in rows)
    # each row's lr and momentum are those its step trained with, as the run's schedule gives them
    lrs, momenta = schedule_trace(config, 16)
    assert [(r["lr"], r["momentum"]) for r in rows] == [(lrs[s - 1], momenta[s - 1]) for s in (1, 8, 12)]
    # the probe trains what train_run trains: the first epoch's mean loss agrees
    losses = probe_run(config, range(1, 9), lambda m, o: {}, data=data, smoothing_window=1)
    record = train_run(config, data)
    first_epoch = sum(r["loss_avg"] for r in losses) / 8
    assert first_epoch == pytest.approx(eval(record["train_loss_epochs"])[0], rel=1e-6)


def test_probe_run_refuses_steps_outside_the_run():
    config = RunConfig(schedule="constant", lr=1e-3, epochs=1, batch_size=16)
    with pytest.raises(ValueError, match="only 8 steps"):
        probe_run(config, [9], lambda m, o: {}, data=tiny_data())
    with pytest.raises(ValueError, match=">= 1"):
        probe_run(config, [0], lambda m, o: {}, data=tiny_data())


def test_step_times_returns_one_positive_time_per_activation():
    from nbsupport.probes import step_times

    x, y = synthetic_mnist(64)
    times = step_times(["selu", "relu"], x, y, steps=2, repeats=2)
    assert set(times) == {"selu", "relu"} and all(0 < t < 10_000 for t in times.values())
    each = step_times(["selu", "relu"], x, y, steps=2, repeats=3, per_repeat=True)
    assert set(each) == {"selu", "relu"} and all(len(t) == 3 and min(t) > 0 for t in each.values())
    with pytest.raises(ValueError, match="steps and repeats"):
        step_times(["relu"], x, y, steps=0)
    with pytest.raises(ValueError, match="at least one batch"):
        step_times(["relu"], x[:8], y[:8])


def test_probe_run_trains_on_the_configs_own_data_set_by_default(monkeypatch):
    from nbsupport import runs

    asked = []

    def fake(dataset, scaling):
        asked.append((dataset, scaling))
        return tiny_data()

    monkeypatch.setattr(runs, "_dataset_cached", fake)
    config = RunConfig(schedule="constant", lr=1e-3, epochs=1, batch_size=16, dataset="fashion_mnist",
                       scaling="normalized")
    rows = probe_run(config, [2], lambda m, o: {})
    assert asked == [("fashion_mnist", "normalized")] and [r["step"] for r in rows] == [2]
