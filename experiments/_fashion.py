"""What the Fashion-MNIST grids share (chapter "Does it carry over?"): the schedules, the lr grid, the seeds
and how each schedule's lr is chosen.

As in the schedules chapter, each schedule's lr is chosen on the 5,000 validation images after one epoch
(here over ``SELECT_SEEDS``, two seeds instead of three, to fit the grids in one session), and the
schedules are compared on the 10,000 test images over ``SEEDS``, runs that took no part in the choice.
Inputs are normalized with Fashion-MNIST's own mean and std.
"""

from nbsupport.grid import load_results

DATASET = "fashion_mnist"
#: The schedules the issue asks for, one-cycle first.
SCHEDULES = ("one_cycle", "constant", "cosine", "warmup_cosine", "warmup_linear", "wsd", "schedule_free")
#: Peak learning rates: the range in which every MNIST schedule had its best (3e-4 to 3e-3), one step
#: beyond it upwards; 3e-4 for the constant lr only (its MNIST best).
LRS = (1e-3, 3e-3, 1e-2)
EXTRA_LRS = {"constant": (3e-4,)}
SELECT_SEEDS = (0, 1)
SEEDS = (3, 4, 5, 6, 7)


def lrs_of(schedule):
    return tuple(sorted(LRS + EXTRA_LRS.get(schedule, ())))


def best_lrs():
    """{schedule: the lr with the highest mean validation accuracy over ``SELECT_SEEDS`` (one epoch)}."""
    df = load_results("fashion_sweep")
    out = {}
    for schedule, d in df.groupby("schedule"):
        per_lr = d.groupby("lr")
        full = per_lr["seed"].nunique() == len(SELECT_SEEDS)
        if not full.any():
            raise ValueError(f"no lr of {schedule} has all of seeds {SELECT_SEEDS} stored; "
                             f"run the grid fashion_sweep first")
        out[schedule] = float(per_lr["val_acc"].mean()[full].idxmax())
    return out


def finder_points():
    """The suggestions that ``fashion_finder`` trains: every rule's reading of the seed-0 exponential
    100-step tests of ``fashion_finder_tests`` (this package's and torch-lr-finder's), as
    ``nbsupport.range_readings.suggestion_rows`` gives them."""
    from nbsupport.range_readings import suggestion_rows

    tests = load_results("fashion_finder_tests")
    if tests.empty or not (tests["seed"] == 0).any():
        raise ValueError("no seed-0 range test of fashion_finder_tests is stored; run that grid first")
    return suggestion_rows(tests[tests["seed"] == 0]).reset_index(drop=True)
