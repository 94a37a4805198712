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
import csv
import importlib.util
import io
import json
import math
import os
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

from .data import repo_root
from .range_tests import RangeTestConfig, range_test_columns, run_range_test
from .runs import RunConfig, default_threads, flush_subnormals, record_columns, set_threads, train_run
from .training import progress_enabled

EXPERIMENTS_DIR = "experiments"
CHECKSUM = "checksum"
#: On a CPU type or thread count other than the one that produced a row, a re-trained run takes another
#: floating-point path and agrees with it only statistically; these are the allowed absolute differences.
CHECK_BAND = {"val_acc": 0.015, "train_acc": 0.02, "val_loss": 0.05, "train_loss": 0.06}


class DamagedTableError(ValueError):
    """A results table has a row that was not written whole (or was edited by hand)."""


@dataclass(frozen=True)
class Kind:
    """What a grid's entries are: training runs (``RunConfig``) or LR range tests (``RangeTestConfig``).

    ``columns()`` is the table's header, ``train(config, data, progress)`` makes a row, ``floats`` and
    ``ints`` are the columns ``load_results`` converts to numbers, ``match(record, row)`` says whether a
    re-made entry agrees with its stored row (``(exact, ok)``), ``metrics`` what ``check`` prints.
    """

    name: str
    config_class: type
    columns: object
    train: object
    floats: tuple
    ints: tuple
    match: object
    metrics: tuple
    band: object  # what "agrees" means on another machine, for check's printout


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
        return self.load_data(scaling) if self.load_data is not None else None


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
        raise ValueError(f"no grid named {name!r}: {path} does not exist; known grids: {known}")
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

def _format(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value)


def format_row(record, columns=None) -> str:
    """One CSV line (with its newline) for a record, ending in the CRC32 of everything before it.

    ``columns`` default to a training run's (``record_columns()``)."""
    buf = io.StringIO()
    columns = record_columns() if columns is None else columns
    csv.writer(buf, lineterminator="").writerow([_format(record.get(c)) for c in columns])
    body = buf.getvalue()
    return f"{body},{zlib.crc32(body.encode()):08x}\n"


def header_line(columns=None) -> str:
    return ",".join((record_columns() if columns is None else columns) + (CHECKSUM,)) + "\n"


def append_row(path, record, columns=None):
    """Append one record to the table at ``path`` whole or not at all (a new table is created with its header).

    The row goes out in one ``write`` on a file opened for appending and is
    flushed to disk before the function returns.
    """
    path = Path(path)
    line = format_row(record, columns).encode()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".csv.tmp")
        with open(tmp, "wb") as f:
            f.write(header_line(columns).encode() + line)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"short write to {path}: {written} of {len(line)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_rows(path, columns=None):
    """The rows of a table as dicts of strings, and the damaged last line (or None).

    ``columns``: the header expected (default: a training run's; see ``table_kind`` for any kind).

    A row is damaged when its checksum does not match or it has no newline:
    the command was killed while writing it. A damaged row anywhere but at
    the end, or a header that is not this version's, raises
    ``DamagedTableError``, saying where and what.
    """
    path = Path(path)
    if not path.exists():
        return [], None
    text = path.read_bytes().decode()
    lines = text.splitlines(keepends=True)
    if not lines:
        return [], None
    columns = record_columns() if columns is None else columns
    if lines[0] != header_line(columns):
        raise DamagedTableError(
            f"{path}: the header does not match the columns this version of nbsupport writes; "
            f"expected {header_line(columns).strip()!r}, found {lines[0].strip()!r}. Move the table aside and "
            f"re-run the grid, or check out the nbsupport version that wrote it."
        )
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        body, _, crc = line.rstrip("\n").rpartition(",")
        ok = line.endswith("\n") and body and crc == f"{zlib.crc32(body.encode()):08x}"
        if not ok:
            if number == len(lines):
                return rows, (number, line)
            raise DamagedTableError(
                f"{path}, line {number}: the row's checksum does not match its contents (edited by hand, or "
                f"written by something else than nbsupport.grid): {line[:120]!r}..."
            )
        rows.append(dict(zip(columns, next(csv.reader([body])))))
    return rows, None


def quarantine_damaged(path, damaged):
    """Move a damaged last line out of the table into ``<table>.damaged`` and say so on stderr."""
    path = Path(path)
    number, line = damaged
    with open(path.with_suffix(".csv.damaged"), "a") as f:
        f.write(line if line.endswith("\n") else line + "\n")
    data = path.read_bytes()
    os.truncate(path, len(data) - len(line.encode()))
    print(f"{path}, line {number}: the last row was not written whole (the command was killed while "
          f"writing it); moved it to {path.with_suffix('.csv.damaged')} and will train that run again.",
          file=sys.stderr)


def load_results(name_or_path):
    """A grid's stored table as a pandas DataFrame, one row per run; a damaged row raises an error."""
    import pandas as pd

    path = Path(name_or_path)
    if path.suffix != ".csv":
        grid = load_grid(name_or_path)
        path, kind = grid.results_path, grid.kind
    else:
        kind = table_kind(path)
    rows, damaged = read_rows(path, kind.columns())
    if damaged is not None:
        raise DamagedTableError(
            f"{path}, line {damaged[0]}: the last row was not written whole; run the grid command again "
            f"(it moves the row aside and re-trains that run)."
        )
    if not rows:
        raise FileNotFoundError(f"{path} has no stored runs yet; train them with "
                                f"python -m nbsupport.grid run {path.stem}")
    df = pd.DataFrame(rows)
    for col in kind.floats:
        df[col] = df[col].replace("", "nan").astype(float)
    for col in kind.ints:
        df[col] = df[col].astype(int)
    return df


def table_kind(path) -> Kind:
    """The ``Kind`` whose header a stored table has (a training run's if the table does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return KINDS["run"]
    with open(path) as f:
        first = f.readline()
    for kind in KINDS.values():
        if first == header_line(kind.columns()):
            return kind
    raise DamagedTableError(f"{path}: the header matches no kind of table this version of nbsupport writes "
                            f"(training runs or range tests): {first.strip()[:200]!r}")


@dataclass
class GridState:
    grid: Grid
    stored: dict  # run_id -> row
    missing: list  # RunConfig not stored yet, in grid order
    stale: list  # stored rows whose config is not in the grid
    damaged: object = None


def grid_state(grid: Grid) -> GridState:
    rows, damaged = read_rows(grid.results_path, grid.kind.columns())
    stored = {}
    for row in rows:
        if row["run_id"] in stored:
            raise DamagedTableError(f"{grid.results_path}: run {row['run_id']} is stored twice")
        stored[row["run_id"]] = row
    ids = {r.run_id for r in grid.runs}
    missing = [r for r in grid.runs if r.run_id not in stored]
    stale = [row for rid, row in stored.items() if rid not in ids]
    return GridState(grid, stored, missing, stale, damaged)


def _report_stale(state, out=None):
    out = out or sys.stderr
    for row in state.stale:
        print(f"{state.grid.results_path.name}: stored run {row['run_id']} "
              f"({state.grid.kind.config_class.from_record(row).label()}) is no longer in the grid "
              f"{state.grid.name}; "
              f"it stays in the table (delete its line to drop it)", file=out or sys.stdout)


def _train_in_worker(config, threads, data, progress):
    flush_subnormals()
    set_threads(threads)
    return kind_of(config).train(config, data, progress)


def run_grid(name, *, workers=1, threads=None, limit=None, progress=None, out=None):
    """Train the runs of grid ``name`` that are not stored yet, appending each as it finishes.

    ``workers`` processes (joblib) train runs side by side, each with
    ``threads`` torch threads (default: the CPU cores divided among workers);
    the thread count is stored in each row. ``limit`` stops after that many
    new runs. Returns the records trained in this call.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r} is not allowed; it must be an int >= 1")
    grid = load_grid(name)
    state = grid_state(grid)
    if state.damaged is not None:
        quarantine_damaged(grid.results_path, state.damaged)
        state = grid_state(grid)
    _report_stale(state)
    todo = state.missing[:limit] if limit is not None else state.missing
    threads = threads if threads is not None else default_threads(workers)
    print(f"grid {grid.name}: {len(grid.runs)} runs, {len(state.stored)} stored, {len(todo)} to train "
          f"({workers} worker(s) x {threads} thread(s)) -> {grid.results_path}", file=out or sys.stdout, flush=True)
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
                for config in todo:
                    bar.set_postfix_str(config.label(), refresh=True)
                    record = grid.kind.train(config, grid.data_for(config.scaling), show)
                    append_row(grid.results_path, record, grid.kind.columns())
                    done.append(record)
                    bar.update()
            finally:
                set_threads(previous)
        else:
            from joblib import Parallel, delayed

            jobs = (delayed(_train_in_worker)(c, threads, grid.data_for(c.scaling), False) for c in todo)
            for record in Parallel(n_jobs=workers, return_as="generator_unordered")(jobs):
                append_row(grid.results_path, record, grid.kind.columns())
                done.append(record)
                bar.update()
    finally:
        bar.close()
    total = sum(float(r["seconds"]) for r in done)
    print(f"grid {grid.name}: trained {len(done)} run(s), {total:.0f} s of training", file=out or sys.stdout, flush=True)
    return done


def grid_status(name, out=None):
    """Print what a grid has stored, what is missing, what is stale, and what the stored runs cost."""
    grid = load_grid(name)
    state = grid_state(grid)
    seconds = sum(float(r["seconds"]) for r in state.stored.values())
    hardware = sorted({f"{r['hardware']} x{r['threads']} threads" for r in state.stored.values()})
    print(f"grid {grid.name}: {len(grid.runs)} runs; {len(state.stored)} stored "
          f"({seconds:.0f} s = {seconds / 60:.1f} min of training on {', '.join(hardware) or '-'}); "
          f"{len(state.missing)} missing; {len(state.stale)} stale", file=out or sys.stdout)
    if state.damaged is not None:
        print(f"  line {state.damaged[0]} is damaged (cut short); `run` moves it aside and re-trains it", file=out or sys.stdout)
    _report_stale(state, out)
    return state


CHECKED_METRICS = ("train_loss", "train_acc", "val_loss", "val_acc")


def _same_provenance(record, row):
    """Whether two entries were made by the same torch version, CPU type and thread count."""
    return (all(str(record[k]) == str(row[k]) for k in ("torch_version", "hardware"))
            and int(record["threads"]) == int(row["threads"]))


def match_stored(record, row):
    """Compare a freshly trained ``record`` (from ``train_run``) with its stored ``row``.

    ``row`` is a table row as read from the CSV (strings) or as loaded by
    ``load_results`` (numbers). Returns ``(exact, ok)``: ``exact`` when torch
    version, CPU type and thread count of the two agree, and then every metric
    and the per-epoch validation accuracies must agree to the last bit;
    elsewhere each metric must lie within ``CHECK_BAND``.
    """
    exact = _same_provenance(record, row)
    if exact:
        ok = (all(_format(float(record[m])) == _format(float(row[m])) for m in CHECKED_METRICS)
              and record["val_acc_epochs"] == row["val_acc_epochs"])
    else:
        ok = all(abs(float(record[m]) - float(row[m])) <= CHECK_BAND[m] for m in CHECKED_METRICS)
    return exact, ok


def match_range_test(record, row):
    """``match_stored`` for range tests: on the same torch, CPU type and thread count every recorded loss
    must agree exactly; elsewhere the lr of the lowest smoothed loss must agree within a factor of 2."""
    from .range_tests import replay

    if _same_provenance(record, row):
        return True, record["losses"] == row["losses"] and record["valid"] == row["valid"]
    config = RangeTestConfig.from_record(row)

    def lowest(losses):
        kept, smoothed, diverged = replay(config.lrs, json.loads(losses))
        smoothed = smoothed[:-1] if diverged else smoothed
        return kept[min(range(len(smoothed)), key=smoothed.__getitem__)] if smoothed else math.nan

    a, b = lowest(record["losses"]), lowest(row["losses"])
    return False, bool(abs(math.log10(a / b)) <= math.log10(2)) if a > 0 and b > 0 else False


KINDS = {
    "run": Kind("run", RunConfig, record_columns, _train_run,
                ("lr", "weight_decay", "train_loss", "train_acc", "val_loss", "val_acc", "final_loss_avg",
                 "peak_loss_avg", "peak_step", "nan_step", "seconds"),
                ("epochs", "seed", "batch_size", "steps_per_epoch", "threads"), match_stored, CHECKED_METRICS,
                CHECK_BAND),
    "range_test": Kind("range_test", RangeTestConfig, range_test_columns, _run_range_test,
                       ("start_lr", "end_lr", "seconds"),
                       ("num_steps", "seed", "eval_every", "batch_size", "steps_run", "threads"),
                       match_range_test, ("steps_run",), "lowest smoothed loss within a factor of 2 in lr"),
}


def row_kind(row) -> Kind:
    """The ``Kind`` of a stored row: the first whose config fields the row has."""
    for kind in KINDS.values():
        if all(f in row for f in kind.config_class.fields()):
            return kind
    raise ValueError(f"a row with columns {list(row)[:8]}... is neither a training run nor a range test")


def retrain_stored(row, *, threads=None, data=None, progress=None):
    """Make a stored entry again, as the grid command made it, and compare: returns ``(record, exact, ok)``.

    ``row`` is a results row (a training run or a range test, as read from the CSV or loaded by
    ``load_results``). It is re-made with the thread count stored in the row unless ``threads`` is given
    (the previous count is restored afterwards), and compared by its kind's rule (``match_stored`` for runs,
    ``match_range_test`` for range tests). The chapters use this for their live re-run of one stored point.
    """
    kind = row_kind(row)
    config = kind.config_class.from_record(row)
    previous = set_threads(int(row["threads"]) if threads is None else threads)
    try:
        record = kind.train(config, data, progress)
    finally:
        set_threads(previous)
    exact, ok = kind.match(record, row)
    return record, exact, ok


def check_grid(name, *, n=1, run_ids=None, threads=None, out=None, progress=False):
    """Re-train stored runs (the ``n`` cheapest, or those in ``run_ids``) and compare with the stored rows.

    Runs are re-trained with the thread count stored in their row, unless
    ``threads`` is given. Where torch version, CPU type and thread count match
    the row, every metric must agree exactly; elsewhere within ``CHECK_BAND``.
    Returns a list of dicts (``run_id``, ``exact``, ``ok``, stored and re-measured
    metrics); prints them side by side.
    """
    grid = load_grid(name)
    state = grid_state(grid)
    rows = list(state.stored.values())
    if run_ids:
        unknown = [r for r in run_ids if r not in state.stored]
        if unknown:
            raise ValueError(f"run ids {unknown} are not stored in {grid.results_path}")
        chosen = [state.stored[r] for r in run_ids]
    else:
        chosen = sorted(rows, key=lambda r: (float(r["seconds"]), r["run_id"]))[:n]
    if not chosen:
        raise ValueError(f"grid {grid.name} has no stored run to check")
    results = []
    metrics = grid.kind.metrics
    for row in chosen:
        config = grid.kind.config_class.from_record(row)
        new, exact, ok = retrain_stored(row, threads=threads, data=grid.data_for(config.scaling),
                                        progress=progress)
        stored = {m: float(row[m]) for m in metrics}
        fresh = {m: float(new[m]) for m in metrics}
        results.append({"run_id": row["run_id"], "exact": exact, "ok": ok, "stored": stored, "fresh": fresh,
                        "stored_on": f"{row['hardware']} x{row['threads']}", "label": config.label()})
        rule = "must match exactly (same torch, CPU type, threads)" if exact else f"band {grid.kind.band}"
        print(f"{row['run_id']}  {config.label()}  [{rule}]", file=out or sys.stdout)
        for m in metrics:
            print(f"    {m:<10}  stored {stored[m]:.6f}   re-measured {fresh[m]:.6f}   "
                  f"diff {fresh[m] - stored[m]:+.6f}", file=out or sys.stdout)
        print(f"    -> {'OK' if ok else 'MISMATCH'}", file=out or sys.stdout, flush=True)
    return results


def main(argv=None):
    flush_subnormals()  # first, before torch starts its worker threads (see flush_subnormals)
    parser = argparse.ArgumentParser(prog="python -m nbsupport.grid", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="train the runs of a grid that are not stored yet")
    p_run.add_argument("grid", help="grid name (experiments/<name>.py) or path to a grid file")
    p_run.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p_run.add_argument("--threads", type=int, default=None, help="torch threads per worker (default cores/workers)")
    p_run.add_argument("--limit", type=int, default=None, help="train at most this many runs, then stop")
    p_status = sub.add_parser("status", help="stored, missing and stale runs of a grid, and their cost")
    p_status.add_argument("grid")
    p_check = sub.add_parser("check", help="re-train stored runs and compare them with their rows")
    p_check.add_argument("grid")
    p_check.add_argument("-n", type=int, default=1, help="how many of the cheapest stored runs (default 1)")
    p_check.add_argument("--run-id", action="append", help="check this stored run (repeatable)")
    p_check.add_argument("--threads", type=int, default=None, help="threads (default: the row's)")
    args = parser.parse_args(argv)
    if args.command == "run":
        run_grid(args.grid, workers=args.workers, threads=args.threads, limit=args.limit)
        grid_status(args.grid)
    elif args.command == "status":
        grid_status(args.grid)
    else:
        results = check_grid(args.grid, n=args.n, run_ids=args.run_id, threads=args.threads)
        return 0 if all(r["ok"] for r in results) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())


def epoch_table(df):
    """One row per (run, epoch) from a results table: the per-epoch JSON lists spread out into columns
    ``epoch``, ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, with the run's config columns."""
    import json

    import pandas as pd

    config_cols = ["run_id"] + list(RunConfig.fields())
    rows = []
    for _, run in df.iterrows():
        lists = {m: json.loads(run[f"{m}_epochs"]) for m in ("train_loss", "train_acc", "val_loss", "val_acc")}
        for e in range(len(lists["val_acc"])):
            rows.append({**{c: run[c] for c in config_cols}, "epoch": e + 1, **{m: v[e] for m, v in lists.items()}})
    return pd.DataFrame(rows)
