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


def test_a_callback_can_end_training_early_and_after_fit_is_still_sent():
    import pytest

    from nbsupport import Trainer, mnist_model
    from nbsupport.callbacks import Callback, StopAfterEpochs
    from helpers import synthetic_loaders

    import torch
    import torch.nn.functional as F

    events = []

    class Spy(Callback):
        def after_epoch(self, trainer):
            events.append("after_epoch")

        def after_fit(self, trainer):
            events.append("after_fit")

    train, valid = synthetic_loaders()
    model = mnist_model("selu")
    optim = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=1e-2, total_steps=3 * len(train))
    trainer = Trainer(model, optim, F.cross_entropy, sched, callbacks=[Spy(), StopAfterEpochs(2)],
                      progress=False)
    trainer.run(3, train, valid)
    assert len(trainer.epoch_log["loss"]) == 2 and trainer.step == 2 * len(train)
    assert events == ["after_epoch", "after_epoch", "after_fit"]
    with pytest.raises(ValueError, match="positive int"):
        StopAfterEpochs(0)
