"""The page's run itself over five seeds: one-cycle to max_lr=0.01, AdamW with cycled beta1, the page's
input scaling, SELU, three epochs. Seed 0 is the run chapter 1 trains live; the others give the spread
of each epoch's numbers. About 5 x 60 s on 2 CPU threads.
"""

from nbsupport import RunConfig

RUNS = [RunConfig(schedule="one_cycle", lr=0.01, epochs=3, seed=s, scaling="page") for s in range(5)]
