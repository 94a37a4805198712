"""Support code for the Jupyter Book on learning-rate scheduling in PyTorch.

The chapters import from here; the original page's code runs against it unchanged::

    from nbsupport import DEVICE, Trainer, SchedulerStatsCallback, mnist_model, mnist_loaders

What a chapter or a reader's own notebook uses, by topic (``__all__``):

- the page's training: ``Trainer``, ``Callback``, ``SchedulerStatsCallback``, ``ScheduleFreeCallback``,
  ``mnist_model``, ``mnist_loaders``, ``mnist_tensors``, ``seed_everything``, ``DEVICE``;
- schedules: ``one_cycle_schedule``, ``schedule_trace``, ``SCHEDULE_LABELS``;
- runs as values: ``RunConfig``, ``train_run``, ``RangeTestConfig``, ``lr_range_test``;
- stored grids: ``load_results``, ``load_predictions``, ``retrain_stored`` (``python -m nbsupport.grid`` trains
  and checks them);
- comparisons: ``compare_runs``, ``compare_to_reference``, ``MARGIN_ERROR``;
- figures: ``plot_training_curves``, ``plot_lr_momentum``, ``plot_lr_finder``, ``plot_forest``, ``use_svg``.

Everything else is reachable from its module (``nbsupport.probes``, ``nbsupport.store``, ...).
"""

__version__ = "0.2.0"


from .callbacks import Callback, ScheduleFreeCallback, SchedulerStatsCallback
from .data import MNISTNotFoundError, TensorLoader, mnist_datasets, mnist_loaders, mnist_tensors
from .probes import RunResult, activation_stats, train_one_cycle
from .lr_finder import LRFinderResult, fastai_suggestions, lightning_suggestion, lr_range_test, suggest_lrs
from .models import ACTIVATIONS, count_parameters, mnist_model
from .plots import plot_lr_finder, plot_lr_momentum, plot_training_curves, plot_warmup_over_finder, use_svg
from .repro import seed_everything
from .runs import RunConfig, schedule_trace, train_run
from .schedules import one_cycle_schedule
from .training import DEVICE, Trainer, default_device
from .comparisons import compare_runs, compare_to_reference
from .paired import MARGIN_ERROR
from .plots import plot_forest
from .range_tests import RangeTestConfig
from .schedules import SCHEDULE_LABELS


_LAZY = {"retrain_stored": "grid_run", "load_results": "grid", "load_predictions": "results"}


def __getattr__(name):
    # Imported on first use, so that `python -m nbsupport.grid` does not find nbsupport.grid already imported.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'nbsupport' has no attribute {name!r}")

__all__ = [
    "ACTIVATIONS", "Callback", "DEVICE", "LRFinderResult", "MNISTNotFoundError", "RunResult",
    "RunConfig", "ScheduleFreeCallback", "SchedulerStatsCallback", "TensorLoader", "Trainer", "activation_stats", "count_parameters",
    "default_device", "fastai_suggestions", "lightning_suggestion", "lr_range_test", "mnist_datasets", "mnist_loaders", "mnist_model", "mnist_tensors",
    "one_cycle_schedule", "plot_lr_finder", "plot_lr_momentum", "plot_training_curves",
    "plot_warmup_over_finder", "schedule_trace", "seed_everything", "suggest_lrs", "train_one_cycle", "train_run",
    "use_svg", "compare_runs", "compare_to_reference", "load_predictions", "load_results", "MARGIN_ERROR",
    "plot_forest", "RangeTestConfig", "retrain_stored", "SCHEDULE_LABELS",
]
