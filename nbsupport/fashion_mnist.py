"""Fashion-MNIST's files (Xiao et al. 2017): where they are looked for, and its idx files read in place.

Searched in ``<folder>/FashionMNIST/raw/`` of the folders ``nbsupport.data`` searches for MNIST, then in the
Debian package's folder ``/usr/share/datasets/fashion-mnist/`` (``apt-get install dataset-fashion-mnist``); if
none holds the four files, torchvision downloads them into the first folder's ``FashionMNIST/raw/``. The idx
files (``.gz`` or extracted) are read with gzip and NumPy, so the read-only package folder is never written to.
The split, the scalings and the loaders are ``nbsupport.data``'s, as for MNIST.
"""

import functools
import gzip
import math
from pathlib import Path

import numpy as np
import torch
from torchvision import datasets

from .data import ENV_VAR, RAW_FILES, SPLIT, TEST_SIZE, FashionMNISTNotFoundError, _download, candidate_dirs

FASHION_MNIST_FOLDER = "FashionMNIST"  # torchvision's: <folder>/FashionMNIST/raw/
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def fashion_mnist_dirs(root=None) -> list:
    """The folders searched for Fashion-MNIST's four files, in order: ``<folder>/FashionMNIST/raw/`` of
    each of ``candidate_dirs(root)``, then the Debian package's folder."""
    dirs = [folder / FASHION_MNIST_FOLDER / "raw" for folder in candidate_dirs(root)]
    dirs.append(Path(DEBIAN_FASHION_MNIST_DIR))
    return list(dict.fromkeys(dirs))


def _idx_file(folder: Path, name: str):
    """``folder/name`` or ``folder/name.gz``, whichever is a file (the extracted one first), else None."""
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return path
    return None


def read_idx(path) -> np.ndarray:
    """An idx file of unsigned bytes (``.gz`` or extracted) as a read-only uint8 array of its shape.

    Read once per file version (path, size and modification time): the four Fashion-MNIST files stay cached.
    """
    path = Path(path)
    stat = path.stat()
    return _read_idx_cached(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_idx_cached(path: str, size: int, mtime_ns: int) -> np.ndarray:
    try:
        with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path} could not be read: {type(exc).__name__}: {exc}") from exc
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not an idx file of unsigned bytes (it starts with {data[:4].hex()!r})")
    header = 4 + 4 * data[3]
    dims = tuple(int(d) for d in np.frombuffer(data[4:header], dtype=">i4"))
    if len(dims) != data[3] or len(data) - header != math.prod(dims):
        raise ValueError(f"{path} is truncated or damaged: its header says {dims}, it holds "
                         f"{len(data) - header} bytes of data")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)  # read-only: bytes back it


def _fashion_mnist_folder(root=None, *, download: bool = True) -> Path:
    """The first folder of ``fashion_mnist_dirs(root)`` with the four files, else where they were downloaded."""
    folders = fashion_mnist_dirs(root)
    found = next((f for f in folders if all(_idx_file(f, name) for name in RAW_FILES)), None)
    if found is not None:
        return found
    target = candidate_dirs(root)[0]
    got, reason = _download(lambda: datasets.FashionMNIST(target, train=True, download=True), download)
    if got is not None:
        return target / FASHION_MNIST_FOLDER / "raw"
    looked = "\n".join(f"  {f}" for f in folders)
    raise FashionMNISTNotFoundError(
        f"Fashion-MNIST was not found and {reason}. Looked for the four files {', '.join(RAW_FILES)} "
        f"(or their .gz) in:\n{looked}\n"
        f"Install the Debian package {DEBIAN_PACKAGE} (apt-get install -y {DEBIAN_PACKAGE}, which puts them "
        f"in {DEBIAN_FASHION_MNIST_DIR}/), or put them in one of these folders, or set {ENV_VAR} to a folder "
        f"that holds {FASHION_MNIST_FOLDER}/raw/, or pass root=... ; with internet access, download=True "
        f"fetches them."
    )


def _fashion_mnist(root=None, *, train: bool, download: bool = True):
    """Fashion-MNIST's training (60,000) or test (10,000) images and labels: uint8 (N, 28, 28), int64 (N,)."""
    folder = _fashion_mnist_folder(root, download=download)
    prefix = "train" if train else "t10k"
    images = read_idx(_idx_file(folder, f"{prefix}-images-idx3-ubyte"))
    labels = read_idx(_idx_file(folder, f"{prefix}-labels-idx1-ubyte"))
    n = sum(SPLIT) if train else TEST_SIZE
    if images.shape != (n, 28, 28) or labels.shape != (n,) or labels.max() > 9:
        raise ValueError(f"{folder}: the {prefix} files are not Fashion-MNIST's: expected {n} images of "
                         f"28x28 and {n} labels 0-9, got images {images.shape} and labels {labels.shape}")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))
