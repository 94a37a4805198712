"""Looking at a schedule before training with it."""

import torch
from torch.optim.lr_scheduler import OneCycleLR

from .callbacks import SchedulerStatsCallback


def one_cycle_schedule(total_steps, max_lr=0.01, optimizer="adamw", **one_cycle_kwargs):
    """The lr and momentum that ``OneCycleLR`` gives at each of ``total_steps`` training steps.

    Steps a throwaway one-parameter optimizer, so nothing is trained. Entry ``i``
    is what optimizer step ``i`` uses (before the scheduler's ``i``-th step).
    ``optimizer`` is ``"adamw"`` (momentum is beta1) or ``"sgd"``.
    """
    if not isinstance(total_steps, int) or total_steps < 2:
        raise ValueError(f"total_steps must be an int of at least 2, got {total_steps!r}")
    param = torch.nn.Parameter(torch.zeros(1))
    if optimizer == "adamw":
        optim = torch.optim.AdamW([param])
    elif optimizer == "sgd":
        optim = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    else:
        raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {optimizer!r}")
    scheduler = OneCycleLR(optim, max_lr=max_lr, total_steps=total_steps, **one_cycle_kwargs)
    # The same recorder the Trainer uses, called before each step instead of after it.
    stats = SchedulerStatsCallback(optim)
    for step in range(total_steps):
        stats()
        if step < total_steps - 1:
            optim.step()
            scheduler.step()
    return stats.lr, stats.momentum
