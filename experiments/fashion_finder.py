"""Fashion-MNIST: one-cycle at the max_lr each LR-finder rule reads off the seed-0 tests of
``fashion_finder_tests`` (this package's rules, fastai's, Lightning's and torch-lr-finder's; a max_lr several
rules share is trained once), one epoch, seeds 3-7, paired on the test images with one-cycle at its best
max_lr in ``fashion_budget`` (chosen on the validation images in ``fashion_sweep``). Also one-cycle at
blow-up/10, the reading chapter 4 recommends, for three epochs, seeds 3-7: the reference of the
learning-rate-free optimizers in ``fashion_lr_free``.
"""

from nbsupport import RunConfig
from _fashion import DATASET, SEEDS, finder_points


def blow_up_lr():
    points = finder_points()
    return float(points[points["rule"] == "blow-up/10"]["max_lr"].iloc[0])


def runs():
    lrs = sorted(set(finder_points()["max_lr"]))
    kw = dict(schedule="one_cycle", scaling="normalized", dataset=DATASET)
    out = [RunConfig(lr=float(lr), epochs=1, seed=seed, **kw) for seed in SEEDS for lr in lrs]
    out += [RunConfig(lr=blow_up_lr(), epochs=3, seed=seed, **kw) for seed in SEEDS]
    return out
