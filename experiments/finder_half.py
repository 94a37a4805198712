"""Half of blow-up/10, the second value chapter 5 advises trying: one-cycle for one epoch at a twentieth of the
seed-0 range test's blow-up point, normalized inputs, on MNIST (seeds 0-4, paired with the tuned max_lr of
``lr_finder_calibration``) and on Fashion-MNIST (seeds 3-7, paired with ``fashion_budget``). Chapter 7
compares each with one-cycle at the tuned max_lr and at blow-up/10."""

from nbsupport import RunConfig
from nbsupport.grid import load_results
from nbsupport.range_readings import suggestion_rows, trained_lr

#: data set: (the grid of its range tests, the seeds of its comparisons)
PLAN = {"mnist": ("lr_finder_tests", (0, 1, 2, 3, 4)), "fashion_mnist": ("fashion_finder_tests", (3, 4, 5, 6, 7))}


def half_blow_up(tests_grid):
    """A twentieth of the seed-0 exponential test's blow-up point (half of its blow-up/10 reading)."""
    tests = load_results(tests_grid)
    tests = tests[(tests["seed"] == 0) & (tests["tool"] == "nbsupport") & (tests["mode"] == "exponential")
                  & (tests["num_steps"] == 100) & (tests["scaling"] == "normalized")]
    points = suggestion_rows(tests)
    blow = points[points["rule"] == "blow-up/10"]["lr"]
    if len(blow) != 1:
        raise ValueError(f"{tests_grid}: expected one seed-0 blow-up/10 reading, found {len(blow)}")
    return trained_lr(float(blow.iloc[0]) / 2)


def runs():
    return [RunConfig(schedule="one_cycle", lr=half_blow_up(tests), epochs=1, seed=seed, scaling="normalized",
                      dataset=dataset)
            for dataset, (tests, seeds) in PLAN.items() for seed in seeds]
