"""A paired comparison of two trained configurations: how much lower is A's test error than B's, give or take?

Every configuration in the book is trained with several seeds, and seed ``s``
of configuration A shares its initial weights, batch order and dropout masks
with seed ``s`` of configuration B. Every run is scored on the same test
images. So the runs come as two tables of shape (seeds, images), and row
``s`` of A pairs with row ``s`` of B. Treating each run's mean as measured on
its own independent images (as the book's first, unpaired yardstick did) ignores that a hard
image is hard for both arms, and that paired seeds share their luck.

What the interval means, in plain words. We want the difference A minus B
that we would see on average over *new* test images drawn like ours and
*new* seeds: the population difference. Our estimate is the mean of the
per-run, per-image differences ``A[s, i] - B[s, i]``. It misses the
population value for two reasons: we trained only a few seeds, and we scored
only a finite sample of images. The 95% interval is wide enough to cover the
population difference in 95% of experiments, counting both reasons.

Method: an analytic crossed random-effects interval, not a bootstrap. Write
the paired difference on seed ``s`` and image ``i`` as

    d[s, i] = delta + a[s] + b[i] + e[s, i]

with a seed part (variance ``sa2``), an image part (``sb2``) and what is left
(``se2``: the run-by-image noise: which seed gets which borderline image
right). Seeds and images are crossed, independent samples, so the grand mean
of ``S`` seeds by ``N`` images has variance

    var = sa2 / S + sb2 / N + se2 / (S N).

The two-way ANOVA mean squares of the table estimate it without bias:
``E[MS_seed] = se2 + N sa2``, ``E[MS_image] = se2 + S sb2`` and
``E[MS_resid] = se2``, so

    var = (MS_seed + MS_image - MS_resid) / (S N).

Note that ``MS_seed / (S N)`` is the variance over seeds of the per-seed
differences divided by ``S``, and ``MS_image / (S N)`` is the variance over
images of the seed-averaged per-image differences divided by ``N``; simply
adding those two counts the run-by-image noise twice, hence the ``- MS_resid``
term. A variance part estimated below zero is set to zero. The interval is
``diff +- t * sqrt(var)`` with Satterthwaite's degrees of freedom: about
``S - 1`` when the seeds dominate (a t interval over seeds), large when the
images dominate (a normal interval).

Why not a two-level bootstrap: with 3 to 5 seeds, resampling seeds gives only
a handful of distinct resamples and shrinks the seed variance by
``(S - 1) / S`` with no t correction, so its intervals are too short exactly
where it matters; and resampling both seeds and images counts the run-by-image
noise two or three times (Owen 2007, "The pigeonhole bootstrap"). The analytic
interval is exact in expectation, a call on 5 x 10,000 takes about a
millisecond, and it involves no random numbers: the same inputs always give
the same interval.

Verdicts: lower is better for error and loss. "better" when the whole
interval lies below zero, "worse" when above, "equivalent" when a margin is
given and the whole interval lies within [-margin, +margin] (two one-sided
tests at level (1 - confidence) / 2 each), else "undecided". A difference that
is real but smaller than the margin is reported as "better" or "worse".
Several configurations compared with one reference: ``holm`` (``nbsupport.holm``, re-exported here).
"""

import math
from dataclasses import dataclass
from numbers import Real
from typing import Optional

import numpy as np
from scipy import stats

from .holm import holm, holm_adjust  # noqa: F401  (re-exported: a family of paired comparisons)

#: Equivalence margin for test error: 0.1 percentage points. At 99% accuracy
#: that is 10 of the 10,000 test images, about the smallest gain anyone would
#: switch schedules for; and it is about the seed-to-seed sd of one run's
#: validation error in this book's stored results (median 0.10 points over
#: 45 configurations above 98% accuracy), so a reseed undoes anything smaller.
MARGIN_ERROR = 0.001

#: Equivalence margin for the mean test cross-entropy: 0.005 nats. The
#: median seed-to-seed sd of one run's validation loss in the stored results
#: is 0.0033 (loss about 0.052), so 0.005 is 1.5 seed sds and about 10% of
#: a trained net's loss, close in relative size to MARGIN_ERROR (0.1 of
#: ~1.4 points). The loss is on no absolute scale a reader acts on, so use
#: it to say "no real difference in loss", never to rank configurations.
MARGIN_LOSS = 0.005

METRICS = ("error", "loss")
MNIST_CLASSES = 10


@dataclass(frozen=True)
class PairedResult:
    """A paired difference A minus B in ``metric``, its interval and verdict.

    ``var_seed``, ``var_image`` and ``var_interaction`` are the three parts of
    ``se ** 2`` (seed, image and run-by-image noise). ``p_value`` is the
    two-sided test of no difference; ``p_equivalent`` the two one-sided tests
    of a difference inside the margin, on the same scale (equivalent when it
    is at most 1 - confidence); None without a margin.
    """

    metric: str
    diff: float
    low: float
    high: float
    n_seeds: int
    n_images: int
    seed_diffs: tuple
    mean_a: float
    mean_b: float
    margin: Optional[float]
    confidence: float
    se: float
    df: float
    p_value: float
    p_equivalent: Optional[float]
    var_seed: float
    var_image: float
    var_interaction: float

    @property
    def verdict(self) -> str:
        """'better', 'worse', 'equivalent' or 'undecided' (A relative to B)."""
        return _verdict(self.low, self.high, self.margin)

    def describe(self, verdict=None) -> str:
        """One line, e.g. 'error 0.42 points lower (0.21 to 0.63): better'.

        Error is in percentage points, loss in loss units. Pass ``verdict``
        to print another one, such as a ``holm`` adjusted verdict.
        """
        scale, digits, unit = (100.0, 2, " points") if self.metric == "error" else (1.0, 4, "")
        head = _signed(self.diff * scale, digits, unit)
        span = _span(self.low * scale, self.high * scale, digits)
        return f"{self.metric} {head} ({span}): {verdict or self.verdict}"

    def signed(self) -> str:
        """The difference and its interval as signed numbers, for tables and printed lines: '+0.16 (-0.01 to
        +0.33)' (error in percentage points, loss in loss units)."""
        scale, digits = (100.0, 2) if self.metric == "error" else (1.0, 4)
        return (f"{scale * self.diff:+.{digits}f} "
                f"({scale * self.low:+.{digits}f} to {scale * self.high:+.{digits}f})")

    def difference(self) -> str:
        """The difference and its interval without a verdict, e.g. 'error 0.42 points lower (0.21 to 0.63)'."""
        return self.describe().rsplit(":", 1)[0]

    def __str__(self):
        return self.describe()


def paired_compare(a_pred=None, b_pred=None, labels=None, a_loss=None, b_loss=None, *, metric="error",
                   margin=None, confidence=0.95, n_classes=MNIST_CLASSES) -> PairedResult:
    """Compare configurations A and B on test ``metric`` ("error" or "loss"), paired by seed and image.

    ``a_pred``, ``b_pred``: predicted classes, shape (n_seeds, n_images), row
    ``s`` of A paired with row ``s`` of B; ``labels``: shape (n_images,).
    ``a_loss``, ``b_loss``: per-image cross-entropy, same shape as the
    predictions. "error" needs the predictions and labels, "loss" the losses.
    ``margin``: equivalence margin in the metric's units (a fraction for
    error: ``MARGIN_ERROR``; ``MARGIN_LOSS``), or None for no equivalence
    verdict. Runs with a NaN or infinite loss are refused: drop that seed from
    both arms. See the module docstring for the interval.
    """
    _check_metric(metric)
    if metric == "error":
        if a_pred is None or b_pred is None or labels is None:
            raise ValueError("metric='error' needs a_pred, b_pred and labels (predicted classes and true classes)")
        _check_pair(_table(a_pred, "a_pred"), _table(b_pred, "b_pred"))
        a = error_array(a_pred, labels, n_classes=n_classes, name="a_pred")
        b = error_array(b_pred, labels, n_classes=n_classes, name="b_pred")
    else:
        if a_loss is None or b_loss is None:
            raise ValueError("metric='loss' needs a_loss and b_loss (per-image cross-entropy, one row per seed)")
        a, b = loss_array(a_loss, name="a_loss"), loss_array(b_loss, name="b_loss")
    return compare_scores(a, b, metric=metric, margin=margin, confidence=confidence)


def error_array(pred, labels, *, n_classes=MNIST_CLASSES, name="pred") -> np.ndarray:
    """1.0 where run ``s`` got image ``i`` wrong, else 0.0: shape (n_seeds, n_images)."""
    pred = _table(pred, name)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.shape[0] != pred.shape[1]:
        raise ValueError(f"labels has shape {labels.shape}; it must be ({pred.shape[1]},): one true class "
                         f"per image of {name}")
    _check_classes(labels, "labels", n_classes)
    _check_classes(pred, name, n_classes)
    return (pred != labels[None, :]).astype(float)


def loss_array(loss, *, name="loss") -> np.ndarray:
    """Per-image losses as a float table (n_seeds, n_images); refuses NaN, inf and negative values."""
    loss = _table(loss, name).astype(float)
    bad = ~np.isfinite(loss)
    if bad.any():
        row = int(np.flatnonzero(bad.any(axis=1))[0])
        raise ValueError(f"{name} row {row} (seed index {row}) has {int(bad[row].sum())} NaN/inf losses: a "
                         f"diverged run? compare finished runs only: drop that seed from both arms")
    if (loss < 0).any():
        raise ValueError(f"{name} has negative values (min {loss.min():.3g}); a cross-entropy is >= 0")
    return loss


def compare_scores(a, b, *, metric="error", margin=None, confidence=0.95) -> PairedResult:
    """The paired comparison on per-image scores ``a``, ``b`` (n_seeds, n_images), lower is better."""
    _check_metric(metric)
    a, b = _table(a, "a"), _table(b, "b")
    _check_pair(a, b)
    _check_margin(margin)
    if not (isinstance(confidence, Real) and 0 < confidence < 1):
        raise ValueError(f"confidence={confidence!r} is not allowed; give a level in (0, 1), e.g. 0.95")
    d = a.astype(float) - b.astype(float)
    if not np.isfinite(d).all():
        raise ValueError("the scores contain NaN or inf; give finite per-image scores")
    parts, df = _variance_parts(d)
    diff, se = float(d.mean()), math.sqrt(sum(parts))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return PairedResult(
        metric=metric, diff=diff, low=diff - half, high=diff + half, n_seeds=d.shape[0], n_images=d.shape[1],
        seed_diffs=tuple(float(x) for x in d.mean(axis=1)), mean_a=float(a.mean()), mean_b=float(b.mean()),
        margin=None if margin is None else float(margin), confidence=float(confidence), se=se, df=df,
        p_value=_p_difference(diff, se, df), p_equivalent=_p_equivalent(diff, se, df, margin),
        var_seed=parts[0], var_image=parts[1], var_interaction=parts[2])


def _variance_parts(d):
    """(seed, image, interaction) parts of the variance of ``d.mean()``, and Satterthwaite's df."""
    s, n = d.shape
    seed_means, image_means, grand = d.mean(axis=1), d.mean(axis=0), d.mean()
    ms_seed = n * np.sum((seed_means - grand) ** 2) / (s - 1)
    ms_image = s * np.sum((image_means - grand) ** 2) / (n - 1)
    resid = d - seed_means[:, None] - image_means[None, :] + grand
    ms_resid = np.sum(resid ** 2) / ((s - 1) * (n - 1))
    # Mean squares that enter with coefficient +1, and the coefficient of MS_resid.
    terms = [(m, dof) for m, dof in ((ms_seed, s - 1), (ms_image, n - 1)) if m > ms_resid]
    c_resid = 1 - len(terms)
    terms.append((c_resid * ms_resid, (s - 1) * (n - 1)))
    total = sum(m for m, _ in terms)
    spread = sum(m * m / dof for m, dof in terms)
    df = float(total ** 2 / spread) if spread > 0 else math.inf
    parts = (max(ms_seed - ms_resid, 0.0) / (s * n), max(ms_image - ms_resid, 0.0) / (s * n), ms_resid / (s * n))
    return tuple(float(x) for x in parts), df


def _p_difference(diff, se, df):
    if se == 0:
        return 1.0 if diff == 0 else 0.0
    return float(2 * stats.t.sf(abs(diff) / se, df))


def _p_equivalent(diff, se, df, margin):
    """Two one-sided tests of |true diff| < margin, doubled to sit on the two-sided scale."""
    if margin is None:
        return None
    if se == 0:
        return 0.0 if abs(diff) <= margin else 1.0
    p_below = stats.t.sf((diff + margin) / se, df)  # H0: diff <= -margin
    p_above = stats.t.cdf((diff - margin) / se, df)  # H0: diff >= +margin
    return float(min(1.0, 2 * max(p_below, p_above)))


def _verdict(low, high, margin):
    if high < 0:
        return "better"
    if low > 0:
        return "worse"
    if margin is not None and -margin <= low and high <= margin:
        return "equivalent"
    return "undecided"


def _signed(x, digits, unit):
    if round(x, digits) == 0:
        return f"{0:.{digits}f}{unit} different"
    return f"{abs(x):.{digits}f}{unit} {'lower' if x < 0 else 'higher'}"


def _span(lo, hi, digits):
    if hi < 0:
        return f"{-hi:.{digits}f} to {-lo:.{digits}f}"
    if lo > 0:
        return f"{lo:.{digits}f} to {hi:.{digits}f}"
    return f"{-lo:.{digits}f} lower to {hi:.{digits}f} higher"


def _table(x, name):
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} has shape {x.shape}; it must be (n_seeds, n_images): one row per seed")
    if x.shape[0] < 2:
        raise ValueError(f"{name} has {x.shape[0]} seed(s); a paired comparison needs at least 2 per arm")
    if x.shape[1] < 2:
        raise ValueError(f"{name} has {x.shape[1]} image(s); it needs at least 2 images per run")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise ValueError(f"{name} has dtype {x.dtype}; it must hold numbers")
    return x


def _check_pair(a, b):
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"A has {a.shape[0]} seeds and B has {b.shape[0]}; both arms need the same seeds "
                         f"(row s of A pairs with row s of B)")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"A is scored on {a.shape[1]} images and B on {b.shape[1]}; both must be scored "
                         f"on the same images, in the same order")


def _check_classes(x, name, n_classes):
    if not np.all((x >= 0) & (x < n_classes) & (x == np.round(x))):
        raise ValueError(f"{name} has values outside the classes 0..{n_classes - 1} (min {x.min()}, max "
                         f"{x.max()}); give integer class indices, or pass n_classes=")


def _check_margin(margin):
    if margin is None:
        return
    if isinstance(margin, bool) or not isinstance(margin, Real) or not (0 < margin < math.inf):
        raise ValueError(f"margin={margin!r} is not allowed; give a positive difference in the metric's "
                         f"units (e.g. MARGIN_ERROR = {MARGIN_ERROR}) or None for no equivalence verdict")


def _check_metric(metric):
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is not known; use one of {METRICS}")
