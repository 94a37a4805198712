"""Each schedule at its own best lr (from schedules_sweep), three seeds, at budgets of 1, 3 and 2 epochs.

The 1- and 3-epoch runs come first (the chapter needs those), the 2-epoch
runs last. Depends on the stored sweep: a schedule's best lr is the sweep's
lr with the highest validation accuracy after one epoch.
"""

from nbsupport import RunConfig
from _schedules import SEEDS, best_lrs


def runs():
    best = best_lrs()
    out = []
    for epochs in (1, 3, 2):
        for (schedule, scaling), lr in best.items():
            out += [RunConfig(schedule=schedule, lr=lr, epochs=epochs, seed=s, scaling=scaling) for s in SEEDS]
    return out
