"""Fashion-MNIST: each schedule at its chosen lr (``_fashion.best_lrs``), five fresh seeds (3-7), one, two
and three epochs, normalized inputs; compared on the 10,000 test images. Depends on ``fashion_sweep``."""

from nbsupport import RunConfig
from _fashion import DATASET, SCHEDULES, SEEDS, best_lrs


def runs():
    best = best_lrs()
    return [RunConfig(schedule=s, lr=best[s], epochs=epochs, seed=seed, scaling="normalized", dataset=DATASET)
            for epochs in (1, 2, 3) for s in SCHEDULES for seed in SEEDS]
