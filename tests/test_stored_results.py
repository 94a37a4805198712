"""Every stored results table: readable, its rows match its grid, and one of its runs re-trains to its row."""

import subprocess
import sys
from pathlib import Path

import pytest

from nbsupport.grid import grid_state, load_grid, load_results, table_kind
from test_data import _real_mnist_or_skip

TABLES = sorted((Path(__file__).parent.parent / "experiments" / "results").glob("*.csv"))


@pytest.mark.parametrize("table", TABLES, ids=[t.stem for t in TABLES])
def test_table_is_whole_and_belongs_to_its_grid(table):
    df = load_results(table)
    assert df["run_id"].is_unique
    state = grid_state(load_grid(table.stem))
    assert not state.stale, f"rows no longer in the grid: {[r['run_id'] for r in state.stale]}"


@pytest.mark.parametrize("table", TABLES, ids=[t.stem for t in TABLES])
def test_one_stored_run_retrains_to_its_row(table):
    """Exact on the CPU type, torch version and thread count that stored the row; within the kind's band elsewhere.

    The run checked is the cheapest of the shortest runs that trained (val_acc >= 0.5): a run that sat at
    chance or blew up is on a knife edge, and on another CPU type it may fall either way.
    """
    _real_mnist_or_skip()
    df = load_results(table)
    if table_kind(table).name == "range_test":
        # A table of LR range tests: the cheapest test (about 2 s), which must repeat its curve.
        shortest = df.sort_values(["seconds", "run_id"])
    else:
        trained = df[df.val_acc >= 0.5]
        assert not trained.empty, f"{table.stem}: no stored run trained"
        # One-epoch runs where the grid has them (about 20 s); otherwise its cheapest run (about 60 s).
        shortest = trained[trained.epochs == trained.epochs.min()].sort_values(["seconds", "run_id"])
    # In a fresh process, like the grid command that stored the row (see nbsupport.runs.flush_subnormals).
    done = subprocess.run([sys.executable, "-m", "nbsupport.grid", "check", table.stem,
                           "--run-id", shortest.run_id.iloc[0]], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "-> OK" in done.stdout
