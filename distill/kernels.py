"""Faster equivalents of two layers of LeNet on the CPU, same mathematics.

Profiling one outer iteration of MNIST/LeNet at a real batch of 1024 on a
2-core CPU showed two layers far slower than their arithmetic needs:

* the weight gradient of the first convolution (one input channel, six
  outputs, 28x28): oneDNN's backward kernel takes about four times as long
  as the same sums written as one convolution over the batch (the
  correlation of the input with the output gradient, the batch as channels);
* 2x2 max-pooling: ``F.max_pool2d`` takes five times as long as the
  elementwise maximum of the four strided sub-grids, while its backward,
  given the indices, is cheap.

Both replacements compute the same numbers (the maximum is exact; the
weight gradient is the same sum in another order, equal up to float
rounding) but their backward passes can be taken once only, so they are
used only where the caller promises a first-order gradient: inside
:func:`first_order` (the real-data loss of an outer iteration, plain
training) or without autograd. Everywhere else, notably the inner steps
that the hypergradient differentiates twice, the ``torch.nn.functional``
layers are used as they are.
"""

from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

_FIRST_ORDER = ContextVar("first_order", default=False)


@contextmanager
def first_order():
    """Within this block, gradients of model outputs are taken once only.

    The layers of this module then use backward passes that cannot be
    differentiated again (``create_graph=True`` through them raises).
    """
    token = _FIRST_ORDER.set(True)
    try:
        yield
    finally:
        _FIRST_ORDER.reset(token)


def _plain_tensor(t):
    """Whether ``t`` is an ordinary tensor (not wrapped by torch.func)."""
    return not torch._C._functorch.is_functorch_wrapped_tensor(t)


def conv2d(x, weight, bias=None, padding=0):
    """``F.conv2d`` (stride 1), with a faster weight gradient where allowed.

    The fast path applies inside :func:`first_order` when ``x`` needs no
    gradient (the network's input) and the weights do.
    """
    if (_FIRST_ORDER.get() and torch.is_grad_enabled() and not x.requires_grad
            and weight.requires_grad and _plain_tensor(x) and _plain_tensor(weight)):
        return _ConvFixedInput.apply(x, weight, bias, padding)
    return F.conv2d(x, weight, bias, padding=padding)


def max_pool2x2(x):
    """``F.max_pool2d(x, 2)`` for even heights and widths, faster.

    Without autograd the four sub-grids' elementwise maximum is returned;
    inside :func:`first_order` that maximum with its indices, whose backward
    is ``F.max_pool2d``'s own. Otherwise, and for odd sizes, ``F.max_pool2d``.
    """
    height, width = x.shape[-2:]
    if height % 2 or width % 2 or x.dim() != 4 or not _plain_tensor(x):
        return F.max_pool2d(x, 2)
    if not torch.is_grad_enabled() or not x.requires_grad:
        return _quad_max(x)[0]
    if _FIRST_ORDER.get():
        return _MaxPool2x2.apply(x)
    return F.max_pool2d(x, 2)


def _quad_max(x):
    """Maximum of each 2x2 block and its flat index in the H*W plane.

    Ties go to the first element in row-major order, as in ``F.max_pool2d``.
    """
    # x: (B, C, H, W); each of the four (B, C, H/2, W/2)
    top_left, top_right = x[..., 0::2, 0::2], x[..., 0::2, 1::2]
    bottom_left, bottom_right = x[..., 1::2, 0::2], x[..., 1::2, 1::2]
    top = torch.maximum(top_left, top_right)
    bottom = torch.maximum(bottom_left, bottom_right)
    out = torch.maximum(top, bottom)
    return out, (top_left, top_right, bottom_left, bottom_right, top, bottom)


class _MaxPool2x2(torch.autograd.Function):
    """2x2 max-pooling: fast forward, ``F.max_pool2d``'s backward (once)."""

    @staticmethod
    def forward(ctx, x):
        out, (top_left, top_right, bottom_left, bottom_right, top, bottom) = (
            _quad_max(x)
        )
        width = x.shape[-1]
        rows = torch.arange(0, x.shape[-2], 2, device=x.device)
        cols = torch.arange(0, width, 2, device=x.device)
        corner = rows[:, None] * width + cols[None, :]  # (H/2, W/2) flat index
        # offset of the maximum inside its block: 0, 1, W or W + 1
        offset = torch.where(
            bottom > top,
            (bottom_right > bottom_left).long() + width,
            (top_right > top_left).long(),
        )
        ctx.save_for_backward(x, corner + offset)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, indices = ctx.saved_tensors
        return torch.ops.aten.max_pool2d_with_indices_backward(
            grad, x, [2, 2], [2, 2], [0, 0], [1, 1], False, indices
        )


class _ConvFixedInput(torch.autograd.Function):
    """Convolution of an input that needs no gradient (backward once)."""

    @staticmethod
    def forward(ctx, x, weight, bias, padding):
        ctx.save_for_backward(x)
        ctx.padding = padding
        ctx.has_bias = bias is not None
        return F.conv2d(x, weight, bias, padding=padding)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        p = ctx.padding
        if p:
            x = F.pad(x, (p, p, p, p))
        # grad_w[o, c, i, j] = sum_{b,u,v} grad[b, o, u, v] x[b, c, u + i, v + j]:
        # a convolution of x (C, B, H, W) with grad (O, B, h, w) as the kernel
        grad_weight = F.conv2d(x.transpose(0, 1), grad.transpose(0, 1))
        grad_weight = grad_weight.transpose(0, 1)  # (O, C, k, k)
        grad_bias = grad.sum((0, 2, 3)) if ctx.has_bias else None
        return None, grad_weight, grad_bias, None
