"""The runs' data sets, loaded as the original page loads MNIST: a seeded 55,000/5,000 split, batch size 32.

``DATASETS`` are ``"mnist"`` (the page's) and ``"fashion_mnist"`` (Xiao et al. 2017: the same format and
size, ten classes of clothing). Each has the page's two input scalings and its 10,000 test images; the
generic entry points are ``dataset_tensors``, ``dataset_test_tensors``, ``dataset_labels`` and
``dataset_loaders``; the ``mnist_*`` functions are MNIST's, unchanged.

Where MNIST's files come from, in order: the ``root`` argument, the folder named by the environment
variable ``NBSUPPORT_DATA``, then ``data/`` at the repository root. Each is a folder that holds
``MNIST/raw/``. If none holds the files, torchvision downloads them into the first one.

Fashion-MNIST is searched in ``<folder>/FashionMNIST/raw/`` of the same folders, then in the Debian
package's folder; its idx files are read in place (``nbsupport.fashion_mnist``).
"""

import os
from pathlib import Path

import torch
from torch.utils.data import Subset, random_split
from torchvision import datasets, transforms

from ._lazy import lazy_reexports

ENV_VAR = "NBSUPPORT_DATA"
SPLIT = (55_000, 5_000)
SPLIT_SEED = 42
TEST_SIZE = 10_000
DATASETS = ("mnist", "fashion_mnist")
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
# Over the 60,000 training images of the files, pixels in [0, 1] (tests/test_data.py recomputes them):
# 0.28604060, 0.35302424.
FASHION_MNIST_MEAN, FASHION_MNIST_STD = 0.2860, 0.3530
NORMALIZATION = {"mnist": (MNIST_MEAN, MNIST_STD), "fashion_mnist": (FASHION_MNIST_MEAN, FASHION_MNIST_STD)}
SCALINGS = ("page", "normalized")
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class DatasetNotFoundError(FileNotFoundError):
    """A data set is in none of the folders searched and could not be downloaded."""


class MNISTNotFoundError(DatasetNotFoundError):
    """MNIST is in none of the data folders and could not be downloaded."""


class FashionMNISTNotFoundError(DatasetNotFoundError):
    """Fashion-MNIST is in none of the data folders (nor the Debian package's) and could not be downloaded."""


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


def _download(fetch, download):
    """``(fetch(), None)``, or ``(None, why nothing was downloaded)`` for the not-found error's message."""
    if not download:
        return None, "download=False"
    try:
        return fetch(), None
    except (RuntimeError, OSError) as exc:  # torchvision wraps URL errors in RuntimeError
        return None, f"the download failed ({type(exc).__name__}: {str(exc).splitlines()[0]})"


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
    got, reason = _download(lambda: datasets.MNIST(folders[0], train=train, transform=transform, download=True),
                            download)
    if got is not None:
        return got
    looked = "\n".join(f"  {f / 'MNIST' / 'raw'}" for f in folders)
    raise MNISTNotFoundError(
        f"MNIST was not found and {reason}. Looked for the four files "
        f"{', '.join(RAW_FILES)} (or their .gz) in:\n{looked}\n"
        f"Put them in one of these folders, or set {ENV_VAR} to a folder that holds "
        f"MNIST/raw/, or pass root=... ; with internet access, download=True fetches them."
    )


def _check_dataset(dataset):
    if dataset not in DATASETS:
        raise ValueError(f"dataset={dataset!r} is not allowed; use one of {DATASETS}")


def _check_scaling(scaling, dataset="mnist"):
    if scaling not in SCALINGS:
        mean, std = NORMALIZATION.get(dataset, NORMALIZATION["mnist"])
        raise ValueError(
            f"scaling must be one of {SCALINGS}: 'page' is ToTensor() then /255 "
            f"(inputs in [0, 1/255]) as on the original page, 'normalized' is "
            f"(x - {mean}) / {std}; got {scaling!r}"
        )


def page_transform(scaling: str, dataset: str = "mnist"):
    """The torchvision transform for a scaling: the page's ``ToTensor()`` then ``/255``, or the usual
    normalization with ``dataset``'s own mean and std."""
    _check_dataset(dataset)
    _check_scaling(scaling, dataset)
    if scaling == "page":
        return transforms.Compose([transforms.ToTensor(), transforms.Lambda(lambda x: x / 255)])
    mean, std = NORMALIZATION[dataset]
    return transforms.Compose([transforms.ToTensor(), transforms.Normalize((mean,), (std,))])


def split_indices(n: int = sum(SPLIT)):
    """Indices of the seeded 55,000/5,000 train/valid split, as ``random_split`` draws them."""
    train, valid = random_split(range(n), SPLIT, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return list(train), list(valid)


def mnist_datasets(root=None, *, scaling: str, download: bool = True):
    """The page's pipeline: torchvision MNIST with transforms, split into train and valid ``Subset``s."""
    ds = _mnist(root, train=True, transform=page_transform(scaling), download=download)
    train_idx, valid_idx = split_indices(len(ds))
    return Subset(ds, train_idx), Subset(ds, valid_idx)


def scale_images(images: torch.Tensor, scaling: str, dataset: str = "mnist") -> torch.Tensor:
    """uint8 images (N, 28, 28) to float (N, 1, 28, 28), bit-identical to the torchvision transform
    (``"normalized"`` with ``dataset``'s own mean and std)."""
    _check_dataset(dataset)
    _check_scaling(scaling, dataset)
    x = images.unsqueeze(1).to(torch.float32).div(255)
    if scaling == "page":
        return x / 255
    mean, std = NORMALIZATION[dataset]
    return x.sub(mean).div(std)


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


# -- the data sets by name (Fashion-MNIST's files are read in nbsupport.fashion_mnist) -------------------

def _images_and_labels(dataset, root=None, *, train: bool, download: bool = True):
    if dataset == "fashion_mnist":
        from .fashion_mnist import _fashion_mnist

        return _fashion_mnist(root, train=train, download=download)
    ds = _mnist(root, train=train, download=download)
    return ds.data, ds.targets.clone()


def dataset_tensors(dataset: str, root=None, *, scaling: str, download: bool = True):
    """A data set's seeded 55,000/5,000 split as in-memory tensors ``((x_train, y_train), (x_valid, y_valid))``.

    ``dataset`` is one of ``DATASETS``; the split is the same indices for every data set (``split_indices``),
    and ``"normalized"`` uses the data set's own mean and std (``NORMALIZATION``). ``"mnist"`` is
    ``mnist_tensors``.
    """
    _check_dataset(dataset)
    _check_scaling(scaling, dataset)
    if dataset == "mnist":
        return mnist_tensors(root, scaling=scaling, download=download)
    images, y = _images_and_labels(dataset, root, train=True, download=download)
    x = scale_images(images, scaling, dataset)
    train_idx, valid_idx = (torch.tensor(i) for i in split_indices(len(images)))
    return (x[train_idx], y[train_idx]), (x[valid_idx], y[valid_idx])


def dataset_test_tensors(dataset: str, root=None, *, scaling: str, download: bool = True):
    """A data set's 10,000 test images ``(x_test, y_test)``, in the test file's order (``"mnist"``:
    ``mnist_test_tensors``). Nothing in the book is chosen on them: they score the stored runs' predictions."""
    _check_dataset(dataset)
    _check_scaling(scaling, dataset)
    if dataset == "mnist":
        return mnist_test_tensors(root, scaling=scaling, download=download)
    images, y = _images_and_labels(dataset, root, train=False, download=download)
    return scale_images(images, scaling, dataset), y


def dataset_labels(dataset: str, root=None, *, download: bool = True):
    """``(valid_labels, test_labels)`` of a data set as NumPy arrays, in the order of a stored run's
    predictions file (``"mnist"``: ``mnist_labels``)."""
    _check_dataset(dataset)
    if dataset == "mnist":
        return mnist_labels(root, download=download)
    _, train_labels = _images_and_labels(dataset, root, train=True, download=download)
    _, valid_idx = split_indices(len(train_labels))
    _, test_labels = _images_and_labels(dataset, root, train=False, download=download)
    return train_labels[torch.tensor(valid_idx)].numpy(), test_labels.numpy()


# The loaders live in their own module; they stay importable from here, where chapters and the page's
# code find them.
from .loaders import TensorLoader, dataset_loaders, mnist_loaders  # noqa: E402,F401

# Fashion-MNIST's folders and idx files: ``nbsupport.fashion_mnist``, re-exported here (lazily: it imports this).
__getattr__, __dir__ = lazy_reexports(__name__, {"fashion_mnist": (
    "DEBIAN_FASHION_MNIST_DIR", "DEBIAN_PACKAGE", "FASHION_MNIST_FOLDER", "fashion_mnist_dirs", "read_idx",
    "_fashion_mnist", "_fashion_mnist_folder", "_idx_file")})
