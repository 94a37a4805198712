"""The comparison: each schedule at its chosen lr (``_schedules.best_lrs``), five fresh seeds, 1 and 3 epochs.

Normalized inputs at both budgets; one-cycle and the constant lr under the page's scaling at the page's
budget of 3 epochs. The seeds (3-7) took no part in choosing the lrs; the chapter compares these runs
on the 10,000 test images. Depends on ``schedules_sweep``, ``schedules_select`` and ``lr_finder_truth``.
"""

from nbsupport import RunConfig
from _schedules import SCHEDULES, SEEDS, best_lrs


def runs():
    best = best_lrs()
    out = []
    for epochs in (1, 3):
        out += [RunConfig(schedule=s, lr=best[(s, "normalized")], epochs=epochs, seed=seed,
                          scaling="normalized") for s in SCHEDULES for seed in SEEDS]
    out += [RunConfig(schedule=s, lr=best[(s, "page")], epochs=3, seed=seed, scaling="page")
            for s in ("one_cycle", "constant") for seed in SEEDS]
    return out
