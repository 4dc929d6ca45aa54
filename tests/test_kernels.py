"""The fast layers of distill.kernels against torch.nn.functional."""

import pytest
import torch
import torch.nn.functional as F

import distill
from distill import kernels
from distill.unroll import loss_and_grad


def grad_of(out, inputs, seed=0):
    """Gradient of <out, g> for a fixed random g."""
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed),
                    dtype=out.dtype)
    return torch.autograd.grad(out, inputs, g)


def test_max_pool_matches_functional_forward_and_backward():
    x = torch.randn(4, 3, 12, 10, dtype=torch.float64, requires_grad=True)
    with kernels.first_order():
        fast = kernels.max_pool2x2(x)
    slow = F.max_pool2d(x, 2)
    assert torch.equal(fast, slow)
    assert torch.equal(grad_of(fast, x)[0], grad_of(slow, x)[0])


def test_max_pool_ties_go_where_functional_sends_them():
    """After a ReLU whole blocks are zero: the gradient goes to one element."""
    x = torch.randn(2, 2, 8, 8).clamp(min=0).round().requires_grad_()
    with kernels.first_order():
        fast = kernels.max_pool2x2(x)
    slow = F.max_pool2d(x, 2)
    assert torch.equal(grad_of(fast, x)[0], grad_of(slow, x)[0])


def test_max_pool_without_autograd_and_odd_sizes():
    x = torch.randn(3, 2, 6, 6)
    with torch.no_grad():
        assert torch.equal(kernels.max_pool2x2(x), F.max_pool2d(x, 2))
    odd = torch.randn(1, 1, 5, 5, requires_grad=True)
    with kernels.first_order():
        assert torch.equal(kernels.max_pool2x2(odd), F.max_pool2d(odd, 2))


@pytest.mark.parametrize("channels,padding", [(1, 2), (3, 0)])
def test_conv_weight_gradient_matches_functional(channels, padding):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, channels, 11, 11, generator=g, dtype=torch.float64)
    w = torch.randn(4, channels, 5, 5, generator=g, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64)
    w.requires_grad_(), b.requires_grad_()
    with kernels.first_order():
        fast = kernels.conv2d(x, w, b, padding)
    slow = F.conv2d(x, w, b, padding=padding)
    torch.testing.assert_close(fast, slow)
    for a, c in zip(grad_of(fast, (w, b)), grad_of(slow, (w, b))):
        torch.testing.assert_close(a, c)


def test_fast_layers_refuse_a_second_derivative():
    """Inside first_order() a gradient of a gradient is an error, not wrong."""
    x = torch.randn(2, 1, 8, 8)
    w = torch.randn(3, 1, 3, 3, requires_grad=True)
    with kernels.first_order():
        out = kernels.max_pool2x2(kernels.conv2d(x, w, None, 1)).square().sum()
        (g,) = torch.autograd.grad(out, w, create_graph=True)
        with pytest.raises(RuntimeError):
            torch.autograd.grad(g.sum(), w)


def test_lenet_real_loss_gradient_matches_plain_autograd():
    """loss_and_grad (fast layers) against autograd through F.* in float64."""
    model = distill.models.LeNet((1, 28, 28), 10).double()
    theta = {k: v.double() for k, v in distill.sample_params(
        model, "xavier", torch.Generator().manual_seed(0)).items()}
    x = torch.randn(64, 1, 28, 28, dtype=torch.float64)
    y = torch.randint(10, (64,), generator=torch.Generator().manual_seed(1))
    loss, grads = loss_and_grad(model, theta, x, y, F.cross_entropy)

    leaves = {k: v.clone().requires_grad_() for k, v in theta.items()}
    plain = F.cross_entropy(distill.forward(model, leaves, x), y)
    expected = torch.autograd.grad(plain, tuple(leaves.values()))
    torch.testing.assert_close(loss, plain.detach())
    for name, e in zip(leaves, expected):
        torch.testing.assert_close(grads[name], e)
