"""Learning-rate schedules by name: one registry, each builder checking that its phases fit the step count.

``SCHEDULES`` maps a schedule's name to a ``Schedule``: the function that builds
its PyTorch scheduler and the constants its shape depends on. Those constants
are part of a run's id (``RunConfig.run_id``), so changing one marks exactly
the stored rows of that schedule stale. ``one_cycle_schedule`` shows the
page's schedule before training with it.
"""

from dataclasses import dataclass, field

import torch
from torch.optim import lr_scheduler as sched
from torch.optim.lr_scheduler import OneCycleLR

from .callbacks import SchedulerStatsCallback

WARMUP_FRAC = 0.1  # warm-up share of the steps for warmup_cosine, warmup_linear, wsd and schedule_free
WARMUP_START = 1 / 25  # warm-ups start at lr/25, where OneCycleLR starts (div_factor=25)
WSD_COOLDOWN_FRAC = 0.2  # share of the steps in wsd's final linear cooldown (Hägele et al. 2024)
STEP_MILESTONES = (0.5, 0.75)  # step decay: lr x0.1 at half and at three quarters of the steps
STEP_GAMMA = 0.1


def warmup_steps(total_steps, frac=WARMUP_FRAC):
    """Steps of a warm-up over ``total_steps``: ``frac`` of them, at least 1."""
    return max(1, round(frac * total_steps))


def _too_few(name, total_steps, why, needed):
    return ValueError(f"schedule={name!r} over {total_steps} steps: {why}; it needs at least {needed} steps "
                      f"(more epochs or a smaller batch)")


def _least(fits):
    return next(n for n in range(1, 10_000) if fits(n))


# Each builder is ``build(optim, total_steps, lr, constants)``: ``constants`` is its registry entry's dict,
# the one that goes into the run id, so a run's id and its schedule's shape cannot disagree.

def _constant(optim, total, lr, c):
    return None


def _step(optim, total, lr, c):
    first, second = c["milestones"]
    fits = lambda t: 0 < round(first * t) < round(second * t) < t  # noqa: E731
    milestones = [round(first * total), round(second * total)]
    if not fits(total):
        raise _too_few("step", total, f"its milestones {milestones} are not distinct steps inside the run",
                       _least(fits))
    return sched.MultiStepLR(optim, milestones=milestones, gamma=c["gamma"])


def _cosine(optim, total, lr, c):
    if total < 2:
        raise _too_few("cosine", total, "a cosine needs a step to anneal over", 2)
    return sched.CosineAnnealingLR(optim, T_max=total)


def _one_cycle(three_phase):
    def build(optim, total, lr, c, cycle_momentum=True):
        name = "one_cycle_3phase" if three_phase else "one_cycle"
        least = 6 if three_phase else 4
        if total < least:
            raise _too_few(name, total, "each phase of the cycle needs steps of its own", least)
        return OneCycleLR(optim, max_lr=lr, total_steps=total, three_phase=three_phase,
                          cycle_momentum=cycle_momentum)
    return build


def _warmup(optim, warm, c):
    return sched.LinearLR(optim, start_factor=c["warmup_start"], end_factor=1.0, total_iters=warm)


def _warmup_then(name, decay):
    def build(optim, total, lr, c):
        warm = warmup_steps(total, c["warmup_frac"])
        fits = lambda t: t - warmup_steps(t, c["warmup_frac"]) >= 2  # noqa: E731
        if not fits(total):
            raise _too_few(name, total, f"its warm-up takes {warm} and leaves {total - warm} for the decay",
                           _least(fits))
        return sched.SequentialLR(optim, [_warmup(optim, warm, c), decay(optim, total - warm)], milestones=[warm])
    return build


def _wsd(optim, total, lr, c):
    """Warm up, hold, then cool down linearly to zero over the last ``cooldown_frac`` of the steps."""
    def phases(t):
        return warmup_steps(t, c["warmup_frac"]), round(c["cooldown_frac"] * t)

    warm, cool = phases(total)
    fits = lambda t: phases(t)[1] >= 2 and t - sum(phases(t)) >= 1  # noqa: E731
    if not fits(total):
        raise _too_few("wsd", total, f"warm-up {warm}, cooldown {cool} (a cooldown of fewer than 2 steps never "
                       f"lowers the lr) and {total - warm - cool} stable", _least(fits))
    stable = sched.ConstantLR(optim, factor=1.0, total_iters=0)
    cooldown = sched.LinearLR(optim, start_factor=1.0, end_factor=0.0, total_iters=cool)
    return sched.SequentialLR(optim, [_warmup(optim, warm, c), stable, cooldown], milestones=[warm, total - cool])


def _schedule_free(optim, total, lr, c):
    if total < 2:
        raise _too_few("schedule_free", total, "its warm-up needs a step to warm up over", 2)
    return None  # AdamWScheduleFree warms up by itself (see runs.build_optimizer)


@dataclass(frozen=True)
class Schedule:
    """A named schedule: ``build(optim, total_steps, lr, constants)`` returns its PyTorch scheduler (None: no
    scheduler, the lr stays as the optimizer sets it) or raises ``ValueError`` if ``total_steps`` is too few
    for it; ``constants`` are what its shape depends on besides the config (part of the run id)."""

    name: str
    label: str
    build: object
    constants: dict = field(default_factory=dict)
    one_cycle: bool = False


def _warmup_constants(**more):
    return {"warmup_frac": WARMUP_FRAC, "warmup_start": WARMUP_START, **more}


SCHEDULES = {s.name: s for s in (
    Schedule("one_cycle", "one-cycle", _one_cycle(False), one_cycle=True),
    Schedule("one_cycle_3phase", "one-cycle, 3 phases", _one_cycle(True), one_cycle=True),
    Schedule("constant", "constant", _constant),
    Schedule("step", "step decay", _step, {"milestones": list(STEP_MILESTONES), "gamma": STEP_GAMMA}),
    Schedule("cosine", "cosine", _cosine),
    Schedule("warmup_cosine", "warm-up + cosine",
             _warmup_then("warmup_cosine", lambda o, n: sched.CosineAnnealingLR(o, T_max=n)), _warmup_constants()),
    Schedule("warmup_linear", "warm-up + linear",
             _warmup_then("warmup_linear", lambda o, n: sched.LinearLR(o, 1.0, 0.0, total_iters=n)),
             _warmup_constants()),
    Schedule("wsd", "warmup-stable-decay", _wsd, _warmup_constants(cooldown_frac=WSD_COOLDOWN_FRAC)),
    Schedule("schedule_free", "schedule-free AdamW", _schedule_free, {"warmup_frac": WARMUP_FRAC}),
)}

ONE_CYCLE = tuple(name for name, s in SCHEDULES.items() if s.one_cycle)
#: How the book names each schedule in figures and tables.
SCHEDULE_LABELS = {name: s.label for name, s in SCHEDULES.items()}


def schedule_free_warmup(total_steps):
    """Schedule-free AdamW's warm-up steps over ``total_steps`` (its registry constant)."""
    return warmup_steps(total_steps, SCHEDULES["schedule_free"].constants["warmup_frac"])


def schedule_constants(name) -> dict:
    """The constants the shape of schedule ``name`` depends on (a copy, for a run's id)."""
    return dict(SCHEDULES[name].constants)


def build_scheduler(config, optim, total_steps):
    """The PyTorch LR scheduler for ``config.schedule`` over ``total_steps`` steps (None: constant lr).

    Refuses (``ValueError``) a step count too small for the schedule's phases, before any training.
    """
    schedule = SCHEDULES[config.schedule]
    if schedule.one_cycle:
        return schedule.build(optim, total_steps, config.lr, schedule.constants,
                              cycle_momentum=config.momentum == "cycled")
    return schedule.build(optim, total_steps, config.lr, schedule.constants)


def one_cycle_schedule(total_steps, max_lr=0.01, optimizer="adamw", **one_cycle_kwargs):
    """The lr and momentum that ``OneCycleLR`` gives at each of ``total_steps`` training steps.

    Steps a throwaway one-parameter optimizer, so nothing is trained. Entry ``i``
    is what optimizer step ``i`` uses (before the scheduler's ``i``-th step).
    ``optimizer`` is ``"adamw"`` (momentum is beta1) or ``"sgd"``.
    """
    if not isinstance(total_steps, int) or total_steps < 2:
        raise ValueError(f"total_steps must be an int of at least 2, got {total_steps!r}")
    param = torch.nn.Parameter(torch.zeros(1))
    if optimizer == "adamw":
        optim = torch.optim.AdamW([param])
    elif optimizer == "sgd":
        optim = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    else:
        raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {optimizer!r}")
    return trace_steps(optim, OneCycleLR(optim, max_lr=max_lr, total_steps=total_steps, **one_cycle_kwargs),
                       total_steps)


def trace_steps(optim, scheduler, total_steps):
    """``(lrs, momenta)``: what each of ``total_steps`` optimizer steps of ``optim`` uses under ``scheduler``
    (None: a constant lr), read from its first parameter group before the step. The optimizer should hold
    one throwaway parameter: it is stepped with a zero gradient, so nothing is trained."""
    # The same recorder the Trainer uses, called before each step instead of after it.
    stats = SchedulerStatsCallback(optim)
    param = optim.param_groups[0]["params"][0]
    for step in range(total_steps):
        stats()
        if step < total_steps - 1:
            param.grad = torch.zeros_like(param)
            optim.step()
            if scheduler is not None:
                scheduler.step()
    return stats.lr, stats.momentum
