"""Grids on a Dask cluster: the same rows and checksums as a local run, one writer, resume after a stop."""

import subprocess
import sys

import pytest

from nbsupport.grid import load_results, run_grid
from nbsupport.runs import PROVENANCE_COLUMNS
from test_grid import FOUR, write_grid

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as local:
        yield local


def _rows(folder):
    df = load_results(folder / "results" / "tiny.csv")
    # "grid" is where the table was loaded from, not a column of it
    return df.drop(columns=list(PROVENANCE_COLUMNS) + ["grid"]).sort_values("run_id").reset_index(drop=True)


def test_a_grid_on_a_dask_cluster_stores_the_rows_a_local_run_stores(tmp_path, cluster):
    local, remote = tmp_path / "local", tmp_path / "remote"
    for folder in (local, remote):
        folder.mkdir()
    run_grid(write_grid(local, FOUR), threads=1, progress=False)
    grid = write_grid(remote, FOUR)
    first = run_grid(grid, scheduler=cluster.scheduler_address, limit=2, progress=False)
    assert len(first) == 2 and len(load_results(remote / "results" / "tiny.csv")) == 2
    # Resumed from the command line, on the same cluster: only the two missing runs are trained.
    done = subprocess.run([sys.executable, "-m", "nbsupport.grid", "run", str(grid), "--scheduler",
                           cluster.scheduler_address], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "4 runs, 2 stored, 2 to train (Dask cluster worker(s) x 1 thread(s))" in done.stdout
    assert _rows(local).equals(_rows(remote))
    # The same predictions, byte for byte.
    for path in (local / "results" / "tiny").glob("*.npz"):
        assert path.read_bytes() == (remote / "results" / "tiny" / path.name).read_bytes()


def test_an_unreachable_scheduler_is_one_line_and_exit_code_2(tmp_path):
    grid = write_grid(tmp_path, FOUR)
    done = subprocess.run([sys.executable, "-m", "nbsupport.grid", "run", str(grid), "--scheduler",
                           "tcp://127.0.0.1:9"], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
