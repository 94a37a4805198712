"""The LR finder against a tuned ``max_lr``: the stored grids of one data set, read as one study.

For MNIST (chapter 5's grids) and Fashion-MNIST (chapter 7's), with normalized inputs: the best ``max_lr``
of one-cycle after one epoch, chosen on the validation images; one-cycle at that ``max_lr`` on the comparison
seeds (the reference); the seed-0 range tests and the suggestions read off them that were trained; and the
one-epoch runs at those suggestions, on the same seeds as the reference. ``compare`` pairs each suggestion with
the reference on the test images, with Holm's correction over the distinct suggestions that trained.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .comparisons import compare_to_reference

#: The study's grids per data set: range tests, the lr choice, the reference's runs and the suggestions' runs.
GRIDS = {
    "mnist": dict(tests="lr_finder_tests", choice=("schedules_sweep", "lr_finder_truth"),
                  suggested="lr_finder_calibration"),
    "fashion_mnist": dict(tests="fashion_finder_tests", choice=("fashion_sweep",), reference="fashion_budget",
                          suggested="fashion_finder"),
}


def n_failed(runs):
    """How many runs diverged or ended below 0.5 validation accuracy (the book's "failed")."""
    return int((runs["val_acc"].isna() | (runs["val_acc"] < 0.5)).sum())


def _at(df, lr):
    return df[np.isclose(df["lr"], lr)]


@dataclass
class FinderStudy:
    dataset: str
    best: float  #: one-cycle's max_lr with the highest mean validation accuracy after one epoch
    reference: pd.DataFrame  #: one-cycle at ``best``, one epoch, one row per comparison seed
    tests: pd.DataFrame  #: every stored range test (all seeds)
    points: pd.DataFrame  #: the seed-0 suggestions that were trained (``suggestion_rows`` rows)
    runs: pd.DataFrame  #: one-cycle, one epoch, at the suggestions (the reference's seeds)

    def runs_at(self, max_lr):
        """The runs at one suggested ``max_lr``."""
        return _at(self.runs, max_lr)

    def compare(self, metric="error"):
        """``{max_lr: (PairedResult, verdict)}`` for each distinct suggestion none of whose runs failed, minus
        the reference, Holm-corrected over them (in the order of ``points``)."""
        fine = {}
        for lr in dict.fromkeys(self.points["max_lr"]):
            runs = self.runs_at(lr)
            if len(runs) != len(self.reference):
                raise ValueError(f"{self.dataset}: max_lr {lr:g} has {len(runs)} runs stored, the reference "
                                 f"{len(self.reference)}; train the grid {GRIDS[self.dataset]['suggested']}")
            if not n_failed(runs):
                fine[lr] = runs
        return compare_to_reference(fine, self.reference, metric=metric)

    def suggestion(self, rule, mode="exponential", tool="nbsupport"):
        """The ``max_lr`` one rule read off the seed-0 test (e.g. ``"blow-up/10"``)."""
        p = self.points
        hit = p[(p["rule"] == rule) & (p["mode"] == mode) & (p["tool"] == tool)]
        if len(hit) != 1:
            raise ValueError(f"{self.dataset}: no single trained suggestion of rule {rule!r} ({mode}, {tool}); "
                             f"rules: {sorted(set(p['rule']))}")
        return float(hit["max_lr"].iloc[0])



def finder_study(dataset="mnist"):
    """The ``FinderStudy`` of ``dataset`` ("mnist" or "fashion_mnist") from the stored grids."""
    from .grid import load_results
    from .range_tests import calibrated_points, suggestion_rows

    if dataset not in GRIDS:
        raise ValueError(f"dataset={dataset!r} has no LR-finder study; use one of {sorted(GRIDS)}")
    grids = GRIDS[dataset]
    tests = load_results(grids["tests"])
    tests = tests[tests["scaling"] == "normalized"]
    choice = pd.concat([load_results(g) for g in grids["choice"]], ignore_index=True)
    choice = choice[(choice["schedule"] == "one_cycle") & (choice["scaling"] == "normalized")
                    & (choice["epochs"] == 1)]
    per_lr = choice.groupby("lr")
    full = per_lr["seed"].nunique() == choice["seed"].nunique()
    best = float(per_lr["val_acc"].mean()[full].idxmax())
    suggested = load_results(grids["suggested"])
    suggested = suggested[(suggested["scaling"] == "normalized") & (suggested["epochs"] == 1)]
    if dataset == "mnist":
        # seeds 0-2 of the best won the choice; the calibration grid added seeds 3 and 4 at it
        at_best = np.isclose(suggested["lr"], best)
        reference = pd.concat([_at(choice, best), suggested[at_best]], ignore_index=True)
        runs = suggested[~at_best]
        points = calibrated_points(tests)
    else:
        budget = load_results(grids["reference"])
        reference = _at(budget[(budget["schedule"] == "one_cycle") & (budget["epochs"] == 1)], best)
        runs = suggested
        points = suggestion_rows(tests[tests["seed"] == 0])
    points = points[points["scaling"] == "normalized"].reset_index(drop=True)
    return FinderStudy(dataset, best, reference.sort_values("seed"), tests, points, runs)


#: The learning-rate-free optimizers of the grids ``lr_free`` and ``fashion_lr_free``: (optimizer, schedule) to label.
LR_FREE = {
    ("prodigy", "constant"): "Prodigy",
    ("prodigy", "cosine"): "Prodigy + cosine",
    ("dadapt_adam", "constant"): "D-Adapt Adam",
    ("dadapt_adam", "cosine"): "D-Adapt Adam + cosine",
    ("adamw", "schedule_free"): "schedule-free AdamW",
}
#: Per data set: the grid of the learning-rate-free runs, the grid of one-cycle at its best max_lr for three
#: epochs, and the grid of one-cycle at blow-up/10 for three epochs.
LR_FREE_GRIDS = {"mnist": ("lr_free", "schedules_budget", "lr_free"),
                 "fashion_mnist": ("fashion_lr_free", "fashion_budget", "fashion_finder")}
#: The references of the learning-rate-free optimizers: (how one-cycle's max_lr was set, epochs).
LR_FREE_REFERENCES = (("tuned max_lr", 1), ("blow-up/10", 1), ("tuned max_lr", 3), ("blow-up/10", 3))


def lr_free_runs(dataset, epochs):
    """``{label: rows}``: each learning-rate-free optimizer of ``LR_FREE`` trained ``epochs`` on ``dataset``."""
    from .grid import load_results

    free = load_results(LR_FREE_GRIDS[dataset][0])
    free = free[free["epochs"] == epochs]
    return {label: free[(free["optimizer"] == o) & (free["schedule"] == s)] for (o, s), label in LR_FREE.items()}


def lr_free_references(study):
    """``{(setting, epochs): rows}`` of one-cycle for ``LR_FREE_REFERENCES``, on ``study``'s data set."""
    from .grid import load_results

    _, budget_grid, finder_grid = LR_FREE_GRIDS[study.dataset]
    budget = load_results(budget_grid)
    three = budget[(budget["schedule"] == "one_cycle") & (budget["scaling"] == "normalized")
                   & (budget["epochs"] == 3)]
    finder = load_results(finder_grid)
    blow_up = study.suggestion("blow-up/10")
    finder = _at(finder[(finder["schedule"] == "one_cycle") & (finder["epochs"] == 3)], blow_up)
    return {("tuned max_lr", 1): study.reference, ("blow-up/10", 1): study.runs_at(blow_up),
            ("tuned max_lr", 3): three, ("blow-up/10", 3): finder}


def lr_free_comparisons(study):
    """``{(setting, epochs): {label: (PairedResult, verdict)}}``: each learning-rate-free optimizer minus
    one-cycle at the same budget and seeds, Holm-corrected over the optimizers of one reference."""
    out = {}
    for (setting, epochs), reference in lr_free_references(study).items():
        groups = lr_free_runs(study.dataset, epochs)
        for label, rows in groups.items():
            if sorted(rows["seed"]) != sorted(reference["seed"]):
                raise ValueError(f"{study.dataset}: {label} ({epochs} epochs) has seeds {sorted(rows['seed'])}, "
                                 f"one-cycle at {setting} {sorted(reference['seed'])}; they must pair")
        out[setting, epochs] = compare_to_reference(groups, reference)
    return out
