import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import OneCycleLR

from nbsupport import Callback, SchedulerStatsCallback, Trainer, TensorLoader, seed_everything
from helpers import synthetic_loaders, synthetic_mnist, tiny_model

LINE = re.compile(r"^\[Epoch: (\d+)/(\d+)\]  loss: \d+\.\d{4}  acc: \d\.\d{4}  val_loss: \d+\.\d{4}  val_acc: \d\.\d{4}$")


def make_trainer(epochs=2, max_lr=0.05, callbacks=(), seed=0, scheduler_epochs=None):
    seed_everything(seed)
    train, valid = synthetic_loaders(seed=seed)
    model = tiny_model()
    optim = torch.optim.AdamW(model.parameters(), lr=0.001)
    scheduler = OneCycleLR(optim, max_lr=max_lr, steps_per_epoch=len(train), epochs=scheduler_epochs or epochs)
    stats = SchedulerStatsCallback(optim)
    trainer = Trainer(model, optim, F.cross_entropy, scheduler, callbacks=[stats, *callbacks], progress=False)
    return trainer, stats, train, valid


def test_run_prints_one_line_per_epoch_and_fills_the_logs(capsys):
    trainer, stats, train, valid = make_trainer(epochs=3)
    trainer.run(epochs=3, train_loader=train, valid_loader=valid)
    lines = capsys.readouterr().out.splitlines()
    assert [LINE.match(line).groups() for line in lines] == [("1", "3"), ("2", "3"), ("3", "3")]
    steps = 3 * len(train)
    assert all(len(trainer.train_log[k]) == steps for k in ("loss", "accs", "loss_avg", "accs_avg"))
    assert len(stats.lr) == len(stats.momentum) == steps
    assert len(trainer.valid_log["loss"]) == len(trainer.valid_log["accs"]) == 3
    assert trainer.valid_log["accs"][-1] > 0.5  # learnable synthetic task, chance is 0.1
    # The schedule went up to max_lr and back down while beta1 went the other way.
    peak = max(range(steps), key=stats.lr.__getitem__)
    assert stats.lr[peak] == pytest.approx(0.05, rel=0.01) and stats.momentum[peak] == pytest.approx(0.85, abs=0.01)
    assert min(stats.lr[peak:]) < stats.lr[0] / 100  # annealed far below the base lr


def test_averages_are_trailing_means_over_five_percent_of_an_epoch():
    x, y = synthetic_mnist(400)
    train = TensorLoader(x, y, batch_size=4, shuffle=True, seed=0)  # 100 steps: window of 5
    model = tiny_model()
    trainer = Trainer(model, torch.optim.SGD(model.parameters(), lr=0.01), F.cross_entropy, progress=False)
    trainer.run(epochs=1, train_loader=train)
    log = trainer.train_log
    assert log["loss_avg"][0] == log["loss"][0]
    assert log["loss_avg"][49] == pytest.approx(sum(log["loss"][45:50]) / 5)
    assert log["accs_avg"][99] == pytest.approx(sum(log["accs"][95:100]) / 5)


def test_run_without_validation_prints_train_numbers_only(capsys):
    trainer, _, train, _ = make_trainer(epochs=1)
    trainer.run(epochs=1, train_loader=train)
    assert re.fullmatch(r"\[Epoch: 1/1\]  loss: \d\.\d{4}  acc: \d\.\d{4}\n", capsys.readouterr().out)


def test_scheduler_step_mismatch_is_refused_before_any_step():
    trainer, _, train, valid = make_trainer(epochs=2, scheduler_epochs=3)
    before = [p.detach().clone() for p in trainer.model.parameters()]
    with pytest.raises(ValueError, match=r"OneCycleLR has 18 steps left, but run\(epochs=2\) .* 6 batches takes 12 steps"):
        trainer.run(epochs=2, train_loader=train, valid_loader=valid)
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))


def test_nan_loss_stops_with_step_and_learning_rate():
    trainer, _, train, _ = make_trainer(epochs=1)
    calls = []

    def loss_fn(out, y):
        calls.append(1)
        loss = F.cross_entropy(out, y)
        return loss * float("nan") if len(calls) == 3 else loss

    trainer.loss_fn = loss_fn
    with pytest.raises(FloatingPointError, match=r"loss is nan at step 3 \(lr=\d"):
        trainer.run(epochs=1, train_loader=train)
    assert trainer.step == 2 and all(torch.isfinite(p).all() for p in trainer.model.parameters())


@pytest.mark.parametrize("epochs", [0, 1.5, -2])
def test_bad_epochs_are_refused(epochs):
    trainer, _, train, _ = make_trainer(epochs=1)
    with pytest.raises(ValueError, match="epochs must be a positive int"):
        trainer.run(epochs=epochs, train_loader=train)


def test_empty_loaders_are_refused():
    trainer, _, train, _ = make_trainer(epochs=1)
    empty = TensorLoader(torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match="train_loader is empty"):
        trainer.run(epochs=1, train_loader=empty)
    with pytest.raises(ValueError, match="valid_loader is empty"):
        trainer.run(epochs=1, train_loader=train, valid_loader=empty)
    with pytest.raises(ValueError, match="empty loader"):
        trainer.evaluate(empty)


def test_predict_uses_eval_mode_without_graph_and_restores_mode():
    trainer, *_ = make_trainer()
    trainer.model.train()
    x = torch.rand(4, 1, 28, 28)
    out = trainer(x)
    assert out.shape == (4, 10) and not out.requires_grad and trainer.model.training
    trainer.model.eval()
    assert torch.equal(trainer.predict(x), out) and not trainer.model.training


def test_seeded_runs_give_identical_logs():
    logs = []
    for _ in range(2):
        trainer, stats, train, valid = make_trainer(epochs=2, seed=5)
        trainer.run(epochs=2, train_loader=train, valid_loader=valid)
        logs.append((trainer.train_log, trainer.valid_log, stats.lr))
    assert logs[0] == logs[1]


def test_callback_events_arrive_in_order():
    class Recorder(Callback):
        def __init__(self):
            self.events = []

        def before_fit(self, trainer):
            self.events.append("before_fit")

        def after_step(self, trainer):
            self.events.append(("step", trainer.step))

        def after_epoch(self, trainer):
            self.events.append(("epoch", len(trainer.valid_log["loss"])))

        def after_fit(self, trainer):
            self.events.append("after_fit")

    rec = Recorder()
    trainer, _, train, valid = make_trainer(epochs=2, callbacks=[rec])
    trainer.run(epochs=2, train_loader=train, valid_loader=valid)
    n = len(train)
    expected = ["before_fit", *[("step", i) for i in range(1, n + 1)], ("epoch", 1),
                *[("step", i) for i in range(n + 1, 2 * n + 1)], ("epoch", 2), "after_fit"]
    assert rec.events == expected


def test_progress_bar_shows_by_default_and_switches_off(capsys, monkeypatch):
    monkeypatch.delenv("NBSUPPORT_PROGRESS", raising=False)
    for progress, env, shown in [(None, None, True), (False, None, False), (None, "0", False)]:
        if env is not None:
            monkeypatch.setenv("NBSUPPORT_PROGRESS", env)
        trainer, _, train, _ = make_trainer(epochs=1)
        trainer.progress = progress
        trainer.run(epochs=1, train_loader=train)
        assert ("0/6" in capsys.readouterr().err) is shown


def test_after_fit_is_sent_even_when_a_nan_loss_stops_training():
    # Schedule-free AdamW switches to its averaged weights in after_fit: a run stopped by a NaN needs it too.
    class Recorder(Callback):
        def __init__(self):
            self.events = []

        def after_step(self, trainer):
            self.events.append(("step", trainer.step))

        def after_fit(self, trainer):
            self.events.append("after_fit")

    rec = Recorder()
    trainer, _, train, _ = make_trainer(epochs=1, callbacks=[rec])
    calls = []

    def loss_fn(out, y):
        calls.append(1)
        loss = F.cross_entropy(out, y)
        return loss * float("nan") if len(calls) == 3 else loss

    trainer.loss_fn = loss_fn
    with pytest.raises(FloatingPointError, match="at step 3"):
        trainer.run(epochs=1, train_loader=train)
    assert rec.events == [("step", 1), ("step", 2), "after_fit"]


def test_batch_events_bracket_each_update_and_a_cancel_at_the_loss_skips_it():
    """before_batch comes before the forward pass, after_loss sees the batch's loss before the update; a
    CancelFit raised there ends the fit with that batch's update not made (the LR range test stops so)."""
    from nbsupport.callbacks import CancelFit

    class Recorder(Callback):
        def __init__(self):
            self.events, self.weights = [], []

        def before_batch(self, trainer):
            self.events.append(("batch", trainer.step))
            self.weights = [p.detach().clone() for p in trainer.model.parameters()]

        def after_loss(self, trainer):
            self.events.append(("loss", trainer.step, trainer.loss))
            if trainer.step == 2:
                raise CancelFit

        def after_step(self, trainer):
            self.events.append(("step", trainer.step))

        def after_fit(self, trainer):
            self.events.append("after_fit")

    rec = Recorder()
    trainer, _, train, valid = make_trainer(epochs=1, callbacks=[rec])
    trainer.run(epochs=1, train_loader=train, valid_loader=valid)
    kinds = [e if isinstance(e, str) else e[:2] for e in rec.events]
    assert kinds == [("batch", 0), ("loss", 0), ("step", 1), ("batch", 1), ("loss", 1), ("step", 2),
                     ("batch", 2), ("loss", 2), "after_fit"]
    assert [e[2] for e in rec.events if e[0] == "loss"] == trainer.train_log["loss"] + [rec.events[-2][2]]
    assert trainer.step == 2 and trainer.valid_log["loss"] == []  # cancelled mid-epoch: no validation
    after = [p.detach() for p in trainer.model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(after, rec.weights))  # the cancelled batch was not applied


def test_without_accuracy_the_logs_hold_nan_and_no_argmax_is_taken():
    seed_everything(0)
    x, y = torch.randn(40, 3), torch.randn(40)
    model = torch.nn.Linear(3, 1)
    optim = torch.optim.SGD(model.parameters(), lr=0.01)
    loader = TensorLoader(x, y, batch_size=8)
    trainer = Trainer(model, optim, lambda out, t: F.mse_loss(out.squeeze(1), t), progress=False, verbose=False,
                      accuracy=False)
    trainer.run(epochs=2, train_loader=loader, valid_loader=loader)
    assert len(trainer.train_log["loss"]) == 10 and all(math.isnan(a) for a in trainer.train_log["accs"])
    assert all(math.isnan(a) for a in trainer.epoch_log["accs"] + trainer.valid_log["accs"])
    assert trainer.valid_log["loss"][-1] < trainer.valid_log["loss"][0]
