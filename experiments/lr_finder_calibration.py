"""Chapter 4's calibration: one-cycle (1 epoch, 3 seeds) at the max_lr each LR-finder rule suggests.

The suggestions come from the seed-0 range tests stored in ``lr_finder_tests`` (exponential 100 steps with
every rule, Smith's linear test with this package's rules and its accuracy peak, torch-lr-finder's own rule),
under both input scalings, rounded to 3 significant digits; a max_lr several rules share is trained once.
The truth they are compared with is ``schedules_sweep`` (seed 0) with ``lr_finder_truth`` (seeds 1, 2).
"""

from nbsupport import RunConfig
from nbsupport.grid import load_results
from nbsupport.range_tests import calibrated_points


def runs():
    points = calibrated_points(load_results("lr_finder_tests"))
    pairs = sorted(set(zip(points["scaling"], points["max_lr"])))
    return [RunConfig(schedule="one_cycle", lr=lr, epochs=1, seed=seed, scaling=scaling)
            for seed in (0, 1, 2) for scaling, lr in pairs]
