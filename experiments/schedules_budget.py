"""Each schedule at its own best lr (from schedules_sweep), three seeds, at budgets of 1 and 3 epochs.

Depends on the stored sweep: a schedule's best lr is the sweep's lr with the highest validation accuracy
after one epoch. The 2-epoch budget is a grid of its own, schedules_budget2.
"""

from nbsupport import RunConfig
from _schedules import SEEDS, best_lrs


def runs(epochs=(1, 3)):
    best = best_lrs()
    out = []
    for e in epochs:
        for (schedule, scaling), lr in best.items():
            out += [RunConfig(schedule=schedule, lr=lr, epochs=e, seed=s, scaling=scaling) for s in SEEDS]
    return out
