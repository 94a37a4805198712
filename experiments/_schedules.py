"""What the schedule grids share: the schedules compared, the lr grid, and how a best lr is chosen."""

from nbsupport.grid import load_results

#: Every schedule of the chapter, one-cycle as on the page first.
SCHEDULES = ("one_cycle", "constant", "step", "cosine", "warmup_cosine", "warmup_linear", "wsd",
             "one_cycle_3phase", "schedule_free")
#: Schedules also run under the page's input scaling ([0, 1/255]), to link back to chapter 1.
PAGE_SCALING = ("one_cycle", "constant")
#: One shared log grid of peak learning rates, half a decade apart. 1e-4 was added after the first runs
#: showed the constant lr doing best at the grid's lower end (3e-4) on normalized inputs.
LRS = (3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-4)
SEEDS = (0, 1, 2)


def best_lrs(table="schedules_sweep"):
    """{(schedule, scaling): the lr with the highest 1-epoch validation accuracy in the sweep}."""
    df = load_results(table)
    df = df[df["epochs"] == 1]
    best = df.loc[df.groupby(["schedule", "scaling"])["val_acc"].idxmax()]
    return {(r.schedule, r.scaling): r.lr for r in best.itertuples()}
