"""AdamW with one-cycle on the page's setup: beta1 fixed at 0.85 or 0.95 instead of cycled, five seeds,
three epochs. The cycled runs are the page's own, stored in page_seeds (the same five seeds).
"""

from nbsupport import RunConfig

RUNS = [RunConfig(schedule="one_cycle", lr=0.01, epochs=3, seed=s, scaling="page", momentum=m)
        for m in (0.85, 0.95) for s in range(5)]
