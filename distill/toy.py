"""Models and helpers for the one-dimensional quadratic toy.

The toy (``distill.quadratic_toy``) is noisy samples of y = x^2 on [-1, 1].
Two small models fit it:

* ``quadratic``: f(x) = a + b x + c x^2, a linear layer on the features
  (x, x^2). It is linear in its weights, so the analysis of
  :mod:`distill.linear` applies with features phi(x) = (x, x^2, 1); but a
  distilled point can only carry a feature vector of that form, which is
  not free: sum_i x_i^2 > 0 means no set of points has the orthogonal
  feature columns that one step from every theta0 would need.
* ``toy_mlp``: a ReLU network with one hidden layer of 32 units.

Both are registered in ``distill.models.MODELS`` by :func:`register_models`
(the helpers here call it), so :func:`distill.distill` and
``Distilled.model`` can build them by name.
"""

import torch
from torch import nn

from .data import TensorData
from .distillation import Settings, distill
from .errors import DistillError
from .models import MLP, MODELS
from .unroll import forward


class QuadraticModel(nn.Module):
    """f(x) = a + b x + c x^2 on inputs x of shape (B, 1).

    The weights are a linear layer on (x, x^2): ``fc.weight`` = (b, c) of
    shape (K, 2) and ``fc.bias`` = a, so the package's initializers draw
    (b, c) and start a at zero.
    """

    def __init__(self, input_shape, num_outputs):
        super().__init__()
        self.fc = nn.Linear(2, num_outputs)

    def forward(self, x):
        """a + b x + c x^2 for a batch x (B, 1); returns (B, K)."""
        x = x.flatten(1)[:, :1]  # (B, 1)
        return self.fc(torch.cat([x, x * x], dim=1))  # (B, K)


class ToyMLP(MLP):
    """A one-hidden-layer ReLU MLP with 32 units, for 1-D regression."""

    def __init__(self, input_shape, num_outputs):
        super().__init__(input_shape, num_outputs, hidden=(32,))


TOY_MODELS = {"quadratic": QuadraticModel, "toy_mlp": ToyMLP}


def register_models():
    """Add ``quadratic`` and ``toy_mlp`` to ``distill.models.MODELS``.

    Needed before :func:`distill.distill` or ``Distilled.model`` builds them;
    calling it again does nothing.
    """
    for name, cls in TOY_MODELS.items():
        MODELS.setdefault(name, cls)


def quadratic_coefficients(params):
    """(a, b, c) of f(x) = a + b x + c x^2 from ``quadratic`` weights."""
    b, c = params["fc.weight"][0].tolist()
    return params["fc.bias"][0].item(), b, c


def fit_quadratic(data, ridge=0.0):
    """The least-squares quadratic on all training points: ``quadratic`` weights.

    The real-data optimum of the MSE loss, in closed form (normal
    equations on the features (x, x^2, 1), float64).
    """
    x = data.x_train.double()  # (N, 1)
    phi = torch.cat([x, x * x, torch.ones_like(x)], dim=1)  # (N, 3)
    gram = phi.T @ phi / len(phi)
    if ridge:
        gram = gram + ridge * torch.eye(3, dtype=gram.dtype)
    w = torch.linalg.solve(gram, phi.T @ data.y_train.double() / len(phi))  # (3, K)
    return {
        "fc.weight": w[:2].T.float().contiguous(),  # (K, 2)
        "fc.bias": w[2].float().contiguous(),  # (K,)
    }


def toy_settings(m, init="fixed", model="quadratic", steps=1, epochs=1,
                 iterations=300, lr=0.02, step_size_init=0.3, batch_size=256,
                 seed=0):
    """:class:`distill.Settings` for distilling the toy into M points per step.

    Targets are learned too (``learn_labels``); inputs start at random real
    points. ``m`` is the number of points per step (``images_per_class``).
    """
    return Settings(
        dataset="quadratic", model=model, init=init, initializer="xavier",
        images_per_class=m, steps=steps, epochs=epochs, iterations=iterations,
        batch_size=batch_size, lr=lr, step_size_init=step_size_init,
        image_init="real", learn_labels=True, seed=seed,
        batch_chunk=0,  # as the committed figures were made (float rounding)
    )


def distill_toy(data, m, **kwargs):
    """Distill the toy with :func:`toy_settings` (``kwargs``); a Distilled."""
    register_models()
    return distill(data, toy_settings(m, **kwargs))


def features(x):
    """phi(x) = (x, x^2, 1): the toy inputs (N, 1) as linear features (N, 3)."""
    x = x.flatten(1)[:, :1]
    return torch.cat([x, x * x, torch.ones_like(x)], dim=1)


def theta_of(params):
    """``quadratic`` weights as theta (3, K) on the features (x, x^2, 1)."""
    return torch.cat([params["fc.weight"].T, params["fc.bias"][None]], dim=0)


def feature_data(data):
    """The toy with inputs replaced by :func:`features` (for distill.linear)."""
    return TensorData(
        data.name + "-features", x_train=features(data.x_train),
        y_train=data.y_train, x_test=features(data.x_test),
        y_test=data.y_test, num_classes=0,
    )


def linear_view(result):
    """A one-step ``quadratic`` result as linear data: phi (M, 3), y (M, K), lr.

    lr is in the convention of :mod:`distill.linear` (loss 1/(2M) ||.||^2),
    i.e. 2 eta / K for the package's step size eta.
    """
    if result.step_sizes.numel() != 1:
        raise DistillError("linear_view needs a one-step, one-epoch result")
    y = result.labels[0]  # (M, K)
    lr = 2.0 * result.step_sizes[0, 0].item() / y.shape[1]
    return features(result.images[0]), y, lr


def init_variances(k=1, initializer="xavier"):
    """Variance of theta0's entries on (x, x^2, 1) for ``quadratic`` (K, 2).

    Xavier draws the weight (K, 2) with variance 2 / (2 + K); the bias a
    starts at zero, so its variance is 0.
    """
    if initializer != "xavier":
        raise DistillError("init_variances knows the xavier initializer only")
    w = 2.0 / (2 + k)
    return torch.tensor([w, w, 0.0])


@torch.no_grad()
def predict(model, params, x):
    """Outputs (N, K) of ``model`` with weights ``params`` on inputs x (N, 1)."""
    return forward(model, params, x)
