import math

import pytest
import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import OneCycleLR

from nbsupport import lr_range_test, seed_everything, suggest_lrs
from nbsupport.lr_finder import exponential_lrs
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
    last = result.smoothed[-1]
    assert not math.isfinite(last) or last > 2.0 * min(result.smoothed[:-1])


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
