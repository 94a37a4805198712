"""The grid command line, ``python -m nbsupport.grid``: run, status and check.

Exit codes: 0 done, 1 ``check`` found a stored entry that did not repeat, 2 a user error (an unknown grid
or run id, a bad argument, a damaged or locked table), always as one line on stderr.
"""

import argparse
import sys

from .store import TableLockedError


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage block): ``<command>: error: <what>``, exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; give a whole number >= 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; give a whole number >= 1")
    return value


def parser():
    p = _Parser(prog="python -m nbsupport.grid",
                description="Grids of runs with stored results: train what is missing, resume after a kill, "
                            "re-check stored rows.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train the entries of a grid that are not stored yet")
    run.add_argument("grid", help="grid name (experiments/<name>.py) or path to a grid file")
    run.add_argument("--workers", type=_positive_int, default=1, help="worker processes (default 1)")
    run.add_argument("--threads", type=_positive_int, default=None,
                     help="torch threads per worker (default cores/workers; 1 on a Dask cluster)")
    run.add_argument("--limit", type=_positive_int, default=None, help="train at most this many, then stop")
    run.add_argument("--scheduler", default=None,
                     help="address of a Dask scheduler (tcp://host:8786): train on its workers instead")
    status = sub.add_parser("status", help="stored, missing and stale entries of a grid, and their cost")
    status.add_argument("grid")
    check = sub.add_parser("check", help="re-train stored entries and compare them with their rows")
    check.add_argument("grid")
    check.add_argument("-n", type=_positive_int, default=1, help="how many of the cheapest stored (default 1)")
    check.add_argument("--run-id", action="append", help="check this stored entry (repeatable)")
    check.add_argument("--threads", type=_positive_int, default=None, help="threads (default: the row's)")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    from .runs import flush_subnormals

    flush_subnormals()  # first, before torch starts its worker threads (see nbsupport.fingerprint)
    from .grid import grid_status
    from .grid_run import check_grid, run_grid

    try:
        if args.command == "run":
            run_grid(args.grid, workers=args.workers, threads=args.threads, limit=args.limit,
                     scheduler=args.scheduler)
            grid_status(args.grid)
        elif args.command == "status":
            grid_status(args.grid)
        else:
            results = check_grid(args.grid, n=args.n, run_ids=args.run_id, threads=args.threads)
            return 0 if all(r["ok"] for r in results) else 1
    except (ValueError, TypeError, FileNotFoundError, TableLockedError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"python -m nbsupport.grid {args.command}: error: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
