"""A grid's results table, read by the kind of its entries (training runs or range tests).

``nbsupport.store`` reads and writes rows, checksums and predictions files without knowing what a row holds;
here a table's header says which entry class (``ENTRY_CLASSES``) its rows are, and ``load_results`` gives the
table as a DataFrame with typed columns, refusing a damaged one. ``nbsupport.grid`` re-exports these names.
"""

from pathlib import Path

from .data import repo_root
from .range_tests import RangeTestConfig
from .runs import RunConfig
from .store import DamagedTableError, check_predictions_file, predictions_path, read_header, read_rows

EXPERIMENTS_DIR = "experiments"
#: What a grid may hold: each class says its table's columns, how an entry is made (``train``) and how a
#: re-made entry is compared with its row (``match``), see ``RunConfig`` and ``RangeTestConfig``.
ENTRY_CLASSES = (RunConfig, RangeTestConfig)


def is_legacy_table(path, kind) -> bool:
    """Whether the table at ``path`` was written before schema 2 (no fingerprints, no predictions)."""
    return read_header(path) == tuple(kind.legacy_columns())


def read_table(path, kind):
    """``read_rows`` for a table of ``kind`` entries, of this schema or schema 1."""
    return read_rows(path, kind.columns(), accept=(*kind.older_columns(), kind.legacy_columns()))


def table_columns(path, kind):
    """The columns a new row of the table at ``path`` is written with: the table's own header where it is
    an earlier schema-2 layout (``kind.older_columns()``), else the current one."""
    header = read_header(path) if Path(path).exists() else None
    return header if header in tuple(tuple(c) for c in kind.older_columns()) else tuple(kind.columns())


def broken_predictions(path, kind, rows):
    """``[(row, message)]`` for schema-2 run rows whose predictions file is missing or unreadable."""
    broken = []
    if not kind.HAS_PREDICTIONS:
        return broken
    for row in rows:
        if str(row.get("store_schema", "")) in ("", "1"):
            continue
        try:
            check_predictions_file(predictions_path(path, row["run_id"]))
        except DamagedTableError as exc:
            broken.append((row, str(exc)))
    return broken


def table_kind(path) -> type:
    """The entry class whose header a stored table has (``RunConfig`` if the table does not exist yet)."""
    path = Path(path)
    if not path.exists():
        return RunConfig
    header = read_header(path)
    for kind in ENTRY_CLASSES:
        if header in (tuple(kind.columns()), *map(tuple, kind.older_columns()), tuple(kind.legacy_columns())):
            return kind
    raise DamagedTableError(f"{path}: the header matches no kind of table this version of nbsupport reads "
                            f"(training runs or range tests): {','.join(header or ())[:200]!r}")


def row_kind(row) -> type:
    """The entry class of a stored row: the first whose config fields (those of schema 1 at least) it has."""
    for kind in ENTRY_CLASSES:
        if all(f in row for f in kind.fields() if f not in kind.ID_DEFAULTS):
            return kind
    raise ValueError(f"a row with columns {list(row)[:8]}... is neither a training run nor a range test")


def load_results(name_or_path):
    """A grid's stored table as a pandas DataFrame, one row per entry; a damaged row raises an error.

    A table written before schema 2 loads too, with the columns it lacks empty (``df.attrs["store_schema"]``
    is then 1): its rows have no fingerprint, test metrics or predictions.
    """
    import pandas as pd

    path = Path(name_or_path)
    if path.suffix != ".csv":
        from .grid import load_grid

        grid = load_grid(name_or_path)
        path, kind = grid.results_path, grid.kind
    else:
        kind = table_kind(path)
    rows, damaged = read_table(path, kind)
    if damaged is not None:
        raise DamagedTableError(
            f"{path}, line {damaged[0]}: the last row was not written whole; run the grid command again "
            f"(it moves the row aside and re-trains that run).")
    if not rows:
        raise FileNotFoundError(f"{path} has no stored runs yet; train them with "
                                f"python -m nbsupport.grid run {path.stem}")
    broken = broken_predictions(path, kind, rows)
    if broken:
        row, message = broken[0]
        raise DamagedTableError(f"run {row['run_id']} ({len(broken)} of {len(rows)} rows affected): {message}; "
                                f"`python -m nbsupport.grid run {path.stem}` re-trains such runs")
    df = pd.DataFrame(rows)
    for col in kind.FLOAT_COLUMNS:
        df[col] = df[col].replace("", "nan").astype(float)
    for col in kind.INT_COLUMNS:
        df[col] = df[col].replace("", "-1").astype(int)
    df.attrs["store_schema"] = 1 if is_legacy_table(path, kind) else 2
    df["grid"] = grid_of_table(path)  # not a column of the table: the grid whose predictions files these are
    return df


def grid_of_table(path) -> str:
    """The grid a table belongs to, as ``load_grid`` takes it: its name when it is one of the book's grids,
    else the path of its grid file (``<folder>/<name>.py`` beside ``<folder>/results/<name>.csv``)."""
    path = Path(path).resolve()
    grid_file = path.parent.parent / f"{path.stem}.py"
    return path.stem if grid_file == (repo_root() / EXPERIMENTS_DIR / grid_file.name) else str(grid_file)
