"""One seeded one-cycle training run, the unit of every comparison in the chapters."""

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import OneCycleLR

from .callbacks import SchedulerStatsCallback
from .models import mnist_model
from .repro import seed_everything
from .training import Trainer

OPTIMIZERS = ("adamw", "sgd")


@dataclass
class RunResult:
    """A finished run: its trainer (logs, model), the recorded schedule and the wall-clock time."""

    trainer: Trainer
    stats: SchedulerStatsCallback
    seconds: float
    diverged: str = ""  # the error message if the loss became NaN or infinite

    @property
    def val_acc(self):
        return self.trainer.valid_log["accs"][-1] if not self.diverged else float("nan")

    @property
    def val_loss(self):
        return self.trainer.valid_log["loss"][-1] if not self.diverged else float("nan")

    @property
    def seconds_per_epoch(self):
        """Training time per epoch, validation excluded."""
        return sum(self.trainer.epoch_seconds) / len(self.trainer.epoch_seconds)


def train_one_cycle(train_loader, valid_loader, *, activation="selu", optimizer="adamw", max_lr=0.01, epochs=1,
                    momentum=None, seed=0, self_normalizing=False, verbose=True, progress=None):
    """Train the page's model with one-cycle to ``max_lr``; momentum is cycled unless ``momentum`` fixes it.

    ``optimizer`` is ``"adamw"`` (the page's, base lr 0.001; momentum is beta1)
    or ``"sgd"`` (with momentum). The model is initialized from ``seed``, so runs
    that differ only in their schedule start from the same weights. A run whose
    loss turns NaN is a result too: it comes back with ``diverged`` set.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if momentum is not None and not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1) or None (cycled 0.95 -> 0.85 -> 0.95), got {momentum!r}")
    seed_everything(seed)
    model = mnist_model(activation, self_normalizing=self_normalizing)
    fixed = momentum if momentum is not None else 0.9
    if optimizer == "adamw":
        optim = torch.optim.AdamW(model.parameters(), lr=0.001, betas=(fixed, 0.999))
    else:
        optim = torch.optim.SGD(model.parameters(), lr=max_lr / 25, momentum=fixed)
    scheduler = OneCycleLR(optim, max_lr=max_lr, steps_per_epoch=len(train_loader), epochs=epochs,
                           cycle_momentum=momentum is None)
    stats = SchedulerStatsCallback(optim)
    trainer = Trainer(model, optim, F.cross_entropy, scheduler, callbacks=[stats], verbose=verbose,
                      progress=progress)
    start = time.perf_counter()
    try:
        trainer.run(epochs=epochs, train_loader=train_loader, valid_loader=valid_loader)
    except FloatingPointError as exc:
        if verbose:
            print(f"diverged: {str(exc).split(';')[0]}")
        return RunResult(trainer, stats, time.perf_counter() - start, diverged=str(exc))
    return RunResult(trainer, stats, time.perf_counter() - start)


@torch.no_grad()
def activation_stats(model, x, layer_type=None):
    """Mean and standard deviation of each activation layer's output on the batch ``x``, in eval mode.

    ``layer_type`` selects the layers (default: the model's activation modules,
    i.e. every module that is not a Conv, Linear, pooling, Flatten or dropout
    layer). Returns a list of ``(index, mean, std)``.
    """
    skip = (torch.nn.Conv2d, torch.nn.Linear, torch.nn.MaxPool2d, torch.nn.Flatten, torch.nn.Dropout,
            torch.nn.AlphaDropout, torch.nn.Sequential)
    layers = [(i, m) for i, m in enumerate(model) if (isinstance(m, layer_type) if layer_type else not isinstance(m, skip))]
    outputs = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, i=i: outputs.__setitem__(i, out)) for i, m in layers]
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return [(i, outputs[i].mean().item(), outputs[i].std().item()) for i, _ in layers]


def loss_spike(train_log, lr, peak_step, steps_per_epoch, noise_window=250, tail=500):
    """Where the averaged training loss stops falling before the lr peak, how high it then spikes, and how
    the step-to-step noise of the raw loss compares around the peak and at the end.

    ``train_log`` is a ``Trainer.train_log``; ``lr`` the per-step learning rates
    (``SchedulerStatsCallback.lr``); ``peak_step`` the step where the lr peaks.
    The stall is the lowest averaged loss between a quarter epoch and half an
    epoch past the peak; the spike is the highest averaged loss after it in that
    window. Noise is the standard deviation of (raw - averaged) loss over
    ``noise_window`` steps either side of the peak, and over the last ``tail`` steps.
    Returns a dict of plain numbers.
    """
    loss = torch.tensor(train_log["loss"])
    avg = torch.tensor(train_log["loss_avg"])
    if len(loss) != len(avg) or len(loss) < peak_step + 1:
        raise ValueError(f"train_log has {len(loss)} steps, too few for a peak at step {peak_step}")
    lo, hi = steps_per_epoch // 4, min(len(avg), peak_step + steps_per_epoch // 2)
    if not lo < peak_step < hi:
        raise ValueError(f"peak_step={peak_step} must lie between a quarter epoch ({lo}) and the end of the "
                         f"window ({hi})")
    stall = lo + int(avg[lo:hi].argmin())
    spike = stall + int(avg[stall:hi].argmax())
    resid = loss - avg
    around = resid[max(0, peak_step - noise_window): peak_step + noise_window]
    return {
        "stall_step": stall, "stall_lr": lr[stall], "stall_loss": float(avg[stall]),
        "spike_step": spike, "spike_lr": lr[spike], "spike_loss": float(avg[spike]),
        "rise": float(avg[spike] - avg[stall]),
        "noise_peak": float(around.std()), "noise_end": float(resid[-tail:].std()),
    }
