"""A training run's stored row: its columns, and how a run made again is matched to it.

``record_columns`` is the header of a results table of runs (``LEGACY_RECORD_COLUMNS`` that of a table stored
before schema 2); ``match_stored`` compares a re-made run with its row, exactly on the row's floating-point
path and within ``CHECK_BAND`` elsewhere, after the last epoch or after any stored one (``stored_epoch``).
"""

import json
import math

from .fingerprint import match_rule
from .provenance import PROVENANCE_TAIL

RECORD_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc")
TEST_METRICS = ("test_loss", "test_acc")


def record_columns(adapted=True):
    """The columns of a results row, in order (the table's header).

    ``adapted_lr`` (``optimizers.adapted_lr``) came later: ``adapted=False`` is the header before it, which
    the tables trained before it keep.
    """
    from .runs import RunConfig

    return (("run_id",) + RunConfig.fields() + RECORD_METRICS + TEST_METRICS
            + ("final_loss_avg", "peak_loss_avg", "peak_step", "nan_step", "steps_per_epoch", "seconds")
            + (("adapted_lr",) if adapted else ())
            + tuple(f"{m}_epochs" for m in RECORD_METRICS) + PROVENANCE_TAIL)


#: The header of a table of runs stored before schema 2 (no fingerprint, no test metrics, no predictions).
LEGACY_RECORD_COLUMNS = (
    ("run_id", "schedule", "lr", "epochs", "seed", "optimizer", "momentum", "weight_decay", "activation", "init",
     "scaling", "batch_size") + RECORD_METRICS
    + ("final_loss_avg", "peak_loss_avg", "peak_step", "nan_step", "steps_per_epoch", "seconds")
    + tuple(f"{m}_epochs" for m in RECORD_METRICS)
    + ("torch_version", "hardware", "threads", "nbsupport_version", "git_commit", "finished_at"))


#: Off the row's floating-point path (``nbsupport.fingerprint``) a re-trained run agrees with its row only
#: statistically; these are the allowed absolute differences (a few seed spreads).
CHECK_BAND = {"val_acc": 0.015, "train_acc": 0.02, "val_loss": 0.05, "train_loss": 0.06}


def _float_text(value):
    return "nan" if math.isnan(value) else repr(value)


def stored_epoch(row, metric, epoch):
    """A stored run's ``metric`` (``train_loss``, ``train_acc``, ``val_loss`` or ``val_acc``) after ``epoch``."""
    if metric not in RECORD_METRICS:
        raise ValueError(f"metric={metric!r}: per-epoch values are stored for {RECORD_METRICS}")
    values = row[f"{metric}_epochs"]
    values = json.loads(values) if isinstance(values, str) else list(values)
    if not 1 <= epoch <= len(values):
        raise ValueError(f"epoch={epoch}: the row stores {len(values)} epoch(s) of {metric}")
    return float(values[epoch - 1])


def match_stored(record, row, epochs=None):
    """Compare a freshly trained ``record`` (from ``train_run``) with its stored ``row``: ``(exact, ok)``.

    ``row`` is a table row as read from the CSV (strings) or as loaded by ``load_results`` (numbers). Where
    the whole fingerprint agrees (``nbsupport.fingerprint.match_rule``), every metric and the per-epoch
    validation accuracies must agree to the last bit; elsewhere each metric must lie within ``CHECK_BAND``.
    ``epochs`` compares a record trained with ``stop_after=epochs`` with the row's metrics after that epoch.
    """
    from .runs import RunConfig

    exact, _ = match_rule(record, row)
    metrics = RunConfig.CHECKED
    if epochs is not None:
        pairs = [(float(record[m]), stored_epoch(row, m, epochs)) for m in RECORD_METRICS]
        if exact:
            ok = all(_float_text(a) == _float_text(b) for a, b in pairs)
        else:
            ok = all(abs(a - b) <= CHECK_BAND[m] for m, (a, b) in zip(RECORD_METRICS, pairs))
        return exact, ok
    if exact:
        ok = (all(_float_text(float(record[m])) == _float_text(float(row[m])) for m in metrics)
              and record["val_acc_epochs"] == row["val_acc_epochs"])
    else:
        ok = all(abs(float(record[m]) - float(row[m])) <= CHECK_BAND[m] for m in metrics)
    return exact, ok
