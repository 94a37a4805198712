"""Tiny synthetic data and models for the unit tests."""

import torch
import torch.nn as nn

from nbsupport import TensorLoader


def synthetic_mnist(n=96, seed=0):
    """Random 1x28x28 images whose label is the brightest of ten bands: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 28, 28, generator=g) * 0.1
    y = torch.randint(0, 10, (n,), generator=g)
    for i, label in enumerate(y.tolist()):
        x[i, 0, :, 2 * label:2 * label + 3] += 1.0
    return x, y


def synthetic_loaders(n_train=96, n_valid=32, batch_size=16, seed=0):
    x, y = synthetic_mnist(n_train + n_valid, seed)
    train = TensorLoader(x[:n_train], y[:n_train], batch_size, shuffle=True, seed=seed)
    valid = TensorLoader(x[n_train:], y[n_train:], batch_size)
    return train, valid


def tiny_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 16), nn.SELU(), nn.Linear(16, 10))
