"""ReLU under the page's input scaling at a small constant lr: is the one-cycle peak what kills it?

The page's setup (AdamW, batch 32, inputs in [0, 1/255]) with ReLU and no schedule, at lr 1e-4 and 1e-3
(100x and 10x below the page's max_lr 0.01); five seeds, three epochs. The one-cycle ReLU runs are in
the activations grid.
"""

from nbsupport import RunConfig

RUNS = [RunConfig(schedule="constant", lr=lr, epochs=3, seed=s, scaling="page", activation="relu")
        for lr in (1e-4, 1e-3) for s in range(5)]
