"""Chapter 4's learning-rate-free optimizers on MNIST, normalized inputs, at 1 and 3 epochs.

Prodigy and D-Adaptation Adam at their recommended lr of 1.0 (a multiplier of the step size they
estimate), with a constant lr and with the cosine annealing their authors recommend; schedule-free AdamW
at its package's default lr, 0.0025. At one epoch seeds 0-4, paired with one-cycle at the grid's best
max_lr and at the LR-finder rule the chapter recommends (``lr_finder_truth``, ``schedules_sweep``,
``lr_finder_calibration``); at three epochs seeds 3-7, paired with one-cycle at its best max_lr in
``schedules_budget``.
"""

from nbsupport import RunConfig

SCHEDULE_FREE_DEFAULT_LR = 0.0025
BUDGETS = {1: (0, 1, 2, 3, 4), 3: (3, 4, 5, 6, 7)}


def configs(epochs, seed, dataset="mnist"):
    kw = dict(epochs=epochs, seed=seed, scaling="normalized", dataset=dataset)
    out = [RunConfig(schedule=s, optimizer=o, lr=1.0, **kw)
           for o in ("prodigy", "dadapt_adam") for s in ("constant", "cosine")]
    out.append(RunConfig(schedule="schedule_free", lr=SCHEDULE_FREE_DEFAULT_LR, **kw))
    return out


RUNS = [c for epochs, seeds in BUDGETS.items() for seed in seeds for c in configs(epochs, seed)]
