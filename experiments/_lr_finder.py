"""What chapter 4's grids share: the range tests run, and which of their suggestions are trained."""

from nbsupport.range_tests import RangeTestConfig

SCALINGS = ("normalized", "page")
#: fastai's default range (1e-7 to 10), at fastai's and Lightning's 100 steps and at 300.
EXPONENTIAL = dict(tool="nbsupport", mode="exponential", start_lr=1e-7, end_lr=10.0)
#: Smith's linear test: two epochs (2 x 1,719 steps), evaluated on the validation set 20 times.
LINEAR = dict(tool="nbsupport", mode="linear", start_lr=1e-5, end_lr=0.05, num_steps=3438, eval_every=171)
TORCH_LR_FINDER = dict(tool="torch_lr_finder", mode="exponential", start_lr=1e-7, end_lr=10.0, num_steps=100)
STABILITY_SEEDS = (0, 1, 2, 3, 4)

#: The tests whose seed-0 suggestions are trained (each rule that applies to the test), as a practitioner runs
#: one test: (test settings, rules or None for every rule the test gives).
CALIBRATED = (
    (dict(EXPONENTIAL, num_steps=100), None),
    (LINEAR, ("steepest", "minimum/10", "valley", "blow-up/10", "blow-up/2", "accuracy peak")),
    (TORCH_LR_FINDER, None),
)


def tests():
    out = []
    for scaling in SCALINGS:
        for steps in (100, 300):
            out += [RangeTestConfig(**EXPONENTIAL, num_steps=steps, seed=s, scaling=scaling) for s in STABILITY_SEEDS]
        out += [RangeTestConfig(**TORCH_LR_FINDER, seed=s, scaling=scaling) for s in STABILITY_SEEDS]
        out += [RangeTestConfig(**LINEAR, seed=s, scaling=scaling) for s in (0, 1, 2)]
    return out


def calibrated_points(table):
    """The (test, rule) rows of ``suggestion_rows`` whose max_lr the calibration grid trains: seed 0 only."""
    from nbsupport.range_tests import suggestion_rows

    points = suggestion_rows(table[table["seed"] == 0])
    keep = []
    for settings, rules in CALIBRATED:
        match = points[list(settings)].eq(settings).all(axis=1) if settings else points.index == points.index
        if rules is not None:
            match &= points["rule"].isin(rules)
        keep.append(points[match])
    import pandas as pd

    return pd.concat(keep, ignore_index=True)
