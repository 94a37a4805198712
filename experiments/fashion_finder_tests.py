"""Fashion-MNIST's LR range tests (chapter "Does it carry over?"), stored as raw loss curves.

The two 100-step exponential tests chapter 4 reads with every rule (this package's, from 1e-7 to 10, and
torch-lr-finder's), normalized inputs, seeds 0-4 (seed 0 is the one whose suggestions are trained, in
``fashion_finder``; all five show how much a reading moves with the seed). Ten tests, seconds each.
"""

from nbsupport.range_readings import EXPONENTIAL, TORCH_LR_FINDER
from nbsupport.range_tests import RangeTestConfig
from _fashion import DATASET

SEEDS = (0, 1, 2, 3, 4)

RUNS = [RangeTestConfig(**settings, seed=seed, scaling="normalized", dataset=DATASET)
        for settings in (dict(EXPONENTIAL, num_steps=100), TORCH_LR_FINDER) for seed in SEEDS]
