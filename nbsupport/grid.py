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

import argparse
import importlib.util
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .data import repo_root
from .fingerprint import flush_to_zero, match_rule
from .range_tests import LEGACY_RANGE_TEST_COLUMNS, RangeTestConfig, range_test_columns, run_range_test
from .runs import LEGACY_RECORD_COLUMNS, RunConfig, default_threads, record_columns, set_threads, train_run
from .store import (DamagedTableError, TableLockedError, _format, _write_atomically, append_row,  # noqa: F401
                    check_predictions_file, format_row, header_line, predictions_path, quarantine_damaged,
                    read_header, read_predictions, read_rows, save_predictions, table_lock)
from .training import progress_enabled

EXPERIMENTS_DIR = "experiments"
#: On another floating-point path (``nbsupport.fingerprint``) a re-trained run agrees with its row only
#: statistically; these are the allowed absolute differences (a few seed spreads).
CHECK_BAND = {"val_acc": 0.015, "train_acc": 0.02, "val_loss": 0.05, "train_loss": 0.06}


@dataclass(frozen=True)
class Kind:
    """What a grid's entries are: training runs (``RunConfig``) or LR range tests (``RangeTestConfig``).

    ``columns()`` is the table's header and ``legacy_columns`` the header of schema 1, ``train(config, data,
    progress)`` makes a record, ``floats`` and ``ints`` are the columns ``load_results`` converts to numbers,
    ``match(record, row)`` says whether a re-made entry agrees with its stored row (``(exact, ok)``),
    ``metrics`` what ``check`` prints, ``band`` what "agrees" means off the row's floating-point path, and
    ``predictions`` whether each entry has a predictions file.
    """

    name: str
    config_class: type
    columns: object
    legacy_columns: tuple
    train: object
    floats: tuple
    ints: tuple
    match: object
    metrics: tuple
    band: str
    predictions: bool


def _train_run(config, data, progress):
    return train_run(config, data, progress=progress)


def _run_range_test(config, data, progress):
    return run_range_test(config, data, progress=progress)


@dataclass
class Grid:
    """A grid loaded from its file: its name, its runs (in order, without duplicates), where results go."""

    name: str
    path: Path
    runs: list
    load_data: object = None
    kind: object = None

    @property
    def results_path(self) -> Path:
        return self.path.parent / "results" / f"{self.name}.csv"

    def data_for(self, scaling):
        """The grid's own data for ``scaling`` (None: MNIST); a grid of runs needs test images too."""
        if self.load_data is None:
            return None
        data = self.load_data(scaling)
        if self.kind.predictions and len(data) != 3:
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
    """Import a grid file and collect its runs."""
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
    kind = kind_of(runs[0]) if runs else KINDS["run"]
    bad = [r for r in runs if not isinstance(r, kind.config_class)]
    if bad:
        raise TypeError(f"grid {path.stem}: every entry must be a {kind.config_class.__name__} like the first "
                        f"(a grid holds training runs or range tests, not both), got {bad[0]!r}")
    return Grid(path.stem, path, list(dict.fromkeys(runs)), getattr(module, "load_data", None), kind)


def kind_of(config) -> Kind:
    """The ``Kind`` of a grid entry; anything but a ``RunConfig`` or ``RangeTestConfig`` is refused."""
    for kind in KINDS.values():
        if isinstance(config, kind.config_class):
            return kind
    raise TypeError(f"a grid entry must be a RunConfig or a RangeTestConfig, got {config!r}")


# -- the results table ---------------------------------------------------------------------------------


def is_legacy_table(path, kind) -> bool:
    """Whether the table at ``path`` was written before schema 2 (no fingerprints, no predictions)."""
    return read_header(path) == tuple(kind.legacy_columns)


def _rows(path, kind):
    return read_rows(path, kind.columns(), accept=(kind.legacy_columns,))


def _check_predictions(path, kind, rows):
    """``[(row, message)]`` for schema-2 run rows whose predictions file is missing or unreadable."""
    broken = []
    if not kind.predictions:
        return broken
    for row in rows:
        if str(row.get("store_schema", "")) in ("", "1"):
            continue
        try:
            check_predictions_file(predictions_path(path, row["run_id"]))
        except DamagedTableError as exc:
            broken.append((row, str(exc)))
    return broken


def load_results(name_or_path):
    """A grid's stored table as a pandas DataFrame, one row per run; a damaged row raises an error.

    A table written before schema 2 loads too, with the columns it lacks empty (``df.attrs["store_schema"]``
    is then 1): its rows have no fingerprint, test metrics or predictions.
    """
    import pandas as pd

    path = Path(name_or_path)
    if path.suffix != ".csv":
        grid = load_grid(name_or_path)
        path, kind = grid.results_path, grid.kind
    else:
        kind = table_kind(path)
    rows, damaged = _rows(path, kind)
    if damaged is not None:
        raise DamagedTableError(
            f"{path}, line {damaged[0]}: the last row was not written whole; run the grid command again "
            f"(it moves the row aside and re-trains that run).")
    if not rows:
        raise FileNotFoundError(f"{path} has no stored runs yet; train them with "
                                f"python -m nbsupport.grid run {path.stem}")
    broken = _check_predictions(path, kind, rows)
    if broken:
        row, message = broken[0]
        raise DamagedTableError(f"run {row['run_id']} ({len(broken)} of {len(rows)} rows affected): {message}; "
                                f"`python -m nbsupport.grid run {path.stem}` re-trains such runs")
    df = pd.DataFrame(rows)
    for col in kind.floats:
        df[col] = df[col].replace("", "nan").astype(float)
    for col in kind.ints:
        df[col] = df[col].replace("", "-1").astype(int)
    df.attrs["store_schema"] = 1 if is_legacy_table(path, kind) else 2
    return df


def table_kind(path) -> Kind:
    """The ``Kind`` whose header a stored table has (a training run's if the table does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return KINDS["run"]
    header = read_header(path)
    for kind in KINDS.values():
        if header in (tuple(kind.columns()), tuple(kind.legacy_columns)):
            return kind
    raise DamagedTableError(f"{path}: the header matches no kind of table this version of nbsupport reads "
                            f"(training runs or range tests): {','.join(header or ())[:200]!r}")


_labels_cache = {}


def load_predictions(name_or_path, run_id) -> dict:
    """A stored run's per-image arrays (``val_pred``, ``val_loss``, ``test_pred``, ``test_loss``) with the
    labels in the same order (``val_labels``, ``test_labels``; MNIST's, or from the grid's ``load_data``)."""
    path = Path(name_or_path)
    grid = load_grid(path.stem if path.suffix == ".csv" else name_or_path)
    if grid.load_data is None:
        if "mnist" not in _labels_cache:
            from .data import mnist_labels

            _labels_cache["mnist"] = mnist_labels()
        val_labels, test_labels = _labels_cache["mnist"]
    else:
        stored = _rows(grid.results_path, grid.kind)[0]
        row = next((r for r in stored if r["run_id"] == run_id), None)
        if row is None:
            raise KeyError(f"run {run_id} is not stored in {grid.results_path}")
        _, (_, yv), (_, yt) = grid.data_for(row["scaling"])
        val_labels, test_labels = yv.numpy(), yt.numpy()
    arrays = read_predictions(predictions_path(grid.results_path, run_id), len(val_labels), len(test_labels))
    return {**arrays, "val_labels": val_labels, "test_labels": test_labels}


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
    rows, damaged = _rows(grid.results_path, grid.kind)
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
    broken = _check_predictions(grid.results_path, grid.kind, rows)
    broken_ids = {row["run_id"] for row, _ in broken}
    stored = {rid: row for rid, row in by_id.items() if rid not in broken_ids}
    ids = {r.run_id for r in grid.runs}
    missing = [r for r in grid.runs if r.run_id not in stored]
    stale = [row for rid, row in stored.items() if rid not in ids]
    return GridState(grid, stored, missing, stale, damaged, broken, {})


def _report_stale(state, out=None):
    for row in state.stale:
        print(f"{state.grid.results_path.name}: stored run {row['run_id']} "
              f"({state.grid.kind.config_class.from_record(row).label()}) is no longer in the grid "
              f"{state.grid.name}; it stays in the table (delete its line to drop it)", file=out or sys.stderr)


def _set_aside_broken(grid, state):
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


def _set_aside_legacy(grid):
    path = grid.results_path
    aside = path.with_suffix(".schema1.csv")
    os.replace(path, aside)
    print(f"{path} was written before schema 2 (no fingerprints, no predictions); moved it to {aside} and "
          f"training every run of the grid again into a new table.", file=sys.stderr)


def _store(grid, record):
    """Write a record's predictions file (runs), then its row."""
    predictions = record.pop("predictions", None)
    if grid.kind.predictions:
        if predictions is None:
            raise ValueError(f"run {record['run_id']} has no predictions (no test data); a grid stores them")
        save_predictions(predictions_path(grid.results_path, record["run_id"]), predictions)
    append_row(grid.results_path, record, grid.kind.columns())


def _train_in_worker(config, threads, data, progress):
    with flush_to_zero(True):
        set_threads(threads)
        return kind_of(config).train(config, data, progress)


def _positive(name, value, allow_none=True):
    if value is None and allow_none:
        return
    from .runs import is_int

    if not is_int(value) or value < 1:
        raise ValueError(f"{name}={value!r} is not allowed; it must be an int >= 1")


def run_grid(name, *, workers=1, threads=None, limit=None, progress=None, out=None):
    """Train the runs of grid ``name`` that are not stored yet, appending each as it finishes.

    ``workers`` processes (joblib) train runs side by side, each with ``threads`` torch threads (default:
    the CPU cores divided among workers); every run trains with subnormals flushed to zero (the previous
    state is restored after an in-process run). ``limit`` stops after that many new runs. The table is
    locked for the call: a second ``run`` on it is refused. Returns the records trained in this call.
    """
    _positive("workers", workers, allow_none=False)
    _positive("threads", threads)
    _positive("limit", limit)
    grid = load_grid(name)
    with table_lock(grid.results_path):
        if is_legacy_table(grid.results_path, grid.kind):
            _set_aside_legacy(grid)
        state = grid_state(grid)
        if state.damaged is not None:
            quarantine_damaged(grid.results_path, state.damaged)
            state = grid_state(grid)
        if state.broken:
            _set_aside_broken(grid, state)
            state = grid_state(grid)
        _report_stale(state)
        return _train_missing(grid, state, workers, threads, limit, progress, out or sys.stdout)


def _train_missing(grid, state, workers, threads, limit, progress, out):
    todo = state.missing[:limit] if limit is not None else state.missing
    threads = threads if threads is not None else default_threads(workers)
    print(f"grid {grid.name}: {len(grid.runs)} runs, {len(state.stored)} stored, {len(todo)} to train "
          f"({workers} worker(s) x {threads} thread(s)) -> {grid.results_path}", file=out, flush=True)
    if not todo:
        return []
    from tqdm.auto import tqdm

    show = progress_enabled(progress)
    bar = tqdm(total=len(todo), desc=f"{grid.name} runs", unit="run", disable=not show)
    done = []
    try:
        if workers == 1:
            previous = set_threads(threads)
            try:
                with flush_to_zero(True):
                    for config in todo:
                        bar.set_postfix_str(config.label(), refresh=True)
                        record = grid.kind.train(config, grid.data_for(config.scaling), show)
                        _store(grid, record)
                        done.append(record)
                        bar.update()
            finally:
                set_threads(previous)
        else:
            from joblib import Parallel, delayed

            jobs = (delayed(_train_in_worker)(c, threads, grid.data_for(c.scaling), False) for c in todo)
            for record in Parallel(n_jobs=workers, return_as="generator_unordered")(jobs):
                _store(grid, record)
                done.append(record)
                bar.update()
    finally:
        bar.close()
    total = sum(float(r["seconds"]) for r in done)
    print(f"grid {grid.name}: trained {len(done)} run(s), {total:.0f} s of training", file=out, flush=True)
    return done


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
    _report_stale(state, out)
    return state


CHECKED_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc")


def match_stored(record, row):
    """Compare a freshly trained ``record`` (from ``train_run``) with its stored ``row``: ``(exact, ok)``.

    ``row`` is a table row as read from the CSV (strings) or as loaded by ``load_results`` (numbers). Where
    the whole fingerprint agrees (``nbsupport.fingerprint.match_rule``), every metric and the per-epoch
    validation accuracies must agree to the last bit; elsewhere each metric must lie within ``CHECK_BAND``.
    """
    exact, _ = match_rule(record, row)
    if exact:
        ok = (all(_format(float(record[m])) == _format(float(row[m])) for m in CHECKED_METRICS)
              and record["val_acc_epochs"] == row["val_acc_epochs"])
    else:
        ok = all(abs(float(record[m]) - float(row[m])) <= CHECK_BAND[m] for m in CHECKED_METRICS)
    return exact, ok


def match_range_test(record, row):
    """``match_stored`` for range tests: on the same floating-point path every recorded loss must agree
    exactly; elsewhere the lr of the lowest smoothed loss must agree within a factor of 2."""
    from .range_tests import replay

    if match_rule(record, row)[0]:
        return True, record["losses"] == row["losses"] and record["valid"] == row["valid"]
    config = RangeTestConfig.from_record(row)

    def lowest(losses):
        kept, smoothed, diverged = replay(config.lrs, json.loads(losses))
        smoothed = smoothed[:-1] if diverged else smoothed
        return kept[min(range(len(smoothed)), key=smoothed.__getitem__)] if smoothed else math.nan

    a, b = lowest(record["losses"]), lowest(row["losses"])
    return False, bool(abs(math.log10(a / b)) <= math.log10(2)) if a > 0 and b > 0 else False


KINDS = {
    "run": Kind("run", RunConfig, record_columns, LEGACY_RECORD_COLUMNS, _train_run,
                ("lr", "weight_decay", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc",
                 "final_loss_avg", "peak_loss_avg", "peak_step", "nan_step", "seconds"),
                ("epochs", "seed", "batch_size", "steps_per_epoch", "threads"), match_stored, CHECKED_METRICS,
                ", ".join(f"{m} ±{b:g}" for m, b in CHECK_BAND.items()), True),
    "range_test": Kind("range_test", RangeTestConfig, range_test_columns, LEGACY_RANGE_TEST_COLUMNS,
                       _run_range_test, ("start_lr", "end_lr", "seconds"),
                       ("num_steps", "seed", "eval_every", "batch_size", "steps_run", "threads"),
                       match_range_test, ("steps_run",), "lowest smoothed loss within a factor of 2 in lr", False),
}


def row_kind(row) -> Kind:
    """The ``Kind`` of a stored row: the first whose config fields (those of schema 1 at least) the row has."""
    for kind in KINDS.values():
        if all(f in row for f in kind.config_class.fields() if f != "dataset"):
            return kind
    raise ValueError(f"a row with columns {list(row)[:8]}... is neither a training run nor a range test")


class Retrained(NamedTuple):
    record: dict
    exact: bool
    ok: bool


def retrain_stored(row, *, threads=None, data=None, progress=None) -> Retrained:
    """Make a stored entry again, as the grid command made it, and compare: ``(record, exact, ok)``.

    ``row`` is a results row (a training run or a range test, as read from the CSV or loaded by
    ``load_results``). It is re-made with the thread count stored in the row unless ``threads`` is given,
    with subnormals flushed to zero (the previous thread count and flush state are restored afterwards),
    and compared by its kind's rule: exact where the whole fingerprint matches, within the band elsewhere
    (``match_rule(record, row)`` says which and why). The chapters use this for their live re-run.
    """
    kind = row_kind(row)
    config = kind.config_class.from_record(row)
    previous = set_threads(int(row["threads"]) if threads is None else threads)
    try:
        with flush_to_zero(True):
            record = kind.train(config, data, progress)
    finally:
        set_threads(previous)
    record.pop("predictions", None)
    exact, ok = kind.match(record, row)
    return Retrained(record, exact, ok)


def check_grid(name, *, n=1, run_ids=None, threads=None, out=None, progress=False):
    """Re-train stored runs (the ``n`` cheapest, or those in ``run_ids``) and compare with the stored rows.

    Runs are re-trained with the thread count stored in their row, unless ``threads`` is given. Where the
    row's whole fingerprint matches this machine's, every metric must agree exactly; elsewhere within the
    band; the printout says which rule applied and why. Rows of a table written before schema 2 are
    checked too (always within the band: they have no fingerprint). Returns a list of dicts (``run_id``,
    ``exact``, ``ok``, ``rule``, stored and re-measured metrics).
    """
    _positive("n", n, allow_none=False)
    _positive("threads", threads)
    out = out or sys.stdout
    grid = load_grid(name)
    state = grid_state(grid)
    stored = {row["run_id"]: row for row in (state.stored or state.legacy or {}).values()}
    if run_ids:
        unknown = [r for r in run_ids if r not in stored]
        if unknown:
            raise ValueError(f"run ids {', '.join(unknown)} are not stored in {grid.results_path}")
        chosen = [stored[r] for r in run_ids]
    else:
        chosen = sorted(stored.values(), key=lambda r: (float(r["seconds"]), r["run_id"]))[:n]
    if not chosen:
        raise ValueError(f"grid {grid.name} has no stored run to check")
    results = []
    metrics = grid.kind.metrics
    for row in chosen:
        config = grid.kind.config_class.from_record(row)
        new, exact, ok = retrain_stored(row, threads=threads, data=grid.data_for(config.scaling),
                                        progress=progress)
        _, rule = match_rule(new, row)
        rule = rule if exact else f"{rule}; {grid.kind.band}"
        fresh_metrics, stored_metrics = ({m: float(r[m]) for m in metrics} for r in (new, row))
        results.append({"run_id": row["run_id"], "exact": exact, "ok": ok, "rule": rule,
                        "stored": stored_metrics, "fresh": fresh_metrics, "label": config.label(),
                        "stored_on": f"{row.get('cpu_model') or row['hardware']} x{row['threads']}"})
        print(f"{row['run_id']}  {config.label()}\n    rule: {rule}", file=out)
        for m in metrics:
            print(f"    {m:<10}  stored {stored_metrics[m]:.6f}   re-measured {fresh_metrics[m]:.6f}   "
                  f"diff {fresh_metrics[m] - stored_metrics[m]:+.6f}", file=out)
        print(f"    -> {'OK' if ok else 'MISMATCH'}", file=out, flush=True)
    return results


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


# -- the command line ----------------------------------------------------------------------------------


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; give a whole number >= 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; give a whole number >= 1")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block): ``<command>: error: <what>``, exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser():
    parser = _Parser(prog="python -m nbsupport.grid", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="train the runs of a grid that are not stored yet")
    p_run.add_argument("grid", help="grid name (experiments/<name>.py) or path to a grid file")
    p_run.add_argument("--workers", type=_positive_int, default=1, help="worker processes (default 1)")
    p_run.add_argument("--threads", type=_positive_int, default=None,
                       help="torch threads per worker (default cores/workers)")
    p_run.add_argument("--limit", type=_positive_int, default=None, help="train at most this many runs, then stop")
    p_status = sub.add_parser("status", help="stored, missing and stale runs of a grid, and their cost")
    p_status.add_argument("grid")
    p_check = sub.add_parser("check", help="re-train stored runs and compare them with their rows")
    p_check.add_argument("grid")
    p_check.add_argument("-n", type=_positive_int, default=1, help="how many of the cheapest stored runs (default 1)")
    p_check.add_argument("--run-id", action="append", help="check this stored run (repeatable)")
    p_check.add_argument("--threads", type=_positive_int, default=None, help="threads (default: the row's)")
    return parser


def main(argv=None):
    """The command line: 0 when done, 1 when ``check`` finds a mismatch, 2 (one line on stderr) for a user
    error (an unknown grid or run id, a bad argument, a damaged or locked table)."""
    args = _parser().parse_args(argv)  # argparse itself exits 2 with one line for a malformed argument
    from .runs import flush_subnormals

    flush_subnormals()  # first, before torch starts its worker threads (see nbsupport.fingerprint)
    try:
        if args.command == "run":
            run_grid(args.grid, workers=args.workers, threads=args.threads, limit=args.limit)
            grid_status(args.grid)
        elif args.command == "status":
            grid_status(args.grid)
        else:
            results = check_grid(args.grid, n=args.n, run_ids=args.run_id, threads=args.threads)
            return 0 if all(r["ok"] for r in results) else 1
    except (ValueError, TypeError, FileNotFoundError, TableLockedError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"python -m nbsupport.grid {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
