"""Support code for the Jupyter Book on learning-rate scheduling in PyTorch.

The chapters import from here; the original page's code runs against it unchanged::

    from nbsupport import DEVICE, Trainer, SchedulerStatsCallback, mnist_model, mnist_loaders
"""

__version__ = "0.2.0"


from .callbacks import Callback, ScheduleFreeCallback, SchedulerStatsCallback
from .data import MNISTNotFoundError, TensorLoader, mnist_datasets, mnist_loaders, mnist_tensors
from .experiments import RunResult, activation_stats, train_one_cycle
from .lr_finder import LRFinderResult, fastai_suggestions, lightning_suggestion, lr_range_test, suggest_lrs
from .models import ACTIVATIONS, count_parameters, mnist_model
from .plots import plot_lr_finder, plot_lr_momentum, plot_training_curves, plot_warmup_over_finder, use_svg
from .repro import seed_everything
from .runs import RunConfig, schedule_trace, train_run
from .schedules import one_cycle_schedule
from .training import DEVICE, Trainer, default_device

__all__ = [
    "ACTIVATIONS", "Callback", "DEVICE", "LRFinderResult", "MNISTNotFoundError", "RunResult",
    "RunConfig", "ScheduleFreeCallback", "SchedulerStatsCallback", "TensorLoader", "Trainer", "activation_stats", "count_parameters",
    "default_device", "fastai_suggestions", "lightning_suggestion", "lr_range_test", "mnist_datasets", "mnist_loaders", "mnist_model", "mnist_tensors",
    "one_cycle_schedule", "plot_lr_finder", "plot_lr_momentum", "plot_training_curves",
    "plot_warmup_over_finder", "schedule_trace", "seed_everything", "suggest_lrs", "train_one_cycle", "train_run",
    "use_svg",
]
