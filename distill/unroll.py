"""The inner loop: gradient steps on the distilled data, as a pure function.

Weights are a dict name -> tensor passed through
``torch.func.functional_call``, so the same function serves two uses:

* distillation, with ``create_graph=True``: every step stays in the autograd
  graph and the real-data loss after the last step can be differentiated
  with respect to the distilled data and the step sizes (back-propagation
  through the unrolled training);
* evaluation, with ``create_graph=False``: plain training of a network with
  the learned steps, no graph kept.
"""

import torch
import torch.nn.functional as F
from torch.func import functional_call

LOSSES = {
    "cross_entropy": F.cross_entropy,
    "mse": F.mse_loss,
}


def loss_function(name):
    """The loss by name: ``cross_entropy`` (classification) or ``mse``."""
    return LOSSES[name]


def forward(model, params, x):
    """Output of ``model`` with weights ``params`` on a batch ``x``."""
    return functional_call(model, params, (x,))


def gradient_step(model, params, x, y, step_size, loss_fn, create_graph):
    """One step theta - eta * grad_theta l(x, y; theta); returns the new dict."""
    loss = loss_fn(forward(model, params, x), y)
    grads = torch.autograd.grad(
        loss, tuple(params.values()), create_graph=create_graph
    )
    return {
        name: p - step_size * g for (name, p), g in zip(params.items(), grads)
    }


def unroll(model, params, x, y, step_sizes, loss_fn, create_graph=True):
    """Train ``params`` with ``S`` steps x ``E`` epochs on the distilled data.

    Args:
        model: the network (its own weights are not used).
        params: theta0, dict name -> tensor. With ``create_graph=True`` the
            tensors must require grad (leaves or functions of the outer
            variables); otherwise they are detached first.
        x: distilled inputs, (S, m, *input_shape): step s uses x[s].
        y: their targets, (S, m) class indices or (S, m, k) values.
        step_sizes: positive step sizes, (E, S): epoch e, step s.
        loss_fn: ``loss_fn(output, target) -> scalar``.
        create_graph: keep the graph for back-propagation through the steps.

    Returns:
        The weights after the last step, a new dict.
    """
    epochs, steps = step_sizes.shape
    if not create_graph:
        params = {k: v.detach().requires_grad_() for k, v in params.items()}

    for e in range(epochs):
        for s in range(steps):
            params = gradient_step(
                model, params, x[s], y[s], step_sizes[e, s], loss_fn, create_graph
            )
            if not create_graph:
                params = {k: v.detach().requires_grad_() for k, v in params.items()}

    if not create_graph:
        params = {k: v.detach() for k, v in params.items()}
    return params


@torch.no_grad()
def accuracy(model, params, x, y, batch_size=2048):
    """Fraction of ``x`` classified as ``y`` by the network ``params``."""
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = forward(model, params, x[start:start + batch_size])
        correct += (logits.argmax(1) == y[start:start + batch_size]).sum().item()
    return correct / len(x)


@torch.no_grad()
def mean_loss(model, params, x, y, loss_fn, batch_size=2048):
    """Average of ``loss_fn`` over ``x`` in batches (for regression tests)."""
    total = 0.0
    for start in range(0, len(x), batch_size):
        out = forward(model, params, x[start:start + batch_size])
        n = len(out)
        total += loss_fn(out, y[start:start + batch_size]).item() * n
    return total / len(x)
