"""RunConfig validation, train_run's record, and a run's independence from whatever ran before it."""

import dataclasses
import json
import math

import pytest
import schedulefree
import torch
import torch.nn.functional as F

from nbsupport import RunConfig, ScheduleFreeCallback, Trainer, lr_range_test, mnist_model, schedule_trace, train_run
from nbsupport.data import TensorLoader
from nbsupport.fingerprint import flush_to_zero
from nbsupport.runs import SCHEDULES, record_columns
from helpers import synthetic_loaders, synthetic_mnist


def tiny_data(n_train=128, n_valid=32, seed=0):
    x, y = synthetic_mnist(n_train + n_valid, seed)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


@pytest.mark.parametrize("field, value, allowed", [
    ("schedule", "linear", "use one of"),
    ("optimizer", "adam", "use one of"),
    ("lr", 0, "must be a finite number > 0"),
    ("lr", -1e-3, "must be a finite number > 0"),
    ("lr", float("nan"), "must be a finite number > 0"),
    ("lr", float("inf"), "must be a finite number > 0"),
    ("momentum", False, "'cycled' or a number in \\[0, 1\\)"),
    ("dataset", "cifar10", "use one of \\('mnist', 'fashion_mnist'\\)"),
    ("momentum", 1.0, "'cycled' or a number in \\[0, 1\\)"),
    ("momentum", -0.1, "'cycled' or a number in \\[0, 1\\)"),
    ("momentum", "fast", "'cycled' or a number in \\[0, 1\\)"),
    ("epochs", 0, "int >= 1"),
    ("epochs", 1.5, "int >= 1"),
    ("scaling", "standard", "use one of \\('page', 'normalized'\\)"),
    ("activation", "swish", "use one of"),
    ("init", "xavier", "use one of"),
    ("seed", -1, "int >= 0"),
    ("batch_size", 0, "int >= 1"),
    ("weight_decay", -0.1, "number >= 0"),
    ("weight_decay", float("nan"), "finite number >= 0"),
    ("weight_decay", float("inf"), "finite number >= 0"),
])
def test_bad_config_is_refused_naming_field_value_and_what_is_allowed(field, value, allowed):
    with pytest.raises(ValueError, match=f"{field}={value!r}".replace("(", "\\(").replace(")", "\\)")
                       .replace("[", "\\[").replace(".", "\\.") + f".*{allowed}"):
        RunConfig(**{field: value})


def test_combinations_that_make_no_sense_are_refused():
    with pytest.raises(ValueError, match="only for one-cycle"):
        RunConfig(schedule="cosine", momentum="cycled")
    with pytest.raises(ValueError, match="optimizer must be 'adamw'"):
        RunConfig(schedule="schedule_free", optimizer="sgd")
    with pytest.raises(ValueError, match="activation must be 'selu'"):
        RunConfig(init="lecun", activation="relu")


def test_defaults_resolve_to_explicit_values_and_round_trip_through_a_row():
    one_cycle, cosine, sgd = RunConfig(), RunConfig(schedule="cosine"), RunConfig(optimizer="sgd", momentum=0.9)
    assert (one_cycle.momentum, one_cycle.weight_decay) == ("cycled", 0.01)
    assert (cosine.momentum, sgd.weight_decay) == (0.9, 0.0)
    assert RunConfig(momentum=None) == RunConfig(momentum="cycled")
    row = {k: str(v) for k, v in vars(sgd).items()}
    assert RunConfig.from_record(row) == sgd and RunConfig.from_record(row).run_id == sgd.run_id
    assert RunConfig(lr=0.01).run_id != RunConfig(lr=0.003).run_id
    # Stored tables key their rows on this id: it must not change between sessions or versions.
    assert RunConfig(lr=0.01).run_id == "d79965946d3d"
    assert RunConfig(schedule="wsd", lr=0.003, epochs=1, scaling="normalized").run_id == "76ce35b77a8d"


def test_a_field_added_with_a_default_leaves_every_existing_run_id_unchanged():
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Extended(RunConfig):
        ID_DEFAULTS = {**RunConfig.ID_DEFAULTS, "label_smoothing": 0.0}
        label_smoothing: float = 0.0

    for config in (RunConfig(), RunConfig(schedule="cosine", lr=1e-3, seed=3), RunConfig(dataset="mnist")):
        assert Extended(**vars(config)).run_id == config.run_id
    assert Extended(label_smoothing=0.1).run_id != RunConfig().run_id  # a value other than the default counts


def test_a_changed_schedule_constant_changes_only_that_schedules_run_ids(monkeypatch):
    from nbsupport.schedules import SCHEDULES as REGISTRY

    before = {name: RunConfig(schedule=name, lr=0.01).run_id for name in SCHEDULES}
    monkeypatch.setitem(REGISTRY["wsd"].constants, "cooldown_frac", 0.3)
    after = {name: RunConfig(schedule=name, lr=0.01).run_id for name in SCHEDULES}
    assert [n for n in SCHEDULES if before[n] != after[n]] == ["wsd"]
    monkeypatch.setitem(REGISTRY["wsd"].constants, "cooldown_frac", 0.2)
    monkeypatch.setitem(REGISTRY["warmup_cosine"].constants, "warmup_frac", 0.05)
    changed = [n for n in SCHEDULES if before[n] != RunConfig(schedule=n, lr=0.01).run_id]
    assert changed == ["warmup_cosine"]


@pytest.mark.parametrize("schedule, steps, message", [
    ("warmup_cosine", 1, "warmup_cosine.*over 1 steps.*at least 3 steps"),
    ("warmup_linear", 2, "warmup_linear.*over 2 steps.*at least 3 steps"),
    ("wsd", 4, "wsd.*over 4 steps.*never lowers the lr.*at least 8 steps"),
    ("step", 3, "step.*over 3 steps.*milestones.*at least 4 steps"),
    ("cosine", 1, "cosine.*at least 2 steps"),
    ("one_cycle", 3, "one_cycle.*at least 4 steps"),
    ("one_cycle_3phase", 5, "one_cycle_3phase.*at least 6 steps"),
    ("schedule_free", 1, "schedule_free.*at least 2 steps"),
])
def test_a_schedule_too_short_for_its_phases_is_refused_before_training(schedule, steps, message):
    from nbsupport.schedules import build_scheduler

    optim = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(ValueError, match=message):
        build_scheduler(RunConfig(schedule=schedule, lr=0.01), optim, steps)
    x, y = synthetic_mnist(steps * 4 + 8)  # a whole run refuses it too, with nothing trained
    data = (x[:steps * 4], y[:steps * 4]), (x[-8:], y[-8:])
    with pytest.raises(ValueError, match=message):
        train_run(RunConfig(schedule=schedule, lr=0.01, epochs=1, batch_size=4), data, progress=False)


def test_each_schedule_builds_at_its_least_step_count():
    from nbsupport.schedules import build_scheduler

    least = {"warmup_cosine": 3, "warmup_linear": 3, "wsd": 8, "step": 4, "cosine": 2, "one_cycle": 4,
             "one_cycle_3phase": 6, "schedule_free": 2, "constant": 1}
    for name, steps in least.items():
        optim = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))])
        build_scheduler(RunConfig(schedule=name, lr=0.01), optim, steps)
    lr, _ = schedule_trace(RunConfig(schedule="wsd", lr=0.01), 8)
    assert lr[-1] < lr[0] * 25  # the cooldown lowers the lr within the run
    assert lr[-1] < 0.01


def test_schedules_have_the_documented_shapes():
    T = 200
    for name in SCHEDULES:
        lr, momentum = schedule_trace(RunConfig(schedule=name, lr=0.01, epochs=1), T)
        assert len(lr) == len(momentum) == T
        assert max(lr) == pytest.approx(0.01), name
    lr, _ = schedule_trace(RunConfig(schedule="constant", lr=0.01), T)
    assert set(lr) == {0.01}
    lr, _ = schedule_trace(RunConfig(schedule="step", lr=0.01), T)
    assert lr[99] == pytest.approx(0.01) and lr[100] == pytest.approx(1e-3) and lr[150] == pytest.approx(1e-4)
    lr, _ = schedule_trace(RunConfig(schedule="cosine", lr=0.01), T)
    assert lr[0] == 0.01 and lr[100] == pytest.approx(0.005, rel=0.02) and lr[-1] < 1e-5
    for name in ("warmup_cosine", "warmup_linear", "wsd"):
        lr, _ = schedule_trace(RunConfig(schedule=name, lr=0.01), T)
        assert lr[0] == pytest.approx(0.01 / 25) and lr[20] == pytest.approx(0.01), name  # 10% warm-up
    lr, _ = schedule_trace(RunConfig(schedule="wsd", lr=0.01), T)
    assert lr[159] == pytest.approx(0.01) and lr[180] == pytest.approx(0.005) and lr[-1] < 0.001  # 20% cooldown
    lr, beta1 = schedule_trace(RunConfig(schedule="one_cycle", lr=0.01), T)
    peak = lr.index(max(lr))
    assert lr[0] == pytest.approx(4e-4) and peak == 59 and beta1[peak] == pytest.approx(0.85) and beta1[0] == 0.95
    lr, _ = schedule_trace(RunConfig(schedule="one_cycle_3phase", lr=0.01), T)
    assert lr.index(max(lr)) == 59 and lr[119] == pytest.approx(4e-4, rel=0.05)  # back at the start by 60%
    lr, beta1 = schedule_trace(RunConfig(schedule="one_cycle", lr=0.01, momentum=0.9), T)
    assert set(beta1) == {0.9}
    # schedule_free: see test_schedule_free_warms_up_over_a_tenth_of_the_steps_in_the_optimizer_itself


def test_train_run_returns_a_flat_record_with_every_column():
    config = RunConfig(schedule="one_cycle", lr=0.01, epochs=2, scaling="normalized")
    record = train_run(config, tiny_data(), progress=False)
    assert tuple(record) == record_columns() + ("predictions",) and record["predictions"] is None
    assert record["run_id"] == config.run_id and record["schedule"] == "one_cycle"
    val_acc = json.loads(record["val_acc_epochs"])
    assert len(val_acc) == 2 and record["val_acc"] == val_acc[-1] and 0 <= record["val_acc"] <= 1
    assert record["steps_per_epoch"] == 4 and 1 <= record["peak_step"] <= 8 and record["nan_step"] is None
    assert record["threads"] == torch.get_num_threads() and record["hardware"].startswith("cpu:")
    assert record["torch_version"] == torch.__version__ and record["seconds"] > 0


def test_a_diverging_run_is_a_result_with_its_nan_step():
    config = RunConfig(schedule="constant", lr=1e6, optimizer="sgd", momentum=0.9, epochs=2, scaling="normalized")
    record = train_run(config, tiny_data(), progress=False)
    # lr 1e6 blows the loss up from step to step: the highest (averaged) loss is the last finite one, the step
    # before the first non-finite loss
    assert record["nan_step"] is not None and record["peak_step"] == record["nan_step"] - 1 >= 1
    assert record["train_loss_epochs"] == "[]"  # it stopped within the first epoch of 4 steps
    assert math.isnan(record["val_acc"]) and math.isnan(record["final_loss_avg"])


def test_same_seed_same_run_whatever_ran_before():
    config = RunConfig(schedule="one_cycle", lr=0.01, epochs=2, seed=3, scaling="normalized")
    data = tiny_data()
    alone = train_run(config, data, progress=False)
    # An LR range test (which trains and shuffles), another run, and stray random draws first.
    train, _ = synthetic_loaders(seed=1)
    model = mnist_model()
    lr_range_test(model, torch.optim.AdamW(model.parameters()), F.cross_entropy, train, num_steps=10, progress=False)
    train_run(RunConfig(schedule="cosine", lr=0.003, epochs=1, seed=5, scaling="normalized"), data, progress=False)
    torch.rand(1000)
    after = train_run(config, data, progress=False)
    for key in ("train_loss_epochs", "train_acc_epochs", "val_loss_epochs", "val_acc_epochs", "peak_loss_avg"):
        assert after[key] == alone[key], key
    other_seed = train_run(RunConfig(schedule="one_cycle", lr=0.01, epochs=2, seed=4, scaling="normalized"), data,
                           progress=False)
    assert other_seed["train_loss_epochs"] != alone["train_loss_epochs"]


class RecordingOptimizer(torch.optim.SGD):
    """SGD that logs train()/eval() calls, standing in for a schedule-free optimizer."""

    def __init__(self, params):
        super().__init__(params, lr=0.01, momentum=0.9)
        self.calls = []

    def train(self):
        self.calls.append("train")

    def eval(self):
        self.calls.append("eval")


def test_schedule_free_callback_switches_modes_around_training_and_evaluation():
    train, valid = synthetic_loaders()
    model = mnist_model()
    optim = RecordingOptimizer(model.parameters())
    trainer = Trainer(model, optim, F.cross_entropy, callbacks=[ScheduleFreeCallback(optim)], progress=False,
                      verbose=False)
    trainer.run(2, train, valid)
    assert optim.calls == ["train", "eval", "train", "train", "eval", "train", "eval"]
    with pytest.raises(TypeError, match="train\\(\\) and eval\\(\\)"):
        ScheduleFreeCallback(torch.optim.AdamW(model.parameters()))


def test_schedule_free_run_trains_and_ends_at_the_averaged_weights():
    record = train_run(RunConfig(schedule="schedule_free", lr=0.003, epochs=2, scaling="normalized"), tiny_data(),
                       progress=False)
    assert record["nan_step"] is None and record["val_acc"] > 0.5  # chance is 0.1 on the synthetic task


def test_set_threads_returns_the_previous_count_so_it_can_be_restored():
    from nbsupport.runs import set_threads

    before = torch.get_num_threads()
    previous = set_threads(1)
    try:
        assert previous == before and torch.get_num_threads() == 1
        assert set_threads(None) == 1 and torch.get_num_threads() == 1
    finally:
        set_threads(previous)
    assert torch.get_num_threads() == before


# --- the step a run's loss became NaN at, and schedule-free AdamW's warm-up, read off what actually ran ---------


@pytest.mark.parametrize("batch", [0, 2, 3])
def test_nan_step_is_the_one_based_step_whose_batch_holds_a_nan_image(batch):
    (xt, yt), valid = tiny_data()
    config = RunConfig(schedule="constant", lr=1e-3, epochs=2, seed=1, scaling="normalized")
    # Which images train_run's loader (shuffled with the run's seed) puts in each batch of the first epoch.
    order = list(TensorLoader(torch.arange(len(xt)), yt, config.batch_size, shuffle=True, seed=config.seed))
    assert len(order) == 4
    xt = xt.clone()
    xt[int(order[batch][0][5])] = math.nan  # one image of that batch, seen nowhere earlier in the run
    record = train_run(config, ((xt, yt), valid), progress=False)
    assert record["nan_step"] == batch + 1  # 1-based: the step whose loss was NaN, not the last good one
    assert record["train_loss_epochs"] == "[]"
    if batch == 0:
        assert record["peak_step"] is None  # no step was logged
    else:
        assert 1 <= record["peak_step"] <= batch  # only the steps before it were logged
    assert math.isnan(record["train_loss"]) and math.isnan(record["val_acc"])


class RecordingScheduleFree(schedulefree.AdamWScheduleFree):
    """AdamWScheduleFree that keeps every instance and the lr it applied at each step (its own ``scheduled_lr``)."""

    built = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.applied = []
        RecordingScheduleFree.built.append(self)

    def step(self, closure=None):
        loss = super().step(closure)
        self.applied.append(self.param_groups[0]["scheduled_lr"])
        return loss


def test_schedule_free_warms_up_over_a_tenth_of_the_steps_in_the_optimizer_itself(monkeypatch):
    from nbsupport.runs import build_optimizer

    config = RunConfig(schedule="schedule_free", lr=0.01)
    param = torch.nn.Parameter(torch.zeros(3))
    optim = build_optimizer(config, [param], 200)
    assert isinstance(optim, schedulefree.AdamWScheduleFree)
    assert [g["warmup_steps"] for g in optim.param_groups] == [20]  # 10% of 200
    optim.train()
    applied = []
    for _ in range(200):
        param.grad = torch.ones_like(param)
        optim.step()
        applied.append(optim.param_groups[0]["scheduled_lr"])
    # the lr it applies at step k (1-based) rises linearly, reaching 0.01 at step 20, and stays
    assert applied == pytest.approx([0.01 * min(1.0, k / 20) for k in range(1, 201)])
    assert applied[9] == pytest.approx(0.005) and applied[18] < 0.01 and applied[19:] == [0.01] * 181
    # the chapters' tracer shows what the optimizer applies
    assert schedule_trace(config, 200)[0] == pytest.approx(applied)

    # train_run builds it the same way: 20 steps (640 images, batches of 32), a warm-up of 2
    RecordingScheduleFree.built.clear()
    monkeypatch.setattr(schedulefree, "AdamWScheduleFree", RecordingScheduleFree)
    record = train_run(RunConfig(schedule="schedule_free", lr=0.003, epochs=1, scaling="normalized"),
                       tiny_data(n_train=640), progress=False)
    [used] = RecordingScheduleFree.built
    assert record["steps_per_epoch"] == 20 and used.param_groups[0]["warmup_steps"] == 2
    assert used.applied == pytest.approx([0.0015] + [0.003] * 19)


# -- the dataset field: Fashion-MNIST ---------------------------------------------------------------------

def test_a_fashion_mnist_run_has_its_own_id_and_mnist_ids_are_unchanged():
    from nbsupport.range_tests import RangeTestConfig

    assert RunConfig(dataset="mnist").run_id == RunConfig().run_id == "d79965946d3d"
    fashion = RunConfig(dataset="fashion_mnist")
    assert fashion.run_id != RunConfig().run_id
    assert RunConfig.from_record({**vars(fashion)}) == fashion
    assert RunConfig.from_record({**vars(fashion)}).run_id == fashion.run_id
    assert RangeTestConfig(dataset="mnist").run_id == RangeTestConfig().run_id
    assert RangeTestConfig(dataset="fashion_mnist").run_id != RangeTestConfig().run_id


def test_an_unknown_dataset_is_refused_listing_mnist_and_fashion_mnist():
    from nbsupport.range_tests import RangeTestConfig

    for kind in (RunConfig, RangeTestConfig):
        with pytest.raises(ValueError, match="dataset='cifar10' is not allowed; use one of "
                                             "\\('mnist', 'fashion_mnist'\\)"):
            kind(dataset="cifar10")


def test_the_default_data_of_a_fashion_mnist_run_is_fashion_mnist():
    from nbsupport import runs
    from nbsupport.data import DEBIAN_FASHION_MNIST_DIR, FASHION_MNIST_MEAN, dataset_labels

    if not (DEBIAN_FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("the Debian package dataset-fashion-mnist is not installed")
    try:
        (xt, yt), (xv, yv), (xtest, ytest) = runs._dataset_tensors(RunConfig(dataset="fashion_mnist", scaling="page"))
        assert (len(xt), len(xv), len(xtest)) == (55_000, 5_000, 10_000)
        val_labels, test_labels = dataset_labels("fashion_mnist")
        assert (yv.numpy() == val_labels).all() and (ytest.numpy() == test_labels).all()
        assert xt[:1000].mean().item() * 255 == pytest.approx(FASHION_MNIST_MEAN, abs=0.01)  # MNIST's is 0.1307
        assert runs._dataset_cached.cache_info().currsize == 1
    finally:
        runs._dataset_cached.cache_clear()
        runs._dataset_test_cached.cache_clear()


class _DefaultData(Exception):
    pass


def test_train_run_and_run_range_test_take_their_default_data_from_the_configs_dataset(monkeypatch):
    from nbsupport import range_tests, runs

    asked = []

    def record(*args, **kwargs):
        asked.append((args, kwargs))
        raise _DefaultData

    monkeypatch.setattr(runs, "_dataset_tensors", record)
    config = RunConfig(dataset="fashion_mnist", scaling="normalized", epochs=1)
    with pytest.raises(_DefaultData):
        train_run(config, progress=False)
    assert asked == [((config,), {})]
    monkeypatch.setattr(runs, "dataset_tensors", record)
    monkeypatch.setattr(runs, "dataset_test_tensors", record)
    with pytest.raises(_DefaultData):
        runs._dataset_cached.__wrapped__("fashion_mnist", "page")
    assert asked[-1] == (("fashion_mnist",), {"scaling": "page"})
    monkeypatch.setattr(range_tests, "dataset_tensors", record)
    with pytest.raises(_DefaultData):
        range_tests.run_range_test(range_tests.RangeTestConfig(dataset="fashion_mnist", scaling="normalized"))
    assert asked[-1] == (("fashion_mnist",), {"scaling": "normalized"})


@pytest.mark.parametrize("optimizer", ["prodigy", "dadapt_adam"])
def test_a_learning_rate_free_optimizer_records_the_lr_it_settled_on(optimizer, capsys):
    config = RunConfig(schedule="cosine", optimizer=optimizer, lr=1.0, epochs=1, scaling="normalized")
    assert config.weight_decay == 0.0 and config.momentum == 0.9  # the packages' defaults
    record = train_run(config, tiny_data())
    # d starts at 1e-6 and only grows: after 8 steps it is the optimizer's own estimate, not the start
    assert math.isfinite(record["adapted_lr"]) and record["adapted_lr"] > 1e-6
    assert record["adapted_lr"] < 1.0  # an lr at which a network of this size trains, not a blow-up
    assert "decoupled" not in capsys.readouterr().out  # dadaptation's print kept out of the output


def test_an_optimizer_with_a_hand_set_lr_has_no_adapted_lr():
    record = train_run(RunConfig(schedule="constant", lr=1e-3, epochs=1, scaling="normalized"), tiny_data())
    assert math.isnan(record["adapted_lr"])


def test_a_stored_run_is_checked_on_its_first_epoch_with_the_schedule_of_all_its_epochs():
    """retrain_stored(row, epochs=1): the first epoch of a 3-epoch run, not a 1-epoch run."""
    from nbsupport.grid import retrain_stored
    from nbsupport.runs import match_stored, stored_epoch

    data = tiny_data()
    config = RunConfig(schedule="one_cycle", lr=3e-3, epochs=3, seed=2, scaling="normalized")
    with flush_to_zero(True):  # as the grid command stores runs
        full = train_run(config, data, progress=False)
        one_epoch_run = train_run(dataclasses.replace(config, epochs=1), data, progress=False)
    live, exact, ok = retrain_stored(full, data=data, progress=False, epochs=1)
    assert exact and ok
    for m in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert live[m] == stored_epoch(full, m, 1)
    # its schedule was that of three epochs: a one-epoch run ends elsewhere
    assert live["train_loss"] != one_epoch_run["train_loss"]
    assert math.isnan(live["test_acc"])  # nothing scored on test images after a partial run
    two = retrain_stored(full, data=data, progress=False, epochs=2)
    assert two.ok and two.record["val_acc"] == stored_epoch(full, "val_acc", 2)
    # a stored epoch value changed by hand is caught, exactly where the fingerprint matches
    tampered = dict(full, val_acc_epochs=json.dumps([0.5] + json.loads(full["val_acc_epochs"])[1:]))
    assert match_stored(live, tampered, 1) == (True, False)
    assert match_stored(live, tampered, 2)[1] is False  # epoch 2 of a 1-epoch record: not the same values


@pytest.mark.parametrize("stop_after", [0, 4, 1.5, True, "1"])
def test_stop_after_outside_the_runs_epochs_is_refused_before_training(stop_after):
    config = RunConfig(schedule="one_cycle", lr=3e-3, epochs=3, scaling="normalized")
    with pytest.raises(ValueError, match="whole number of epochs from 1 to the run's 3"):
        train_run(config, tiny_data(), progress=False, stop_after=stop_after)


def test_a_range_test_cannot_be_re_trained_in_part():
    from nbsupport.grid import retrain_stored

    row = {"run_id": "x", "tool": "nbsupport", "mode": "exponential", "start_lr": 1e-7, "end_lr": 10.0,
           "num_steps": 20, "seed": 0, "scaling": "normalized", "eval_every": 0, "batch_size": 32,
           "dataset": "mnist", "losses": "[]", "threads": 1}
    with pytest.raises(ValueError, match="only a stored training run can be re-trained in part"):
        retrain_stored(row, epochs=1)
