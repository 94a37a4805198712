"""Training a grid's missing entries (in this process, in joblib workers, or on a Dask cluster) and checking
stored entries by training them again.

Every entry trains with subnormal floats flushed to zero (``nbsupport.fingerprint.flush_to_zero``), set and
restored here, so a chapter, a worker and the command line cannot disagree. One process writes the table:
this one, whichever engine trains; it holds the table's lock for the whole call.
"""

import sys
from typing import NamedTuple

from .fingerprint import flush_to_zero, match_rule
from .grid import (is_legacy_table, table_columns, grid_state, kind_of, load_grid, report_stale, row_kind, set_aside_broken,
                   set_aside_legacy)
from .configs import is_int
from .runs import RunConfig
from .provenance import default_threads, set_threads
from .store import append_row, predictions_path, quarantine_damaged, save_predictions, table_lock
from .training import progress_enabled


def _positive(name, value, allow_none=True):
    if value is None and allow_none:
        return
    if not is_int(value) or value < 1:
        raise ValueError(f"{name}={value!r} is not allowed; it must be an int >= 1")


def _store(grid, record):
    """Write a record's predictions file (runs), then its row."""
    predictions = record.pop("predictions", None)
    if grid.kind.HAS_PREDICTIONS:
        if predictions is None:
            raise ValueError(f"run {record['run_id']} has no predictions (no test data); a grid stores them")
        save_predictions(predictions_path(grid.results_path, record["run_id"]), predictions)
    append_row(grid.results_path, record, table_columns(grid.results_path, grid.kind))


def train_entry(config, threads, data, progress=False, **train_kw):
    """Train one entry as a worker does: ``threads`` torch threads, subnormals flushed (both restored)."""
    previous = set_threads(threads)
    try:
        with flush_to_zero(True):
            return config.train(data, progress, **train_kw)
    finally:
        set_threads(previous)


def run_grid(name, *, workers=1, threads=None, limit=None, scheduler=None, progress=None, out=None):
    """Train the entries of grid ``name`` that are not stored yet, appending each as it finishes.

    ``workers`` processes (joblib) train side by side, each with ``threads`` torch threads (default: the CPU
    cores divided among workers). ``scheduler`` (e.g. ``"tcp://host:8786"``, or a ``distributed.Client``)
    trains on a Dask cluster instead, one entry per task, with ``threads`` threads each (default 1); this
    process still writes every row. ``limit`` stops after that many new entries. The table is locked for the
    call: a second ``run`` on it is refused. Returns the records trained in this call.
    """
    _positive("workers", workers, allow_none=False)
    _positive("threads", threads)
    _positive("limit", limit)
    grid = load_grid(name)
    out = out or sys.stdout
    with table_lock(grid.results_path):
        if is_legacy_table(grid.results_path, grid.kind):
            set_aside_legacy(grid)
        state = grid_state(grid)
        if state.damaged is not None:
            quarantine_damaged(grid.results_path, state.damaged)
            state = grid_state(grid)
        if state.broken:
            set_aside_broken(grid, state)
            state = grid_state(grid)
        report_stale(state)
        todo = state.missing[:limit] if limit is not None else state.missing
        if threads is None:
            threads = 1 if scheduler is not None else default_threads(workers)
        engine = "Dask cluster worker(s)" if scheduler is not None else f"{workers} worker(s)"
        print(f"grid {grid.name}: {len(grid.runs)} runs, {len(state.stored)} stored, {len(todo)} to train "
              f"({engine} x {threads} thread(s)) -> {grid.results_path}", file=out, flush=True)
        if not todo:
            return []
        done = _train(grid, todo, workers, threads, scheduler, progress_enabled(progress))
    total = sum(float(r["seconds"]) for r in done)
    print(f"grid {grid.name}: trained {len(done)} run(s), {total:.0f} s of training", file=out, flush=True)
    return done


def _records(grid, todo, workers, threads, scheduler, show):
    """The trained records, in the order they finish, from whichever engine trains them."""
    if scheduler is not None:
        yield from _dask_records(grid, todo, threads, scheduler)
    elif workers == 1:
        for config in todo:
            yield train_entry(config, threads, grid.data_for(config.scaling), show)
    else:
        from joblib import Parallel, delayed

        jobs = (delayed(train_entry)(c, threads, grid.data_for(c.scaling)) for c in todo)
        yield from Parallel(n_jobs=workers, return_as="generator_unordered")(jobs)


def _dask_records(grid, todo, threads, scheduler):
    from distributed import Client, as_completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = [client.submit(train_entry, c, threads, grid.data_for(c.scaling), pure=False) for c in todo]
        for future in as_completed(futures):
            yield future.result()
    finally:
        if client is not scheduler:
            client.close()


def _train(grid, todo, workers, threads, scheduler, show):
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc=f"{grid.name} runs", unit="run", disable=not show)
    done = []
    try:
        for record in _records(grid, todo, workers, threads, scheduler, show and workers == 1 and not scheduler):
            _store(grid, record)
            done.append(record)
            bar.update()
    finally:
        bar.close()
    return done


class Retrained(NamedTuple):
    record: dict
    exact: bool
    ok: bool


def retrain_stored(row, *, threads=None, data=None, progress=None, epochs=None) -> Retrained:
    """Make a stored entry again, as the grid command made it, and compare: ``(record, exact, ok)``.

    ``row`` is a results row (a training run or a range test, as read from the CSV or loaded by
    ``load_results``). It is re-made with the thread count stored in the row unless ``threads`` is given,
    with subnormals flushed to zero (the previous thread count and flush state are restored afterwards),
    and compared by its kind's rule: exact where the whole fingerprint matches, within the band elsewhere
    (``match_rule(record, row)`` says which and why). The chapters use this for their live re-run.

    ``epochs`` re-trains only the first epochs of a stored training run (its schedule still that of all its
    epochs) and compares with the row's values after that epoch: a three-epoch run checked in a third of
    the time. The record's metrics are then those after ``epochs``.
    """
    kind = row_kind(row)
    config = kind.from_record(row)
    threads = int(row["threads"]) if threads is None else threads
    if epochs is None:
        record = train_entry(config, threads, data, progress)
    elif kind is RunConfig:
        record = train_entry(config, threads, data, progress, stop_after=epochs)
    else:
        raise ValueError(f"epochs={epochs!r}: only a stored training run can be re-trained in part, "
                         f"not a {kind.__name__}")
    record.pop("predictions", None)
    exact, ok = kind.match(record, row) if epochs is None else kind.match(record, row, epochs)
    return Retrained(record, exact, ok)


def check_grid(name, *, n=1, run_ids=None, threads=None, out=None, progress=False):
    """Re-train stored entries (the ``n`` cheapest, or those in ``run_ids``) and compare with their rows.

    Entries are re-made with the thread count stored in their row, unless ``threads`` is given. Where the
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
    return [_check_one(grid, row, threads, progress, out) for row in chosen]


def _check_one(grid, row, threads, progress, out):
    config = grid.kind.from_record(row)
    new, exact, ok = retrain_stored(row, threads=threads, data=grid.data_for(config.scaling), progress=progress)
    _, rule = match_rule(new, row)
    rule = rule if exact else f"{rule}; {grid.kind.band()}"
    metrics = grid.kind.CHECKED
    fresh, stored = ({m: float(r[m]) for m in metrics} for r in (new, row))
    print(f"{row['run_id']}  {config.label()}\n    rule: {rule}", file=out)
    for m in metrics:
        print(f"    {m:<10}  stored {stored[m]:.6f}   re-measured {fresh[m]:.6f}   "
              f"diff {fresh[m] - stored[m]:+.6f}", file=out)
    print(f"    -> {'OK' if ok else 'MISMATCH'}", file=out, flush=True)
    return {"run_id": row["run_id"], "exact": exact, "ok": ok, "rule": rule, "stored": stored, "fresh": fresh,
            "label": config.label(), "stored_on": f"{row.get('cpu_model') or row['hardware']} x{row['threads']}"}


__all__ = ["Retrained", "check_grid", "kind_of", "retrain_stored", "run_grid", "train_entry"]
