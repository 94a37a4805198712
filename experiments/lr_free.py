"""Chapter 4's learning-rate-free optimizers on MNIST, normalized inputs, at 1 and 3 epochs.

Prodigy and D-Adaptation Adam at their recommended lr of 1.0 (a multiplier of the step size they
estimate), with a constant lr and with the cosine annealing their authors recommend; schedule-free AdamW
at its package's default lr, 0.0025. At one epoch seeds 0-4, paired with one-cycle at the grid's best
max_lr and at the LR-finder rule the chapter recommends (``lr_finder_truth``, ``schedules_sweep``,
``lr_finder_calibration``); at three epochs seeds 3-7, paired with one-cycle at its best max_lr in
``schedules_budget`` and with one-cycle at the LR-finder rule, trained here (``FINDER_RUNS``).
"""

from nbsupport import RunConfig
from nbsupport.grid import load_results
from nbsupport.range_readings import calibrated_points

SCHEDULE_FREE_DEFAULT_LR = 0.0025
BUDGETS = {1: (0, 1, 2, 3, 4), 3: (3, 4, 5, 6, 7)}


def configs(epochs, seed, dataset="mnist"):
    kw = dict(epochs=epochs, seed=seed, scaling="normalized", dataset=dataset)
    out = [RunConfig(schedule=s, optimizer=o, lr=1.0, **kw)
           for o in ("prodigy", "dadapt_adam") for s in ("constant", "cosine")]
    out.append(RunConfig(schedule="schedule_free", lr=SCHEDULE_FREE_DEFAULT_LR, **kw))
    return out


def finder_lr():
    """The chapter's recommended reading: blow-up/10 of the seed-0, 100-step exponential test, normalized."""
    points = calibrated_points(load_results("lr_finder_tests"))
    pick = points[(points.scaling == "normalized") & (points["mode"] == "exponential")
                  & (points.family == "nbsupport") & (points.rule == "blow-up/10")]
    return float(pick.max_lr.iloc[0])


RUNS = [c for epochs, seeds in BUDGETS.items() for seed in seeds for c in configs(epochs, seed)]
#: One-cycle at the finder's reading for three epochs (at one epoch it is in ``lr_finder_calibration``).
FINDER_RUNS = [RunConfig(schedule="one_cycle", lr=finder_lr(), epochs=3, seed=seed, scaling="normalized")
               for seed in BUDGETS[3]]
RUNS += FINDER_RUNS
