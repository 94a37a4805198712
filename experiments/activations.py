"""The SELU remark: the page's model with five activations under both input scalings, plus SELU with its
self-normalizing setup (LeCun-normal init, AlphaDropout); one-cycle to 0.01, five seeds (0-4), three
epochs. SELU with default init under the page's scaling is the page's own run, stored in page_seeds
(seeds 0-4). SELU's setting (default or LeCun init) is chosen on the validation images of seeds 0-2;
the comparisons use the test images of seeds 0-4.
"""

from nbsupport import RunConfig

ACTIVATIONS = ("selu", "relu", "gelu", "elu", "tanh")
RUNS = [RunConfig(schedule="one_cycle", lr=0.01, epochs=3, seed=s, scaling=scaling, activation=a)
        for scaling in ("page", "normalized") for a in ACTIVATIONS for s in range(5)
        if (a, scaling) != ("selu", "page")]
RUNS += [RunConfig(schedule="one_cycle", lr=0.01, epochs=3, seed=s, scaling=scaling, activation="selu",
                   init="lecun") for scaling in ("page", "normalized") for s in range(5)]
