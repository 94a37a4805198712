"""Does the best lr move with the budget? One-cycle and its best competitor at 3 epochs, at the lrs one
grid step either side of their 1-epoch best.

One seed per lr; the best-lr point itself (seed 0) is in schedules_budget.
The best competitor is the schedule other than one-cycle with the highest
1-epoch accuracy in schedules_sweep.
"""

from nbsupport import RunConfig
from _schedules import LRS, best_lrs
from nbsupport.grid import load_results


def best_competitor():
    df = load_results("schedules_sweep")
    df = df[(df["scaling"] == "normalized") & (df["schedule"] != "one_cycle")]
    return df.loc[df["val_acc"].idxmax(), "schedule"]


def runs():
    best = best_lrs()
    out = []
    grid = sorted(LRS)
    for schedule in ("one_cycle", best_competitor()):
        i = grid.index(best[(schedule, "normalized")])
        out += [RunConfig(schedule=schedule, lr=lr, epochs=3, seed=0, scaling="normalized")
                for lr in grid[max(0, i - 1):i + 2] if lr != grid[i]]
    return out
