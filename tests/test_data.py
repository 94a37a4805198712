import os
from pathlib import Path

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
