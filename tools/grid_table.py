"""Print the README's grid table rows (stored runs, training time, where, store schema) from the stored tables.

The 'chapter' and 'what' columns are the README's own; this fills in the measured ones:
    python tools/grid_table.py
"""

from pathlib import Path

from nbsupport.grid import grid_state, load_grid, load_results

RESULTS = Path(__file__).resolve().parent.parent / "experiments" / "results"


def row(name):
    grid = load_grid(name)
    df = load_results(name)
    state = grid_state(grid)
    stored = len(state.stored) if df.attrs["store_schema"] == 2 else len(state.legacy)
    where = sorted({f"{r.cpu_model or r.hardware}, {r.threads} thread{'s' if r.threads > 1 else ''}"
                    for r in df.itertuples()})
    size = sum(p.stat().st_size for p in (RESULTS / name).glob("*.npz")) if (RESULTS / name).exists() else 0
    return (f"| `{name}` | {stored} of {len(grid.runs)} | {df.seconds.sum() / 60:.0f} min | {'; '.join(where)} "
            f"| {df.attrs['store_schema']} | {size / 1024:.0f} KB |")


if __name__ == "__main__":
    for table in sorted(RESULTS.glob("*.csv")):
        print(row(table.stem))
