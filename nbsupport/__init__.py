"""Support code for the Jupyter Book on learning-rate scheduling in PyTorch.

The chapters import from here; the original page's code runs against it unchanged::

    from nbsupport import DEVICE, Trainer, SchedulerStatsCallback, mnist_model, mnist_loaders

The public API, by topic (exactly ``__all__``; a test keeps this list and ``__all__`` the same):

- the page's training: ``Trainer``, ``Callback``, ``CancelFit``, ``SchedulerStatsCallback``,
  ``ScheduleFreeCallback``, ``DEVICE``;
- data and model: ``mnist_loaders``, ``mnist_tensors``, ``TensorLoader``, ``MNISTNotFoundError``,
  ``mnist_model``, ``count_parameters``, ``ACTIVATIONS``, ``seed_everything``;
- schedules: ``one_cycle_schedule``, ``schedule_trace``, ``SCHEDULE_LABELS``;
- runs as values: ``RunConfig``, ``train_run``, ``train_one_cycle``, ``RangeTestConfig``, ``lr_range_test``;
- stored grids: ``load_results``, ``load_predictions``, ``retrain_stored`` (``python -m nbsupport.grid`` trains
  and checks them);
- comparisons: ``compare_runs``, ``compare_to_reference``, ``MARGIN_ERROR``;
- probes: ``activation_stats``;
- figures: ``plot_training_curves``, ``plot_lr_momentum``, ``plot_lr_finder``, ``plot_forest``, ``use_svg``.

Everything else is internal to its module (``nbsupport.probes``, ``nbsupport.store``, ``nbsupport.lr_rules``,
...), importable from there, and may change without notice.
"""

__version__ = "0.2.0"


from ._lazy import lazy_reexports
from .callbacks import Callback, CancelFit, ScheduleFreeCallback, SchedulerStatsCallback
from .data import MNISTNotFoundError, TensorLoader, mnist_loaders, mnist_tensors
from .probes import activation_stats, train_one_cycle
from .lr_finder import lr_range_test
from .models import ACTIVATIONS, count_parameters, mnist_model
from .plots import plot_forest, plot_lr_finder, plot_lr_momentum, plot_training_curves, use_svg
from .repro import seed_everything
from .runs import RunConfig, schedule_trace, train_run
from .schedules import SCHEDULE_LABELS, one_cycle_schedule
from .training import DEVICE, Trainer
from .comparisons import compare_runs, compare_to_reference
from .paired import MARGIN_ERROR
from .range_tests import RangeTestConfig


# Imported on first use, so that `python -m nbsupport.grid` does not find nbsupport.grid already imported.
__getattr__, __dir__ = lazy_reexports(__name__, {"grid_run": ("retrain_stored",), "grid": ("load_results",),
                                                 "results": ("load_predictions",)})


__all__ = [
    # the page's training
    "Trainer", "Callback", "CancelFit", "SchedulerStatsCallback", "ScheduleFreeCallback", "DEVICE",
    # data and model
    "mnist_loaders", "mnist_tensors", "TensorLoader", "MNISTNotFoundError", "mnist_model", "count_parameters",
    "ACTIVATIONS", "seed_everything",
    # schedules
    "one_cycle_schedule", "schedule_trace", "SCHEDULE_LABELS",
    # runs as values
    "RunConfig", "train_run", "train_one_cycle", "RangeTestConfig", "lr_range_test",
    # stored grids
    "load_results", "load_predictions", "retrain_stored",
    # comparisons
    "compare_runs", "compare_to_reference", "MARGIN_ERROR",
    # probes
    "activation_stats",
    # figures
    "plot_training_curves", "plot_lr_momentum", "plot_lr_finder", "plot_forest", "use_svg",
]
