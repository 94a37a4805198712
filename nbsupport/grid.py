"""Grids of runs with stored results: train what is missing, resume after a kill, re-check stored rows.

A grid is a Python file ``experiments/<name>.py`` that defines ``RUNS``, a list
of ``RunConfig`` (training runs) or of ``RangeTestConfig`` (LR range tests, see
``nbsupport.range_tests``), or a function ``runs()`` returning one (a grid may
depend on another grid's stored table, e.g. to use each schedule's best lr). It may also
define ``load_data(scaling)`` returning ``((x_train, y_train), (x_valid, y_valid))``
(the unit tests use this for synthetic grids). Results go to
``experiments/results/<name>.csv``: one row per run, appended whole as soon as
the run finishes, each row ending in a checksum of itself, so a row cut short
by a kill is detected rather than read as data.

Command line (``python -m nbsupport.grid --help``)::

    python -m nbsupport.grid run schedules_sweep            # train the runs not stored yet
    python -m nbsupport.grid status schedules_sweep         # stored, missing, stale rows; cost so far
    python -m nbsupport.grid check schedules_sweep -n 2     # re-train the 2 cheapest stored runs and compare
"""

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .data import repo_root
from ._lazy import lazy_reexports
from .runs import CHECK_BAND, RunConfig, match_stored  # noqa: F401  (the match rule of runs, re-exported)
from .range_tests import match_range_test  # noqa: F401
from .store import (DamagedTableError, TableLockedError, _write_atomically, append_row,  # noqa: F401
                    check_predictions_file, format_row, header_line, predictions_path, quarantine_damaged,
                    read_header, read_predictions, read_rows)
# A grid's results table by the kind of its entries (re-exported: the chapters load tables from here).
from .tables import (ENTRY_CLASSES, EXPERIMENTS_DIR, broken_predictions, grid_of_table, is_legacy_table,  # noqa: F401
                     load_results, read_table, row_kind, table_columns, table_kind)


@dataclass
class Grid:
    """A grid loaded from its file: its name, its entries (in order, without duplicates), where results go.

    ``kind`` is the class of its entries (``RunConfig`` or ``RangeTestConfig``).
    """

    name: str
    path: Path
    runs: list
    load_data: object = None
    kind: type = RunConfig

    @property
    def results_path(self) -> Path:
        return self.path.parent / "results" / f"{self.name}.csv"

    def data_for(self, scaling):
        """The grid's own data for ``scaling`` (None: MNIST); a grid of runs needs test images too."""
        if self.load_data is None:
            return None
        data = self.load_data(scaling)
        if self.kind.HAS_PREDICTIONS and len(data) != 3:
            raise ValueError(f"grid {self.name}: load_data({scaling!r}) must return (train, valid, test) pairs "
                             f"of tensors, got {len(data)} parts; stored runs keep predictions on test images")
        return data


def grid_path(name) -> Path:
    """``experiments/<name>.py`` in the checkout, or ``name`` itself if it is a path to a ``.py`` file."""
    path = Path(name)
    if path.suffix == ".py":
        if not path.is_file():
            raise FileNotFoundError(f"grid file {path} does not exist")
        return path.resolve()
    folder = repo_root() / EXPERIMENTS_DIR
    path = folder / f"{name}.py"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
        raise ValueError(f"no grid named {name!r}: {path} does not exist; known grids: {', '.join(known)}")
    return path


def load_grid(name) -> Grid:
    """Import a grid file and collect its entries."""
    path = grid_path(name)
    spec = importlib.util.spec_from_file_location(f"nbsupport_grid_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))  # a grid may import a sibling module of shared definitions
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    if hasattr(module, "runs"):
        runs = list(module.runs())
    elif hasattr(module, "RUNS"):
        runs = list(module.RUNS)
    else:
        raise ValueError(f"grid file {path} defines neither RUNS (a list of RunConfig) nor runs()")
    kind = kind_of(runs[0]) if runs else RunConfig
    bad = [r for r in runs if not isinstance(r, kind)]
    if bad:
        raise TypeError(f"grid {path.stem}: every entry must be a {kind.__name__} like the first "
                        f"(a grid holds training runs or range tests, not both), got {bad[0]!r}")
    return Grid(path.stem, path, list(dict.fromkeys(runs)), getattr(module, "load_data", None), kind)


def kind_of(config) -> type:
    """The entry class of a grid entry; anything but a ``RunConfig`` or ``RangeTestConfig`` is refused."""
    for kind in ENTRY_CLASSES:
        if isinstance(config, kind):
            return kind
    raise TypeError(f"a grid entry must be a RunConfig or a RangeTestConfig, got {config!r}")


# -- what a grid has stored ------------------------------------------------------------------------------


@dataclass
class GridState:
    grid: Grid
    stored: dict  # run_id -> row (schema 2)
    missing: list  # configs not stored yet (in this schema), in grid order
    stale: list  # stored rows whose config is not in the grid
    damaged: object = None  # the cut-short last line, if any
    broken: list = None  # [(row, message)]: rows whose predictions file is missing or unreadable
    legacy: dict = None  # run_id -> row of a table written before schema 2 (matched by the old id)


def grid_state(grid: Grid) -> GridState:
    rows, damaged = read_table(grid.results_path, grid.kind)
    by_id = {}
    for row in rows:
        if row["run_id"] in by_id:
            raise DamagedTableError(f"{grid.results_path}: run {row['run_id']} is stored twice")
        by_id[row["run_id"]] = row
    if is_legacy_table(grid.results_path, grid.kind):
        old_ids = {r.legacy_run_id(): r.run_id for r in grid.runs}
        legacy = {old_ids[rid]: row for rid, row in by_id.items() if rid in old_ids}
        stale = [row for rid, row in by_id.items() if rid not in old_ids]
        return GridState(grid, {}, list(grid.runs), stale, damaged, [], legacy)
    broken = broken_predictions(grid.results_path, grid.kind, rows)
    broken_ids = {row["run_id"] for row, _ in broken}
    stored = {rid: row for rid, row in by_id.items() if rid not in broken_ids}
    ids = {r.run_id for r in grid.runs}
    missing = [r for r in grid.runs if r.run_id not in stored]
    stale = [row for rid, row in stored.items() if rid not in ids]
    return GridState(grid, stored, missing, stale, damaged, broken, {})


def report_stale(state, out=None):
    for row in state.stale:
        print(f"{state.grid.results_path.name}: stored run {row['run_id']} "
              f"({state.grid.kind.from_record(row).label()}) is no longer in the grid "
              f"{state.grid.name}; it stays in the table (delete its line to drop it)", file=out or sys.stderr)


def grid_status(name, out=None):
    """Print what a grid has stored, what is missing, what is stale, and what the stored runs cost."""
    out = out or sys.stdout
    grid = load_grid(name)
    state = grid_state(grid)
    if state.legacy:
        print(f"grid {grid.name}: {len(grid.runs)} runs; its table was written before schema 2: "
              f"{len(state.legacy)} rows without fingerprints or predictions; `run` trains all "
              f"{len(grid.runs)} again into a new table", file=out)
        return state
    rows = list(state.stored.values())
    seconds = sum(float(r["seconds"]) for r in rows)
    machines = sorted({f"{r['cpu_model']} x{r['threads']} threads" for r in rows})
    print(f"grid {grid.name}: {len(grid.runs)} runs; {len(rows)} stored "
          f"({seconds:.0f} s = {seconds / 60:.1f} min of training on {'; '.join(machines) or '-'}); "
          f"{len(state.missing)} missing; {len(state.stale)} stale", file=out)
    if state.damaged is not None:
        print(f"  line {state.damaged[0]} is damaged (cut short); `run` moves it aside and re-trains it", file=out)
    for row, message in state.broken:
        print(f"  {message}; `run` moves its row aside and re-trains it", file=out)
    report_stale(state, out)
    return state


def set_aside_broken(grid, state):
    """Move rows whose predictions file is missing or unreadable to ``<table>.damaged`` (rewriting the table
    atomically) and say so; ``run`` then trains those runs again."""
    path = grid.results_path
    bad = {row["run_id"] for row, _ in state.broken}
    lines = path.read_bytes().decode().splitlines(keepends=True)
    keep = [lines[0]] + [ln for ln in lines[1:] if ln.split(",", 1)[0] not in bad]
    with open(path.with_suffix(".csv.damaged"), "a") as f:
        f.writelines(ln for ln in lines[1:] if ln.split(",", 1)[0] in bad)
    _write_atomically(path, "".join(keep).encode())
    for row, message in state.broken:
        print(f"{message}; moved its row to {path.with_suffix('.csv.damaged')} and will train run "
              f"{row['run_id']} again.", file=sys.stderr)


def set_aside_legacy(grid):
    """Move a schema-1 table to ``<name>.schema1.csv``: ``run`` trains the whole grid into a new table."""
    path = grid.results_path
    aside = path.with_suffix(".schema1.csv")
    os.replace(path, aside)
    print(f"{path} was written before schema 2 (no fingerprints, no predictions); moved it to {aside} and "
          f"training every run of the grid again into a new table.", file=sys.stderr)


# Training a grid, checking it, and the command line live in their own modules (grid_run, cli); reading a
# stored run's predictions and per-epoch rows in ``nbsupport.results``. These names stay importable from here,
# where the chapters and the README find them.
__getattr__, __dir__ = lazy_reexports(__name__, {"grid_run": ("check_grid", "retrain_stored", "run_grid", "Retrained"),
                                                 "results": ("load_predictions", "epoch_table")})

if __name__ == "__main__":
    from .cli import main

    sys.exit(main())
