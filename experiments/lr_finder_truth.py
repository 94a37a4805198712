"""Ground truth for chapter 4: which one-cycle max_lr trains best, at 3 seeds, one epoch.

Seed 0 of every point is stored in ``schedules_sweep`` (the schedules chapter's one-cycle max_lr sweep);
this grid adds seeds 1 and 2 on the same lr grid, under both input scalings, so that the chapter can
compare each LR-finder suggestion with the best measured max_lr using the noise yardstick.
24 runs of 20-40 s each.
"""

from nbsupport import RunConfig
from _schedules import LRS

RUNS = [RunConfig(schedule="one_cycle", lr=lr, epochs=1, seed=seed, scaling=scaling)
        for scaling in ("normalized", "page") for lr in sorted(LRS) for seed in (1, 2)]
