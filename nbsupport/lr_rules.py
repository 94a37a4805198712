"""The LR-finder suggestion rules of two libraries, reimplemented as pure functions of a recorded curve
(neither library is a dependency); ``nbsupport.lr_finder`` re-exports them.

- fastai (``fastai/callback/schedule.py``): ``fastai_minimum``, ``fastai_steep``,
  ``fastai_valley``, ``fastai_slide``; ``fastai_trim`` is what ``Learner.lr_find`` does to
  the curve before the rules see it, ``debiased_ema`` how fastai's ``Recorder`` smooths it;
- Lightning (``lightning/pytorch/tuner/lr_finder.py``): ``lightning_suggestion``.
"""

import numpy as np

FASTAI_RULES = ("minimum", "steep", "valley", "slide")
SLOPE_AGAINST = ("index", "log_lr", "lr")


# --- fastai's suggestion rules ------------------------------------------------------------------------------------
#
# Reimplemented from the definitions in fastai's ``fastai/callback/schedule.py`` (``minimum``, ``steep``,
# ``valley``, ``slide``, offered as ``SuggestionMethod.Minimum/Steep/Valley/Slide``; introduced in fastai PR #3377),
# the ``LRFinder`` callback and ``Learner.lr_find`` in the same file, and ``AvgSmoothLoss``/``Recorder`` in
# ``fastai/learner.py``. fastai passes each rule ``(lrs, losses, num_it)``; none of the four uses ``num_it``, so
# the functions here take only the curve. fastai computes on float32 tensors, these on float64: results can only
# differ where two values tie to within float32 rounding.


def _curve(lrs, losses, need, rule):
    lrs, losses = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    if lrs.ndim != 1 or lrs.shape != losses.shape:
        raise ValueError(f"{rule}: lrs and losses must be 1-d and of the same length, got shapes {lrs.shape} "
                         f"and {losses.shape}")
    if len(lrs) < need:
        raise ValueError(f"{rule}: needs at least {need} points, got {len(lrs)}")
    return lrs, losses


def debiased_ema(values, beta=0.98):
    """The running mean fastai (``AvgSmoothLoss`` in ``fastai/learner.py``, used by ``Recorder``) and Lightning
    (``_LRCallback.on_train_batch_end``) record in place of the raw loss.

    ``avg_k = beta * avg_(k-1) + (1 - beta) * value_k`` from ``avg_(-1) = 0``, reported debiased as
    ``avg_k / (1 - beta ** (k + 1))``. fastai's ``Recorder`` appends this (not the raw loss) to
    ``recorder.losses``, which is what ``lr_find`` hands the suggestion rules; its smoothing runs on across
    epochs. ``lr_range_test(smooth=s)`` smooths the same way with ``beta = 1 - s`` (fastai: ``smooth=0.02``).
    A non-finite value makes every later one non-finite.
    """
    if not 0 <= beta < 1:
        raise ValueError(f"beta (the weight of the running mean) must be in [0, 1), got {beta!r}")
    avg, out = 0.0, []
    for k, value in enumerate(values):
        avg = beta * avg + (1 - beta) * float(value)
        out.append(avg / (1 - beta ** (k + 1)))
    return out


def fastai_trim(lrs, losses, num_it=None):
    """The part of a recorded curve that fastai's ``Learner.lr_find`` hands its suggestion rules.

    ``lr_find`` (``fastai/callback/schedule.py``) keeps ``recorder.lrs[num_it//10:-5]`` and the same slice of
    ``recorder.losses`` (the smoothed loss): it drops the first tenth of the *requested* ``num_it`` iterations
    (not of the points recorded, which are fewer after an early stop) and always the last 5 points, whether
    or not the test diverged; then it cuts both lists at the first NaN loss (an infinite loss is kept).
    ``num_it=None`` takes ``len(lrs)``. Returns two float arrays, possibly empty.

    Also unlike ``lr_range_test``: fastai's ``LRFinder`` callback sets the lr of iteration ``i`` (from 0) to
    ``start_lr * (end_lr / start_lr) ** (i / num_it)``, so ``end_lr`` itself is never tried; it stops after
    ``num_it`` iterations (at least 6), or, with ``stop_div``, right after the first whose smoothed loss exceeds
    4 times the best one so far (that point is recorded).
    """
    lrs, losses = _curve(lrs, losses, 0, "fastai_trim")
    num_it = len(lrs) if num_it is None else num_it
    if not isinstance(num_it, int) or num_it < 1:
        raise ValueError(f"num_it (the number of iterations requested from lr_find) must be a positive int, "
                         f"got {num_it!r}")
    lrs, losses = lrs[num_it // 10:-5], losses[num_it // 10:-5]
    nan = np.flatnonzero(np.isnan(losses))
    if len(nan):
        lrs, losses = lrs[:nan[0]], losses[:nan[0]]
    return lrs, losses


def fastai_minimum(lrs, losses):
    """fastai's ``minimum`` rule (``SuggestionMethod.Minimum``): a tenth of the lr at the lowest loss.

    The first lowest point if several tie. (fastai marks the point itself, ``lrs[argmin]``, on its plot, but
    returns a tenth of it.)
    """
    lrs, losses = _curve(lrs, losses, 1, "fastai_minimum")
    return float(lrs[int(np.argmin(losses))] / 10)


def fastai_steep(lrs, losses):
    """fastai's ``steep`` rule (``SuggestionMethod.Steep``): where the loss falls fastest per unit of log lr.

    For each pair of neighbouring points the slope ``(loss[i+1] - loss[i]) / (ln lr[i+1] - ln lr[i])``; the
    suggestion is ``lrs[i]``, the *left* end of the steepest (most negative) segment, the first if several
    tie. Unlike ``suggest_lrs``'s ``steepest`` it does not stop looking at the minimum.
    """
    lrs, losses = _curve(lrs, losses, 2, "fastai_steep")
    if not np.all(lrs > 0):
        raise ValueError("fastai_steep: lrs must be positive (the slope is taken against log lr)")
    slopes = np.diff(losses) / np.diff(np.log(lrs))
    return float(lrs[int(np.argmin(slopes))])


def _fastai_valley_index(losses):
    n = len(losses)
    # longest[i]: length of the longest strictly decreasing subsequence (not necessarily contiguous) ending at i.
    longest = [1] * n
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j]:
                longest[i] = max(longest[i], longest[j] + 1)
    end = int(np.argmax(longest))  # the first point where the longest such subsequence ends
    # fastai's loop starts from start = end = 0 and only moves them when some length exceeds 1.
    start = end - longest[end] if longest[end] > 1 else 0
    third = (end - start) / 3
    return start + int(third) + int(third / 2)


def fastai_valley(lrs, losses):
    """fastai's ``valley`` rule (``SuggestionMethod.Valley``, ``lr_find``'s default), returned as is.

    Over the whole (trimmed) curve, the longest strictly decreasing subsequence of losses (its points need not
    be adjacent) is found by dynamic programming; let ``end`` be the first index where one of maximal length
    ``L`` ends. fastai then takes ``start = end - L``, which is not where that subsequence begins but ``L``
    points before its end (one before the start of a contiguous run), and suggests ``lrs[idx]`` with
    ``idx = start + int(d) + int(d / 2)``, ``d = (end - start) / 3``: about half-way from ``start`` to ``end``
    (``int(d) + int(d/2)`` of ``L``), truncations included. Two quirks kept on purpose:

    - if no loss is lower than an earlier one (``L == 1``), ``start = end = 0`` and the suggestion is ``lrs[0]``;
    - if the longest run is 2 points starting at index 0, ``start = -1`` and ``idx = -1``, which Python's
      negative indexing turns into the *last* lr.
    """
    lrs, losses = _curve(lrs, losses, 1, "fastai_valley")
    return float(lrs[_fastai_valley_index(losses)])


def fastai_slide(lrs, losses, lr_diff=15, thresh=0.005, adjust_value=1.0):
    """fastai's ``slide`` rule (``SuggestionMethod.Slide``; fastai's defaults ``lr_diff=15, thresh=.005,
    adjust_value=1.``).

    With ``g = np.gradient(losses)`` (the slope per *index*: central differences inside, one-sided at the two
    ends; not against the lr), a window of ``lr_diff`` points slides leftwards from the right end of the curve,
    comparing the slopes at its two ends: ``right = n-1-k`` and ``left = right - lr_diff`` for ``k = 0, 1, ...``.
    It stops at the first window whose end slopes differ by at most ``thresh`` (an absolute threshold, in loss
    per point), or once ``left`` would pass index 0. The suggestion is the lr at the left end of the last window
    whose slopes still differed, i.e. ``lrs[left + 1]`` of the stopping window, except that it is
    ``lrs[n-1-lr_diff]`` if the first window already agrees and ``lrs[0]`` if none does; times ``adjust_value``.
    """
    lrs, losses = _curve(lrs, losses, 2, "fastai_slide")
    if not isinstance(lr_diff, int) or lr_diff < 0:
        raise ValueError(f"fastai_slide: lr_diff must be a non-negative int, got {lr_diff!r}")
    n = len(losses)
    if n < lr_diff + 1:
        raise ValueError(f"fastai_slide: needs more than lr_diff={lr_diff} points, got {n}")
    slopes = np.gradient(losses)
    right = n - 1
    suggestion = lrs[right - lr_diff]
    while right - lr_diff >= 0 and abs(slopes[right] - slopes[right - lr_diff]) > thresh:
        suggestion = lrs[right - lr_diff]
        right -= 1
    return float(suggestion) * adjust_value


_FASTAI_RULE_FUNCTIONS = {"minimum": fastai_minimum, "steep": fastai_steep, "valley": fastai_valley,
                          "slide": fastai_slide}


def fastai_suggestions(lrs, losses, num_it=None, rules=FASTAI_RULES):
    """fastai's suggestions for a recorded (smoothed) curve, as ``Learner.lr_find`` computes them.

    The curve is first trimmed as ``lr_find`` does (``fastai_trim``; ``num_it`` is the number of iterations
    that were requested, ``None`` for ``len(lrs)``), then each of ``rules`` (names from ``FASTAI_RULES``;
    fastai's own default is ``("valley",)``) is applied. Returns ``{rule: lr}``; ``"minimum"`` is already
    divided by 10, as fastai returns it.
    """
    unknown = [rule for rule in rules if rule not in _FASTAI_RULE_FUNCTIONS]
    if unknown:
        raise ValueError(f"unknown fastai rule(s) {unknown}: choose from {FASTAI_RULES}")
    lrs, losses = fastai_trim(lrs, losses, num_it)
    if len(lrs) == 0:
        raise ValueError("fastai_suggestions: no points left after dropping the first num_it//10, the last 5 and "
                         "everything from the first NaN; record a longer curve")
    return {rule: _FASTAI_RULE_FUNCTIONS[rule](lrs, losses) for rule in rules}


# --- Lightning's suggestion rule ----------------------------------------------------------------------------------


def lightning_suggestion(lrs, losses, skip_begin=10, skip_end=1, against="index"):
    """Lightning's suggestion: the lr at the steepest negative slope of the (smoothed) loss, or None.

    Which slope depends on Lightning's version (``against``, below).

    Reimplemented from ``_LRFinder.suggestion(skip_begin=10, skip_end=1)`` in Lightning's
    ``src/lightning/pytorch/tuner/lr_finder.py`` (``pytorch_lightning/tuner/lr_finder.py`` before 2.0):

    1. keep ``losses[skip_begin:-skip_end]``, a Python slice, so ``skip_end=0`` keeps *nothing*;
    2. drop the non-finite losses among those (NaN and +-inf);
    3. if fewer than 2 remain, give up: Lightning logs an error and returns None, as this does;
    4. slope = ``np.gradient(kept)`` (``torch.gradient`` on float32 since Lightning 2.x: the same up to rounding):
       the derivative against the *index*, unit spacing, central differences inside and one-sided at the ends;
    5. ``i = argmin(slope)`` (the first if several tie) and the suggestion is ``lrs[i + skip_begin]``. When step 2
       dropped points before ``i``, this index is shifted from the point whose slope won (a known Lightning
       TODO); it is kept so.

    Step 4 is Lightning's rule *before version 2.5.3*. Lightning 2.5.3 (PR #21055, "Fix lr_finder gradient
    calculation for mode='exponential'") passes the recorded lrs as coordinates,
    ``torch.gradient(losses, spacing=[lrs])``: the slope against the *lr* itself, in both modes (issue #21141
    reports that this stopped finding good lrs on noisy curves; PR #21171, open, proposes log10 lr for the
    exponential mode). ``against`` selects step 4's spacing: ``"index"`` (Lightning < 2.5.3, the default here),
    ``"lr"`` (``np.gradient(kept, lrs)``: Lightning >= 2.5.3) or ``"log_lr"`` (``np.gradient(kept,
    log10(lrs))``: PR #21171), each over the lrs of the kept points, with everything else unchanged.
    Lightning's exponential mode spaces its lrs evenly in log lr (apart from the first step), so there
    ``"index"`` and ``"log_lr"`` agree up to a constant factor, while ``"lr"`` favours the smallest lrs, where
    neighbouring points are closest; on a linear grid ``"index"`` and ``"lr"`` agree.
    """
    lrs, losses = _curve(lrs, losses, 0, "lightning_suggestion")
    for name, value in (("skip_begin", skip_begin), ("skip_end", skip_end)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"lightning_suggestion: {name} must be a non-negative int, got {value!r}")
    if against not in SLOPE_AGAINST:
        raise ValueError(f"lightning_suggestion: against must be one of {SLOPE_AGAINST}, got {against!r}")
    kept_losses, kept_lrs = losses[skip_begin:-skip_end], lrs[skip_begin:-skip_end]
    finite = np.isfinite(kept_losses)
    kept_losses, kept_lrs = kept_losses[finite], kept_lrs[finite]
    if len(kept_losses) < 2:
        return None
    if against == "index":
        slopes = np.gradient(kept_losses)
    else:
        if not np.all(kept_lrs > 0) or not np.all(np.diff(kept_lrs) > 0):
            raise ValueError(f"lightning_suggestion: against={against!r} needs positive, increasing lrs")
        slopes = np.gradient(kept_losses, np.log10(kept_lrs) if against == "log_lr" else kept_lrs)
    return float(lrs[int(np.argmin(slopes)) + skip_begin])
