"""Plant known bugs one at a time in a copy of the repository and check that a test catches each.

    python tools/planted_bugs.py            # every bug (a few minutes)
    python tools/planted_bugs.py nan_step   # the bugs whose name contains "nan_step"

Each entry replaces one exact piece of code (it must occur once) and names the test files meant to catch it
(``tests/README.md`` says which test). Those files must pass on the unchanged copy first, so that a failure
with the bug planted is the bug's doing. The copy holds the committed and uncommitted files git knows about;
the working tree is never touched. Prints one line per bug and exits 1 if any bug went uncaught.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# name, file, code, planted code, test files; several replacements in one file: a list of (code, planted)
# pairs and None
BUGS = [
    ("paired: interval half as wide (the old Z 2 -> 1 threshold)", "nbsupport/paired.py",
     "half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se",
     "half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se / 2", ["tests/test_paired.py"]),
    ("match rule: exactness ignores the thread count", "nbsupport/fingerprint.py",
     "    for column in FINGERPRINT_COLUMNS:\n",
     "    for column in [c for c in FINGERPRINT_COLUMNS if c != 'threads']:\n",
     ["tests/test_grid.py", "tests/test_range_tests.py"]),
    ("match rule: exactness ignores flush-to-zero", "nbsupport/fingerprint.py",
     "    for column in FINGERPRINT_COLUMNS:\n",
     "    for column in [c for c in FINGERPRINT_COLUMNS if c != 'flush_to_zero']:\n",
     ["tests/test_grid.py", "tests/test_range_tests.py"]),
    ("match rule: the exact path ignores val_acc_epochs", "nbsupport/run_records.py",
     "\n              and record[\"val_acc_epochs\"] == row[\"val_acc_epochs\"])",
     ")", ["tests/test_grid.py"]),
    ("match rule: a GPU row exact without deterministic algorithms", "nbsupport/fingerprint.py",
     "if _text(row[\"device\"]) != \"cpu\" and _text(row[\"deterministic\"]) != \"True\":",
     "if False:", ["tests/test_grid.py"]),
    ("range tests: the cross-machine band 50x wider", "nbsupport/range_tests.py",
     "<= math.log10(2))", "<= math.log10(100))", ["tests/test_range_tests.py"]),
    ("runs: nan_step one late", "nbsupport/runs.py",
     "nan_step = trainer.step + 1", "nan_step = trainer.step + 2", ["tests/test_runs.py"]),
    ("runs: nan_step one early", "nbsupport/runs.py",
     "nan_step = trainer.step + 1", "nan_step = trainer.step", ["tests/test_runs.py"]),
    ("schedules: schedule-free warm-up 50% in the registry", "nbsupport/schedules.py",
     "_schedule_free, {\"warmup_frac\": WARMUP_FRAC}", "_schedule_free, {\"warmup_frac\": 0.5}",
     ["tests/test_runs.py"]),
    ("optimizers: schedule-free warm-up 50% where the optimizer is built", "nbsupport/optimizers.py",
     "warmup_steps=schedule_free_warmup(total_steps))", "warmup_steps=total_steps // 2)",
     ["tests/test_runs.py"]),
    ("grid: the 'stored twice' guard removed", "nbsupport/grid.py",
     "raise DamagedTableError(f\"{grid.results_path}: run {row['run_id']} is stored twice\")",
     "pass", ["tests/test_range_tests.py", "tests/test_grid.py"]),
    ("lr_finder: suggestions include the point where the test stopped", "nbsupport/lr_finder.py",
     "usable = len(smoothed) - 1 if diverged else len(smoothed)", "usable = len(smoothed)",
     ["tests/test_lr_finder.py"]),
    ("lr_finder: diverge_factor=None stops at 4x the best loss too", "nbsupport/lr_finder.py",
     "(self.diverge_factor is not None and value > self.diverge_factor * self.best)",
     "value > (self.diverge_factor or 4.0) * self.best", ["tests/test_lr_finder.py"]),
    ("training: after_fit not sent after a NaN", "nbsupport/training.py",
     "            bar.close()\n            self._emit(\"after_fit\")",
     "            bar.close()\n        self._emit(\"after_fit\")", ["tests/test_training.py"]),
    ("callbacks: StopAfterEpochs one epoch late", "nbsupport/callbacks.py",
     "if len(trainer.epoch_log[\"loss\"]) >= self.epochs:", "if len(trainer.epoch_log[\"loss\"]) > self.epochs:",
     ["tests/test_callbacks.py", "tests/test_runs.py"]),
    ("training: after_loss sent after the update", "nbsupport/training.py",
     [("        self._emit(\"after_loss\")  # a callback may end the fit here, before the update (the LR range test)\n",
       ""),
      ("        self.optim.step()\n", "        self.optim.step()\n        self._emit(\"after_loss\")\n")],
     None, ["tests/test_training.py"]),
    ("lr_finder: each lr applied one step late", "nbsupport/lr_finder.py",
     "lr = self.lrs[trainer.step]", "lr = self.lrs[max(trainer.step - 1, 0)]", ["tests/test_lr_finder.py"]),
    ("probes: probe_run reports the lr after its step instead of the one it trained with", "nbsupport/probes.py",
     "    def after_step(self, trainer):\n        if trainer.step in self.steps:",
     "    def after_step(self, trainer):\n        self.before_batch(trainer)\n        if trainer.step in self.steps:",
     ["tests/test_probes.py"]),
    ("lr_finder: the range test takes the argmax of any model's output", "nbsupport/lr_finder.py",
     "accuracy=valid_loader is not None)", "accuracy=True)", ["tests/test_lr_finder.py"]),
    ("probes: probe_run probes MNIST whatever the config's data set", "nbsupport/probes.py",
     "_dataset_cached(config.dataset, config.scaling)", "_dataset_cached(\"mnist\", config.scaling)",
     ["tests/test_probes.py"]),
]


def copy_tree(dest):
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def main(pattern=""):
    bugs = [b for b in BUGS if pattern in b[0]]
    if not bugs:
        sys.exit(f"no planted bug's name contains {pattern!r}; names: " + "; ".join(b[0] for b in BUGS))
    env = dict(os.environ, NBSUPPORT_PROGRESS="0")
    missed = []
    with tempfile.TemporaryDirectory(prefix="planted-") as tmp:
        copy = Path(tmp)
        copy_tree(copy)
        env["PYTHONPATH"] = str(copy)
        where = subprocess.run([sys.executable, "-c", "import nbsupport; print(nbsupport.__file__)"], cwd=copy,
                               env=env, capture_output=True, text=True, check=True).stdout.strip()
        if not where.startswith(str(copy)):
            sys.exit(f"the copy's nbsupport is not the one imported ({where}); run from a plain checkout")
        def pytest(tests):
            return subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests],
                                  cwd=copy, env=env, capture_output=True, text=True)

        # A failure counts as a catch only if the same tests pass on the unchanged copy.
        for tests in dict.fromkeys(tuple(b[4]) for b in bugs):
            baseline = pytest(tests)
            if baseline.returncode != 0:
                sys.exit(f"{' '.join(tests)} fail without any planted bug:\n{baseline.stdout[-2000:]}")
        for name, path, code, planted, tests in bugs:
            target = copy / path
            original = changed = target.read_text()
            for old, new in (code if planted is None else [(code, planted)]):
                if changed.count(old) != 1:
                    sys.exit(f"{name}: the code to replace occurs {changed.count(old)} times in {path}, not once")
                changed = changed.replace(old, new)
            target.write_text(changed)
            start = time.perf_counter()
            result = pytest(tests)
            target.write_text(original)
            caught = result.returncode == 1
            failed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("FAILED")]
            if result.returncode not in (0, 1):
                sys.exit(f"{name}: pytest exited {result.returncode}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
            print(f"{'caught' if caught else 'MISSED'}  {name}  ({time.perf_counter() - start:.0f} s)"
                  + (f"  by {failed[0]}" if failed else ""), flush=True)
            if not caught:
                missed.append(name)
    print(f"{len(bugs) - len(missed)} of {len(bugs)} planted bugs caught")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
