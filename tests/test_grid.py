"""The grid command: whole-row writes, damaged rows, resuming after a kill, workers, checking stored runs."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nbsupport import RunConfig
from nbsupport.grid import (DamagedTableError, append_row, check_grid, format_row, grid_state, grid_status, load_grid,
                            load_results, read_rows, run_grid)
from nbsupport.runs import PROVENANCE_COLUMNS, record_columns

COLS = record_columns()

HELPERS = Path(__file__).parent


def write_grid(folder, runs_code, n_train=128, name="tiny"):
    path = Path(folder) / f"{name}.py"
    path.write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(HELPERS)!r})
        from helpers import synthetic_mnist
        from nbsupport import RunConfig

        RUNS = {runs_code}

        def load_data(scaling):
            x, y = synthetic_mnist({n_train} + 48)
            return (x[:{n_train}], y[:{n_train}]), (x[{n_train}:{n_train} + 32], y[{n_train}:{n_train} + 32]), \
                (x[{n_train} + 32:], y[{n_train} + 32:])
        """))
    return path


FOUR = ('[RunConfig(schedule=s, lr=lr, epochs=1, scaling="normalized") '
        'for s in ("constant", "one_cycle") for lr in (1e-3, 3e-3)]')


def fake_record(config, **extra):
    record = {c: "" for c in record_columns()}
    record.update({"run_id": config.run_id, **vars(config), "seconds": 1.0, "threads": 1, "hardware": "cpu:X",
                   "train_loss": 0.5, "val_acc": 0.9, "val_acc_epochs": "[0.9]"})
    record.update(extra)
    return record


def test_rows_are_appended_whole_and_read_back(tmp_path):
    table = tmp_path / "results" / "t.csv"
    configs = [RunConfig(lr=lr, epochs=1) for lr in (1e-3, 1e-2)]
    for c in configs:
        append_row(table, fake_record(c), COLS)
    rows, damaged = read_rows(table, COLS)
    assert damaged is None and [r["run_id"] for r in rows] == [c.run_id for c in configs]
    assert rows[0]["val_acc"] == "0.9" and RunConfig.from_record(rows[1]) == configs[1]
    assert table.read_text().count("\n") == 3  # header and two rows, nothing else


def test_a_row_cut_short_is_detected_and_reported_never_dropped(tmp_path, capsys):
    grid = write_grid(tmp_path, FOUR)
    run_grid(grid, limit=2, progress=False)
    table = tmp_path / "results" / "tiny.csv"
    full = table.read_bytes()
    last = full.rstrip(b"\n").rsplit(b"\n", 1)[1]
    table.write_bytes(full[:-len(last) // 2])  # the command was killed while writing the second row
    rows, damaged = read_rows(table, COLS)
    assert len(rows) == 1 and damaged is not None and damaged[0] == 3
    with pytest.raises(DamagedTableError, match="line 3: the last row was not written whole"):
        load_results(table)
    # Re-running reports the damaged row, moves it aside and trains that run again.
    run_grid(grid, progress=False)
    err = capsys.readouterr().err
    assert "line 3: the last row was not written whole" in err and "tiny.csv.damaged" in err
    assert (tmp_path / "results" / "tiny.csv.damaged").read_bytes().startswith(last[:len(last) // 4])
    df = load_results(table)
    assert sorted(df["run_id"]) == sorted(c.run_id for c in load_grid(grid).runs)


def test_a_hand_edited_row_or_a_foreign_header_is_an_error_naming_the_row(tmp_path):
    table = tmp_path / "t.csv"
    configs = [RunConfig(lr=lr) for lr in (1e-3, 1e-2, 3e-2)]
    for c in configs:
        append_row(table, fake_record(c), COLS)
    lines = table.read_text().splitlines(keepends=True)
    for number in (2, 3):  # a middle row and the last row, each complete (with its newline)
        edited = list(lines)
        edited[number] = edited[number].replace("0.9", "0.95", 1)
        table.write_text("".join(edited))
        with pytest.raises(DamagedTableError, match=f"line {number + 1} \\(run {configs[number - 1].run_id}\\): "
                                                    "the row is complete but its checksum does not match"):
            read_rows(table, COLS)
    table.write_text("".join(lines))
    table.write_text("run_id,lr\n" + "".join(lines[1:]))
    with pytest.raises(DamagedTableError, match="header does not match"):
        read_rows(table, COLS)


def test_stale_rows_are_reported(tmp_path, capsys):
    grid = write_grid(tmp_path, FOUR)
    append_row(tmp_path / "results" / "tiny.csv", fake_record(RunConfig(lr=0.5, epochs=1)), COLS)
    state = grid_status(grid)
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert len(state.stale) == 1 and len(state.missing) == 4
    assert "is no longer in the grid tiny" in out and "1 stale" in out


def test_killed_mid_grid_then_resumed_every_run_is_stored_exactly_once(tmp_path):
    runs = ('[RunConfig(schedule="one_cycle", lr=lr, epochs=3, seed=s, scaling="normalized") '
            'for lr in (1e-3, 3e-3) for s in range(5)]')
    grid = write_grid(tmp_path, runs, n_train=256)
    table = tmp_path / "results" / "tiny.csv"
    env = {**os.environ, "NBSUPPORT_PROGRESS": "0"}
    cmd = [sys.executable, "-m", "nbsupport.grid", "run", str(grid), "--threads", "1"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and (not table.exists() or table.read_text().count("\n") < 3):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rows, damaged = read_rows(table, COLS)
    assert 2 <= len(rows) < 10, "the kill should land mid-grid"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{len(rows)} stored" in done.stdout
    df = load_results(table)
    expected = sorted(c.run_id for c in load_grid(grid).runs)
    assert sorted(df["run_id"]) == expected and df["run_id"].is_unique


def test_one_or_two_workers_give_identical_rows(tmp_path):
    rows = {}
    for workers in (1, 2):
        folder = tmp_path / f"w{workers}"
        folder.mkdir()
        grid = write_grid(folder, FOUR)
        run_grid(grid, workers=workers, threads=1, progress=False)
        df = load_results(folder / "results" / "tiny.csv")
        assert set(df["threads"]) == {1}
        rows[workers] = (df.drop(columns=list(PROVENANCE_COLUMNS) + ["grid"])  # grid: the folder it was loaded from
                         .sort_values("run_id").reset_index(drop=True))
    assert rows[1].equals(rows[2])


def test_check_reproduces_a_stored_run_exactly_here_and_within_the_band_elsewhere(tmp_path, capsys):
    grid = write_grid(tmp_path, FOUR)
    run_grid(grid, limit=1, threads=1, progress=False)
    [result] = check_grid(grid, n=1)
    assert result["exact"] and result["ok"] and result["fresh"] == result["stored"]
    assert "rule: exact: the whole fingerprint matches" in capsys.readouterr().out
    # The same row as if stored on another CPU type: compared within the band instead.
    table = tmp_path / "results" / "tiny.csv"
    rows, _ = read_rows(table, COLS)
    for field, value in (("cpu_model", "Other CPU (family 25, model 17, stepping 1)"), ("threads", "2"),
                         ("mkl_version", "2023.1"), ("flush_to_zero", "False")):
        row = dict(rows[0], **{field: value})
        table.write_text(table.read_text().splitlines(keepends=True)[0] + format_row(row, COLS))
        [result] = check_grid(grid, n=1, threads=1)
        assert not result["exact"] and result["ok"], field
        assert f"band: {field} differs" in result["rule"]
    row = dict(rows[0], cpu_model="Other CPU", val_acc="0.5")
    table.write_text(table.read_text().splitlines(keepends=True)[0] + format_row(row, COLS))
    [result] = check_grid(grid, n=1)
    assert not result["ok"]


def test_bad_grid_names_and_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no grid named 'nope'.*known grids"):
        load_grid("nope")
    (tmp_path / "empty.py").write_text("X = 1\n")
    with pytest.raises(ValueError, match="defines neither RUNS"):
        load_grid(tmp_path / "empty.py")
    grid = write_grid(tmp_path, FOUR)
    with pytest.raises(ValueError, match="workers=0"):
        run_grid(grid, workers=0)
    with pytest.raises(ValueError, match="no stored run to check"):
        check_grid(grid)
    assert grid_state(load_grid(grid)).missing


def test_epoch_table_spreads_per_epoch_lists_into_rows(tmp_path):
    from nbsupport.grid import epoch_table

    grid = write_grid(tmp_path, '[RunConfig(schedule="one_cycle", lr=1e-3, epochs=3, scaling="normalized")]')
    run_grid(grid, progress=False)
    df = load_results(tmp_path / "results" / "tiny.csv")
    long = epoch_table(df)
    assert list(long["epoch"]) == [1, 2, 3] and set(long["run_id"]) == set(df["run_id"])
    assert long["val_acc"].iloc[-1] == df["val_acc"].iloc[0]
    assert long["train_loss"].iloc[-1] == df["train_loss"].iloc[0]


def test_match_stored_is_exact_only_when_the_whole_fingerprint_matches():
    from nbsupport.fingerprint import FINGERPRINT_COLUMNS, fingerprint
    from nbsupport.grid import CHECK_BAND, match_stored

    here = fingerprint()
    metrics = {"train_loss": 0.25, "train_acc": 0.9, "val_loss": 0.1, "val_acc": 0.98, "val_acc_epochs": "[0.98]"}
    row = {k: str(v) for k, v in {**here, **metrics}.items()}  # as read from the CSV
    same = {**here, **metrics}
    assert match_stored(same, row) == (True, True)
    assert match_stored({**same, "val_acc": 0.9801}, row) == (True, False)
    assert match_stored({**same, "val_acc_epochs": "[0.9801]"}, row) == (True, False)
    for field in FINGERPRINT_COLUMNS:  # any one field that differs takes the band path
        other = {**same, field: f"other {here[field]}", "val_acc": 0.98 + CHECK_BAND["val_acc"] / 2}
        assert match_stored(other, row) == (False, True), field
        assert match_stored({**other, "val_acc": 0.98 + 2 * CHECK_BAND["val_acc"]}, row) == (False, False)
    legacy = {**{c: "" for c in FINGERPRINT_COLUMNS}, "hardware": "cpu:AVX512", **row}
    legacy.update(dict.fromkeys(("cpu_model", "mkl_version"), ""))
    assert match_stored(same, legacy) == (False, True)


def test_a_gpu_row_is_exact_only_with_deterministic_algorithms():
    from nbsupport.fingerprint import fingerprint, match_rule

    gpu = {**fingerprint(), "device": "cuda", "hardware": "cuda:NVIDIA H200", "deterministic": False}
    row = {k: str(v) for k, v in gpu.items()}
    assert match_rule(gpu, row) == (False, "band: a GPU run without deterministic algorithms does not repeat "
                                           "bit for bit")
    det = {**gpu, "deterministic": True}
    assert match_rule(det, {k: str(v) for k, v in det.items()})[0]
