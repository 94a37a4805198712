"""Probes and one-off measurements the chapters make live: a one-cycle run with its logs (``train_one_cycle``),
the loss spike, layer activity, Adam's step size, step times. Whatever trains here trains on the ``Trainer``
(``nbsupport.training``), with callbacks for what it measures.

(Stored grids of runs are ``nbsupport.runs`` and ``nbsupport.grid``; the grid definitions themselves live in the
top-level ``experiments/`` folder.)"""

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .callbacks import Callback, CancelFit, SchedulerStatsCallback
from .models import mnist_model
from .optimizers import CYCLED, OPTIMIZERS
from .repro import seed_everything
from .training import Trainer



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

    ``optimizer`` is ``"adamw"`` (the page's; momentum is beta1), ``"sgd"`` (with momentum) or one of the
    learning-rate-free ones, built as a ``RunConfig`` run builds it (``nbsupport.optimizers``). The model is
    initialized from ``seed``, so runs that differ only in their schedule start from the same weights. A run whose
    loss turns NaN is a result too: it comes back with ``diverged`` set.
    """
    from .runs import RunConfig, trainer_for

    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    if momentum is not None and not 0 <= momentum < 1:
        raise ValueError(f"momentum must be in [0, 1) or None (cycled 0.95 -> 0.85 -> 0.95), got {momentum!r}")
    config = RunConfig(schedule="one_cycle", lr=max_lr, epochs=epochs, seed=seed, optimizer=optimizer,
                       momentum=CYCLED if momentum is None else momentum, activation=activation,
                       init="lecun" if self_normalizing else "default")
    trainer = trainer_for(config, train_loader, device=None, progress=progress, verbose=verbose)
    stats = trainer.callbacks[0]  # the run's SchedulerStatsCallback
    start = time.perf_counter()
    try:
        trainer.run(epochs=epochs, train_loader=train_loader, valid_loader=valid_loader)
    except FloatingPointError as exc:
        if verbose:
            print(f"diverged: {str(exc).split(';')[0]}")
        return RunResult(trainer, stats, time.perf_counter() - start, diverged=str(exc))
    return RunResult(trainer, stats, time.perf_counter() - start)


@torch.no_grad()
def _layer_outputs(model, x, layers):
    """The outputs of the given ``(index, module)`` layers for the batch ``x``, in eval mode (mode restored)."""
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
    return outputs


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
    outputs = _layer_outputs(model, x, layers)
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


_WEIGHTED = (torch.nn.Conv2d, torch.nn.Linear)


@torch.no_grad()
def unit_activity(model, x):
    """How each Conv/Linear layer's pre-activations behave over the images ``x`` (eval mode).

    For every such layer (index in the ``nn.Sequential``) returns a dict with
    ``bias_sd`` (spread of the biases), ``signal_sd`` (spread of the part that
    depends on the image, pre-activation minus bias), ``never_on`` and
    ``always_on`` (fractions of units, i.e. channel-and-position or neuron,
    whose pre-activation is <= 0 for every image, or > 0 for every image: a
    ReLU unit that is never on passes no gradient) and ``across_images`` (the
    standard deviation over images, averaged over units: how much the layer's
    output depends on which image it sees). The last layer's row describes the
    logits.
    """
    layers = [(i, m) for i, m in enumerate(model) if isinstance(m, _WEIGHTED)]
    if not layers:
        raise ValueError("the model has no Conv2d or Linear layer to describe")
    if len(x) < 2:
        raise ValueError(f"need at least 2 images to measure a spread over images, got {len(x)}")
    outputs = _layer_outputs(model, x, layers)
    rows = []
    for i, m in layers:
        pre = outputs[i]
        bias = m.bias if m.bias is not None else torch.zeros(pre.shape[1])
        signal = pre - bias.view(1, -1, *([1] * (pre.dim() - 2)))
        on = (pre > 0).sum(dim=0)
        rows.append({
            "layer": i, "kind": type(m).__name__, "bias_sd": bias.std().item(), "signal_sd": signal.std().item(),
            "never_on": (on == 0).float().mean().item(), "always_on": (on == len(x)).float().mean().item(),
            "across_images": pre.std(dim=0).mean().item(),
        })
    return rows


def adam_direction_rms(optim):
    """Root mean square, over every parameter entry, of Adam's normalized step ``m_hat / (sqrt(v_hat) + eps)``.

    The step an Adam or AdamW update takes (before weight decay) is ``lr`` times
    this direction, so this is the update size per unit of learning rate. It is
    1 when every gradient entry is the same at every step and smaller when
    gradients fluctuate: the first moment averages fluctuations away, the
    second does not. Reads the optimizer's state; raises if it holds none yet.
    """
    total, count = 0.0, 0
    for group in optim.param_groups:
        if "betas" not in group:
            continue
        beta1, beta2 = group["betas"]
        eps = group["eps"]
        for p in group["params"]:
            state = optim.state.get(p)
            if not state or "exp_avg" not in state:
                continue
            t = float(state["step"])
            m_hat = state["exp_avg"] / (1 - beta1 ** t)
            v_hat = state["exp_avg_sq"] / (1 - beta2 ** t)
            d = m_hat / (v_hat.sqrt() + eps)
            total += float((d * d).sum())
            count += d.numel()
    if count == 0:
        raise ValueError("the optimizer holds no Adam state (exp_avg, exp_avg_sq): take a step first, "
                         "and pass an Adam or AdamW optimizer")
    return (total / count) ** 0.5


class _Probe(Callback):
    """``probe_run``'s measurements, taken after the steps ``at_steps``; ends the fit after the last one."""

    def __init__(self, steps, measure):
        self.steps, self.measure, self.rows = set(steps), measure, []
        self.last = max(steps)
        self.window = None  # steps averaged into loss_avg, set once the loader's length is known

    def before_batch(self, trainer):
        group = trainer.optim.param_groups[0]  # what this step uses, before the scheduler moves on
        self.lr, self.momentum = group["lr"], group["betas"][0] if "betas" in group else group.get("momentum")

    def after_step(self, trainer):
        if trainer.step in self.steps:
            recent = trainer.train_log["loss"][-self.window:]
            self.rows.append({"step": trainer.step, "lr": self.lr, "momentum": self.momentum,
                              "loss_avg": sum(recent) / len(recent), **self.measure(trainer.model, trainer.optim)})
        if trainer.step >= self.last:
            raise CancelFit


def probe_run(config, at_steps, measure, data=None, smoothing_window=None, progress=None):
    """Train ``config`` (a ``RunConfig``) as ``train_run`` does, but only up to ``max(at_steps)`` steps, and
    call ``measure(model, optim)`` after each step in ``at_steps`` (1-based).

    Returns one dict per probed step: ``step``, ``lr``, ``momentum`` (beta1 or
    SGD momentum), ``loss_avg`` (mean raw training loss over the last
    ``smoothing_window`` steps, default 5% of an epoch as in the Trainer) and
    whatever ``measure`` returns (a dict). Stops early, with a ``nan_step``
    entry in the last row, if the loss stops being finite. No validation pass is made.
    """
    from .runs import RunConfig, _dataset_cached, build_trainer

    if not isinstance(config, RunConfig):
        raise TypeError(f"config must be a RunConfig, got {type(config).__name__}")
    steps = sorted(set(int(s) for s in at_steps))
    if not steps or steps[0] < 1:
        raise ValueError(f"at_steps must be step numbers >= 1, got {list(at_steps)!r}")
    probe = _Probe(steps, measure)
    data = data if data is not None else _dataset_cached(config.dataset, config.scaling)
    trainer, train_loader, _ = build_trainer(config, data, [probe], progress=progress)
    total = config.epochs * len(train_loader)
    if steps[-1] > total:
        raise ValueError(f"at_steps go up to {steps[-1]}, but {config.label()} has only {total} steps")
    probe.window = smoothing_window or max(1, round(0.05 * len(train_loader)))
    try:
        trainer.run(config.epochs, train_loader)
    except FloatingPointError:
        probe.rows.append({"step": trainer.step + 1, "nan_step": trainer.step + 1})
    return probe.rows


class _StepTimer(Callback):
    """Wall-clock seconds from the end of step ``warmup`` to the end of the fit."""

    def __init__(self, warmup):
        self.warmup, self.start, self.seconds = warmup, None, None

    def after_step(self, trainer):
        if trainer.step == self.warmup:
            self.start = time.perf_counter()

    def after_fit(self, trainer):
        self.seconds = time.perf_counter() - self.start


def step_times(activations, x, y, *, steps=30, repeats=3, batch_size=32, seed=0, per_repeat=False):
    """Milliseconds per AdamW training step of the page's model with each activation, on batches of ``x, y``,
    each step a step of the ``Trainer`` (forward, loss, backward, update and its per-step bookkeeping).

    Each activation is timed ``repeats`` times, interleaved (a, b, c, a, b, c, ...),
    over ``steps`` steps after two warm-up steps. Returns ``{activation: ms_per_step}``, the fastest repeat
    (on a shared machine other load only ever makes a step slower); with ``per_repeat=True``
    ``{activation: [ms_per_step of each repeat]}``, in the order they ran, so that repeat ``i`` of two
    activations ran side by side.
    """
    if not isinstance(steps, int) or steps < 1 or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"steps and repeats must be ints >= 1, got steps={steps!r}, repeats={repeats!r}")
    if len(x) < batch_size:
        raise ValueError(f"need at least one batch of {batch_size} images, got {len(x)}")
    n_batches = len(x) // batch_size
    batches = [(x[j * batch_size:(j + 1) * batch_size], y[j * batch_size:(j + 1) * batch_size])
               for j in (i % n_batches for i in range(steps + 2))]
    times = {a: [] for a in activations}
    for _ in range(repeats):
        for act in activations:
            seed_everything(seed)
            model = mnist_model(act)
            timer = _StepTimer(warmup=2)
            Trainer(model, torch.optim.AdamW(model.parameters(), lr=1e-3), F.cross_entropy, callbacks=[timer],
                    device="cpu", progress=False, verbose=False).run(1, batches)
            times[act].append(1000 * timer.seconds / steps)
    return times if per_repeat else {a: min(t) for a, t in times.items()}
