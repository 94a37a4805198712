"""Stored runs read back: each run's per-image predictions (``load_predictions``) and a results table spread
into one row per epoch (``epoch_table``). ``nbsupport.grid`` re-exports both."""

import json
from pathlib import Path

from .grid import grid_of_table, grid_path, load_grid, read_table
from .runs import RunConfig
from .store import predictions_path, read_predictions

_labels_cache = {}


#: Grids as ``load_predictions`` reads them, by grid file and its modification time: a chapter compares hundreds
#: of runs, and importing a grid file (whose ``runs()`` may read other tables) for each would take minutes.
_predictions_grids = {}


def _grid_for_predictions(name):
    path = grid_path(name)
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _predictions_grids:
        grid = load_grid(name)
        _predictions_grids[key] = (grid, {c.run_id: c.dataset for c in grid.runs})
    return _predictions_grids[key]


def _stored_dataset(grid, run_id, datasets=None) -> str:
    """The data set of a stored run: from the grid's entries, else from its row (a schema-1 row: MNIST)."""
    if datasets is None:
        datasets = {c.run_id: c.dataset for c in grid.runs}
    if run_id in datasets:
        return datasets[run_id]
    row = next((r for r in read_table(grid.results_path, grid.kind)[0] if r["run_id"] == run_id), None)
    if row is None:
        raise KeyError(f"run {run_id} is not stored in {grid.results_path}")
    return row.get("dataset") or "mnist"


def load_predictions(name_or_path, run_id) -> dict:
    """A stored run's per-image arrays (``val_pred``, ``val_loss``, ``test_pred``, ``test_loss``) with the
    labels in the same order (``val_labels``, ``test_labels``; those of the run's data set, or from the grid's
    ``load_data``)."""
    path = Path(name_or_path)
    grid, datasets = _grid_for_predictions(grid_of_table(path) if path.suffix == ".csv" else name_or_path)
    if grid.load_data is None:
        dataset = _stored_dataset(grid, run_id, datasets)
        if dataset not in _labels_cache:
            from .data import dataset_labels

            _labels_cache[dataset] = dataset_labels(dataset)
        val_labels, test_labels = _labels_cache[dataset]
    else:
        row = next((r for r in read_table(grid.results_path, grid.kind)[0] if r["run_id"] == run_id), None)
        if row is None:
            raise KeyError(f"run {run_id} is not stored in {grid.results_path}")
        _, (_, yv), (_, yt) = grid.data_for(row["scaling"])
        val_labels, test_labels = yv.numpy(), yt.numpy()
    arrays = read_predictions(predictions_path(grid.results_path, run_id), len(val_labels), len(test_labels))
    return {**arrays, "val_labels": val_labels, "test_labels": test_labels}


def epoch_table(df):
    """One row per (run, epoch) from a results table: the per-epoch JSON lists spread out into columns
    ``epoch``, ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, with the run's config columns."""
    import pandas as pd

    config_cols = ["run_id"] + [c for c in RunConfig.fields() if c in df.columns]
    rows = []
    for _, run in df.iterrows():
        lists = {m: json.loads(run[f"{m}_epochs"]) for m in ("train_loss", "train_acc", "val_loss", "val_acc")}
        for e in range(len(lists["val_acc"])):
            rows.append({**{c: run[c] for c in config_cols}, "epoch": e + 1, **{m: v[e] for m, v in lists.items()}})
    return pd.DataFrame(rows)
