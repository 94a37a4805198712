"""SGD with momentum and one-cycle on the page's setup: cycled momentum against fixed 0.85 and 0.95.

SGD needs its own lr range. An SGD range test on this setup (100 exponentially spaced steps from 1e-4
to 100, momentum 0.9, seed 0; run in chapter 2) stays flat near ln 10 and blows up at lr ~0.28; the two
max_lr values here are about a fourteenth and a sixth of that. Three epochs; five seeds at max_lr 0.02, where
the settings are compared, three at 0.05, where every setting failed with three.
"""

from nbsupport import RunConfig

RUNS = [RunConfig(schedule="one_cycle", lr=lr, epochs=3, seed=s, scaling="page", optimizer="sgd", momentum=m)
        for lr, seeds in ((0.02, 5), (0.05, 3)) for m in ("cycled", 0.85, 0.95) for s in range(seeds)]
