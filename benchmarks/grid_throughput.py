"""How many runs per hour does the grid command train on this machine, at 1 and at 2 workers?

    python benchmarks/grid_throughput.py            # about 4 minutes on 2 CPU cores
    python benchmarks/grid_throughput.py --runs 2   # shorter, noisier

Trains the same small grid (one-cycle, the page's model on normalized inputs,
one epoch per run, seeds 0..runs-1) from scratch with ``run_grid`` in a
temporary folder, once per layout: 1 worker x all cores as threads, and
2 workers x cores/2 threads (and 1 worker x 1 thread, for the cost of a run
alone on one core). Wall-clock time includes starting the worker processes.
Writes benchmarks/grid_throughput.json (read by the book's appendix). Run it
on an otherwise idle machine: other load slows every layout.
"""

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from nbsupport.runs import flush_subnormals, provenance

HERE = Path(__file__).resolve().parent

GRID = '''from nbsupport import RunConfig
RUNS = [RunConfig(schedule="one_cycle", lr=0.001, epochs=1, seed=s, scaling="normalized") for s in range({runs})]
'''


def measure(workers, threads, runs):
    from nbsupport.grid import load_results, run_grid

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "throughput.py"
        path.write_text(GRID.format(runs=runs))
        start = time.perf_counter()
        run_grid(str(path), workers=workers, threads=threads, progress=False)
        wall = time.perf_counter() - start
        rows = load_results(Path(tmp) / "results" / "throughput.csv")
    per_run = float(rows.seconds.mean())
    return {"workers": workers, "threads_per_worker": threads, "runs": runs, "wall_s": round(wall, 1),
            "seconds_per_run": round(per_run, 1), "runs_per_hour": round(3600 * runs / wall, 1),
            "val_acc": [float(a) for a in rows.sort_values("seed").val_acc]}


def main(argv=None):
    flush_subnormals()  # as the grid command does
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4, help="runs per layout (default 4; even, so 2 workers stay busy)")
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error(f"--runs must be at least 2 (got {args.runs}), so that two workers both get a run")
    cores = os.cpu_count() or 1
    layouts = [(1, cores), (2, max(1, cores // 2)), (1, 1)]
    results = []
    for workers, threads in layouts:
        print(f"{workers} worker(s) x {threads} thread(s): {args.runs} one-epoch runs ...", flush=True)
        r = measure(workers, threads, args.runs)
        results.append(r)
        print(f"  wall {r['wall_s']:.0f} s, {r['seconds_per_run']:.1f} s per run inside its worker, "
              f"{r['runs_per_hour']:.0f} one-epoch runs per hour", flush=True)
    # A run's numbers depend on its thread count, not on how many workers run beside it.
    by_threads = {}
    for r in results:
        by_threads.setdefault(r["threads_per_worker"], set()).add(tuple(r["val_acc"]))
    same = all(len(v) == 1 for v in by_threads.values())
    out = {"machine": {**provenance(), "cores": cores, "python": platform.python_version()},
           "epochs_per_run": 1, "layouts": results, "same_threads_same_results": same}
    (HERE / "grid_throughput.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {HERE / 'grid_throughput.json'}; same thread count, same val_acc: {same}")


if __name__ == "__main__":
    main()
