"""Store schema 2: flush-to-zero set and restored, predictions files, the table lock, schema-1 tables, and a
foreign fingerprint taking the band path end to end."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from nbsupport.fingerprint import FAKE_ENV_VAR, flush_to_zero_active
from nbsupport.grid import (DamagedTableError, TableLockedError, grid_state, grid_status, load_grid,
                            load_predictions, load_results, retrain_stored, run_grid)
from nbsupport.runs import LEGACY_RECORD_COLUMNS, RunConfig, record_columns
from nbsupport.store import append_row, format_row, header_line, predictions_path, table_lock
from test_grid import FOUR, write_grid

ONE = '[RunConfig(schedule="constant", lr=1e-3, epochs=1, scaling="normalized")]'


@pytest.fixture
def ftz_off():
    """Start with flushing off, and leave this process as it was."""
    before = flush_to_zero_active()
    torch.set_flush_denormal(False)
    yield
    torch.set_flush_denormal(before)


def test_run_grid_and_retrain_stored_train_with_flush_to_zero_and_restore_the_state(tmp_path, ftz_off):
    grid = write_grid(tmp_path, ONE)
    [record] = run_grid(grid, threads=1, progress=False)
    assert record["flush_to_zero"] is True and not flush_to_zero_active()
    row = load_results(tmp_path / "results" / "tiny.csv").iloc[0]
    assert row["flush_to_zero"] == "True"
    data = load_grid(grid).data_for("normalized")
    for before in (False, True):
        torch.set_flush_denormal(before)
        live, exact, ok = retrain_stored(row, data=data, progress=False)
        assert live["flush_to_zero"] is True and exact and ok
        assert flush_to_zero_active() is before


def test_workers_train_with_flush_to_zero_too(tmp_path, ftz_off):
    grid = write_grid(tmp_path, FOUR)
    run_grid(grid, workers=2, threads=1, progress=False)
    df = load_results(tmp_path / "results" / "tiny.csv")
    assert set(df["flush_to_zero"]) == {"True"} and not flush_to_zero_active()


def test_every_run_has_its_predictions_in_the_order_of_the_labels(tmp_path):
    grid = write_grid(tmp_path, FOUR)
    run_grid(grid, threads=1, progress=False)
    df = load_results(tmp_path / "results" / "tiny.csv")
    assert df["test_acc"].notna().all() and df["test_loss"].notna().all()
    for row in df.itertuples():
        p = load_predictions(grid, row.run_id)
        assert p["val_pred"].dtype == np.uint8 and p["val_loss"].dtype == np.float16
        assert len(p["val_pred"]) == len(p["val_labels"]) == 32 and len(p["test_pred"]) == 16
        assert np.mean(p["val_pred"] == p["val_labels"]) == pytest.approx(row.val_acc)
        assert np.mean(p["test_pred"] == p["test_labels"]) == row.test_acc
        assert float(p["test_loss"].astype(np.float64).mean()) == pytest.approx(row.test_loss, rel=1e-3)
        assert float(p["val_loss"].astype(np.float64).mean()) == pytest.approx(row.val_loss, rel=1e-3)
    assert not list((tmp_path / "results").rglob("*.tmp"))


def test_a_predictions_file_is_written_before_its_row_and_atomically(tmp_path, monkeypatch):
    import nbsupport.store as store

    grid = write_grid(tmp_path, ONE)
    real_replace = os.replace

    def failing_replace(src, dst):
        if str(dst).endswith(".npz"):
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(store.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        run_grid(grid, threads=1, progress=False)
    folder = tmp_path / "results" / "tiny"
    assert not (tmp_path / "results" / "tiny.csv").exists()  # no row without its predictions
    assert not list(folder.glob("*")) if folder.exists() else True  # nor a partial or temporary file


@pytest.mark.parametrize("damage", ["delete", "truncate"])
def test_a_missing_or_unreadable_predictions_file_is_reported_and_trained_again(tmp_path, damage, capsys):
    grid = write_grid(tmp_path, FOUR)
    run_grid(grid, threads=1, progress=False)
    table = tmp_path / "results" / "tiny.csv"
    victim = load_results(table).run_id.iloc[1]
    path = predictions_path(table, victim)
    if damage == "delete":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DamagedTableError, match=f"run {victim} .*predictions file"):
        load_results(table)
    state = grid_status(grid)
    assert [row["run_id"] for row, _ in state.broken] == [victim]
    assert "predictions file" in capsys.readouterr().out
    [retrained] = run_grid(grid, threads=1, progress=False)
    assert retrained["run_id"] == victim and victim in (tmp_path / "results" / "tiny.csv.damaged").read_text()
    assert sorted(load_results(table).run_id) == sorted(c.run_id for c in load_grid(grid).runs)


def test_a_second_run_on_a_locked_table_is_refused_with_one_line(tmp_path):
    grid = write_grid(tmp_path, ONE)
    table = tmp_path / "results" / "tiny.csv"
    with table_lock(table):
        with pytest.raises(TableLockedError, match=r"tiny.csv is being written by pid \d+ \(lock .*tiny.csv.lock\)"):
            run_grid(grid, threads=1, progress=False)
        done = subprocess.run([sys.executable, "-m", "nbsupport.grid", "run", str(grid)], capture_output=True,
                              text=True, timeout=120)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "is being written by" in done.stderr and not table.exists()
    run_grid(grid, threads=1, progress=False)  # the lock went with its holder
    assert len(load_results(table)) == 1


def test_a_schema_1_table_loads_checks_in_the_band_and_is_replaced_by_run(tmp_path, capsys):
    grid = write_grid(tmp_path, ONE)
    config = load_grid(grid).runs[0]
    [record] = run_grid(grid, threads=1, progress=False)
    table = tmp_path / "results" / "tiny.csv"
    old = {**record, "run_id": config.legacy_run_id()}
    table.write_text(header_line(LEGACY_RECORD_COLUMNS) + format_row(old, LEGACY_RECORD_COLUMNS))
    df = load_results(table)
    assert df.attrs["store_schema"] == 1 and df.run_id.iloc[0] == config.legacy_run_id()
    assert df.test_acc.isna().all() and RunConfig.from_record(df.iloc[0]) == config
    state = grid_state(load_grid(grid))
    assert list(state.legacy) == [config.run_id] and not state.stale
    live, exact, ok = retrain_stored(df.iloc[0], data=load_grid(grid).data_for("normalized"), progress=False)
    assert not exact and ok  # no fingerprint: the band
    run_grid(grid, threads=1, progress=False)
    assert "written before schema 2" in capsys.readouterr().err
    assert load_results(table).attrs["store_schema"] == 2 and (tmp_path / "results" / "tiny.schema1.csv").exists()


def test_check_on_a_machine_with_another_fingerprint_takes_the_band_and_says_why(tmp_path):
    grid = write_grid(tmp_path, ONE)
    run_grid(grid, threads=1, progress=False)
    cmd = [sys.executable, "-m", "nbsupport.grid", "check", str(grid)]
    here = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert here.returncode == 0 and "rule: exact: the whole fingerprint matches" in here.stdout, here.stderr
    env = {**os.environ, FAKE_ENV_VAR: json.dumps({"cpu_model": "AMD EPYC 9R14 (cpu family 25, model 17)"})}
    foreign = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert foreign.returncode == 0, foreign.stdout + foreign.stderr
    assert "rule: band: cpu_model differs (stored" in foreign.stdout and "-> OK" in foreign.stdout


def test_a_table_with_the_header_before_adapted_lr_loads_and_grows_in_its_own_layout(tmp_path):
    grid = write_grid(tmp_path, FOUR)
    records = run_grid(grid, threads=1, progress=False, limit=2)
    table = tmp_path / "results" / "tiny.csv"
    older = record_columns(adapted=False)
    assert "adapted_lr" in record_columns() and "adapted_lr" not in older
    table.unlink()
    for r in records:
        append_row(table, r, older)
    run_grid(grid, threads=1, progress=False)  # the other two runs, appended in the table's own layout
    assert table.read_text().splitlines()[0] == header_line(older).strip()
    df = load_results(table)
    assert len(df) == 4 and df["adapted_lr"].isna().all() and df.attrs["store_schema"] == 2
