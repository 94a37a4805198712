"""MNIST as the original page loads it: a seeded 55,000/5,000 split, batch size 32.

Where the files come from, in order: the ``root`` argument, the folder named
by the environment variable ``NBSUPPORT_DATA``, then ``data/`` at the
repository root. Each is a folder that holds ``MNIST/raw/``. If none holds the
files, torchvision downloads them into the first one.
"""

import math
import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset, random_split
from torchvision import datasets, transforms

ENV_VAR = "NBSUPPORT_DATA"
SPLIT = (55_000, 5_000)
SPLIT_SEED = 42
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
SCALINGS = ("page", "normalized")
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class MNISTNotFoundError(FileNotFoundError):
    """MNIST is in none of the data folders and could not be downloaded."""


def repo_root() -> Path:
    """The checkout this package lives in (where ``pyproject.toml`` is)."""
    return Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """``data/`` in the checkout, or a cache folder when nbsupport is installed from a wheel."""
    root = repo_root()
    if (root / "pyproject.toml").is_file():
        return root / "data"
    return Path.home() / ".cache" / "nbsupport" / "data"


def candidate_dirs(root=None) -> list:
    """The folders searched for ``MNIST/raw/``, in order, resolved independently of the cwd."""
    dirs = []
    if root is not None:
        dirs.append(Path(root).expanduser().resolve())
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]).expanduser().resolve())
    dirs.append(default_data_dir())
    return list(dict.fromkeys(dirs))


def _has_mnist(folder: Path) -> bool:
    raw = folder / "MNIST" / "raw"
    return all((raw / name).is_file() or (raw / f"{name}.gz").is_file() for name in RAW_FILES)


def _mnist(root=None, *, train: bool, transform=None, download: bool = True):
    """torchvision's MNIST from the first folder that has it, else downloaded."""
    folders = candidate_dirs(root)
    found = next((f for f in folders if _has_mnist(f)), None)
    if found is not None:
        # A folder with only the .gz files still needs torchvision's extraction step.
        return datasets.MNIST(found, train=train, transform=transform, download=True)
    target = folders[0]
    reason = "download=False"
    if download:
        try:
            return datasets.MNIST(target, train=train, transform=transform, download=True)
        except (RuntimeError, OSError) as exc:  # torchvision wraps URL errors in RuntimeError
            reason = f"the download failed ({type(exc).__name__}: {str(exc).splitlines()[0]})"
    looked = "\n".join(f"  {f / 'MNIST' / 'raw'}" for f in folders)
    raise MNISTNotFoundError(
        f"MNIST was not found and {reason}. Looked for the four files "
        f"{', '.join(RAW_FILES)} (or their .gz) in:\n{looked}\n"
        f"Put them in one of these folders, or set {ENV_VAR} to a folder that holds "
        f"MNIST/raw/, or pass root=... ; with internet access, download=True fetches them."
    )


def _check_scaling(scaling):
    if scaling not in SCALINGS:
        raise ValueError(
            f"scaling must be one of {SCALINGS}: 'page' is ToTensor() then /255 "
            f"(inputs in [0, 1/255]) as on the original page, 'normalized' is "
            f"(x - {MNIST_MEAN}) / {MNIST_STD}; got {scaling!r}"
        )


def page_transform(scaling: str):
    """The torchvision transform for a scaling: the page's ``ToTensor()`` then ``/255``, or the usual normalization."""
    _check_scaling(scaling)
    if scaling == "page":
        return transforms.Compose([transforms.ToTensor(), transforms.Lambda(lambda x: x / 255)])
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])


def split_indices(n: int = sum(SPLIT)):
    """Indices of the seeded 55,000/5,000 train/valid split, as ``random_split`` draws them."""
    train, valid = random_split(range(n), SPLIT, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return list(train), list(valid)


def mnist_datasets(root=None, *, scaling: str, download: bool = True):
    """The page's pipeline: torchvision MNIST with transforms, split into train and valid ``Subset``s."""
    ds = _mnist(root, train=True, transform=page_transform(scaling), download=download)
    train_idx, valid_idx = split_indices(len(ds))
    return Subset(ds, train_idx), Subset(ds, valid_idx)


def scale_images(images: torch.Tensor, scaling: str) -> torch.Tensor:
    """uint8 images (N, 28, 28) to float (N, 1, 28, 28), bit-identical to the torchvision transform."""
    _check_scaling(scaling)
    x = images.unsqueeze(1).to(torch.float32).div(255)
    if scaling == "page":
        return x / 255
    return x.sub(MNIST_MEAN).div(MNIST_STD)


def mnist_tensors(root=None, *, scaling: str, download: bool = True):
    """The split as in-memory tensors: ``((x_train, y_train), (x_valid, y_valid))``."""
    _check_scaling(scaling)
    ds = _mnist(root, train=True, download=download)
    x = scale_images(ds.data, scaling)
    y = ds.targets.clone()
    train_idx, valid_idx = (torch.tensor(i) for i in split_indices(len(ds)))
    return (x[train_idx], y[train_idx]), (x[valid_idx], y[valid_idx])


def mnist_test_tensors(root=None, *, scaling: str, download: bool = True):
    """MNIST's 10,000 test images as in-memory tensors ``(x_test, y_test)``, in the test file's order.

    Nothing in the book is chosen on them: they score the stored runs' predictions only.
    """
    _check_scaling(scaling)
    ds = _mnist(root, train=False, download=download)
    return scale_images(ds.data, scaling), ds.targets.clone()


def mnist_labels(root=None, *, download: bool = True):
    """``(valid_labels, test_labels)`` as NumPy arrays, in the order of a stored run's predictions file."""
    train = _mnist(root, train=True, download=download)
    _, valid_idx = split_indices(len(train))
    test = _mnist(root, train=False, download=download)
    return train.targets[torch.tensor(valid_idx)].numpy(), test.targets.numpy()


class TensorLoader:
    """Mini-batches from in-memory tensors, no per-sample work.

    With ``shuffle=True`` and a ``seed``, batches come in exactly the order of
    ``DataLoader(..., shuffle=True, generator=torch.Generator().manual_seed(seed))``,
    epoch after epoch, so the fast path trains on the same batches as the page's.
    """

    def __init__(self, x, y, batch_size=32, shuffle=False, seed=0, drop_last=False, memory_format=None):
        if len(x) != len(y):
            raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        self.memory_format = memory_format
        self.generator = torch.Generator().manual_seed(seed) if shuffle else None

    def __len__(self):
        n = len(self.x)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self.x)
        if self.shuffle:
            # A DataLoader epoch draws a base seed from its generator, then the
            # sampler's permutation, then (when the sampler runs out) one more
            # permutation it discards. Drawing the same here keeps the two in step.
            torch.empty((), dtype=torch.int64).random_(generator=self.generator)
            order = torch.randperm(n, generator=self.generator)
            torch.randperm(n, generator=self.generator)
        for i in range(len(self)):
            if self.shuffle:
                idx = order[i * self.batch_size:(i + 1) * self.batch_size]
                xb, yb = self.x[idx], self.y[idx]
            else:
                xb = self.x[i * self.batch_size:(i + 1) * self.batch_size]
                yb = self.y[i * self.batch_size:(i + 1) * self.batch_size]
            if self.memory_format is not None:
                xb = xb.contiguous(memory_format=self.memory_format)
            yield xb, yb


def mnist_loaders(root=None, *, scaling: str, batch_size: int = 32, seed: int = 0,
                  in_memory: bool = True, download: bool = True, memory_format=None):
    """Train and valid loaders for the page's split; train is shuffled with a seeded generator.

    ``scaling`` must be chosen: ``"page"`` or ``"normalized"``. ``in_memory=True``
    is the fast path (``TensorLoader``); ``False`` is the page's torchvision
    pipeline through a ``DataLoader``. Both yield the same batches for a seed.
    """
    _check_scaling(scaling)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if in_memory:
        (xt, yt), (xv, yv) = mnist_tensors(root, scaling=scaling, download=download)
        return (
            TensorLoader(xt, yt, batch_size, shuffle=True, seed=seed, memory_format=memory_format),
            TensorLoader(xv, yv, batch_size, shuffle=False, memory_format=memory_format),
        )
    if memory_format is not None:
        raise ValueError("memory_format is only supported with in_memory=True")
    train, valid = mnist_datasets(root, scaling=scaling, download=download)
    return (
        DataLoader(train, batch_size=batch_size, shuffle=True,
                   generator=torch.Generator().manual_seed(seed)),
        DataLoader(valid, batch_size=batch_size, shuffle=False),
    )
