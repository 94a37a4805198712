"""The results store: checksummed CSV rows, a lock per table, and one predictions file per run (no torch here).

A table ``experiments/results/<grid>.csv`` has a header and one row per entry,
each row ending in the CRC32 of everything before it on its line. A row is
written in one append; a kill can only leave the last line without its
newline, which ``read_rows`` reports as *cut short* (the grid command moves it
aside and trains that entry again). A complete line whose checksum fails was
edited by hand: that is an error naming the row, never silently re-trained.

Each training run also has ``experiments/results/<grid>/<run_id>.npz`` with
its prediction and loss for every validation and test image (``PREDICTION_ARRAYS``),
written before its row, atomically (a temporary file of its own, then a rename).

``table_lock`` keeps two ``run`` commands off one table: the second is refused
with a one-line message naming the lock file.
"""

import csv
import errno
import io
import math
import os
import sys
import tempfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

CHECKSUM = "checksum"
#: The version of the store's layout; it is part of every run id, so rows of another layout are not mistaken
#: for this one's (2: fingerprints, flush-to-zero state and predictions files).
STORE_SCHEMA = 2
#: Per-image arrays of a run's predictions file, in the validation split's and the test file's order.
PREDICTION_ARRAYS = {"val_pred": np.uint8, "val_loss": np.float16, "test_pred": np.uint8, "test_loss": np.float16}


class DamagedTableError(ValueError):
    """A results table or predictions file is not as nbsupport wrote it (cut short, edited, missing)."""


class TableLockedError(RuntimeError):
    """Another process is writing to this table."""


def _format(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return str(value)


def format_row(record, columns) -> str:
    """One CSV line (with its newline) for a record, ending in the CRC32 of everything before it."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([_format(record.get(c)) for c in columns])
    body = buf.getvalue()
    return f"{body},{zlib.crc32(body.encode()):08x}\n"


def header_line(columns) -> str:
    return ",".join(tuple(columns) + (CHECKSUM,)) + "\n"


def _write_atomically(path, data: bytes):
    """Write ``data`` to ``path`` through a temporary file of this process's own in the same folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with _ignore_missing():
            os.unlink(tmp)
        raise


@contextmanager
def _ignore_missing():
    try:
        yield
    except FileNotFoundError:
        pass


def append_row(path, record, columns):
    """Append one record to the table at ``path`` whole or not at all (a new table is created with its header).

    The row goes out in one ``write`` on a file opened for appending and is flushed to disk before returning.
    """
    path = Path(path)
    line = format_row(record, columns).encode()
    if not path.exists():
        _write_atomically(path, header_line(columns).encode() + line)
        return
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"short write to {path}: {written} of {len(line)} bytes")
        os.fsync(fd)
    finally:
        os.close(fd)


def read_header(path):
    """The column names of a table's header line (without the checksum column), or None if it has none."""
    path = Path(path)
    if not path.exists():
        return None
    with open(path) as f:
        first = f.readline().rstrip("\n")
    names = first.split(",")
    return tuple(names[:-1]) if names and names[-1] == CHECKSUM else None


def read_rows(path, columns, accept=()):
    """The rows of a table as dicts of strings, and its last line if a kill cut it short (else None).

    ``columns`` is the header this version writes; a header in ``accept`` (older layouts) is read too, its
    rows padded with empty values for the columns it lacks. A complete line whose checksum does not match
    (a hand edit), a cut-short line anywhere but at the end, or an unknown header raise ``DamagedTableError``.
    """
    path = Path(path)
    if not path.exists():
        return [], None
    lines = path.read_bytes().decode().splitlines(keepends=True)
    if not lines:
        return [], None
    known = {header_line(c): tuple(c) for c in (columns, *accept)}
    if lines[0] not in known:
        raise DamagedTableError(
            f"{path}: the header does not match the columns this version of nbsupport writes; "
            f"expected {header_line(columns).strip()!r}, found {lines[0].strip()[:300]!r}. Move the table "
            f"aside and re-run the grid, or check out the nbsupport version that wrote it.")
    found = known[lines[0]]
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        body, _, crc = line.rstrip("\n").rpartition(",")
        if not line.endswith("\n"):
            if number == len(lines):
                return rows, (number, line)
            raise DamagedTableError(f"{path}, line {number}: a row without its end in the middle of the table")
        if not body or crc != f"{zlib.crc32(body.encode()):08x}":
            run_id = body.split(",", 1)[0] if body else "?"
            raise DamagedTableError(
                f"{path}, line {number} (run {run_id}): the row is complete but its checksum does not match "
                f"its contents, so it was edited after nbsupport wrote it; restore it (git checkout) or "
                f"delete the line to train that run again")
        row = dict(zip(found, next(csv.reader([body]))))
        rows.append({c: row.get(c, "") for c in columns} if found != tuple(columns) else row)
    return rows, None


def quarantine_damaged(path, damaged):
    """Move a cut-short last line out of the table into ``<table>.damaged`` and say so on stderr."""
    path = Path(path)
    number, line = damaged
    with open(path.with_suffix(".csv.damaged"), "a") as f:
        f.write(line if line.endswith("\n") else line + "\n")
    data = path.read_bytes()
    os.truncate(path, len(data) - len(line.encode()))
    print(f"{path}, line {number}: the last row was not written whole (the command was killed while "
          f"writing it); moved it to {path.with_suffix('.csv.damaged')} and will train that run again.",
          file=sys.stderr)


@contextmanager
def table_lock(path):
    """Hold ``<table>.lock`` for the block; a second holder is refused with ``TableLockedError`` at once.

    The lock is an ``flock`` on the file, so it goes when its process dies: a killed ``run`` leaves no
    stale lock behind.
    """
    import fcntl

    lock_path = Path(path).with_suffix(".csv.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise TableLockedError(f"{Path(path).name} is being written by {holder} (lock {lock_path}); "
                                   f"wait for that run to finish, or stop it") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        yield lock_path
    finally:
        os.close(fd)


# -- predictions files --------------------------------------------------------------------------------------


def predictions_path(table_path, run_id) -> Path:
    """``<results>/<grid>/<run_id>.npz`` beside the table ``<results>/<grid>.csv``."""
    table_path = Path(table_path)
    return table_path.parent / table_path.stem / f"{run_id}.npz"


def save_predictions(path, arrays):
    """Write a run's per-image arrays (``PREDICTION_ARRAYS``, converted to their dtypes), atomically."""
    missing = sorted(set(PREDICTION_ARRAYS) - set(arrays))
    if missing:
        raise ValueError(f"predictions lack {missing}; a run's file holds {sorted(PREDICTION_ARRAYS)}")
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(arrays[k]).astype(t) for k, t in PREDICTION_ARRAYS.items()})
    _write_atomically(path, buf.getvalue())


def read_predictions(path, n_valid=None, n_test=None) -> dict:
    """A run's per-image arrays from its file; ``DamagedTableError`` if it is missing, unreadable or the wrong
    size (``n_valid``, ``n_test``: the sizes expected, if known)."""
    path = Path(path)
    if not path.is_file():
        raise DamagedTableError(f"{path}: the predictions file of this stored run is missing; train the run "
                                f"again (delete its row, then run the grid)")
    try:
        with np.load(path) as data:
            arrays = {k: data[k] for k in PREDICTION_ARRAYS}
    except Exception as exc:  # a truncated zip raises BadZipFile, OSError, EOFError or ValueError
        raise DamagedTableError(f"{path}: the predictions file is unreadable ({type(exc).__name__}: {exc})") \
            from None
    sizes = {"val": n_valid, "test": n_test}
    for name, values in arrays.items():
        expected = sizes[name.split("_")[0]]
        if values.dtype != PREDICTION_ARRAYS[name] or values.ndim != 1 or \
                (expected is not None and len(values) != expected):
            raise DamagedTableError(f"{path}: {name} has dtype {values.dtype} and shape {values.shape}; "
                                    f"expected {np.dtype(PREDICTION_ARRAYS[name])} of length {expected}")
    return arrays


def check_predictions_file(path):
    """Raise ``DamagedTableError`` unless the file opens as a zip holding every array (cheap: reads the
    directory and the array headers, not the data)."""
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise DamagedTableError(f"{path}: the predictions file of this stored run is missing")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DamagedTableError(f"{path}: the predictions file is unreadable ({exc})") from None
    missing = sorted(f"{k}.npy" for k in PREDICTION_ARRAYS if f"{k}.npy" not in names)
    if missing or bad is not None:
        raise DamagedTableError(f"{path}: the predictions file is damaged (missing {missing}, bad {bad})")
