"""Does the chosen lr hold at 3 epochs? One-cycle and its best competitor, seed 0, 3 epochs, at the chosen
lr and one grid step either side.

Validation images only (a question about the choice). The best competitor is the schedule other than
one-cycle with the highest mean one-epoch validation accuracy at its chosen lr (seeds 0-2).
"""

from nbsupport import RunConfig
from _schedules import best_lrs, neighbours, selection_runs


def best_competitor():
    best = best_lrs()
    df = selection_runs()
    df = df[df["scaling"] == "normalized"]
    means = {s: df[(df["schedule"] == s) & (df["lr"] == lr)]["val_acc"].mean()
             for (s, scaling), lr in best.items() if scaling == "normalized" and s != "one_cycle"}
    return max(means, key=means.get)


def runs():
    best = best_lrs()
    return [RunConfig(schedule=s, lr=lr, epochs=3, seed=0, scaling="normalized")
            for s in ("one_cycle", best_competitor()) for lr in neighbours(best[(s, "normalized")])]
