"""The networks of the paper and the initial-weight distributions p(theta0).

Models know only an input shape, e.g. (1, 28, 28), and an output size.
The algorithm never uses a model's own parameters: it passes weights
explicitly with ``torch.func.functional_call``, so a model here is just the
shape of a function. :func:`sample_params` draws one theta0.
"""

import math

import torch
from torch import nn
import torch.nn.functional as F

from . import kernels
from .errors import DistillError


class LeNet(nn.Module):
    """LeNet-5 as in the paper's MNIST experiments.

    conv(6, 5x5) - pool - conv(16, 5x5) - pool - fc 120 - fc 84 - fc out.
    A 28x28 input is zero-padded by 2 so both 28 and 32 pixel inputs work.
    """

    def __init__(self, input_shape, num_outputs):
        super().__init__()
        channels, height, width = input_shape
        padding = 2 if height == 28 else 0
        self.conv1 = nn.Conv2d(channels, 6, 5, padding=padding)
        self.conv2 = nn.Conv2d(6, 16, 5)
        side = ((height + 2 * padding - 4) // 2 - 4) // 2
        self.fc1 = nn.Linear(16 * side * side, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_outputs)

    def forward(self, x):
        # x: (B, C, 28, 28); kernels.* compute what F.conv2d and
        # F.max_pool2d(., 2) do, faster where only first-order gradients
        # are taken (see distill.kernels)
        conv1 = self.conv1
        x = kernels.conv2d(x, conv1.weight, conv1.bias, conv1.padding[0])
        x = kernels.max_pool2x2(F.relu(x))  # (B, 6, 14, 14)
        x = kernels.max_pool2x2(F.relu(self.conv2(x)))  # (B, 16, 5, 5)
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)  # (B, num_outputs)


class AlexNetCifar(nn.Module):
    """The small AlexNet-style network the paper uses for CIFAR-10.

    Two 5x5 convolutions of 64 channels with max-pooling and local response
    normalization, then fully connected layers of 384 and 192 units.
    """

    def __init__(self, input_shape, num_outputs):
        super().__init__()
        channels, height, width = input_shape
        self.conv1 = nn.Conv2d(channels, 64, 5, padding=2)
        self.conv2 = nn.Conv2d(64, 64, 5, padding=2)
        side = math.ceil(math.ceil(height / 2) / 2)
        self.fc1 = nn.Linear(64 * side * side, 384)
        self.fc2 = nn.Linear(384, 192)
        self.fc3 = nn.Linear(192, num_outputs)

    def forward(self, x):
        # x: (B, 3, 32, 32)
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(x, 3, stride=2, padding=1)  # (B, 64, 16, 16)
        x = F.local_response_norm(x, 4)
        x = F.relu(self.conv2(x))
        x = F.local_response_norm(x, 4)
        x = F.max_pool2d(x, 3, stride=2, padding=1)  # (B, 64, 8, 8)
        x = x.flatten(1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class LinearModel(nn.Module):
    """A linear map from the flattened input to the outputs: W x + b."""

    def __init__(self, input_shape, num_outputs):
        super().__init__()
        self.fc = nn.Linear(math.prod(input_shape), num_outputs)

    def forward(self, x):
        return self.fc(x.flatten(1))


class MLP(nn.Module):
    """A small multi-layer perceptron with ReLU hidden layers."""

    def __init__(self, input_shape, num_outputs, hidden=(100, 100)):
        super().__init__()
        sizes = [math.prod(input_shape), *hidden]
        self.hidden = nn.ModuleList(
            nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.out = nn.Linear(sizes[-1], num_outputs)

    def forward(self, x):
        x = x.flatten(1)
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.out(x)


MODELS = {
    "lenet": LeNet,
    "alexnet": AlexNetCifar,
    "linear": LinearModel,
    "mlp": MLP,
}

INITS = ("xavier", "kaiming", "orthogonal", "default")


def make_model(name, input_shape, num_outputs, **kwargs):
    """Build a model by name: one of ``MODELS`` (lenet, alexnet, linear, mlp)."""
    if name not in MODELS:
        raise DistillError(
            f"unknown model {name!r}; choose one of {', '.join(MODELS)}"
        )
    return MODELS[name](tuple(input_shape), num_outputs, **kwargs)


def sample_params(model, init="xavier", generator=None, gain=1.0):
    """Draw one theta0 for ``model``: a dict name -> tensor, detached.

    ``init``: ``xavier`` (normal, the paper's default), ``kaiming`` (normal,
    fan-in, ReLU gain), ``orthogonal`` or ``default`` (PyTorch's own layer
    initialization). Biases start at zero except for ``default``. The
    draw uses ``generator`` only, so the same generator state gives the
    same weights on every machine.
    """
    if init not in INITS:
        raise DistillError(
            f"unknown initializer {init!r}; choose one of {', '.join(INITS)}"
        )

    params = {}
    for name, p in model.named_parameters():
        # Draw on the CPU so that results do not depend on the device.
        w = torch.empty(p.shape, dtype=p.dtype)
        is_weight = p.dim() > 1
        if init == "default" or not is_weight:
            if init == "default":
                bound = 1.0 / math.sqrt(max(1, _fan_in(model, name, p)))
                w.uniform_(-bound, bound, generator=generator)
            else:
                w.zero_()
        else:
            fan_in = p[0].numel()
            fan_out = p.shape[0] * p[0, 0].numel() if p.dim() > 2 else p.shape[0]
            if init == "xavier":
                std = gain * math.sqrt(2.0 / (fan_in + fan_out))
                w.normal_(0, std, generator=generator)
            elif init == "kaiming":
                w.normal_(0, gain * math.sqrt(2.0 / fan_in), generator=generator)
            else:
                w = _orthogonal(p.shape, gain, generator)
        params[name] = w.to(p.device)
    return params


def _fan_in(model, name, p):
    if p.dim() > 1:
        return p[0].numel()
    weight = dict(model.named_parameters()).get(name.rsplit(".", 1)[0] + ".weight")
    return weight[0].numel() if weight is not None else p.numel()


def _orthogonal(shape, gain, generator):
    rows, cols = shape[0], math.prod(shape[1:])
    a = torch.randn(max(rows, cols), min(rows, cols), generator=generator)
    q, r = torch.linalg.qr(a)
    q = q * torch.sign(torch.diagonal(r))
    if rows < cols:
        q = q.T
    return gain * q.reshape(shape)


def count_parameters(model):
    """Number of scalar weights in ``model``."""
    return sum(p.numel() for p in model.parameters())
