"""Each schedule's sensitivity to its peak lr: the shared lr grid, one seed, one epoch.

Normalized inputs for every schedule; one-cycle and constant also under the
page's scaling. About 55 runs of 20-25 s each on 2 CPU threads.
"""

from nbsupport import RunConfig
from _schedules import LRS, PAGE_SCALING, SCHEDULES

RUNS = [RunConfig(schedule=s, lr=lr, epochs=1, seed=0, scaling="normalized") for s in SCHEDULES for lr in LRS]
RUNS += [RunConfig(schedule=s, lr=lr, epochs=1, seed=0, scaling="page") for s in PAGE_SCALING for lr in LRS]
