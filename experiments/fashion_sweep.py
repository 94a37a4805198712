"""Fashion-MNIST: each schedule's peak lr, chosen on the validation images after one epoch, seeds 0 and 1,
normalized inputs (``_fashion``). About 44 one-epoch runs."""

from nbsupport import RunConfig
from _fashion import DATASET, SCHEDULES, SELECT_SEEDS, lrs_of

RUNS = [RunConfig(schedule=s, lr=lr, epochs=1, seed=seed, scaling="normalized", dataset=DATASET)
        for seed in SELECT_SEEDS for s in SCHEDULES for lr in lrs_of(s)]
