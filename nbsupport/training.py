"""The page's ``Trainer``: a short loop with named hook points and one printed line per epoch."""

import math
import os
import time

import torch
from tqdm.auto import tqdm

from .callbacks import Callback, CancelFit

PROGRESS_ENV_VAR = "NBSUPPORT_PROGRESS"


def default_device() -> torch.device:
    """CUDA if available, else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


DEVICE = default_device()


def progress_enabled(progress=None) -> bool:
    """An explicit ``progress`` wins; otherwise on unless ``NBSUPPORT_PROGRESS=0`` (set by the notebook tests)."""
    if progress is not None:
        return bool(progress)
    return os.environ.get(PROGRESS_ENV_VAR, "1").strip().lower() not in ("0", "false", "no", "off")


def scheduler_total_steps(scheduler):
    """Steps a scheduler still allows before it refuses, or None if it has no fixed length."""
    total = getattr(scheduler, "total_steps", None)
    if total is None:
        return None
    return total - scheduler.last_epoch


def _check_positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


class Trainer:
    """Train ``model`` with ``optim`` and ``loss_fn``, stepping ``scheduler`` after every batch.

    ``callbacks`` are zero-argument callables (called after every optimizer and
    scheduler step, like the page's ``SchedulerStatsCallback``) or ``Callback``
    objects (``nbsupport.callbacks``: the events, and ``CancelFit`` to stop early). ``train_log`` holds per-step ``loss``, ``accs`` and their trailing
    means ``loss_avg``, ``accs_avg`` over the last 5% of an epoch's steps;
    ``epoch_log`` and ``valid_log`` hold per-epoch training and validation ``loss`` and ``accs``; ``epoch_seconds`` the
    wall-clock time of each epoch's training steps (validation excluded).
    ``verbose=False`` silences the epoch lines. ``accuracy=False`` is for models that are not classifiers
    (the argmax of the output is then never taken): every accuracy in the logs is NaN.
    """

    def __init__(self, model, optim, loss_fn, scheduler=None, callbacks=None, device=None, progress=None,
                 verbose=True, accuracy=True):
        self.device = torch.device(device) if device is not None else default_device()
        self.model = model.to(self.device)
        self.optim = optim
        self.loss_fn = loss_fn
        self.scheduler = scheduler
        self.callbacks = list(callbacks or [])
        self.progress = progress
        self.verbose = verbose
        self.accuracy = accuracy
        self.epoch_seconds = []
        self.train_log = {"loss": [], "accs": [], "loss_avg": [], "accs_avg": []}
        self.valid_log = {"loss": [], "accs": []}
        self.epoch_log = {"loss": [], "accs": []}
        self.step = 0
        self.loss = None  # the current batch's loss (a float), for callbacks from ``after_loss`` on

    def _emit(self, event):
        for cb in self.callbacks:
            if isinstance(cb, Callback):
                getattr(cb, event)(self)
            elif event == "after_step":
                cb()

    def _check_run(self, epochs, train_loader, valid_loader):
        _check_positive_int("epochs", epochs)
        if len(train_loader) == 0:
            raise ValueError("train_loader is empty: it yields no batches, so there is nothing to train on")
        if valid_loader is not None and len(valid_loader) == 0:
            raise ValueError("valid_loader is empty: pass a loader with at least one batch, or valid_loader=None")
        if self.scheduler is not None:
            allowed = scheduler_total_steps(self.scheduler)
            needed = epochs * len(train_loader)
            if allowed is not None and allowed != needed:
                raise ValueError(
                    f"{type(self.scheduler).__name__} has {allowed} steps left, but run(epochs={epochs}) "
                    f"over a train_loader of {len(train_loader)} batches takes {needed} steps; build the "
                    f"scheduler with steps_per_epoch=len(train_loader) and epochs={epochs} "
                    f"(or total_steps={needed})"
                )

    def run(self, epochs, train_loader, valid_loader=None):
        """Train for ``epochs`` epochs, printing one line per epoch (and returning nothing, so that a
        notebook cell ending in ``trainer.run(...)`` shows only those lines)."""
        self._check_run(epochs, train_loader, valid_loader)
        window = max(1, round(0.05 * len(train_loader)))
        self._emit("before_fit")
        bar = tqdm(total=epochs * len(train_loader), disable=not progress_enabled(self.progress),
                   unit="step", leave=False)
        try:
            for epoch in range(1, epochs + 1):
                self.model.train()
                self._emit("before_epoch")
                loss_sum, correct, seen = 0.0, 0, 0
                start = time.perf_counter()
                for x, y in train_loader:
                    self._emit("before_batch")
                    loss, n_correct = self._train_step(x, y)
                    loss_sum += loss * len(y)
                    correct += n_correct
                    seen += len(y)
                    self._log_step(loss, n_correct / len(y), window)
                    bar.update()
                    if self.step % 50 == 0:
                        bar.set_postfix(loss=f"{self.train_log['loss_avg'][-1]:.4f}", refresh=False)
                self.epoch_seconds.append(time.perf_counter() - start)
                self.epoch_log["loss"].append(loss_sum / seen)
                self.epoch_log["accs"].append(correct / seen)
                line = f"[Epoch: {epoch}/{epochs}]  loss: {loss_sum / seen:.4f}  acc: {correct / seen:.4f}"
                if valid_loader is not None:
                    self._emit("before_validate")
                    val_loss, val_acc = self.evaluate(valid_loader)
                    self._emit("after_validate")
                    self.valid_log["loss"].append(val_loss)
                    self.valid_log["accs"].append(val_acc)
                    line += f"  val_loss: {val_loss:.4f}  val_acc: {val_acc:.4f}"
                if self.verbose:
                    bar.clear()
                    print(line, flush=True)
                self._emit("after_epoch")
        except CancelFit:
            pass  # a callback ended training early (e.g. StopAfterEpochs)
        finally:
            bar.close()
            self._emit("after_fit")  # also after a NaN: schedule-free AdamW switches to its averaged weights

    def _train_step(self, x, y):
        x, y = x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)
        out = self.model(x)
        loss = self.loss_fn(out, y)
        value = self.loss = loss.item()
        self._emit("after_loss")  # a callback may end the fit here, before the update (the LR range test)
        if not math.isfinite(value):
            lr = self.optim.param_groups[0]["lr"]
            raise FloatingPointError(
                f"loss is {value} at step {self.step + 1} (lr={lr:.3g}); training stopped before the "
                f"update. A smaller learning rate (max_lr for one-cycle) usually fixes this."
            )
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.optim.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.step += 1
        return value, self._n_correct(out, y)

    def _n_correct(self, out, y):
        return (out.argmax(dim=1) == y).sum().item() if self.accuracy else math.nan

    def _log_step(self, loss, acc, window):
        log = self.train_log
        log["loss"].append(loss)
        log["accs"].append(acc)
        recent_loss, recent_acc = log["loss"][-window:], log["accs"][-window:]
        log["loss_avg"].append(sum(recent_loss) / len(recent_loss))
        log["accs_avg"].append(sum(recent_acc) / len(recent_acc))
        self._emit("after_step")

    @torch.no_grad()
    def evaluate(self, loader):
        """Mean loss and accuracy over ``loader`` in eval mode; the model's mode is restored."""
        if len(loader) == 0:
            raise ValueError("cannot evaluate on an empty loader")
        was_training = self.model.training
        self.model.eval()
        try:
            loss_sum, correct, seen = 0.0, 0, 0
            for x, y in loader:
                x, y = x.to(self.device), y.to(self.device)
                out = self.model(x)
                loss_sum += self.loss_fn(out, y).item() * len(y)
                correct += self._n_correct(out, y)
                seen += len(y)
        finally:
            self.model.train(was_training)
        return loss_sum / seen, correct / seen

    def predict(self, x):
        """The model's output for ``x`` in eval mode without building a graph; the previous mode is restored."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                return self.model(x.to(self.device))
        finally:
            self.model.train(was_training)

    __call__ = predict
