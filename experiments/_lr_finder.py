"""What chapter 4's grids share: the range tests run. Which suggestions are trained is
``nbsupport.range_readings.CALIBRATION``, which the chapter reads too."""

from nbsupport.range_readings import EXPONENTIAL, LINEAR, TORCH_LR_FINDER
from nbsupport.range_tests import RangeTestConfig

SCALINGS = ("normalized", "page")
STABILITY_SEEDS = (0, 1, 2, 3, 4)


def tests():
    out = []
    for scaling in SCALINGS:
        for steps in (100, 300):
            out += [RangeTestConfig(**EXPONENTIAL, num_steps=steps, seed=s, scaling=scaling) for s in STABILITY_SEEDS]
        out += [RangeTestConfig(**TORCH_LR_FINDER, seed=s, scaling=scaling) for s in STABILITY_SEEDS]
        out += [RangeTestConfig(**LINEAR, seed=s, scaling=scaling) for s in (0, 1, 2)]
    return out
