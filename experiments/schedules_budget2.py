"""The middle budget: each schedule at its best lr (from schedules_sweep), three seeds, 2 epochs."""

from schedules_budget import runs as budget_runs


def runs():
    return budget_runs(epochs=(2,))
