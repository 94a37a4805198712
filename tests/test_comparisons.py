"""compare_runs on stored tables of a tiny synthetic grid: pairing by seed, the loaded predictions, errors."""

import numpy as np
import pytest

from nbsupport.comparisons import compare_runs, compare_to_reference, compare_values, paired_rows
from nbsupport.grid import load_predictions, load_results, run_grid
from nbsupport.paired import MARGIN_ERROR, paired_compare
from test_grid import write_grid

TWO_BY_THREE = ('[RunConfig(schedule=s, lr=3e-3, epochs=1, seed=k, scaling="normalized") '
                'for s in ("constant", "cosine") for k in range(3)]')


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cmp")
    grid = write_grid(folder, TWO_BY_THREE, n_train=96)
    run_grid(grid, threads=1, progress=False)
    return grid, load_results(folder / "results" / "tiny.csv")


def test_compare_runs_pairs_by_seed_and_uses_the_stored_test_predictions(table):
    grid, df = table
    a, b = df[df.schedule == "constant"], df[df.schedule == "cosine"]
    result = compare_runs(a.iloc[::-1], b)  # row order does not matter: seeds pair
    stack = lambda rows: np.stack([load_predictions(grid, r)["test_pred"]  # noqa: E731
                                   for r in rows.sort_values("seed").run_id])
    labels = load_predictions(grid, a.run_id.iloc[0])["test_labels"]
    expected = paired_compare(stack(a), stack(b), labels, margin=MARGIN_ERROR)
    assert (result.diff, result.low, result.high) == (expected.diff, expected.low, expected.high)
    assert result.n_seeds == 3 and result.n_images == 16
    assert result.mean_a == pytest.approx(1 - a.test_acc.mean())
    val = compare_runs(a, b, split="val")
    assert val.n_images == 32


def test_groups_with_other_seeds_or_repeated_seeds_are_refused(table):
    _, df = table
    a, b = df[df.schedule == "constant"], df[df.schedule == "cosine"]
    with pytest.raises(ValueError, match="same seeds to be paired"):
        compare_runs(a[a.seed < 2], b)
    with pytest.raises(ValueError, match="more than once"):
        paired_rows(df, b)
    with pytest.raises(ValueError, match="split='train' is not allowed"):
        compare_runs(a, b, split="train")
    legacy = a.assign(store_schema="")
    with pytest.raises(ValueError, match="no stored predictions"):
        compare_runs(legacy, b)


def test_compare_to_reference_and_compare_values(table):
    _, df = table
    a, b = df[df.schedule == "constant"], df[df.schedule == "cosine"]
    out = compare_to_reference({"constant": a}, b)
    assert out["constant"][1] == out["constant"][0].verdict  # one comparison: Holm changes nothing
    diff, low, high = compare_values(a, b, "val_loss")
    d = a.sort_values("seed").val_loss.to_numpy() - b.sort_values("seed").val_loss.to_numpy()
    assert diff == pytest.approx(d.mean()) and low < diff < high



def test_versus_reference_groups_a_table_by_a_column(table):
    from nbsupport.comparisons import versus_reference

    _, df = table
    out = versus_reference(df, "schedule", "cosine", metric="loss")
    direct = compare_to_reference({"constant": df[df.schedule == "constant"]}, df[df.schedule == "cosine"],
                                  metric="loss")
    assert list(out) == ["constant"]
    assert out["constant"][0].diff == direct["constant"][0].diff
    assert out["constant"][1] == direct["constant"][1]
    with pytest.raises(ValueError, match="reference 'wsd' is not among"):
        versus_reference(df, "schedule", "wsd")
    with pytest.raises(ValueError, match="nothing to compare"):
        versus_reference(df[df.schedule == "cosine"], "schedule", "cosine")


def test_carried_over_names_how_a_verdict_moved_between_data_sets():
    from nbsupport.comparisons import carried_over

    assert carried_over("better", "better") == "same"
    assert carried_over("undecided", "undecided") == "same"
    assert carried_over("better", "worse") == carried_over("worse", "better") == "reversed"
    assert carried_over("undecided", "worse") == carried_over("equivalent", "better") == "stronger"
    assert carried_over("better", "undecided") == carried_over("worse", "equivalent") == "weaker"
    assert carried_over("undecided", "equivalent") == "stronger"
    assert carried_over("equivalent", "undecided") == "weaker"
    with pytest.raises(ValueError, match="is not a verdict"):
        carried_over("better", "fine")


def test_epochs_needed_is_the_first_budget_from_which_every_verdict_holds():
    import pytest

    from nbsupport.comparisons import epochs_needed

    assert epochs_needed({1: "better", 2: "better", 3: "better"}) == 1
    assert epochs_needed({1: "worse", 2: "undecided", 3: "better"}) == 3
    assert epochs_needed({1: "worse", 2: "equivalent", 3: "better"}) == 2
    # a budget that is shown good but followed by one that is not does not count
    assert epochs_needed({1: "better", 2: "undecided", 3: "better"}) == 3
    assert epochs_needed({1: "worse", 2: "better", 3: "undecided"}) is None
    assert epochs_needed({3: "better", 1: "undecided", 2: "better"}) == 2  # any order
    with pytest.raises(ValueError, match="not verdicts"):
        epochs_needed({1: "good"})
    with pytest.raises(ValueError, match="empty"):
        epochs_needed({})
