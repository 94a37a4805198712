"""Every stored results table: readable, its rows match its grid, and one of its runs re-trains to its row."""

from pathlib import Path

import pytest

from nbsupport.grid import check_grid, grid_state, load_grid, load_results
from test_data import _real_mnist_or_skip

TABLES = sorted((Path(__file__).parent.parent / "experiments" / "results").glob("*.csv"))


@pytest.mark.parametrize("table", TABLES, ids=[t.stem for t in TABLES])
def test_table_is_whole_and_belongs_to_its_grid(table):
    df = load_results(table)
    assert df["run_id"].is_unique
    state = grid_state(load_grid(table.stem))
    assert not state.stale, f"rows no longer in the grid: {[r['run_id'] for r in state.stale]}"


@pytest.mark.parametrize("table", TABLES, ids=[t.stem for t in TABLES])
def test_cheapest_one_epoch_run_retrains_to_its_stored_row(table):
    """Exact on the CPU type, torch version and thread count that stored the row; within CHECK_BAND elsewhere."""
    _real_mnist_or_skip()
    [result] = check_grid(table.stem, n=1, max_epochs=1)
    assert result["ok"], result
