import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import OneCycleLR

from nbsupport import TensorLoader, lr_range_test, seed_everything
from nbsupport.lr_finder import suggest_lrs
from nbsupport.lr_finder import (FASTAI_RULES, debiased_ema, exponential_lrs, fastai_minimum, fastai_slide,
                                 fastai_steep, fastai_suggestions, fastai_trim, fastai_valley, lightning_suggestion,
                                 linear_lrs)
from helpers import synthetic_loaders, tiny_model


def setup(seed=0):
    seed_everything(seed)
    train, _ = synthetic_loaders(n_train=160, seed=seed)
    model = tiny_model()
    optim = torch.optim.AdamW(model.parameters(), lr=0.001)
    return model, optim, train


def test_sweep_is_exponential_from_start_to_end():
    lrs = exponential_lrs(1e-6, 1.0, 7)
    assert lrs[0] == pytest.approx(1e-6) and lrs[-1] == pytest.approx(1.0)
    assert all(b / a == pytest.approx(10.0) for a, b in zip(lrs, lrs[1:]))


def test_range_test_records_losses_and_suggests_learning_rates():
    model, optim, train = setup()
    result = lr_range_test(model, optim, F.cross_entropy, train, start_lr=1e-5, end_lr=1.0,
                           num_steps=30, progress=False)  # 10 batches: the loader is cycled
    assert len(result.lrs) == len(result.losses) == len(result.smoothed) <= 30
    assert result.lrs[0] == pytest.approx(1e-5)
    assert set(result.suggestions) == {"steepest", "minimum/10", "valley"}
    assert all(1e-5 <= lr <= 1.0 for lr in result.suggestions.values())
    assert min(result.smoothed) < result.smoothed[0]


def test_divergence_stops_the_test_early():
    model, optim, train = setup()
    result = lr_range_test(model, optim, F.cross_entropy, train, start_lr=1e-3, end_lr=1e6,
                           num_steps=60, diverge_factor=2.0, progress=False)
    assert result.diverged and len(result.lrs) < 60
    # It stops at the first smoothed loss above twice the best before it (here a finite one), not later.
    smoothed = result.smoothed
    assert all(math.isfinite(s) for s in smoothed)
    assert smoothed[-1] > 2.0 * min(smoothed[:-1])
    assert all(smoothed[k] <= 2.0 * min(smoothed[:k]) for k in range(1, len(smoothed) - 1))


def test_model_optimizer_scheduler_and_rng_are_restored_exactly():
    model, optim, train = setup()
    scheduler = OneCycleLR(optim, max_lr=0.01, total_steps=50)
    for x, y in list(train)[:3]:  # give Adam some moment estimates to restore
        optim.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optim.step()
        scheduler.step()
    params = {k: v.clone() for k, v in model.state_dict().items()}
    adam = {k: v.clone() for k, v in optim.state[next(iter(model.parameters()))].items()}
    groups = [dict(g, params=None) for g in optim.param_groups]
    sched = dict(scheduler.state_dict())
    rng = torch.get_rng_state()
    model.eval()
    lr_range_test(model, optim, F.cross_entropy, train, num_steps=20, end_lr=100.0, scheduler=scheduler,
                  progress=False)
    assert all(torch.equal(params[k], v) for k, v in model.state_dict().items())
    state = optim.state[next(iter(model.parameters()))]
    assert all(torch.equal(adam[k], state[k]) for k in adam)
    assert [dict(g, params=None) for g in optim.param_groups] == groups
    assert scheduler.state_dict() == sched
    assert torch.equal(torch.get_rng_state(), rng)
    assert not model.training


def test_suggestions_on_a_known_curve():
    lrs = exponential_lrs(1e-4, 1.0, 9)
    losses = [2.3, 2.3, 2.2, 1.6, 1.0, 0.8, 0.7, 0.9, 3.0]
    s = suggest_lrs(lrs, losses)
    assert s["steepest"] == pytest.approx(lrs[3])  # largest drop per decade, around 1.6
    assert s["minimum/10"] == pytest.approx(lrs[6] / 10)
    assert s["valley"] == pytest.approx(lrs[3])  # middle of the fall from index 0 (or 1) to 6


@pytest.mark.parametrize("kwargs, message", [
    ({"start_lr": 0}, "start_lr must be a positive number"),
    ({"end_lr": 1e-9}, "end_lr must be larger than start_lr"),
    ({"num_steps": 2}, "num_steps must be an int of at least 3"),
    ({"diverge_factor": 1.0}, "diverge_factor must be larger than 1"),
    ({"smooth": 0}, "smooth"),
])
def test_bad_arguments_fail_before_training(kwargs, message):
    model, optim, train = setup()
    with pytest.raises(ValueError, match=message):
        lr_range_test(model, optim, F.cross_entropy, train, progress=False, **kwargs)


# --- fastai's rules, on curves whose answers follow by hand from the definitions ------------------------------------


def test_linear_lrs_are_evenly_spaced_from_start_to_end():
    lrs = linear_lrs(0.01, 0.5, 50)
    assert len(lrs) == 50 and lrs[0] == pytest.approx(0.01) and lrs[-1] == pytest.approx(0.5)
    assert np.allclose(np.diff(lrs), 0.01)


def test_debiased_ema_is_fastais_running_mean():
    # beta=0.5: avg = 0.5, then 0.25; debiased by 1 - 0.5 and 1 - 0.25.
    assert debiased_ema([1.0, 0.0], beta=0.5) == pytest.approx([1.0, 1 / 3])
    assert debiased_ema([2.0] * 5) == pytest.approx([2.0] * 5)  # the debiasing makes a constant stay constant
    with pytest.raises(ValueError, match="beta"):
        debiased_ema([1.0], beta=1.0)


def test_fastai_minimum_is_a_tenth_of_the_first_lowest_point():
    lrs = exponential_lrs(1e-4, 1.0, 5)
    assert fastai_minimum(lrs, [3.0, 1.0, 2.0, 1.0, 4.0]) == pytest.approx(lrs[1] / 10)


def test_fastai_steep_is_the_left_end_of_the_steepest_segment_per_log_lr():
    # Slopes per unit of ln(lr): -1/ln(10) = -0.43, -0.5/ln(2) = -0.72, -0.1/ln(5) = -0.06. The largest drop (the
    # first) is not the steepest once divided by its longer log-lr step.
    lrs, losses = [1e-3, 1e-2, 2e-2, 1e-1], [3.0, 2.0, 1.5, 1.4]
    assert fastai_steep(lrs, losses) == pytest.approx(1e-2)


def test_fastai_valley_on_a_hand_computed_curve():
    lrs = exponential_lrs(1e-6, 1.0, 8)
    # Longest strictly decreasing subsequence: 5, 4, 3, 2, 1 (indices 0, 2, 3, 5, 6), L = 5 ending at 6.
    # fastai: start = 6 - 5 = 1, d = 5/3, idx = 1 + int(5/3) + int(5/6) = 2.
    assert fastai_valley(lrs, [5.0, 6.0, 4.0, 3.0, 7.0, 2.0, 1.0, 8.0]) == pytest.approx(lrs[2])
    # A 10-point fall: L = 10 ending at 9, start = -1, d = 10/3, idx = -1 + 3 + 1 = 3.
    lrs = exponential_lrs(1e-6, 1.0, 10)
    assert fastai_valley(lrs, [10.0 - i for i in range(10)]) == pytest.approx(lrs[3])


def test_fastai_valley_keeps_its_edge_cases():
    lrs = [1e-3, 1e-2, 1e-1]
    assert fastai_valley(lrs, [1.0, 2.0, 3.0]) == pytest.approx(1e-3)  # nothing falls: start = end = 0
    assert fastai_valley(lrs, [2.0, 1.0, 3.0]) == pytest.approx(1e-1)  # start = -1, idx = -1: the last lr


def test_fastai_slide_on_a_hand_computed_curve():
    # Slope -0.1 per point up to index 10 (np.gradient is exact on the straight part), then a parabola bends it
    # up: g[11] = -0.075, g[12] = 0, g[13] = 0.1, ... Windows of lr_diff=4 slide left from (right=19, left=15);
    # the first whose end slopes agree is (10, 6), the last that differed (11, 7): the suggestion is lrs[7].
    lrs = exponential_lrs(1e-5, 1.0, 20)
    losses = [2.0 - 0.1 * i + (0.05 * (i - 11) ** 2 if i >= 11 else 0.0) for i in range(20)]
    assert fastai_slide(lrs, losses, lr_diff=4) == pytest.approx(lrs[7])
    assert fastai_slide(lrs, losses, lr_diff=4, adjust_value=0.5) == pytest.approx(lrs[7] / 2)
    # A straight line agrees at once: the first window's left end, lrs[n-1-lr_diff].
    assert fastai_slide(lrs, [2.0 - 0.1 * i for i in range(20)], lr_diff=4) == pytest.approx(lrs[15])
    # A parabola never agrees (slopes 0.02*i differ by 0.06 over 3 points): down to lrs[0].
    lrs = exponential_lrs(1e-5, 1.0, 10)
    assert fastai_slide(lrs, [0.01 * i ** 2 for i in range(10)], lr_diff=3) == pytest.approx(lrs[0])
    with pytest.raises(ValueError, match="more than lr_diff=15 points"):
        fastai_slide(lrs, [0.01 * i ** 2 for i in range(10)])


def test_fastai_trim_drops_a_tenth_of_num_it_the_last_five_and_from_the_first_nan():
    lrs = [float(i) for i in range(1, 31)]
    losses = [1.0] * 30
    losses[15], losses[20] = math.inf, math.nan
    kept_lrs, kept_losses = fastai_trim(lrs, losses, num_it=40)  # 40 requested, 30 recorded: skip 4
    assert kept_lrs.tolist() == lrs[4:20]  # [4:-5] is indices 4..24, cut at the NaN at 20; the inf stays
    assert math.isinf(kept_losses[11])
    assert fastai_trim(lrs, [1.0] * 30)[0].tolist() == lrs[3:25]  # num_it defaults to the points recorded


def test_fastai_suggestions_apply_the_rules_to_the_trimmed_curve():
    lrs = exponential_lrs(1e-6, 1.0, 60)
    losses = [2.0 - 1.5 / (1 + math.exp(-(i - 25) / 4)) + (0.01 * (i - 45) ** 2 if i > 45 else 0) for i in range(60)]
    s = fastai_suggestions(lrs, losses)
    t_lrs, t_losses = lrs[6:-5], losses[6:-5]
    assert list(s) == list(FASTAI_RULES)
    assert s == {"minimum": fastai_minimum(t_lrs, t_losses), "steep": fastai_steep(t_lrs, t_losses),
                 "valley": fastai_valley(t_lrs, t_losses), "slide": fastai_slide(t_lrs, t_losses)}
    assert s["steep"] == pytest.approx(lrs[24])  # the logistic falls fastest at its centre, between 24 and 25
    assert s["minimum"] == pytest.approx(lrs[45] / 10)
    with pytest.raises(ValueError, match="unknown fastai rule"):
        fastai_suggestions(lrs, losses, rules=("valley", "Valley"))
    with pytest.raises(ValueError, match="no points left"):
        fastai_suggestions(lrs[:5], losses[:5])


# --- Lightning's rule --------------------------------------------------------------------------------------------


def _stepped_curve(n, drops):
    """A flat curve at 3 whose step from point k to k+1 is drops.get(k, 0)."""
    steps = [drops.get(k, 0.0) for k in range(n - 1)]
    return [3.0] + list(3.0 + np.cumsum(steps))


def test_lightning_differentiates_against_the_index_which_on_an_exponential_grid_is_log_lr():
    # Slope per point (central differences): -0.1 at 20, -0.5 at 30. Per unit of lr the second is ~18x smaller
    # in lr steps, so against the lr the gentler but much earlier fall at 20 wins.
    lrs = exponential_lrs(1e-5, 1.0, 41)
    losses = _stepped_curve(41, {19: -0.1, 20: -0.1, 29: -0.5, 30: -0.5})
    assert lightning_suggestion(lrs, losses) == pytest.approx(lrs[30])
    assert lightning_suggestion(lrs, losses, against="log_lr") == pytest.approx(lrs[30])
    assert lightning_suggestion(lrs, losses, against="lr") == pytest.approx(lrs[20])


def test_lightning_on_a_linear_grid_is_the_slope_against_the_lr():
    # Per point: -0.3 at 12 (lr 0.31), -0.2 at 35 (lr 0.88); per unit of log lr the later one is steeper.
    lrs = linear_lrs(0.01, 1.0, 41)
    losses = _stepped_curve(41, {11: -0.3, 12: -0.3, 34: -0.2, 35: -0.2})
    assert lightning_suggestion(lrs, losses) == pytest.approx(lrs[12])
    assert lightning_suggestion(lrs, losses, against="lr") == pytest.approx(lrs[12])
    assert lightning_suggestion(lrs, losses, against="log_lr") == pytest.approx(lrs[35])


def test_lightning_skips_begin_and_end_and_gives_up_on_too_few_points():
    lrs = exponential_lrs(1e-5, 1.0, 41)
    losses = _stepped_curve(41, {4: -1.0, 5: -1.0, 29: -0.5, 30: -0.5})
    assert lightning_suggestion(lrs, losses) == pytest.approx(lrs[30])  # the fall at 5 is in the first 10
    assert lightning_suggestion(lrs, losses, skip_begin=0) == pytest.approx(lrs[5])
    assert lightning_suggestion(lrs, losses, skip_end=0) is None  # losses[10:-0] is empty
    assert lightning_suggestion(lrs[:12], losses[:12]) is None  # one point left
    assert lightning_suggestion(lrs[:13], losses[:13]) is not None
    with pytest.raises(ValueError, match="against must be one of"):
        lightning_suggestion(lrs, losses, against="log")


def test_lightning_drops_non_finite_losses_and_keeps_its_index_offset():
    lrs = exponential_lrs(1e-5, 1.0, 41)
    losses = _stepped_curve(41, {29: -0.5, 30: -0.5})
    losses[12], losses[40] = math.nan, math.inf
    # The steepest kept point is the original 30, but it is now 19th after the 10 skipped, one NaN removed.
    assert lightning_suggestion(lrs, losses) == pytest.approx(lrs[29])
    assert lightning_suggestion(lrs, [math.nan] * 41) is None


# --- the linear, multi-epoch sweep ---------------------------------------------------------------------------------


def setup_with_valid(seed=0, optim_class=torch.optim.AdamW, lr=0.001):
    seed_everything(seed)
    train, valid = synthetic_loaders(n_train=160, n_valid=32, seed=seed)  # 10 and 2 batches of 16
    model = tiny_model()
    return model, optim_class(model.parameters(), lr=lr), train, valid


def _record_calls(model):
    calls = []
    handle = model.register_forward_hook(lambda module, inputs, output: calls.append((module.training,
                                                                                       inputs[0].clone())))
    return calls, handle


def test_linear_mode_sweeps_linearly_over_epochs_and_evaluates_every_k_steps():
    model, optim, train, valid = setup_with_valid()
    calls, handle = _record_calls(model)
    result = lr_range_test(model, optim, F.cross_entropy, train, mode="linear", start_lr=1e-4, end_lr=0.05,
                           num_steps=25, diverge_factor=None, valid_loader=valid, eval_every=5, progress=False)
    handle.remove()
    assert result.mode == "linear" and not result.diverged and len(result.lrs) == 25
    assert result.lrs == pytest.approx(linear_lrs(1e-4, 0.05, 25)) and result.lrs[-1] == pytest.approx(0.05)
    assert result.smoothed == pytest.approx(debiased_ema(result.losses, beta=1 - 0.05))
    assert [v["step"] for v in result.valid] == [5, 10, 15, 20, 25]
    assert [v["lr"] for v in result.valid] == [result.lrs[s - 1] for s in (5, 10, 15, 20, 25)]
    assert all(math.isfinite(v["loss"]) and 0 <= v["accuracy"] <= 1 for v in result.valid)
    # 25 training batches in train mode; after every 5th, the 2 validation batches in eval mode.
    modes = [training for training, _ in calls]
    assert modes == ([True] * 5 + [False] * 2) * 5
    train_inputs = [x for training, x in calls if training]
    assert not torch.equal(train_inputs[10], train_inputs[0])  # the second epoch is a new, reshuffled pass
    assert set(result.suggestions) == {"steepest", "minimum/10", "valley"}


def test_exponential_mode_still_replays_the_first_pass():
    model, optim, train, _ = setup_with_valid()
    calls, handle = _record_calls(model)
    result = lr_range_test(model, optim, F.cross_entropy, train, start_lr=1e-5, end_lr=1e-2, num_steps=12,
                           progress=False)
    handle.remove()
    assert result.mode == "exponential" and result.valid == []
    assert torch.equal(calls[10][1], calls[0][1])


def test_validation_records_are_the_models_loss_and_accuracy():
    # With a negligible lr, the model barely moves: every evaluation must match one of the untouched model.
    model, optim, train, valid = setup_with_valid(optim_class=torch.optim.SGD, lr=0.1)
    x, y = valid.x, valid.y
    with torch.no_grad():
        out = model(x)
    loss, acc = F.cross_entropy(out, y).item(), (out.argmax(1) == y).float().mean().item()
    result = lr_range_test(model, optim, F.cross_entropy, train, mode="linear", start_lr=1e-12, end_lr=2e-12,
                           num_steps=6, valid_loader=valid, eval_every=3, device="cpu", progress=False)
    assert [v["step"] for v in result.valid] == [3, 6]
    assert all(v["loss"] == pytest.approx(loss, abs=1e-6) and v["accuracy"] == pytest.approx(acc)
               for v in result.valid)


def test_linear_mode_with_validation_restores_everything():
    model, optim, train, valid = setup_with_valid()
    for x, y in list(train)[:2]:  # give Adam some state to restore
        optim.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optim.step()
    params = {k: v.clone() for k, v in model.state_dict().items()}
    adam = {k: v.clone() for k, v in optim.state[next(iter(model.parameters()))].items()}
    groups = [dict(g, params=None) for g in optim.param_groups]
    rng = torch.get_rng_state()
    lr_range_test(model, optim, F.cross_entropy, train, mode="linear", start_lr=1e-3, end_lr=0.1, num_steps=15,
                  valid_loader=valid, eval_every=4, progress=False)
    assert all(torch.equal(params[k], v) for k, v in model.state_dict().items())
    state = optim.state[next(iter(model.parameters()))]
    assert all(torch.equal(adam[k], state[k]) for k in adam)
    assert [dict(g, params=None) for g in optim.param_groups] == groups
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.training  # it was in train mode before


def test_without_diverge_factor_only_a_non_finite_loss_stops_the_test():
    model, optim, train, _ = setup_with_valid()
    result = lr_range_test(model, optim, F.cross_entropy, train, start_lr=1e-3, end_lr=1e6, num_steps=60,
                           diverge_factor=None, progress=False)
    # Up to lr 1e6 AdamW blows the loss up to inf: the test runs on far past 4x (the default factor) its best
    # smoothed loss, and stops at the first non-finite one, which it records.
    assert result.diverged and len(result.lrs) < 60
    assert all(math.isfinite(s) for s in result.smoothed[:-1]) and not math.isfinite(result.smoothed[-1])
    assert not math.isfinite(result.losses[-1])
    assert max(result.smoothed[:-1]) > 1e6 * min(result.smoothed)


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "cosine"}, "mode must be 'exponential'"),
    ({"eval_every": 5}, "without a valid_loader"),
    ({"valid_loader": "valid"}, "without eval_every"),
    ({"valid_loader": "valid", "eval_every": 0}, "eval_every must be an int from 1 to num_steps=100"),
    ({"valid_loader": "valid", "eval_every": 101}, "eval_every must be an int from 1 to num_steps=100"),
    ({"valid_loader": "valid", "eval_every": 2.5}, "eval_every must be an int"),
    ({"valid_loader": "empty", "eval_every": 5}, "valid_loader is empty"),
    ({"diverge_factor": 0.5}, "or None to stop only on a non-finite loss"),
])
def test_bad_sweep_arguments_fail_before_training(kwargs, message):
    model, optim, train, valid = setup_with_valid()
    loaders = {"valid": valid, "empty": TensorLoader(valid.x[:0], valid.y[:0], 16)}
    if "valid_loader" in kwargs:
        kwargs = dict(kwargs, valid_loader=loaders[kwargs["valid_loader"]])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=message):
        lr_range_test(model, optim, F.cross_entropy, train, progress=False, **kwargs)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# --- what the test suggests from when it stopped -------------------------------------------------------------------


def scripted_range_test(losses, num_steps, **kwargs):
    """``lr_range_test`` on a model whose loss at step k is ``losses[k]`` (no smoothing, smooth=1)."""
    model, optim, train = setup()
    calls = []

    def loss_fn(out, y):
        calls.append(1)
        return out.sum() * 0.0 + losses[len(calls) - 1]

    result = lr_range_test(model, optim, loss_fn, train, start_lr=1e-4, end_lr=1.0, num_steps=num_steps,
                           smooth=1.0, progress=False, **kwargs)
    assert len(calls) == len(result.lrs)
    return result


def test_a_stopped_test_suggests_from_every_point_but_the_one_it_stopped_at():
    # The curve of test_suggestions_on_a_known_curve, then a NaN at step 9 of 12: the test stops there and
    # suggests from the 8 points before it, whose answers are known by hand.
    curve = [2.3, 2.3, 2.2, 1.6, 1.0, 0.8, 0.7, 0.9, math.nan]
    result = scripted_range_test(curve + [0.5] * 3, num_steps=12)
    lrs = exponential_lrs(1e-4, 1.0, 12)
    assert result.diverged and len(result.lrs) == 9 and math.isnan(result.smoothed[-1])
    assert result.smoothed[:8] == pytest.approx(curve[:8])  # smooth=1: the raw losses
    assert result.suggestions == {"steepest": pytest.approx(lrs[3]), "minimum/10": pytest.approx(lrs[6] / 10),
                                  "valley": pytest.approx(lrs[3])}
    # Suggesting from the NaN too would answer differently: NumPy's argmin lands on the NaN.
    with_stop = suggest_lrs(result.lrs, result.smoothed)
    assert with_stop["minimum/10"] == pytest.approx(lrs[8] / 10) != result.suggestions["minimum/10"]


def test_a_test_stopped_at_its_third_point_suggests_nothing_and_a_finite_stop_is_left_out_too():
    # Two usable points are too few for suggest_lrs; with the stopping point there would be three.
    result = scripted_range_test([2.0, 1.5, math.nan] + [1.0] * 7, num_steps=10)
    assert result.diverged and len(result.lrs) == 3 and result.suggestions == {}
    # A finite stop (30 > 4 x 1.0) at step 5: suggestions from the 4 points before it. By hand: the one-sided
    # slope at 0 (-0.5 per step) is the steepest before the minimum at 3; the fall runs from 0 to 3.
    result = scripted_range_test([2.0, 1.5, 1.2, 1.0] + [30.0] * 6, num_steps=10)
    lrs = exponential_lrs(1e-4, 1.0, 10)
    assert result.diverged and len(result.lrs) == 5 and result.smoothed[-1] == 30.0
    assert result.suggestions == {"steepest": pytest.approx(lrs[0]), "minimum/10": pytest.approx(lrs[3] / 10),
                                  "valley": pytest.approx(lrs[1])}


def test_the_cuda_random_state_is_restored_too_when_cuda_is_in_use(monkeypatch):
    """Dropout on a GPU draws from the CUDA generators; the test must put them back as well (checked here with
    a stand-in for CUDA, since the test machines have none)."""
    restored = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: ["cuda state before"])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    train, _ = synthetic_loaders(n_train=64)
    model = tiny_model()
    lr_range_test(model, torch.optim.AdamW(model.parameters()), F.cross_entropy, train, num_steps=5,
                  device="cpu", progress=False)
    assert restored == [["cuda state before"]]


@pytest.mark.parametrize("mode", ["exponential", "linear"])
def test_each_step_is_taken_at_the_lr_the_result_reports(mode):
    """The optimizer's own lr at each update (read by a step pre-hook) is ``result.lrs`` step by step: a test
    that set each lr one step late would report lrs it never trained at."""
    model, optim, train = setup()
    used = []
    optim.register_step_pre_hook(lambda opt, args, kwargs: used.append(opt.param_groups[0]["lr"]))
    result = lr_range_test(model, optim, F.cross_entropy, train, start_lr=1e-5, end_lr=0.1, num_steps=25,
                           mode=mode, diverge_factor=None, progress=False)
    assert not result.diverged and len(used) == len(result.lrs) == 25
    assert used == result.lrs == (exponential_lrs if mode == "exponential" else linear_lrs)(1e-5, 0.1, 25)


def test_a_regression_model_with_a_mean_squared_error_runs_too():
    """The range test takes any model and loss: no argmax of the output is taken while training (the
    Trainer's ``accuracy=False``), so a one-output regression model is fine."""
    seed_everything(0)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5])
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0))  # one number per example: (N,)
    optim = torch.optim.SGD(model.parameters(), lr=0.01)
    loader = TensorLoader(x, y, batch_size=8, shuffle=True, seed=0)
    result = lr_range_test(model, optim, F.mse_loss, loader, start_lr=1e-4, end_lr=10.0, num_steps=30, progress=False)
    assert len(result.losses) >= 10 and set(result.suggestions) == {"steepest", "minimum/10", "valley"}
