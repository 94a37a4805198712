"""Re-trained schema-2 rows against the schema-1 rows they replace: how many repeat exactly, and by how much
the others differ (for the issue note; run in the checkout that re-trained them, where each old table sits
beside the new one as <grid>.schema1.csv)."""

import sys

from nbsupport.grid import load_grid, load_results

METRICS = ("train_loss", "train_acc", "val_loss", "val_acc")


def compare(name):
    grid = load_grid(name)  # a grid name, or the path of a grid file in another checkout
    old_path = grid.results_path.with_suffix(".schema1.csv")
    if not old_path.exists() or not grid.results_path.exists():
        return None
    old = load_results(old_path).set_index("run_id")
    new = load_results(grid.results_path).set_index("run_id")
    pairs = [(old.loc[c.legacy_run_id()], new.loc[c.run_id]) for c in grid.runs
             if c.legacy_run_id() in old.index and c.run_id in new.index]
    if grid.kind.ENTRY == "range_test":
        exact = sum(o.losses == n.losses and o["valid"] == n["valid"] for o, n in pairs)
        return (f"{name}: {len(pairs)} range tests re-run, {exact} repeat their stored loss curves exactly "
                f"(old rows at {sorted({int(o.threads) for o, _ in pairs})} thread(s))")
    exact = sum(all(repr(float(o[m])) == repr(float(n[m])) for m in METRICS) for o, n in pairs)
    same_threads = [(o, n) for o, n in pairs if int(o.threads) == int(n.threads)]
    exact_same = sum(all(repr(float(o[m])) == repr(float(n[m])) for m in METRICS) for o, n in same_threads)
    diffs = [abs(float(o[m]) - float(n[m])) for o, n in pairs for m in ("val_acc",)
             if float(o[m]) == float(o[m])]
    threads = sorted({int(o.threads) for o, _ in pairs})
    return (f"{name}: {len(pairs)} rows re-trained, {exact} repeat their old numbers exactly "
            f"({exact_same} of the {len(same_threads)} stored with the same thread count); old rows at "
            f"{threads} thread(s); largest |val_acc difference| {max(diffs, default=0):.4f}")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        line = compare(name)
        print(line or f"{name}: not re-trained here")
