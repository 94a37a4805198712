"""Callbacks: a plain zero-argument callable runs after every step; a ``Callback`` can react to more events."""


class CancelFit(Exception):
    """Raised by a callback to end ``Trainer.run`` early; the Trainer catches it and sends ``after_fit``."""


class Callback:
    """Base class for callbacks that react to named training events; override the ones you need.

    Each hook receives the ``Trainer``. ``before_epoch`` runs before an
    epoch's first training step, ``before_batch`` before each batch's forward pass, ``after_loss`` once the
    batch's loss is known (``trainer.loss``, a float) and before the update, ``after_step`` after each
    optimizer and scheduler step, ``before_validate`` and ``after_validate`` around the
    validation pass, ``after_epoch`` after validation and the epoch line.
    A hook may raise ``CancelFit`` to end training there: the ``Trainer`` stops quietly and still sends
    ``after_fit``.
    """

    def before_fit(self, trainer):
        pass

    def before_epoch(self, trainer):
        pass

    def before_batch(self, trainer):
        pass

    def after_loss(self, trainer):
        pass

    def after_step(self, trainer):
        pass

    def before_validate(self, trainer):
        pass

    def after_validate(self, trainer):
        pass

    def after_epoch(self, trainer):
        pass

    def after_fit(self, trainer):
        pass


class SchedulerStatsCallback:
    """Record the learning rate and momentum of the first parameter group after every step.

    Momentum is Adam's ``betas[0]`` (beta1) or SGD's ``momentum``; ``kind`` says which.
    """

    def __init__(self, optim):
        group = optim.param_groups[0]
        if "betas" in group:
            self.kind = "beta1"
        elif "momentum" in group:
            self.kind = "momentum"
        else:
            raise TypeError(
                f"SchedulerStatsCallback records momentum, but {type(optim).__name__} has "
                f"neither 'betas' (Adam-style) nor 'momentum' (SGD-style) in its param_groups "
                f"(keys: {sorted(group)}); use an optimizer such as torch.optim.AdamW or "
                f"torch.optim.SGD(..., momentum=0.9)"
            )
        self.optim = optim
        self.lr = []
        self.momentum = []

    def __call__(self):
        group = self.optim.param_groups[0]
        self.lr.append(group["lr"])
        self.momentum.append(group["betas"][0] if self.kind == "beta1" else group["momentum"])


class ScheduleFreeCallback(Callback):
    """Switch a schedule-free optimizer (Defazio et al. 2024) between its training and evaluation points.

    ``schedulefree.AdamWScheduleFree`` trains at one sequence of weights and
    evaluates at their average: it needs ``optimizer.train()`` before training
    steps and ``optimizer.eval()`` before evaluating or saving the model.
    """

    def __init__(self, optim):
        if not (callable(getattr(optim, "train", None)) and callable(getattr(optim, "eval", None))):
            raise TypeError(
                f"ScheduleFreeCallback needs an optimizer with train() and eval() methods, such as "
                f"schedulefree.AdamWScheduleFree; got {type(optim).__name__}"
            )
        self.optim = optim

    def before_epoch(self, trainer):
        self.optim.train()

    def before_validate(self, trainer):
        self.optim.eval()

    def after_validate(self, trainer):
        self.optim.train()

    def after_fit(self, trainer):
        self.optim.eval()


class StopAfterEpochs(Callback):
    """End training after ``epochs`` epochs, whatever ``Trainer.run`` was asked for.

    The scheduler keeps the length it was built with, so the epochs run are exactly the first epochs of the
    full run: ``retrain_stored(row, epochs=1)`` checks a long stored run on its first epoch this way.
    """

    def __init__(self, epochs):
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive int, got {epochs!r}")
        self.epochs = epochs

    def after_epoch(self, trainer):
        if len(trainer.epoch_log["loss"]) >= self.epochs:
            raise CancelFit
