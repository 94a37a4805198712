"""nbsupport.finder_study reads the stored LR-finder grids of both data sets as chapters 5 and 7 use them.

Planted bugs these tests are meant to catch: the reference built from the wrong seeds or the wrong max_lr (the
pairing test), a failed suggestion compared instead of left out, a suggestion compared twice when several rules
share it, the three-epoch reference of blow-up/10 taken at another max_lr.
"""

import numpy as np
import pytest

from nbsupport.finder_study import (LR_FREE, LR_FREE_REFERENCES, finder_study, lr_free_references,
                                    n_failed)


@pytest.fixture(scope="module", params=["mnist", "fashion_mnist"])
def study(request):
    return finder_study(request.param)


def test_the_reference_is_one_cycle_at_the_best_max_lr_on_the_comparison_seeds(study):
    seeds = {"mnist": [0, 1, 2, 3, 4], "fashion_mnist": [3, 4, 5, 6, 7]}[study.dataset]
    assert list(study.reference.seed) == seeds
    assert np.allclose(study.reference.lr, study.best)
    assert set(study.reference.schedule) == {"one_cycle"} and set(study.reference.epochs) == {1}
    assert set(study.reference.dataset) == {study.dataset}
    # the best max_lr is the validation choice: no other lr of the choice has a higher mean
    assert study.best == {"mnist": 0.001, "fashion_mnist": 0.003}[study.dataset]


def test_each_distinct_suggestion_that_trained_is_compared_once(study):
    compared = study.compare()
    distinct = list(dict.fromkeys(study.points.max_lr))
    failed = [lr for lr in distinct if n_failed(study.runs_at(lr))]
    assert failed, "blow-up/2 fails on both data sets"
    assert list(compared) == [lr for lr in distinct if lr not in failed]
    for lr, (result, verdict) in compared.items():
        assert verdict in ("better", "worse", "equivalent", "undecided")
        runs = study.runs_at(lr)
        assert sorted(runs.seed) == sorted(study.reference.seed)
        # the difference is that of the runs at this max_lr: mean test error minus the reference's
        own = (1 - runs.test_acc).mean() - (1 - study.reference.test_acc).mean()
        assert result.diff == pytest.approx(own, abs=1e-4)


def test_blow_up_over_ten_at_three_epochs_is_trained_at_the_one_epoch_suggestion(study):
    refs = lr_free_references(study)
    assert list(refs) == list(LR_FREE_REFERENCES)
    blow = study.suggestion("blow-up/10")
    assert np.allclose(refs["blow-up/10", 3].lr, blow) and set(refs["blow-up/10", 3].epochs) == {3}
    assert np.allclose(refs["blow-up/10", 1].lr, blow) and set(refs["blow-up/10", 1].epochs) == {1}
    for rows in refs.values():
        assert len(rows) == 5 and set(rows.schedule) == {"one_cycle"}
    assert len(LR_FREE) == 5


def test_an_unknown_data_set_or_rule_is_refused_in_one_line():
    with pytest.raises(ValueError, match="no LR-finder study"):
        finder_study("cifar10")
    with pytest.raises(ValueError, match="no single trained suggestion"):
        finder_study("fashion_mnist").suggestion("accuracy peak")
