"""Chapter 4's calibration: one-cycle (1 epoch, seeds 0-4) at the max_lr each LR-finder rule suggests.

The suggestions come from the seed-0 range tests stored in ``lr_finder_tests`` (exponential 100 steps with
every rule, Smith's linear test with this package's rules and its accuracy peak, torch-lr-finder's own rule),
under both input scalings, rounded to 3 significant digits; a max_lr several rules share is trained once.
The truth they are compared with is the best max_lr of the one-epoch grid, chosen on the validation
images over seeds 0-2 (``schedules_sweep`` seed 0, ``lr_finder_truth`` seeds 1 and 2;
``_schedules.best_lrs``). This grid also trains that best max_lr with seeds 3 and 4, so that every
suggestion is compared with it on the test images, paired by seed, over seeds 0-4.
"""

from nbsupport import RunConfig
from nbsupport.grid import load_results
from nbsupport.range_readings import calibrated_points
from _schedules import best_lrs

#: Five seeds, paired with seeds 0-4 of the best max_lr (``lr_finder_truth``, ``schedules_sweep``).
SEEDS = (0, 1, 2, 3, 4)


def runs():
    points = calibrated_points(load_results("lr_finder_tests"))
    pairs = sorted(set(zip(points["scaling"], points["max_lr"])))
    out = [RunConfig(schedule="one_cycle", lr=lr, epochs=1, seed=seed, scaling=scaling)
           for seed in SEEDS for scaling, lr in pairs]
    best = best_lrs()
    out += [RunConfig(schedule="one_cycle", lr=best[("one_cycle", scaling)], epochs=1, seed=seed,
                      scaling=scaling) for scaling in ("normalized", "page") for seed in (3, 4)]
    return out
