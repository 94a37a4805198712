"""Does the best lr move with the budget? One-cycle and its best competitor over the whole lr grid at 3 epochs.

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
    for schedule in ("one_cycle", best_competitor()):
        out += [RunConfig(schedule=schedule, lr=lr, epochs=3, seed=0, scaling="normalized")
                for lr in LRS if lr != best[(schedule, "normalized")]]
    return out
