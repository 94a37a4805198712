"""The paired comparison: exact on hand-made tables, calibrated on simulated runs with a known truth."""

import dataclasses
import functools
import math
import time

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit, logit

from nbsupport.paired import (MARGIN_ERROR, MARGIN_LOSS, PairedResult, compare_scores, holm, holm_adjust,
                              paired_compare)

# ---------------------------------------------------------------------------
# A simulated world with a known truth.
#
# Each image has a latent probability of being got wrong, p ~ Beta(0.05, 3)
# (mean 1.6%, most images easy, a few hard for every net). A run's logit of
# getting image i wrong is logit(p_i) plus: a seed shift shared by the paired
# runs of A and B (same initial weights and batch order), a seed shift of its
# own arm, an image shift of its own arm (images one schedule handles better),
# and A's effect. Then each run gets each image wrong independently.
# ---------------------------------------------------------------------------
BETA = (0.05, 3.0)
SHARED_SD, ARM_SD, IMAGE_SD = 0.2, 0.15, 0.3
N_IMAGES = 2_000
REPS = 500  # repetitions per setting
#: A's effect on the logit: 0.66 points lower error, a power of ~0.8 at 5 seeds and ~0.5 at 3.
EFFECT = -0.65
ALPHA = 0.05


def tolerance(rate, reps=REPS):
    """Three binomial standard errors of a rate observed over ``reps`` repetitions."""
    return 3 * math.sqrt(rate * (1 - rate) / reps)


def simulate(rng, n_seeds, n_images, effect, *, beta=BETA, shared_sd=SHARED_SD, arm_sd=ARM_SD,
             image_sd=IMAGE_SD):
    """Error tables (n_seeds, n_images) of arms A and B in the world described above."""
    x = logit(np.clip(rng.beta(*beta, n_images), 1e-12, 1 - 1e-12))
    shared = rng.normal(0, shared_sd, (n_seeds, 1))
    seed_a, seed_b = rng.normal(0, arm_sd, (2, n_seeds, 1))
    image_a, image_b = rng.normal(0, image_sd, (2, 1, n_images))
    p_a = expit(x + shared + seed_a + image_a + effect)
    p_b = expit(x + shared + seed_b + image_b)
    return ((rng.random(p_a.shape) < p_a).astype(float), (rng.random(p_b.shape) < p_b).astype(float))


def true_difference(effect, *, beta=BETA, n_quantiles=20_000):
    """Population error of A minus B: in expectation over new images and new seeds (quadrature)."""
    p = stats.beta.ppf((np.arange(n_quantiles) + 0.5) / n_quantiles, *beta)
    x = logit(np.clip(p, 1e-12, 1 - 1e-12))[:, None]
    nodes, weights = np.polynomial.hermite_e.hermegauss(60)  # for a standard normal z
    z = nodes * math.sqrt(SHARED_SD ** 2 + ARM_SD ** 2 + IMAGE_SD ** 2)
    w = weights / weights.sum()
    return float(np.mean((expit(x + z + effect) - expit(x + z)) @ w))


def mean_squares(d):
    """Two-way ANOVA mean squares (seed, image, residual) of a table d (seeds, images)."""
    s, n = d.shape
    rows, cols, grand = d.mean(axis=1), d.mean(axis=0), d.mean()
    resid = d - rows[:, None] - cols[None, :] + grand
    return (n * np.sum((rows - grand) ** 2) / (s - 1), s * np.sum((cols - grand) ** 2) / (n - 1),
            np.sum(resid ** 2) / ((s - 1) * (n - 1)))


@functools.lru_cache(maxsize=None)
def simulated(n_seeds, effect):
    """REPS simulated comparisons: (diff, low, high, se, verdict) arrays and the mean of the mean squares."""
    rng = np.random.default_rng(1000 * n_seeds + round(100 * abs(effect)))
    out, ms = [], []
    for _ in range(REPS):
        a, b = simulate(rng, n_seeds, N_IMAGES, effect)
        r = compare_scores(a, b)
        out.append((r.diff, r.low, r.high, r.se, r.verdict))
        ms.append(mean_squares(a - b))
    cols = list(zip(*out))
    return ([np.array(c) for c in cols[:4]] + [np.array(cols[4])]), np.mean(ms, axis=0)


def true_se(n_seeds, mean_ms):
    """The true standard error of the estimate, from the expected mean squares (averaged over the reps)."""
    ms_seed, ms_image, ms_resid = mean_ms
    return math.sqrt((ms_seed + ms_image - ms_resid) / (n_seeds * N_IMAGES))


def theory_power(n_seeds, mean_ms, delta, n_points=2_000):
    """Power of the 95% test for a true difference ``delta``, in the Gaussian crossed model.

    The estimate is normal around ``delta`` with the true standard error; the
    seed mean square is its expectation times chi2(S - 1) / (S - 1); the image
    and residual mean squares (thousands of df) sit at their expectations. The
    test rejects when |estimate| > t(df) * estimated se, with the estimated se
    and Satterthwaite df computed as the module does (parts below zero set to
    zero). Averaged over quantiles of the chi-square.
    """
    s, n = n_seeds, N_IMAGES
    _, ms_image, ms_resid = mean_ms
    se = true_se(n_seeds, mean_ms)
    chi = stats.chi2.ppf((np.arange(n_points) + 0.5) / n_points, s - 1) / (s - 1)
    power = []
    for ms_seed in mean_ms[0] * chi:
        terms = [(m, dof) for m, dof in ((ms_seed, s - 1), (ms_image, n - 1)) if m > ms_resid]
        terms.append(((1 - len(terms)) * ms_resid, (s - 1) * (n - 1)))
        total = sum(m for m, _ in terms)
        df = total ** 2 / sum(m * m / dof for m, dof in terms)
        cut = stats.t.ppf(1 - ALPHA / 2, df) * math.sqrt(total / (s * n))
        power.append(stats.norm.cdf((delta - cut) / se) + stats.norm.cdf((-delta - cut) / se))
    return float(np.mean(power))


@pytest.mark.parametrize("n_seeds", [3, 5])
def test_a_true_null_is_called_better_or_worse_about_5_percent_of_the_time(n_seeds):
    (diff, low, high, se, verdict), _ = simulated(n_seeds, 0.0)
    rate = np.mean(verdict != "undecided")
    assert abs(rate - ALPHA) <= tolerance(ALPHA), f"false-positive rate {rate:.3f} at {n_seeds} seeds"


@pytest.mark.parametrize("n_seeds", [3, 5])
def test_intervals_cover_the_population_difference_95_percent_of_the_time(n_seeds):
    delta = true_difference(EFFECT)
    assert -0.0075 < delta < -0.006  # 0.66 points lower error
    (diff, low, high, se, verdict), _ = simulated(n_seeds, EFFECT)
    assert abs(diff.mean() - delta) < 4 * diff.std() / math.sqrt(REPS)  # unbiased
    coverage = np.mean((low <= delta) & (delta <= high))
    assert abs(coverage - (1 - ALPHA)) <= tolerance(ALPHA), f"coverage {coverage:.3f} at {n_seeds} seeds"


@pytest.mark.parametrize("n_seeds", [3, 5])
def test_the_reported_variance_matches_the_spread_of_the_estimate(n_seeds):
    # Adding the seed and image parts without removing the run-by-image noise
    # counted twice would overstate the variance here by about 60%. Setting
    # parts estimated below zero to zero overstates it by ~10% (conservative).
    (diff, low, high, se, verdict), mean_ms = simulated(n_seeds, EFFECT)
    ratio = np.mean(se ** 2) / np.var(diff, ddof=1)
    assert 0.85 < ratio < 1.4, ratio  # sampling noise of the ratio over 500 reps: ~8%
    assert diff.std(ddof=1) == pytest.approx(true_se(n_seeds, mean_ms), rel=0.1)


@pytest.mark.parametrize("n_seeds", [3, 5])
def test_a_known_effect_is_detected_at_the_power_theory_says(n_seeds):
    # Tolerance: 3 binomial standard errors, plus 0.03 for the Gaussian model
    # (the simulated seed effects are not exactly normal).
    delta = true_difference(EFFECT)
    (diff, low, high, se, verdict), mean_ms = simulated(n_seeds, EFFECT)
    expected = theory_power(n_seeds, mean_ms, delta)
    assert abs(delta) / true_se(n_seeds, mean_ms) > 2.5  # z theory would promise 70% or more
    power = np.mean(verdict == "better")
    assert np.mean(verdict == "worse") == 0
    assert abs(power - expected) <= tolerance(expected) + 0.03, (power, expected)


def unpaired_is_real(a, b):
    """The old yardstick: seed spread and binomial error of each arm in quadrature, real beyond 2 of them."""
    def var_of_mean(x):
        per_seed = x.mean(axis=1)
        return per_seed.var(ddof=1) / len(per_seed) + per_seed.mean() * (1 - per_seed.mean()) / x.shape[1]
    return abs(a.mean() - b.mean()) > 2 * math.sqrt(var_of_mean(a) + var_of_mean(b))


def test_pairing_detects_a_small_consistent_difference_the_unpaired_yardstick_misses():
    # Hard images are hard for both arms, paired seeds share their luck, and
    # A is better by the same small logit step on every image (~0.25 points).
    rng = np.random.default_rng(7)
    paired, unpaired = [], []
    for _ in range(60):
        a, b = simulate(rng, 5, 10_000, -0.3, beta=(0.02, 1.3), shared_sd=0.3, arm_sd=0.03, image_sd=0.05)
        paired.append(compare_scores(a, b).verdict == "better")
        unpaired.append(unpaired_is_real(a, b))
    assert np.mean(paired) >= 0.75 and np.mean(unpaired) <= 0.2, (np.mean(paired), np.mean(unpaired))


# ---------------------------------------------------------------------------
# Exact results on hand-made tables.
# ---------------------------------------------------------------------------
def test_seed_differences_only_give_the_t_interval_over_seeds():
    c = np.array([0.010, 0.014, 0.006, 0.012])
    d = np.repeat(c[:, None], 50, axis=1)  # every image moves with its seed
    r = compare_scores(d, np.zeros_like(d))
    low, high = stats.t.interval(0.95, 3, loc=c.mean(), scale=c.std(ddof=1) / 2)
    assert (r.low, r.high, r.df) == (pytest.approx(low), pytest.approx(high), pytest.approx(3))
    assert r.seed_diffs == pytest.approx(tuple(c))
    assert (r.var_image, r.var_interaction) == pytest.approx((0, 0), abs=1e-20)


def test_image_differences_only_give_the_interval_over_images():
    g = np.random.default_rng(0).normal(0.01, 0.05, 400)
    d = np.tile(g, (3, 1))  # the same per-image difference on every seed
    r = compare_scores(d, np.zeros_like(d))
    assert r.se == pytest.approx(g.std(ddof=1) / 20) and r.df == pytest.approx(399)
    assert r.var_seed == pytest.approx(0, abs=1e-20) and r.var_interaction == pytest.approx(0, abs=1e-20)


def test_additive_seed_and_image_parts_add_their_variances():
    rng = np.random.default_rng(1)
    c, g = rng.normal(0, 0.01, 5), rng.normal(0, 0.1, 1000)
    r = compare_scores(c[:, None] + g[None, :], np.zeros((5, 1000)))
    v_seed, v_image = c.var(ddof=1) / 5, g.var(ddof=1) / 1000
    dof = (v_seed + v_image) ** 2 / (v_seed ** 2 / 4 + v_image ** 2 / 999)
    assert r.se ** 2 == pytest.approx(v_seed + v_image) and r.df == pytest.approx(dof)
    assert r.diff == pytest.approx(c.mean() + g.mean())


def labelled(n_seeds=4, n_images=1000, wrong_a=(), wrong_b=()):
    """Predictions that get exactly the given images wrong, per seed; labels all 3."""
    labels = np.full(n_images, 3)
    a_pred, b_pred = np.tile(labels, (n_seeds, 1)), np.tile(labels, (n_seeds, 1))
    for pred, wrong in ((a_pred, wrong_a), (b_pred, wrong_b)):
        for s, images in enumerate(wrong):
            pred[s, list(images)] = 7
    return a_pred, b_pred, labels


def test_verdicts_better_worse_equivalent_undecided():
    # B gets images 0-29 wrong on every seed, A one image fewer or more, jittered by seed.
    base = [set(range(30))] * 4
    fewer = [set(range(30)) - {s, s + 10} for s in range(4)]  # 2 fewer on each seed
    more = [set(range(32)) | {900 + s} for s in range(4)]  # 3 more on each seed
    a, b, y = labelled(wrong_a=fewer, wrong_b=base)
    better = paired_compare(a, b, y)
    assert better.verdict == "better" and better.diff == pytest.approx(-0.002) and better.high < 0
    a, b, y = labelled(wrong_a=more, wrong_b=base)
    assert paired_compare(a, b, y).verdict == "worse"
    swap = [(set(range(30)) - {s}) | {500 + s} if s % 2 else set(range(30)) for s in range(4)]
    a, b, y = labelled(wrong_a=swap, wrong_b=base)  # a few different images, same count
    same = paired_compare(a, b, y, margin=MARGIN_ERROR)
    assert same.diff == 0 and same.verdict == "equivalent"
    assert paired_compare(a, b, y).verdict == "undecided"  # no margin, no equivalence
    assert paired_compare(a, b, y, margin=0.0001).verdict == "undecided"  # interval wider than the margin
    noisy = [set(range(30 + 3 * (s % 2) - 2 * (s % 3))) for s in range(4)]
    a, b, y = labelled(wrong_a=noisy, wrong_b=base)
    assert paired_compare(a, b, y, margin=0.0005).verdict == "undecided"


def test_loss_is_compared_separately_from_error():
    rng = np.random.default_rng(3)
    b_loss = rng.exponential(0.05, (3, 2000))
    a_loss = b_loss * 0.8 + rng.normal(0, 0.002, b_loss.shape).clip(0)
    r = paired_compare(a_loss=a_loss, b_loss=b_loss, metric="loss", margin=MARGIN_LOSS)
    assert r.metric == "loss" and r.verdict == "better"
    assert r.mean_a - r.mean_b == pytest.approx(r.diff)
    assert str(r).startswith("loss 0.0") and "points" not in str(r)


def test_describe_prints_one_short_line():
    a, b, y = labelled(wrong_a=[set(range(28))] * 4, wrong_b=[set(range(30))] * 4)
    r = paired_compare(a, b, y)
    lower = dataclasses.replace(r, diff=-0.0042, low=-0.0063, high=-0.0021)
    assert lower.describe() == "error 0.42 points lower (0.21 to 0.63): better"
    higher = dataclasses.replace(r, diff=0.0042, low=0.0021, high=0.0063)
    assert str(higher) == "error 0.42 points higher (0.21 to 0.63): worse"
    straddle = dataclasses.replace(r, diff=-0.0005, low=-0.0031, high=0.0021, margin=MARGIN_ERROR)
    line = straddle.describe()
    assert line == "error 0.05 points lower (0.31 lower to 0.21 higher): undecided"
    assert straddle.describe(verdict="better").endswith(": better")
    loss = dataclasses.replace(r, metric="loss", diff=-0.0123, low=-0.0195, high=-0.0051)
    assert loss.describe() == "loss 0.0123 lower (0.0051 to 0.0195): better"
    assert max(len(x.describe()) for x in (lower, higher, straddle, loss)) < 76
    assert straddle.difference() == "error 0.05 points lower (0.31 lower to 0.21 higher)"
    assert loss.difference() == "loss 0.0123 lower (0.0051 to 0.0195)"


# ---------------------------------------------------------------------------
# Holm.
# ---------------------------------------------------------------------------
def textbook_holm(pvalues, alpha):
    """Holm (1979): sort the p-values; reject the k-th smallest while p_(k) <= alpha / (m - k + 1)."""
    m, reject = len(pvalues), [False] * len(pvalues)
    for k, i in enumerate(sorted(range(m), key=lambda i: pvalues[i])):
        if pvalues[i] > alpha / (m - k):
            break
        reject[i] = True
    return reject


@pytest.mark.parametrize("pvalues", [
    [0.01, 0.04, 0.03, 0.005],  # rejects 0.005 and 0.01, stops at 0.03 > 0.05 / 2
    [0.001, 0.02, 0.024],  # all three
    [0.03, 0.03, 0.03],  # none: 0.03 > 0.05 / 3
    [0.045, 0.01, 0.04],  # 0.01 rejected, then 0.04 > 0.025 stops 0.045 (< 0.05) too
    [0.2],
])
def test_holm_matches_the_textbook_procedure(pvalues):
    assert holm(pvalues).tolist() == textbook_holm(pvalues, 0.05)


def test_holm_matches_the_textbook_procedure_on_random_pvalues():
    rng = np.random.default_rng(5)
    for _ in range(200):
        p = (rng.random(rng.integers(1, 8)) ** 3).round(3).tolist()  # many small ones, ties
        for alpha in (0.05, 0.1):
            assert holm(p, alpha=alpha).tolist() == textbook_holm(p, alpha)


def test_holm_adjusted_pvalues():
    assert holm_adjust([0.01, 0.04, 0.045]) == pytest.approx([0.03, 0.08, 0.08])
    assert holm_adjust([0.5, 0.4]) == pytest.approx([0.8, 0.8])


def test_holm_adjusts_the_verdicts_of_several_comparisons():
    a, b, y = labelled(wrong_a=[set(range(28))] * 4, wrong_b=[set(range(30))] * 4)
    r = paired_compare(a, b, y, margin=MARGIN_ERROR)

    def made(p, p_eq, diff=-0.001):
        return dataclasses.replace(r, p_value=p, p_equivalent=p_eq, diff=diff, low=-1, high=-0.5)

    family = [made(0.001, 0.9), made(0.03, 0.9), made(0.04, 0.9, diff=0.001), made(0.6, 0.004), made(0.5, 0.03)]
    # differences: 0.001 <= 0.01, then 0.03 > 0.0125 stops; equivalence: 0.004 <= 0.01, 0.03 > 0.0125.
    assert holm(family) == ["better", "undecided", "undecided", "equivalent", "undecided"]
    assert holm(family, alpha=0.2) == ["better", "better", "worse", "equivalent", "equivalent"]


def test_holm_of_one_comparison_keeps_its_verdict():
    rng = np.random.default_rng(11)
    for effect in (-0.6, -0.2, 0.0, 0.3, 0.6):
        a, b = simulate(rng, 5, N_IMAGES, effect)
        for margin in (None, 0.003, 0.01):
            r = compare_scores(a, b, margin=margin)
            assert holm([r]) == [r.verdict]
            assert (r.p_value <= 0.05) == (r.verdict in ("better", "worse"))


# ---------------------------------------------------------------------------
# Validation, determinism, speed.
# ---------------------------------------------------------------------------
def good(n_seeds=3, n_images=100):
    a, b, y = labelled(n_seeds, n_images, wrong_a=[{1, 2}] * n_seeds, wrong_b=[{1}] * n_seeds)
    return a, b, y


@pytest.mark.parametrize("change, message", [
    (lambda a, b, y: (a[:, :50], b, y), "A is scored on 50 images and B on 100"),
    (lambda a, b, y: (a[:2], b, y), "A has 2 seeds and B has 3"),
    (lambda a, b, y: (a[:1], b[:1], y), "a_pred has 1 seed.*at least 2"),
    (lambda a, b, y: (a[0], b[0], y), r"a_pred has shape \(100,\); it must be \(n_seeds, n_images\)"),
    (lambda a, b, y: (a, b, y[:99]), r"labels has shape \(99,\); it must be \(100,\)"),
    (lambda a, b, y: (a, b, y + 7), "labels has values outside the classes 0..9"),
    (lambda a, b, y: (a, b - 4, y), "b_pred has values outside the classes 0..9"),
])
def test_bad_predictions_are_refused(change, message):
    a, b, y = change(*good())
    with pytest.raises(ValueError, match=message):
        paired_compare(a, b, y)


def test_bad_losses_and_options_are_refused():
    a, b, y = good()
    loss = np.full(a.shape, 0.05)
    diverged = loss.copy()
    diverged[2, 7] = np.nan
    cases = [
        (dict(a_loss=diverged, b_loss=loss, metric="loss"), "a_loss row 2 .* NaN/inf.*diverged"),
        (dict(a_loss=loss, b_loss=-loss, metric="loss"), "b_loss has negative values"),
        (dict(a_loss=loss, metric="loss"), "metric='loss' needs a_loss and b_loss"),
        (dict(a_pred=a, b_pred=b, labels=y, margin=0), "margin=0 is not allowed; give a positive"),
        (dict(a_pred=a, b_pred=b, labels=y, margin=-0.001), "margin=-0.001 is not allowed"),
        (dict(a_pred=a, b_pred=b, labels=y, metric="accuracy"), "metric='accuracy' is not known"),
        (dict(a_pred=a, b_pred=b, labels=y, confidence=95), "confidence=95 is not allowed"),
        (dict(a_pred=a, labels=y), "metric='error' needs a_pred, b_pred and labels"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            paired_compare(**kwargs)
    for bad, message in (([0.01, 1.5], r"p-values must be numbers in \[0, 1\]"), ([], "at least one"),
                         ([0.01], "alpha=2 is not allowed")):
        with pytest.raises(ValueError, match=message):
            holm(bad, alpha=2 if message.startswith("alpha") else None)


def test_messages_are_one_line():
    a, b, y = good()
    with pytest.raises(ValueError) as info:
        paired_compare(a[:2], b, y)
    assert "\n" not in str(info.value)


def test_the_same_inputs_give_the_same_interval():
    rng = np.random.default_rng(2)
    a, b = simulate(rng, 5, N_IMAGES, -0.3)
    first = compare_scores(a, b, margin=MARGIN_ERROR)
    np.random.seed(123)  # no hidden global random state
    np.random.random(10)
    again = compare_scores(a.copy(), b.copy(), margin=MARGIN_ERROR)
    assert first == again and (first.low, first.high) == (again.low, again.high)
    assert isinstance(first, PairedResult) and first.n_seeds == 5 and first.n_images == N_IMAGES


def test_a_call_on_5_seeds_by_10000_images_is_fast():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 10, 10_000)
    a_pred = np.where(rng.random((5, 10_000)) < 0.015, (labels + 1) % 10, labels)
    b_pred = np.where(rng.random((5, 10_000)) < 0.015, (labels + 1) % 10, labels)
    start = time.perf_counter()
    r = paired_compare(a_pred, b_pred, labels, margin=MARGIN_ERROR)
    assert time.perf_counter() - start < 0.5
    assert r.n_images == 10_000 and abs(r.diff) < 0.01


def test_signed_prints_the_difference_and_interval_as_signed_numbers():
    import numpy as np

    from nbsupport.paired import paired_compare

    labels = np.zeros(200, dtype=int)
    a = np.zeros((3, 200), dtype=int)
    b = np.zeros((3, 200), dtype=int)
    b[:, :4] = 1  # b misses 4 of 200 images on every seed: a is 2 points lower
    a[0, 5] = 1
    r = paired_compare(a, b, labels, metric="error")
    head = r.signed().split(" (")[0]
    assert head == f"{100 * r.diff:+.2f}" and head.startswith("-")
    assert r.signed().endswith(f"({100 * r.low:+.2f} to {100 * r.high:+.2f})")
