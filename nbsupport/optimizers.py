"""The optimizers a run can use, and the lr and momentum each step of a run gets from its schedule."""

import torch

from .callbacks import SchedulerStatsCallback
from .schedules import build_scheduler, schedule_free_warmup

OPTIMIZERS = ("adamw", "sgd")
DEFAULT_WEIGHT_DECAY = {"adamw": 0.01, "sgd": 0.0}  # PyTorch's defaults
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
    stats = SchedulerStatsCallback(optim)
    if config.schedule == "schedule_free":
        optim.train()
        warm = schedule_free_warmup(total_steps)
        lrs = [config.lr * min(1.0, (i + 1) / warm) for i in range(total_steps)]
        return lrs, [optim.param_groups[0]["betas"][0]] * total_steps
    for step in range(total_steps):
        stats()
        if step < total_steps - 1:
            param.grad = torch.zeros_like(param)
            optim.step()
            scheduler.step() if scheduler is not None else None
    return stats.lr, stats.momentum
