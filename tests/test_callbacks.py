import pytest
import torch

from nbsupport import SchedulerStatsCallback
from helpers import tiny_model


def test_records_adam_beta1_and_lr():
    optim = torch.optim.AdamW(tiny_model().parameters(), lr=0.001, betas=(0.9, 0.999))
    stats = SchedulerStatsCallback(optim)
    stats()
    optim.param_groups[0]["lr"] = 0.01
    optim.param_groups[0]["betas"] = (0.85, 0.999)
    stats()
    assert stats.kind == "beta1"
    assert stats.lr == [0.001, 0.01]
    assert stats.momentum == [0.9, 0.85]


def test_records_sgd_momentum():
    optim = torch.optim.SGD(tiny_model().parameters(), lr=0.1, momentum=0.9)
    stats = SchedulerStatsCallback(optim)
    stats()
    assert stats.kind == "momentum"
    assert (stats.lr, stats.momentum) == ([0.1], [0.9])


def test_optimizer_without_momentum_is_refused_at_construction():
    optim = torch.optim.Adagrad(tiny_model().parameters())
    with pytest.raises(TypeError, match="Adagrad has neither 'betas'.*nor 'momentum'.*AdamW"):
        SchedulerStatsCallback(optim)
