"""Fashion-MNIST with the page's setup: one-cycle to 0.01, three epochs, seeds 0-4, as the MNIST grids
``page_seeds``, ``activations`` and ``momentum_adamw`` ran it.

The SELU remark: SELU, ReLU, GELU and ELU under both input scalings (the page's [0, 1/255] and normalized
with Fashion-MNIST's mean and std). Momentum: SELU on the page's inputs with beta1 fixed at 0.85 and 0.95
against the cycled runs of the same seeds.
"""

from nbsupport import RunConfig

DATASET = "fashion_mnist"
ACTIVATIONS = ("selu", "relu", "gelu", "elu")


def _run(seed, **kw):
    return RunConfig(schedule="one_cycle", lr=0.01, epochs=3, seed=seed, dataset=DATASET, **kw)


RUNS = [_run(s, scaling="page") for s in range(5)]  # the page's own run, cycled momentum
RUNS += [_run(s, scaling=scaling, activation=a) for a in ACTIVATIONS for scaling in ("page", "normalized")
         for s in range(5) if (a, scaling) != ("selu", "page")]
RUNS += [_run(s, scaling="page", momentum=m) for m in (0.85, 0.95) for s in range(5)]
