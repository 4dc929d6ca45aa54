"""The hypergradient through the unrolled steps against finite differences.

The outer loss is l(x_real; theta_T) where theta_T comes from S x E gradient
steps on the distilled data x with step sizes softplus(r). Its gradient with
respect to x and r, computed by back-propagation through the steps, must
match central finite differences in float64 (``torch.autograd.gradcheck``).
"""

import pytest
import torch
import torch.nn.functional as F

import distill
from distill.unroll import unroll


def tiny_problem(steps, epochs, seed=0):
    """A 2-layer MLP on 4-dimensional inputs with 3 classes, in float64."""
    g = torch.Generator().manual_seed(seed)
    model = distill.models.MLP((4,), 3, hidden=(5,)).double()
    theta0 = {
        k: v.double().requires_grad_()
        for k, v in distill.sample_params(model, "xavier", g).items()
    }
    for k in theta0:  # non-zero biases so every term is exercised
        if k.endswith("bias"):
            theta0[k] = (0.1 * torch.randn(theta0[k].shape, generator=g)).double()
            theta0[k].requires_grad_()
    x = torch.randn(steps, 3, 4, generator=g, dtype=torch.float64)  # (S, m, D)
    y = torch.arange(3).expand(steps, 3)  # (S, m)
    raw = torch.randn(epochs, steps, generator=g, dtype=torch.float64)  # (E, S)
    x_real = torch.randn(16, 4, generator=g, dtype=torch.float64)
    y_real = torch.randint(3, (16,), generator=g)
    return model, theta0, x, y, raw, x_real, y_real


@pytest.mark.parametrize("steps,epochs", [(1, 1), (2, 3), (3, 1)])
def test_hypergradient_matches_finite_differences(steps, epochs):
    model, theta0, x, y, raw, x_real, y_real = tiny_problem(steps, epochs)

    def outer_loss(x, raw):
        theta = unroll(model, theta0, x, y, F.softplus(raw), F.cross_entropy)
        out = distill.forward(model, theta, x_real)
        return F.cross_entropy(out, y_real)

    x = x.requires_grad_()
    raw = raw.requires_grad_()
    assert torch.autograd.gradcheck(outer_loss, (x, raw), eps=1e-6, atol=1e-6)


def test_hypergradient_regression_labels():
    """Learned regression targets get the right gradient too (MSE loss)."""
    g = torch.Generator().manual_seed(1)
    model = distill.models.MLP((1,), 1, hidden=(4,)).double()
    theta0 = {k: v.double().requires_grad_()
              for k, v in distill.sample_params(model, "xavier", g).items()}
    x = torch.randn(2, 5, 1, generator=g, dtype=torch.float64)
    y = torch.randn(2, 5, 1, generator=g, dtype=torch.float64)
    eta = torch.full((1, 2), 0.1, dtype=torch.float64)
    x_real = torch.randn(20, 1, generator=g, dtype=torch.float64)
    y_real = x_real**2

    def outer_loss(x, y):
        theta = unroll(model, theta0, x, y, eta, F.mse_loss)
        return F.mse_loss(distill.forward(model, theta, x_real), y_real)

    inputs = (x.requires_grad_(), y.requires_grad_())
    assert torch.autograd.gradcheck(outer_loss, inputs, eps=1e-6, atol=1e-6)


def test_unroll_without_graph_matches_with_graph():
    """Evaluation (no graph) trains exactly like the differentiable unroll."""
    model, theta0, x, y, raw, _, _ = tiny_problem(2, 2)
    eta = F.softplus(raw)
    with_graph = unroll(model, theta0, x, y, eta, F.cross_entropy)
    without = unroll(model, theta0, x, y, eta, F.cross_entropy, create_graph=False)
    for k in with_graph:
        torch.testing.assert_close(with_graph[k].detach(), without[k])
