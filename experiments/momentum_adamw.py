"""AdamW with one-cycle on the page's setup: beta1 fixed at 0.85 or 0.95 instead of cycled, three seeds,
three epochs. The cycled runs are the page's own, stored in page_seeds (seeds 0-2 are the matching ones).
"""

from nbsupport import RunConfig

RUNS = [RunConfig(schedule="one_cycle", lr=0.01, epochs=3, seed=s, scaling="page", momentum=m)
        for m in (0.85, 0.95) for s in range(3)]
