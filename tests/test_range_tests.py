"""Range tests as grid entries: configs, stored raw curves, replaying them, reading suggestions off them."""

import json
import math
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from helpers import synthetic_loaders, synthetic_mnist, tiny_model
from nbsupport import RunConfig, lr_range_test
from nbsupport.fingerprint import flush_to_zero
from nbsupport.runs import record_columns
from nbsupport.grid import append_row, check_grid, load_grid, load_results, read_rows, run_grid, table_kind
from nbsupport.lr_finder import exponential_lrs, linear_lrs
from nbsupport.range_tests import (RULES, RangeTestConfig, blow_up_lr, range_test_columns, replay, run_range_test,
                                   suggestion_rows, suggestions, trained_lr)

HELPERS = Path(__file__).parent
THREADS_AT_IMPORT = torch.get_num_threads()


def synthetic_data(n_train=128, n_valid=32):
    x, y = synthetic_mnist(n_train + n_valid)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


@pytest.mark.parametrize("kwargs, message", [
    (dict(tool="fastai"), "tool='fastai' is not allowed"),
    (dict(mode="cyclic"), "mode='cyclic' is not allowed"),
    (dict(scaling="raw"), "scaling='raw' is not allowed"),
    (dict(start_lr=0), "start_lr=0 is not allowed"),
    (dict(end_lr=float("inf")), "end_lr=inf is not allowed"),
    (dict(start_lr=1.0, end_lr=0.1), "must be larger than start_lr"),
    (dict(num_steps=2), "num_steps=2 is not allowed"),
    (dict(num_steps=10, eval_every=11), "would never evaluate"),
    (dict(seed=-1), "seed=-1 is not allowed"),
    (dict(tool="torch_lr_finder", mode="linear"), "exponential mode without evaluation only"),
    (dict(tool="torch_lr_finder", eval_every=10), "exponential mode without evaluation only"),
])
def test_bad_configs_are_refused_with_what_would_be_right(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RangeTestConfig(**kwargs)


def test_config_round_trips_through_a_row_and_has_a_stable_id():
    config = RangeTestConfig(mode="linear", start_lr=1e-5, end_lr=0.05, num_steps=40, eval_every=20, seed=3)
    row = {k: str(v) for k, v in vars(config).items()}
    assert RangeTestConfig.from_record(row) == config
    assert RangeTestConfig.from_record(row).run_id == config.run_id
    assert config.run_id != RangeTestConfig().run_id
    # never the id of a training run with the same seed and scaling
    assert RangeTestConfig().run_id != RunConfig(seed=0).run_id
    assert config.lrs == linear_lrs(1e-5, 0.05, 40)
    assert RangeTestConfig(num_steps=50).lrs == exponential_lrs(1e-7, 10.0, 50)


def test_replay_gives_exactly_what_the_stopped_test_gave():
    def run(diverge_factor):
        torch.manual_seed(0)
        model = tiny_model()
        optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
        train, _ = synthetic_loaders(n_train=256)
        return lr_range_test(model, optim, F.cross_entropy, train, start_lr=1e-4, end_lr=1e3, num_steps=60,
                             diverge_factor=diverge_factor, device="cpu", progress=False)

    full, stopped = run(None), run(4.0)
    assert stopped.diverged and len(stopped.losses) < len(full.losses)
    lrs, smoothed, diverged = replay(full.lrs, full.losses, smooth=0.05, diverge_factor=4.0)
    assert diverged and lrs == stopped.lrs and smoothed == stopped.smoothed  # to the last bit
    assert blow_up_lr(full.lrs, full.losses) == stopped.lrs[-1]
    # and with the test's own smoothing, nothing stops the replay of the unstopped run before it stopped itself
    assert replay(full.lrs, full.losses, diverge_factor=None)[1] == full.smoothed


def test_replay_stops_at_a_non_finite_loss_and_refuses_bad_smoothing():
    lrs = [1e-3, 1e-2, 1e-1, 1.0]
    kept, smoothed, diverged = replay(lrs, [2.0, 1.9, math.nan, 1.0], diverge_factor=None)
    assert diverged and kept == lrs[:3] and math.isnan(smoothed[-1])
    # by hand: avg_k = 0.95 avg_(k-1) + 0.05 loss_k, over 1 - 0.95^(k+1)
    assert replay(lrs, [2.0, 1.9, 1.8, 1.7]) == (lrs, pytest.approx([2.0, 1.94872, 1.89658, 1.84359], abs=1e-5),
                                                  False)
    with pytest.raises(ValueError, match="smooth"):
        replay(lrs, [1.0] * 4, smooth=0)


@pytest.mark.parametrize("tool", ["nbsupport", "torch_lr_finder"])
def test_run_range_test_stores_the_curve_and_where_it_ran(tool):
    config = RangeTestConfig(tool=tool, start_lr=1e-4, end_lr=1e3, num_steps=30, scaling="normalized")
    torch.set_num_threads(1)
    record = run_range_test(config, synthetic_data(), progress=False)
    assert tuple(record) == range_test_columns()
    losses = json.loads(record["losses"])
    assert record["steps_run"] == len(losses) and 3 <= len(losses) <= 30
    assert record["run_id"] == config.run_id and record["threads"] == 1
    again = run_range_test(config, synthetic_data(), progress=False)
    assert again["losses"] == record["losses"]  # seeded: the same curve on the same machine
    if tool == "nbsupport":
        # the raw loss of the first step is the untrained model's on the first batch, about ln 10
        assert abs(losses[0] - math.log(10)) < 0.5
        # stored with diverge_factor=None: it runs all 30 steps, although the loss rises far above 4x its best
        # (where lr_range_test's default would have stopped), and every loss up to lr 1e3 is finite
        assert len(losses) == 30 and all(math.isfinite(v) for v in losses)
        assert max(losses) > 1e3 * min(losses)
    else:
        assert len(losses) < 30  # torch-lr-finder stops at 5x its best smoothed loss


def test_linear_test_with_evaluations_gives_smiths_accuracy_peak():
    config = RangeTestConfig(mode="linear", start_lr=1e-4, end_lr=0.03, num_steps=24, eval_every=8)
    record = run_range_test(config, synthetic_data(), progress=False)
    valid = json.loads(record["valid"])
    assert [v["step"] for v in valid] == [8, 16, 24]
    assert [v["lr"] for v in valid] == [config.lrs[7], config.lrs[15], config.lrs[23]]
    best = max(valid, key=lambda v: v["accuracy"])
    assert suggestions(record)["accuracy peak"] == best["lr"]


def fake_row(losses, tool="nbsupport", valid=(), **settings):
    config = RangeTestConfig(tool=tool, num_steps=len(losses) if tool == "nbsupport" else 100, **settings)
    return {"run_id": config.run_id, **vars(config), "losses": json.dumps(losses), "valid": json.dumps(list(valid))}


def test_suggestions_on_a_curve_with_known_answers():
    # 40 steps from 1e-4 to 1e2 (a factor 10**0.1538 per step): flat, a fall to a minimum at step 25, blow-up
    losses = [2.3] * 10 + [2.3 - 0.13 * i for i in range(1, 16)] + [0.35 + 0.5 * i for i in range(1, 15)] + [math.nan]
    row = fake_row(losses, start_lr=1e-4, end_lr=100.0)
    lrs = exponential_lrs(1e-4, 100.0, 40)
    got = suggestions(row)
    kept, smoothed, diverged = replay(lrs, losses)
    assert diverged
    assert got["blow-up/10"] == pytest.approx(kept[-1] / 10) and got["blow-up/2"] == pytest.approx(kept[-1] / 2)
    # the smoothed minimum lags the raw one (step 24) by the moving average, but lies on the falling side's end
    i_min = min(range(len(kept) - 1), key=smoothed.__getitem__)
    assert got["minimum/10"] == pytest.approx(lrs[i_min] / 10) and 24 <= i_min <= 30
    assert lrs[10] <= got["steepest"] <= lrs[i_min]
    assert set(got) - set(RULES) == set()
    assert {"fastai minimum", "fastai steep", "fastai valley", "fastai slide", "Lightning <2.5.3",
            "Lightning >=2.5.3"} <= set(got)
    assert "accuracy peak" not in got  # no evaluations


def test_torch_lr_finder_rule_is_its_steepest_gradient_against_the_index_after_trimming():
    # its stored curve is already smoothed; skip 10 at the start and 5 at the end, then the steepest np.gradient
    losses = [2.0] * 12 + [2.0, 1.9, 1.3, 1.25, 1.2] + [1.2] * 10
    row = fake_row(losses, tool="torch_lr_finder")
    lrs = exponential_lrs(1e-7, 10.0, 100)
    # np.gradient at index 13 is (1.3 - 2.0) / 2 = -0.35, at 14 (1.25 - 1.9) / 2 = -0.325: lrs[13]
    assert suggestions(row) == {"torch-lr-finder": pytest.approx(lrs[13])}
    # it needs skip_start + skip_end + 2 = 17 points; on a flat curve the first kept point wins the tie
    assert suggestions(fake_row([2.0] * 17, tool="torch_lr_finder")) == {"torch-lr-finder": lrs[10]}
    assert suggestions(fake_row([2.0] * 16, tool="torch_lr_finder")) == {}


def test_suggestion_rows_and_trained_lr():
    assert trained_lr(0.0012345678) == 0.00123 and trained_lr(0.01) == 0.01
    import pandas as pd

    losses = [2.3] * 10 + [2.3 - 0.13 * i for i in range(1, 16)] + [0.35 + 0.5 * i for i in range(1, 15)]
    df = pd.DataFrame([fake_row(losses, start_lr=1e-4, end_lr=100.0, seed=s) for s in (0, 1)])
    rows = suggestion_rows(df)
    assert set(rows["seed"]) == {0, 1} and (rows["max_lr"] == rows["lr"].map(trained_lr)).all()
    assert set(rows["family"]) <= {"nbsupport", "fastai", "Lightning"}


def write_range_grid(folder, n_train=96):
    path = Path(folder) / "tiny_tests.py"
    path.write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(HELPERS)!r})
        from helpers import synthetic_mnist
        from nbsupport.range_tests import RangeTestConfig

        RUNS = [RangeTestConfig(start_lr=1e-4, end_lr=1e3, num_steps=20, seed=s) for s in (0, 1)]
        RUNS.append(RangeTestConfig(mode="linear", start_lr=1e-4, end_lr=0.05, num_steps=12, eval_every=6))

        def load_data(scaling):
            x, y = synthetic_mnist({n_train} + 32)
            return (x[:{n_train}], y[:{n_train}]), (x[{n_train}:], y[{n_train}:])
        """))
    return path


def test_a_grid_of_range_tests_runs_resumes_loads_and_checks(tmp_path, capsys):
    path = write_range_grid(tmp_path)
    grid = load_grid(str(path))
    assert grid.kind.ENTRY == "range_test" and len(grid.runs) == 3
    done = run_grid(str(path), limit=2, progress=False)
    assert len(done) == 2
    assert len(run_grid(str(path), progress=False)) == 1  # resumes with what is missing
    assert run_grid(str(path), progress=False) == []
    table = tmp_path / "results" / "tiny_tests.csv"
    assert table_kind(table).ENTRY == "range_test"
    df = load_results(table)
    assert len(df) == 3 and df["num_steps"].dtype.kind == "i" and df["start_lr"].dtype.kind == "f"
    results = check_grid(str(path), n=1)
    assert results[0]["exact"] and results[0]["ok"]
    assert "rule: exact: the whole fingerprint matches" in capsys.readouterr().out


def test_a_grid_mixing_runs_and_range_tests_is_refused(tmp_path):
    path = tmp_path / "mixed.py"
    path.write_text("from nbsupport import RunConfig\nfrom nbsupport.range_tests import RangeTestConfig\n"
                    "RUNS = [RangeTestConfig(), RunConfig()]\n")
    with pytest.raises(TypeError, match="not both"):
        load_grid(str(path))


def test_a_range_test_table_is_not_read_as_a_training_table(tmp_path):
    table = tmp_path / "results" / "t.csv"
    config = RangeTestConfig()
    record = {c: "" for c in range_test_columns()}
    record.update({"run_id": config.run_id, **vars(config), "losses": "[2.3]", "valid": "[]"})
    append_row(table, record, range_test_columns())
    rows, damaged = read_rows(table, range_test_columns())
    assert damaged is None and RangeTestConfig.from_record(rows[0]) == config
    from nbsupport.grid import DamagedTableError

    with pytest.raises(DamagedTableError, match="header does not match"):
        read_rows(table, record_columns())  # read as a table of training runs


def test_retrain_stored_remakes_a_run_and_a_range_test_with_the_rows_threads(tmp_path):
    import torch

    from nbsupport.grid import retrain_stored
    from nbsupport.runs import train_run

    data = synthetic_data()
    before = torch.get_num_threads()
    test = RangeTestConfig(start_lr=1e-4, end_lr=1e3, num_steps=20)
    torch.set_num_threads(1)
    with flush_to_zero(True):  # as the grid command stores them
        row = run_range_test(test, data, progress=False)
        run = RunConfig(schedule="constant", lr=1e-3, epochs=1, scaling="normalized")
        run_row = train_run(run, data, progress=False)
    torch.set_num_threads(before)
    for stored in (row, run_row):
        record, exact, ok = retrain_stored(stored, data=data, progress=False)
        assert exact and ok and record["threads"] == 1  # the row's thread count
        assert record["run_id"] == stored["run_id"]
    assert torch.get_num_threads() == before  # restored
    tampered = dict(row, losses=json.dumps([9.0] * 20))
    assert retrain_stored(tampered, data=data, progress=False)[1:] == (True, False)


def test_the_thread_count_a_test_pinned_is_restored_for_the_next():
    # test_run_range_test_stores_the_curve_and_where_it_ran pins torch to 1 thread; tests/conftest.py restores it
    assert torch.get_num_threads() == THREADS_AT_IMPORT


# -- the match rule for a re-run range test ----------------------------------------------------------------------

#: 40 steps from 1e-4, a factor 10**0.1 = 1.26 per step: 3 steps are a factor 1.995, 4 steps 2.51.
BAND_TEST = dict(start_lr=1e-4, end_lr=1e-4 * 10 ** 3.9, num_steps=40)


def _v_curve(shift=0):
    """2.3 for 10 steps, 0.3 up to step 20 + shift, then 5.0: the smoothed loss falls while the raw one is 0.3
    and rises from the next step on, so its lowest point is step 20 + shift."""
    return [2.3 if i < 10 else 0.3 if i <= 20 + shift else 5.0 for i in range(BAND_TEST["num_steps"])]


def _stored_and_rerun(stored_losses, rerun_losses, **fingerprint_changes):
    from nbsupport.fingerprint import fingerprint

    here = fingerprint()
    settings = dict(start_lr=BAND_TEST["start_lr"], end_lr=BAND_TEST["end_lr"])
    row = {k: str(v) for k, v in fake_row(stored_losses, **settings).items()}
    row.update({k: str(v) for k, v in {**here, **fingerprint_changes}.items()})  # as read from the CSV
    record = {**fake_row(rerun_losses, **settings), **here}
    return record, row


def test_off_the_rows_float_path_the_lowest_smoothed_loss_must_agree_within_a_factor_of_2():
    from nbsupport.grid import match_range_test

    lrs = RangeTestConfig(**BAND_TEST).lrs
    lowest = {}
    for shift in (0, 3, 4):
        kept, smoothed, diverged = replay(lrs, _v_curve(shift))
        usable = smoothed[:-1] if diverged else smoothed
        lowest[shift] = min(range(len(usable)), key=usable.__getitem__)
    assert lowest == {0: 20, 3: 23, 4: 24}
    assert lrs[lowest[3]] / lrs[lowest[0]] == pytest.approx(1.995, abs=1e-3)
    assert lrs[lowest[4]] / lrs[lowest[0]] == pytest.approx(2.512, abs=1e-3)
    other_cpu = {"cpu_model": "Other CPU (family 25, model 17, stepping 1)"}
    for shift, ok in ((0, True), (3, True), (4, False)):  # just inside and just outside the factor of 2
        record, row = _stored_and_rerun(_v_curve(0), _v_curve(shift), **other_cpu)
        assert match_range_test(record, row) == (False, ok), shift
        record, row = _stored_and_rerun(_v_curve(shift), _v_curve(0), **other_cpu)  # either way round
        assert match_range_test(record, row) == (False, ok), shift


def test_a_range_test_rerun_with_another_thread_count_is_compared_within_the_band():
    from nbsupport.grid import match_range_test

    record, row = _stored_and_rerun(_v_curve(0), _v_curve(0))
    assert match_range_test(record, row) == (True, True)
    record["losses"] = json.dumps(_v_curve(0)[:-1] + [9.0])
    assert match_range_test(record, row) == (True, False)  # on the same path one changed loss is a mismatch
    threads = int(row["threads"])
    for field, value in (("threads", str(threads + 1)), ("flush_to_zero", str(row["flush_to_zero"] != "True")),
                         ("torch_version", "0.0.1")):
        record, row = _stored_and_rerun(_v_curve(0), _v_curve(1), **{field: value})
        assert match_range_test(record, row) == (False, True), field


# -- a table that stores a run twice -----------------------------------------------------------------------------


def test_a_table_that_stores_an_entry_twice_is_refused(tmp_path, capsys):
    from nbsupport.grid import DamagedTableError, grid_state, grid_status

    path = write_range_grid(tmp_path)
    grid = load_grid(str(path))
    table = tmp_path / "results" / "tiny_tests.csv"
    config = grid.runs[0]
    record = {c: "" for c in range_test_columns()}
    record.update({"run_id": config.run_id, **vars(config), "losses": "[2.3]", "valid": "[]", "seconds": 1.0})
    append_row(table, record, range_test_columns())
    assert list(grid_state(grid).stored) == [config.run_id]
    append_row(table, dict(record, seconds=2.0), range_test_columns())  # e.g. two hand-merged tables
    with pytest.raises(DamagedTableError, match=f"run {config.run_id} is stored twice"):
        grid_state(grid)
    with pytest.raises(DamagedTableError, match="is stored twice"):
        grid_status(str(path))
    with pytest.raises(DamagedTableError, match="is stored twice"):
        run_grid(str(path), progress=False)
    assert table.read_text().count("\n") == 3  # nothing trained, nothing appended
