"""MNIST at two epochs: the seven schedules of the Fashion-MNIST chapter, each at the lr chosen for it in
the schedules chapter (``_schedules.best_lrs``, normalized inputs), seeds 3-7, as in ``schedules_budget``
(which holds one and three epochs). With it, the Fashion-MNIST chapter compares both data sets at one, two
and three epochs, and asks how many epochs each schedule needs to match one-cycle on both."""

from nbsupport import RunConfig
from _schedules import SEEDS, best_lrs

#: The schedules of the Fashion-MNIST chapter (``_fashion.SCHEDULES``), one-cycle first.
SCHEDULES = ("one_cycle", "constant", "cosine", "warmup_cosine", "warmup_linear", "wsd", "schedule_free")


def runs():
    best = best_lrs()
    return [RunConfig(schedule=s, lr=best[(s, "normalized")], epochs=2, seed=seed, scaling="normalized")
            for s in SCHEDULES for seed in SEEDS]
