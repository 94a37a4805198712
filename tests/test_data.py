import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset
from torchvision import datasets

from nbsupport import MNISTNotFoundError, TensorLoader, mnist_loaders
from nbsupport.data import ENV_VAR, candidate_dirs, page_transform, scale_images, split_indices


def test_split_is_seeded_and_disjoint():
    train, valid = split_indices()
    assert (len(train), len(valid)) == (55_000, 5_000)
    assert not set(train) & set(valid)
    assert split_indices() == (train, valid)


def test_page_scaling_matches_the_torchvision_transform_bit_for_bit():
    from PIL import Image

    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    for scaling in ("page", "normalized"):
        expected = torch.stack([page_transform(scaling)(Image.fromarray(im.numpy(), mode="L")) for im in images])
        assert torch.equal(scale_images(images, scaling), expected)
    assert scale_images(torch.full((1, 28, 28), 255, dtype=torch.uint8), "page").max().item() == pytest.approx(1 / 255)


def test_scaling_must_be_chosen_from_the_known_ones():
    with pytest.raises(ValueError, match="scaling must be one of \\('page', 'normalized'\\).*got 'standard'"):
        mnist_loaders(scaling="standard")
    with pytest.raises(TypeError):
        mnist_loaders()  # no default: the page's scaling is unusual enough to be chosen on purpose


def test_tensor_loader_shuffles_exactly_like_a_seeded_dataloader():
    x, y = torch.arange(50).float().unsqueeze(1), torch.arange(50)
    fast = TensorLoader(x, y, batch_size=8, shuffle=True, seed=7)
    slow = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(7))
    assert len(fast) == len(slow) == 7
    for _ in range(3):  # the order must agree epoch after epoch, not only in the first one
        for (xf, yf), (xs, ys) in zip(fast, slow, strict=True):
            assert torch.equal(xf, xs) and torch.equal(yf, ys)


def test_tensor_loader_without_shuffle_keeps_order_and_can_drop_last():
    x, y = torch.zeros(10, 1), torch.arange(10)
    assert [b[1].tolist() for b in TensorLoader(x, y, batch_size=4)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(TensorLoader(x, y, batch_size=4, drop_last=True)) == 2
    with pytest.raises(ValueError, match="same length"):
        TensorLoader(x, y[:5])
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        TensorLoader(x, y, batch_size=0)


def test_data_folder_comes_from_argument_then_environment_then_repository(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    dirs = candidate_dirs(tmp_path / "arg")
    assert dirs[:2] == [tmp_path / "arg", tmp_path / "env"]
    assert dirs[2] == Path(__file__).resolve().parent.parent / "data"
    monkeypatch.delenv(ENV_VAR)
    monkeypatch.chdir(tmp_path)  # the working directory never matters
    assert candidate_dirs() == [Path(__file__).resolve().parent.parent / "data"]


def test_missing_data_offline_names_the_folders_and_the_fix(monkeypatch, tmp_path):
    # Nothing listens on port 9 of localhost: torchvision's real download path fails at once.
    monkeypatch.setattr(datasets.MNIST, "mirrors", ["http://127.0.0.1:9/"])
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    monkeypatch.setattr("nbsupport.data.default_data_dir", lambda: tmp_path / "repo-data")
    with pytest.raises(MNISTNotFoundError) as err:
        mnist_loaders(tmp_path / "arg", scaling="page")
    message = str(err.value)
    for folder in ("arg", "env", "repo-data"):
        assert str(tmp_path / folder / "MNIST" / "raw") in message
    assert "download failed" in message and ENV_VAR in message and "train-images-idx3-ubyte" in message


def test_download_false_says_so(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr("nbsupport.data.default_data_dir", lambda: tmp_path / "repo-data")
    with pytest.raises(MNISTNotFoundError, match="download=False"):
        mnist_loaders(tmp_path, scaling="page", download=False)


def _real_mnist_or_skip():
    folder = os.environ.get(ENV_VAR)
    if not folder or not (Path(folder) / "MNIST" / "raw" / "train-images-idx3-ubyte").exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must point {ENV_VAR} at a folder holding MNIST/raw/")
        pytest.skip(f"{ENV_VAR} does not point at MNIST/raw/")


def test_fast_path_yields_the_page_pipelines_batches_on_real_mnist():
    _real_mnist_or_skip()
    fast_train, fast_valid = mnist_loaders(scaling="page", seed=3)
    page_train, page_valid = mnist_loaders(scaling="page", seed=3, in_memory=False)
    assert (len(fast_train), len(fast_valid)) == (len(page_train), len(page_valid)) == (1719, 157)
    for (xf, yf), (xp, yp), _ in zip(fast_train, page_train, range(5)):
        assert torch.equal(xf, xp) and torch.equal(yf, yp)
    xf, _ = next(iter(fast_valid))
    xp, _ = next(iter(page_valid))
    assert torch.equal(xf, xp) and xf.shape == (32, 1, 28, 28)


# -- Fashion-MNIST ----------------------------------------------------------------------------------------

from nbsupport import data as nbdata  # noqa: E402
from nbsupport.data import (DATASETS, DEBIAN_FASHION_MNIST_DIR, DEBIAN_PACKAGE, FASHION_MNIST_MEAN,  # noqa: E402
                            FASHION_MNIST_STD, RAW_FILES, FashionMNISTNotFoundError, dataset_labels,
                            dataset_loaders, dataset_tensors, dataset_test_tensors, fashion_mnist_dirs, read_idx)


def _debian_fashion_or_skip():
    if not all((DEBIAN_FASHION_MNIST_DIR / f"{name}.gz").is_file() for name in RAW_FILES):
        if os.environ.get("CI"):
            pytest.fail(f"CI must install the Debian package {DEBIAN_PACKAGE} (.ci/run does)")
        pytest.skip(f"the Debian package {DEBIAN_PACKAGE} is not installed")


@pytest.fixture
def only_debian(monkeypatch, tmp_path):
    """The search sees empty folders first, then the Debian package's (which must not be written to)."""
    _debian_fashion_or_skip()
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    monkeypatch.setattr("nbsupport.data.default_data_dir", lambda: tmp_path / "repo-data")
    return tmp_path


@pytest.fixture(scope="module")
def fashion():
    """Fashion-MNIST's split and test images in both scalings, loaded once for the tests below."""
    _debian_fashion_or_skip()
    return {scaling: (dataset_tensors("fashion_mnist", scaling=scaling),
                      dataset_test_tensors("fashion_mnist", scaling=scaling)) for scaling in ("page", "normalized")}


def _raw_train():
    folder = nbdata._fashion_mnist_folder()
    return tuple(read_idx(nbdata._idx_file(folder, name)) for name in RAW_FILES[:2])


def test_fashion_mnist_is_searched_in_argument_environment_repository_then_the_debian_package(monkeypatch,
                                                                                            tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    monkeypatch.setattr("nbsupport.data.default_data_dir", lambda: tmp_path / "repo-data")
    assert fashion_mnist_dirs(tmp_path / "arg") == [tmp_path / "arg" / "FashionMNIST" / "raw",
                                                    tmp_path / "env" / "FashionMNIST" / "raw",
                                                    tmp_path / "repo-data" / "FashionMNIST" / "raw",
                                                    Path("/usr/share/datasets/fashion-mnist")]
    assert DATASETS == ("mnist", "fashion_mnist")


def test_fashion_mnist_is_read_in_place_from_the_debian_package(only_debian):
    assert nbdata._fashion_mnist_folder(download=False) == DEBIAN_FASHION_MNIST_DIR
    images, labels = nbdata._fashion_mnist(train=True, download=False)
    assert images.shape == (60_000, 28, 28) and images.dtype == torch.uint8 and labels.dtype == torch.int64
    assert torch.bincount(labels).tolist() == [6000] * 10  # Fashion-MNIST's classes are balanced
    assert not (only_debian / "env").exists() and not (only_debian / "repo-data").exists()  # nothing written


def test_a_folder_earlier_in_the_search_wins_and_one_missing_a_file_is_passed_over(only_debian):
    raw = only_debian / "arg" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in RAW_FILES[:3]:
        (raw / f"{name}.gz").symlink_to(DEBIAN_FASHION_MNIST_DIR / f"{name}.gz")
    assert nbdata._fashion_mnist_folder(only_debian / "arg", download=False) == DEBIAN_FASHION_MNIST_DIR
    (raw / f"{RAW_FILES[3]}.gz").symlink_to(DEBIAN_FASHION_MNIST_DIR / f"{RAW_FILES[3]}.gz")
    assert nbdata._fashion_mnist_folder(only_debian / "arg", download=False) == raw


def test_fashion_mnist_has_the_page_split_sizes_labels_and_the_mnist_split_indices(fashion):
    (xt, yt), (xv, yv) = fashion["page"][0]
    xtest, ytest = fashion["page"][1]
    assert xt.shape == (55_000, 1, 28, 28) and xv.shape == (5_000, 1, 28, 28) and xtest.shape == (10_000, 1, 28, 28)
    assert (len(yt), len(yv), len(ytest)) == (55_000, 5_000, 10_000)
    for y in (yt, yv, ytest):
        assert y.dtype == torch.int64 and y.min().item() == 0 and y.max().item() == 9
    assert torch.bincount(ytest).tolist() == [1000] * 10
    # the same indices as MNIST's split (split_indices over 60,000), the page's [0, 1/255] scaling
    images, labels = _raw_train()
    train_idx, valid_idx = split_indices(60_000)
    assert (train_idx, valid_idx) == split_indices()
    assert torch.equal(yt, torch.from_numpy(labels[train_idx].astype("int64")))
    assert torch.equal(yv, torch.from_numpy(labels[valid_idx].astype("int64")))
    assert torch.equal(xv, scale_images(torch.from_numpy(images[valid_idx]), "page"))
    assert xt.min().item() == 0 and xt.max().item() == pytest.approx(1 / 255)
    # labels in the order of a predictions file: the valid split's, then the test file's
    val_labels, test_labels = dataset_labels("fashion_mnist")
    assert (val_labels == yv.numpy()).all() and (test_labels == ytest.numpy()).all()


def test_fashion_mnist_normalized_uses_its_own_mean_and_std(fashion):
    (xt, yt), (xv, _) = fashion["normalized"][0]
    assert abs(xt.mean().item()) < 0.01 and abs(xt.std().item() - 1) < 0.01
    (pt, pyt), _ = fashion["page"][0]
    assert torch.equal(yt, pyt)
    expected = (pt[:2000] * 255).sub(FASHION_MNIST_MEAN).div(FASHION_MNIST_STD)
    assert torch.allclose(xt[:2000], expected, atol=1e-5)


def test_fashion_mnist_mean_and_std_constants_are_those_of_its_60000_training_images():
    _debian_fashion_or_skip()
    images, _ = _raw_train()
    counts = np.bincount(images.ravel(), minlength=256).astype(np.float64)  # exact, without 47M floats
    values = np.arange(256) / 255
    mean = (counts * values).sum() / counts.sum()
    std = math.sqrt((counts * (values - mean) ** 2).sum() / counts.sum())
    assert counts.sum() == 60_000 * 28 * 28
    assert round(mean, 4) == FASHION_MNIST_MEAN and round(std, 4) == FASHION_MNIST_STD
    assert (FASHION_MNIST_MEAN, FASHION_MNIST_STD) != (nbdata.MNIST_MEAN, nbdata.MNIST_STD)


def test_fashion_normalized_scaling_matches_the_torchvision_transform_bit_for_bit():
    from PIL import Image

    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    expected = torch.stack([page_transform("normalized", "fashion_mnist")(Image.fromarray(im.numpy(), mode="L"))
                            for im in images])
    assert torch.equal(scale_images(images, "normalized", "fashion_mnist"), expected)
    assert not torch.equal(scale_images(images, "normalized", "fashion_mnist"), scale_images(images, "normalized"))
    assert torch.equal(scale_images(images, "page", "fashion_mnist"), scale_images(images, "page"))


def test_missing_fashion_mnist_names_the_debian_package_and_every_folder_searched(monkeypatch, tmp_path):
    monkeypatch.setattr("nbsupport.fashion_mnist.DEBIAN_FASHION_MNIST_DIR", tmp_path / "debian")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    monkeypatch.setattr("nbsupport.data.default_data_dir", lambda: tmp_path / "repo-data")
    with pytest.raises(FashionMNISTNotFoundError) as err:
        dataset_tensors("fashion_mnist", tmp_path / "arg", scaling="page", download=False)
    message = str(err.value)
    for folder in ("arg/FashionMNIST/raw", "env/FashionMNIST/raw", "repo-data/FashionMNIST/raw", "debian"):
        assert str(tmp_path / folder) in message
    assert "download=False" in message and "apt-get install -y dataset-fashion-mnist" in message
    assert ENV_VAR in message and "train-images-idx3-ubyte" in message
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, nbdata.DatasetNotFoundError)
    assert not (tmp_path / "arg").exists()  # download=False writes nothing


def test_fashion_mnist_download_failing_offline_says_so(monkeypatch, tmp_path):
    # Nothing listens on port 9 of localhost: torchvision's real download path fails at once.
    monkeypatch.setattr(datasets.FashionMNIST, "mirrors", ["http://127.0.0.1:9/"])
    monkeypatch.setattr("nbsupport.fashion_mnist.DEBIAN_FASHION_MNIST_DIR", tmp_path / "debian")
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setattr("nbsupport.data.default_data_dir", lambda: tmp_path / "repo-data")
    with pytest.raises(FashionMNISTNotFoundError, match="download failed") as err:
        dataset_labels("fashion_mnist", tmp_path / "arg")
    assert DEBIAN_PACKAGE in str(err.value)


def test_a_damaged_idx_file_is_an_error_naming_it(tmp_path):
    import gzip

    bad = tmp_path / "train-images-idx3-ubyte.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.gz could not be read"):
        read_idx(bad)
    with gzip.open(bad, "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + np.array([2, 28, 28], ">i4").tobytes() + bytes(28 * 28))  # one image short
    with pytest.raises(ValueError, match="truncated or damaged"):
        read_idx(bad)


def test_an_unknown_dataset_is_refused_naming_the_known_ones():
    for call in (lambda: dataset_tensors("cifar10", scaling="page"), lambda: dataset_labels("cifar10"),
                 lambda: dataset_loaders("cifar10", scaling="page")):
        with pytest.raises(ValueError, match="dataset='cifar10' is not allowed; "
                                             "use one of \\('mnist', 'fashion_mnist'\\)"):
            call()
    with pytest.raises(ValueError, match="scaling must be one of"):
        dataset_tensors("fashion_mnist", scaling="standard")


def test_dataset_functions_on_mnist_are_the_mnist_ones():
    _real_mnist_or_skip()
    from nbsupport.data import mnist_labels

    val, test = dataset_labels("mnist")
    mval, mtest = mnist_labels()
    assert (val == mval).all() and (test == mtest).all() and len(test) == 10_000
