"""Choosing each schedule's lr over three seeds: seeds 1 and 2 at the sweep's best lr and its neighbours.

One epoch, validation images only. Seed 0 of every point is in ``schedules_sweep``; one-cycle's seeds 1
and 2 at every lr of the grid are in ``lr_finder_truth``, so one-cycle is not run here.
"""

from nbsupport import RunConfig
from _schedules import neighbours, sweep_best_lrs


def runs():
    out = []
    for (schedule, scaling), lr in sweep_best_lrs().items():
        if schedule == "one_cycle":
            continue
        out += [RunConfig(schedule=schedule, lr=x, epochs=1, seed=seed, scaling=scaling)
                for x in neighbours(lr) for seed in (1, 2)]
    return out
