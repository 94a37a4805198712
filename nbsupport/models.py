"""The page's small CNN for MNIST, with the activation as a parameter."""

import torch.nn as nn

ACTIVATIONS = {
    "selu": nn.SELU,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "tanh": nn.Tanh,
}


def _activation_factory(activation):
    if isinstance(activation, str):
        try:
            return ACTIVATIONS[activation.lower()]
        except KeyError:
            raise ValueError(
                f"unknown activation {activation!r}; use one of {sorted(ACTIVATIONS)} "
                f"or pass an nn.Module class such as nn.LeakyReLU"
            ) from None
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return activation
    raise TypeError(f"activation must be a name or an nn.Module class, got {activation!r}")


def mnist_model(activation="selu", *, self_normalizing: bool = False, dropout: float = 0.5) -> nn.Sequential:
    """Conv(1→32, 3, pad 1)-act-pool, Conv(32→32, 5)-act-pool, Linear(800→256)-act-dropout, Linear(256→10).

    ``self_normalizing=True`` pairs SELU with what it was designed for
    (Klambauer et al. 2017): LeCun-normal weights, zero biases, AlphaDropout.
    """
    act = _activation_factory(activation)
    if self_normalizing and act is not nn.SELU:
        raise ValueError(f"self_normalizing=True is meant for SELU, got activation={activation!r}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    drop = nn.AlphaDropout if self_normalizing else nn.Dropout
    model = nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3, padding=1), act(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, kernel_size=5), act(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(800, 256), act(), drop(dropout),
        nn.Linear(256, 10),
    )
    if self_normalizing:
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="linear")  # LeCun normal: std = 1/sqrt(fan_in)
                nn.init.zeros_(m.bias)
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
