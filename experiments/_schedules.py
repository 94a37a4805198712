"""What the schedule grids share: the schedules compared, the lr grid, the seeds, and how a best lr is chosen.

The choice and the comparison use different seeds and different images: each schedule's lr is chosen on
the 5,000 validation images over ``SELECT_SEEDS`` (one-epoch runs), and the schedules are then compared on
the 10,000 test images over ``SEEDS``, runs that took no part in the choice.
"""

import pandas as pd

from nbsupport.grid import load_results

#: Every schedule of the chapter, one-cycle as on the page first.
SCHEDULES = ("one_cycle", "constant", "step", "cosine", "warmup_cosine", "warmup_linear", "wsd",
             "one_cycle_3phase", "schedule_free")
#: Schedules also run under the page's input scaling ([0, 1/255]), to link back to chapter 1.
PAGE_SCALING = ("one_cycle", "constant")
#: One shared log grid of peak learning rates, half a decade apart. 1e-4 was added after the first runs
#: showed the constant lr doing best at the grid's lower end (3e-4) on normalized inputs.
LRS = (3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-4)
#: Seeds on which each schedule's lr is chosen (validation images, one epoch): seed 0 is the sweep,
#: seeds 1 and 2 are ``schedules_select`` (one-cycle's are in ``lr_finder_truth``).
SELECT_SEEDS = (0, 1, 2)
#: Seeds of the comparisons (test images), disjoint from the choice.
SEEDS = (3, 4, 5, 6, 7)


def neighbours(lr):
    """``lr`` and the lrs one step either side of it on the sorted grid."""
    grid = sorted(LRS)
    i = grid.index(lr)
    return grid[max(0, i - 1):i + 2]


def sweep_best_lrs():
    """{(schedule, scaling): the lr with the highest seed-0 validation accuracy of the one-epoch sweep}."""
    df = load_results("schedules_sweep")
    df = df[df["epochs"] == 1]
    best = df.loc[df.groupby(["schedule", "scaling"])["val_acc"].idxmax()]
    return {(r.schedule, r.scaling): r.lr for r in best.itertuples()}


def selection_runs():
    """Every one-epoch run the choice of lr uses: the sweep (seed 0) and seeds 1, 2 of the other grids."""
    parts = [load_results(t) for t in ("schedules_sweep", "schedules_select", "lr_finder_truth")]
    df = pd.concat(parts, ignore_index=True)
    df = df[(df["epochs"] == 1) & df["seed"].isin(SELECT_SEEDS)
            & df["schedule"].isin(SCHEDULES)]
    return df.drop_duplicates("run_id")


def best_lrs():
    """{(schedule, scaling): the lr with the highest mean validation accuracy over ``SELECT_SEEDS``}.

    Only lrs run with all three seeds are candidates (the sweep's seed-0 best and its neighbours, every
    lr for one-cycle).
    """
    df = selection_runs()
    out = {}
    for (schedule, scaling), d in df.groupby(["schedule", "scaling"]):
        if scaling == "page" and schedule not in PAGE_SCALING:
            continue
        per_lr = d.groupby("lr")
        full = per_lr["seed"].nunique() == len(SELECT_SEEDS)
        if not full.any():
            raise ValueError(f"no lr of {schedule} ({scaling}) has all of seeds {SELECT_SEEDS} stored; "
                             f"run the grid schedules_select first")
        means = per_lr["val_acc"].mean()[full]
        out[(schedule, scaling)] = float(means.idxmax())
    return out
