"""Where does training time go? Times the page's model at batch size 32 on this machine, in one run.

    python benchmarks/train_speed.py            # about 4 minutes on 2 CPU cores
    python benchmarks/train_speed.py --quick    # skips the whole 3-epoch run

Each path is timed in several interleaved repeats and the fastest repeat is
kept: on a shared machine, other load only ever makes a run slower. Prints a
table and writes benchmarks/results.json (read by the book's appendix)
and benchmarks/results.md. Compare the ratios within one run; absolute times on
a shared machine drift from run to run.
"""

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import OneCycleLR
from torch.utils.flop_counter import FlopCounterMode

from nbsupport import SchedulerStatsCallback, Trainer, lr_range_test, mnist_loaders, mnist_model, seed_everything

HERE = Path(__file__).resolve().parent


class Take:
    """The first ``n`` batches of a loader, as a loader of length ``n``."""

    def __init__(self, loader, n):
        self.loader, self.n = loader, n

    def __len__(self):
        return self.n

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i == self.n:
                return
            yield batch


def setup(seed=0, memory_format=None, total_steps=10_000):
    seed_everything(seed)
    model = mnist_model()
    if memory_format is not None:
        model = model.to(memory_format=memory_format)
    optim = torch.optim.AdamW(model.parameters(), lr=0.001)
    scheduler = OneCycleLR(optim, max_lr=0.01, total_steps=total_steps)
    return model, optim, scheduler


def time_trainer(loader, steps, memory_format=None):
    """Seconds for ``steps`` steps of the Trainer with the stats callback, and the losses it logged."""
    model, optim, scheduler = setup(memory_format=memory_format, total_steps=steps)
    trainer = Trainer(model, optim, F.cross_entropy, scheduler, callbacks=[SchedulerStatsCallback(optim)],
                      device="cpu", progress=False, verbose=False)
    start = time.perf_counter()
    trainer.run(epochs=1, train_loader=Take(loader, steps))
    return time.perf_counter() - start, trainer.train_log["loss"]


def time_bare(loader, steps, memory_format=None):
    """The same steps in a hand-written loop: no Trainer, no callbacks, no accuracy."""
    model, optim, scheduler = setup(memory_format=memory_format, total_steps=steps)
    model.train()
    losses = []
    start = time.perf_counter()
    for x, y in Take(loader, steps):
        loss = F.cross_entropy(model(x), y)
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        scheduler.step()
        losses.append(loss.item())
    return time.perf_counter() - start, losses


def trainer_bookkeeping_ms(repeats=2000, batch_size=32):
    """What the Trainer adds to each step, timed on its own: accuracy, NaN check, logs, stats callback.

    End-to-end step times on a shared 2-core machine scatter by more than the
    few percent this costs, so it is measured directly, over many repetitions.
    """
    model, optim, scheduler = setup(total_steps=10)
    trainer = Trainer(model, optim, F.cross_entropy, scheduler, callbacks=[SchedulerStatsCallback(optim)],
                      device="cpu", progress=False, verbose=False)
    out, y = torch.randn(batch_size, 10), torch.randint(0, 10, (batch_size,))
    loss = F.cross_entropy(out, y)
    start = time.perf_counter()
    for _ in range(repeats):
        value = loss.item()
        assert math.isfinite(value)
        n_correct = (out.argmax(dim=1) == y).sum().item()
        trainer._log_step(value, n_correct / batch_size, window=86)
    return (time.perf_counter() - start) / repeats * 1e3


def training_flops_per_step(batch_size=32):
    """Forward and backward FLOPs of one training step, counted by PyTorch."""
    model = mnist_model()
    x, y = torch.zeros(batch_size, 1, 28, 28), torch.zeros(batch_size, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops()


def matmul_flops_per_second(n=1024, repeats=20):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - start)
    return 2 * n**3 / min(times)


def operator_profile(loader, steps=100, top=8):
    """Self CPU time by operator over ``steps`` steps of the nbsupport path."""
    model, optim, scheduler = setup(total_steps=steps)
    trainer = Trainer(model, optim, F.cross_entropy, scheduler, device="cpu", progress=False, verbose=False)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        trainer.run(epochs=1, train_loader=Take(loader, steps))
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    return [{"op": e.key, "share": e.self_cpu_time_total / total, "ms_per_step": e.self_cpu_time_total / 1e3 / steps}
            for e in events[:top]]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="timed steps per measurement (default 150)")
    parser.add_argument("--repeats", type=int, default=7,
                        help="interleaved repeats; the fastest is kept, as other load only ever slows a run down")
    parser.add_argument("--quick", action="store_true", help="skip the whole 3-epoch run")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())

    # Fresh loaders for every measurement, so every path trains on the same seeded batches.
    make_page = lambda: mnist_loaders(scaling="page", in_memory=False)[0]  # noqa: E731
    make_fast = lambda: mnist_loaders(scaling="page")[0]  # noqa: E731
    make_cl = lambda: mnist_loaders(scaling="page", memory_format=torch.channels_last)[0]  # noqa: E731
    paths = {
        "page pipeline (torchvision + DataLoader, NCHW)": lambda: time_trainer(make_page(), args.steps),
        "nbsupport path (in-memory tensors)": lambda: time_trainer(make_fast(), args.steps),
        "nbsupport path + channels_last": lambda: time_trainer(make_cl(), args.steps, torch.channels_last),
        "bare loop (in-memory tensors)": lambda: time_bare(make_fast(), args.steps),
        "bare loop + channels_last": lambda: time_bare(make_cl(), args.steps, torch.channels_last),
    }
    times = {name: [] for name in paths}
    losses = {}
    for _ in range(args.repeats):
        for name, fn in paths.items():
            seconds, losses[name] = fn()
            times[name].append(seconds)

    flops = training_flops_per_step()
    rate = matmul_flops_per_second()
    bound_ms = flops / rate * 1e3
    rows = []
    for name, ts in times.items():
        ms = min(ts) / args.steps * 1e3
        rows.append({"path": name, "ms_per_step": ms, "steps_per_s": 1e3 / ms, "samples_per_s": 32e3 / ms,
                     "x_compute_bound": ms / bound_ms, "spread_ms": (max(ts) - min(ts)) / args.steps * 1e3})
    by = {r["path"]: r["ms_per_step"] for r in rows}
    bookkeeping = trainer_bookkeeping_ms()
    page, fast, fast_cl = (by["page pipeline (torchvision + DataLoader, NCHW)"],
                           by["nbsupport path (in-memory tensors)"], by["nbsupport path + channels_last"])
    bare, bare_cl = by["bare loop (in-memory tensors)"], by["bare loop + channels_last"]
    ref = losses["page pipeline (torchvision + DataLoader, NCHW)"]
    results = {
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                    "torch": torch.__version__},
        "steps": args.steps, "repeats": args.repeats, "rows": rows,
        "train_flops_per_step": flops, "matmul_gflops": rate / 1e9, "compute_bound_ms_per_step": bound_ms,
        "ratios": {
            "page_over_nbsupport": page / fast, "page_over_nbsupport_channels_last": page / fast_cl,
            "trainer_overhead": fast / bare - 1, "trainer_overhead_channels_last": fast_cl / bare_cl - 1,
            "trainer_bookkeeping_ms": bookkeeping, "trainer_bookkeeping_share": bookkeeping / bare,
        },
        "same_losses": {
            "nbsupport_vs_page_max_abs_diff": max(abs(a - b) for a, b in zip(ref, losses["nbsupport path (in-memory tensors)"])),
            "channels_last_vs_page_max_abs_diff": max(abs(a - b) for a, b in zip(ref, losses["nbsupport path + channels_last"])),
        },
        "profile": operator_profile(make_fast()),
    }
    # One whole epoch (training and validation) of each data path: the per-epoch ratio.
    epoch = {}
    for name, memory_format, in_memory in (("page pipeline", None, False), ("nbsupport path", None, True),
                                           ("nbsupport path + channels_last", torch.channels_last, True)):
        train, valid = mnist_loaders(scaling="page", in_memory=in_memory, memory_format=memory_format)
        model, optim, scheduler = setup(memory_format=memory_format, total_steps=len(train))
        trainer = Trainer(model, optim, F.cross_entropy, scheduler, callbacks=[SchedulerStatsCallback(optim)],
                          device="cpu", progress=False, verbose=False)
        start = time.perf_counter()
        trainer.run(epochs=1, train_loader=train, valid_loader=valid)
        epoch[name] = {"seconds": time.perf_counter() - start, "val_acc": trainer.valid_log["accs"][-1]}
    results["epoch"] = epoch
    results["ratios"]["epoch_page_over_nbsupport"] = epoch["page pipeline"]["seconds"] / epoch["nbsupport path"]["seconds"]
    results["ratios"]["epoch_page_over_nbsupport_channels_last"] = (
        epoch["page pipeline"]["seconds"] / epoch["nbsupport path + channels_last"]["seconds"])

    seed_everything(0)
    model = mnist_model()
    optim = torch.optim.AdamW(model.parameters(), lr=0.001)
    start = time.perf_counter()
    fast_train, fast_valid = mnist_loaders(scaling="page")
    lr_range_test(model, optim, F.cross_entropy, fast_train, progress=False)
    results["lr_range_test_seconds"] = time.perf_counter() - start
    if not args.quick:
        model, optim, _ = setup()
        scheduler = OneCycleLR(optim, max_lr=0.01, steps_per_epoch=len(fast_train), epochs=3)
        trainer = Trainer(model, optim, F.cross_entropy, scheduler, callbacks=[SchedulerStatsCallback(optim)],
                          progress=False, verbose=False)
        start = time.perf_counter()
        trainer.run(epochs=3, train_loader=fast_train, valid_loader=fast_valid)
        results["three_epoch_run_seconds"] = time.perf_counter() - start
        results["three_epoch_val_acc"] = trainer.valid_log["accs"][-1]

    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["| path | ms/step | steps/s | samples/s | × compute bound |", "|---|---|---|---|---|"]
    lines += [f"| {r['path']} | {r['ms_per_step']:.2f} | {r['steps_per_s']:.0f} | {r['samples_per_s']:.0f} | "
              f"{r['x_compute_bound']:.1f} |" for r in rows]
    lines.append(f"| compute-bound limit ({flops / 1e6:.0f} MFLOP/step at {rate / 1e9:.0f} GFLOP/s) | "
                 f"{bound_ms:.2f} | | | 1.0 |")
    table = "\n".join(lines)
    (HERE / "results.md").write_text(table + "\n")
    print(table)
    print(json.dumps({k: results[k] for k in ("ratios", "same_losses", "epoch", "lr_range_test_seconds")}, indent=2))
    if "three_epoch_run_seconds" in results:
        print(f"whole 3-epoch run: {results['three_epoch_run_seconds']:.1f} s, val_acc {results['three_epoch_val_acc']:.4f}")
    for p in results["profile"]:
        print(f"{p['op']:<40} {p['share']:6.1%} {p['ms_per_step']:.2f} ms/step")


if __name__ == "__main__":
    main()
