"""The optimizers a run can use, and the lr and momentum each step of a run gets from its schedule."""

import contextlib
import io

import torch

from .schedules import build_scheduler, schedule_free_warmup, trace_steps

#: ``prodigy`` (Mishchenko & Defazio 2024, package ``prodigyopt``) and ``dadapt_adam`` (Defazio &
#: Mishchenko 2023, package ``dadaptation``) estimate their own step size: their ``lr`` is a multiplier of
#: that estimate, 1.0 as their authors recommend.
OPTIMIZERS = ("adamw", "sgd", "prodigy", "dadapt_adam")
#: PyTorch's defaults; the learning-rate-free optimizers' packages default to no weight decay.
DEFAULT_WEIGHT_DECAY = {"adamw": 0.01, "sgd": 0.0, "prodigy": 0.0, "dadapt_adam": 0.0}
LR_FREE = ("prodigy", "dadapt_adam")
CYCLED = "cycled"


def build_optimizer(config, params, total_steps):
    """The optimizer a config asks for, with its fixed momentum (cycled momentum starts at 0.95).

    ``total_steps`` sets schedule-free AdamW's warm-up (``schedules.schedule_free_warmup``).
    """
    momentum = 0.95 if config.momentum == CYCLED else config.momentum
    if config.schedule == "schedule_free":
        import schedulefree

        return schedulefree.AdamWScheduleFree(params, lr=config.lr, betas=(momentum, 0.999),
                                              weight_decay=config.weight_decay,
                                              warmup_steps=schedule_free_warmup(total_steps))
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, betas=(momentum, 0.999), weight_decay=config.weight_decay)
    if config.optimizer == "prodigy":
        import prodigyopt

        return prodigyopt.Prodigy(params, lr=config.lr, betas=(momentum, 0.999), weight_decay=config.weight_decay)
    if config.optimizer == "dadapt_adam":
        import dadaptation

        # decouple=True: weight decay as in AdamW (the package's advice when replacing AdamW). The
        # package prints a line when it is built; that line is kept out of the caller's output.
        with contextlib.redirect_stdout(io.StringIO()):
            return dadaptation.DAdaptAdam(params, lr=config.lr, betas=(momentum, 0.999),
                                          weight_decay=config.weight_decay, decouple=True)
    return torch.optim.SGD(params, lr=config.lr, momentum=momentum, weight_decay=config.weight_decay)


def schedule_trace(config, total_steps: int):
    """The lr and momentum that training step ``i`` of ``config`` uses, for ``i`` in ``range(total_steps)``.

    Steps a throwaway one-parameter optimizer built as ``train_run`` builds it,
    so nothing is trained. Schedule-free AdamW has no scheduler: its lr is the
    warm-up then constant (its averaging does the annealing).
    """
    if not isinstance(total_steps, int) or total_steps < 2:
        raise ValueError(f"total_steps={total_steps!r} is not allowed; it must be an int >= 2")
    param = torch.nn.Parameter(torch.zeros(1))
    optim = build_optimizer(config, [param], total_steps)
    scheduler = build_scheduler(config, optim, total_steps)
    if config.schedule == "schedule_free":
        optim.train()
        warm = schedule_free_warmup(total_steps)
        lrs = [config.lr * min(1.0, (i + 1) / warm) for i in range(total_steps)]
        return lrs, [optim.param_groups[0]["betas"][0]] * total_steps
    return trace_steps(optim, scheduler, total_steps)


def adapted_lr(config, optim) -> float:
    """The peak learning rate a learning-rate-free optimizer settled on: its final step-size estimate ``d``
    times ``config.lr`` (the schedule's peak); NaN for an optimizer whose lr is set by hand."""
    if config.optimizer not in LR_FREE:
        return float("nan")
    return float(optim.param_groups[0]["d"]) * config.lr
