"""Fashion-MNIST: the learning-rate-free optimizers of chapter 4 (``lr_free.configs``: Prodigy and
D-Adaptation Adam at lr 1.0, constant and cosine; schedule-free AdamW at its default lr), normalized inputs,
one and three epochs, seeds 3-7, paired with one-cycle at its best max_lr (``fashion_budget``) and at the
LR finder's blow-up/10 reading (``fashion_finder``)."""

from lr_free import configs
from _fashion import DATASET, SEEDS

RUNS = [c for epochs in (1, 3) for seed in SEEDS for c in configs(epochs, seed, DATASET)]
