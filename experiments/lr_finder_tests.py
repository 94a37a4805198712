"""Chapter 4's LR range tests, stored as raw loss curves (one row per test).

Exponential tests from 1e-7 to 10 (fastai's range) at 100 and 300 steps, 5 seeds each; torch-lr-finder's
test at 100 steps, 5 seeds; Smith's linear two-epoch test with validation accuracy, 3 seeds; all under both
input scalings. 36 tests; the exponential ones take seconds, the linear ones 1-2 minutes each.
"""

from _lr_finder import tests


def runs():
    return tests()
