import pytest
import torch
import torch.nn as nn

from nbsupport import ACTIVATIONS, count_parameters, mnist_model


def test_page_architecture_shapes_and_parameter_count():
    model = mnist_model()
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    # conv1 320 + conv2 25,632 + fc1 205,056 + fc2 2,570
    assert count_parameters(model) == 233_578
    assert sum(isinstance(m, nn.SELU) for m in model) == 3
    assert isinstance(model[-2], nn.Dropout) and model[-2].p == 0.5


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_named_activation_builds(name):
    model = mnist_model(name)
    assert sum(isinstance(m, ACTIVATIONS[name]) for m in model) == 3
    assert model(torch.zeros(1, 1, 28, 28)).shape == (1, 10)


def test_activation_class_is_accepted():
    assert any(isinstance(m, nn.LeakyReLU) for m in mnist_model(nn.LeakyReLU))


def test_self_normalizing_uses_lecun_normal_and_alpha_dropout():
    torch.manual_seed(0)
    model = mnist_model("selu", self_normalizing=True)
    fc1 = model[7]
    assert isinstance(model[9], nn.AlphaDropout)
    assert torch.all(fc1.bias == 0)
    assert fc1.weight.std().item() == pytest.approx(800 ** -0.5, rel=0.05)


def test_bad_model_arguments_are_explained():
    with pytest.raises(ValueError, match="unknown activation 'swish'.*relu"):
        mnist_model("swish")
    with pytest.raises(ValueError, match="meant for SELU"):
        mnist_model("relu", self_normalizing=True)
    with pytest.raises(ValueError, match="dropout"):
        mnist_model(dropout=1.0)
    with pytest.raises(TypeError, match="activation must be"):
        mnist_model(42)
