"""What decides a seeded run's arithmetic, and when a re-trained run must repeat its stored row bit for bit.

A seeded CPU run repeats itself exactly only on the same floating-point path:
the same torch build, the same MKL and oneDNN (which pick kernels by CPU vendor
and model, not only by the instruction set), the same CPU, the same thread
count and the same subnormal handling. ``fingerprint()`` records all of that
(measured where it can be: flush-to-zero is tested, not assumed), every stored
row carries it, and ``match_rule`` says which comparison applies to a re-made
entry: exact when the whole fingerprint matches, within a band otherwise.

The environment variable ``NBSUPPORT_FAKE_FINGERPRINT`` (JSON, e.g.
``{"cpu_model": "Other CPU"}``) overrides fields of this machine's
fingerprint; the tests use it to check that a stored row from a foreign
machine is compared within the band, end to end through the command line.
"""

import contextlib
import functools
import json
import os
import platform
import re

import torch

FAKE_ENV_VAR = "NBSUPPORT_FAKE_FINGERPRINT"
#: The fields of a fingerprint, as columns of a results row.
FINGERPRINT_COLUMNS = ("device", "cpu_vendor", "cpu_model", "hardware", "mkl_version", "onednn_version",
                       "torch_version", "threads", "flush_to_zero", "deterministic")


@functools.lru_cache(maxsize=1)
def cpu_identity():
    """``(vendor, model)`` of this CPU from ``/proc/cpuinfo``; the model names family, model and stepping too,
    since virtual machines often report a generic model name."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    vendor = fields.get("vendor_id") or platform.processor() or platform.machine()
    name = fields.get("model name") or platform.processor() or platform.machine()
    numbers = [f"{k} {fields[k]}" for k in ("cpu family", "model", "stepping") if k in fields]
    return vendor, f"{name} ({', '.join(numbers)})" if numbers else name


@functools.lru_cache(maxsize=1)
def library_versions():
    """``(mkl_version, onednn_version)`` of this torch build, read from ``torch.__config__.show()``."""
    text = torch.__config__.show()
    mkl = re.search(r"Math Kernel Library Version ([^\s]+)", text)
    onednn = re.search(r"MKL-DNN (v[\d.]+)", text)
    return (mkl.group(1) if mkl else "none"), (onednn.group(1) if onednn else "none")


def flush_to_zero_active() -> bool:
    """Whether this thread flushes subnormal floats to zero, measured: a subnormal result comes out as 0."""
    return bool((torch.tensor([1e-38], dtype=torch.float32) / 100).item() == 0.0)


@contextlib.contextmanager
def flush_to_zero(enabled=True):
    """Flush subnormals to zero (or not) inside the block, and restore the previous (measured) state after.

    At high learning rates and late in long runs some values underflow into
    subnormal numbers, and steps then ran up to 10x slower on our CPU, so stored
    runs are trained with flushing on. The flag is per thread, and torch's
    worker threads copy it when they are created: a process that trains with
    more than one thread should set it before its first parallel operation
    (the grid command does, at its start).
    """
    previous = flush_to_zero_active()
    torch.set_flush_denormal(bool(enabled))
    try:
        yield
    finally:
        torch.set_flush_denormal(previous)


def _fake_fields():
    text = os.environ.get(FAKE_ENV_VAR, "").strip()
    if not text:
        return {}
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{FAKE_ENV_VAR} must be a JSON object of fingerprint fields, got {text!r} ({exc})")
    unknown = sorted(set(fields) - set(FINGERPRINT_COLUMNS))
    if not isinstance(fields, dict) or unknown:
        raise ValueError(f"{FAKE_ENV_VAR}: unknown fields {unknown}; allowed: {FINGERPRINT_COLUMNS}")
    return fields


def fingerprint(device="cpu") -> dict:
    """This machine's floating-point path for a run on ``device``, right now (threads, flush-to-zero)."""
    device = torch.device(device)
    vendor, model = cpu_identity()
    mkl, onednn = library_versions()
    if device.type == "cuda":
        hardware = f"cuda:{torch.cuda.get_device_name(device)}"
    else:
        hardware = f"cpu:{torch.backends.cpu.get_cpu_capability()}"
    fp = {
        "device": device.type,
        "cpu_vendor": vendor,
        "cpu_model": model,
        "hardware": hardware,
        "mkl_version": mkl,
        "onednn_version": onednn,
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "flush_to_zero": flush_to_zero_active(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
    }
    fp.update(_fake_fields())
    return fp


def _text(value):
    """A fingerprint value as stored in the CSV ('True'/'False' for flags, whatever pandas made of them)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def match_rule(record, row):
    """``(exact, reason)``: whether a re-made entry ``record`` must repeat the stored ``row`` bit for bit.

    Exact only when every field of the fingerprint agrees and, on a GPU, both ran with deterministic
    algorithms on; ``reason`` says in a few words which rule applies and why (the first field that differs,
    or that the row was stored without one).
    """
    missing = [c for c in FINGERPRINT_COLUMNS if _text(row.get(c, "")) in ("", "nan", "None")]
    if missing:
        return False, f"band: the row has no {missing[0]} (stored before fingerprints)"
    for column in FINGERPRINT_COLUMNS:
        stored, here = _text(row[column]), _text(record[column])
        if stored != here:
            return False, f"band: {column} differs (stored {stored!r}, here {here!r})"
    if _text(row["device"]) != "cpu" and _text(row["deterministic"]) != "True":
        return False, "band: a GPU run without deterministic algorithms does not repeat bit for bit"
    return True, "exact: the whole fingerprint matches"
