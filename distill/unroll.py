"""The inner loop: gradient steps on the distilled data, as a pure function.

Weights are a dict name -> tensor passed through
``torch.func.functional_call``, so the same function serves two uses:

* distillation, with ``create_graph=True``: every step stays in the autograd
  graph and the real-data loss after the last step can be differentiated
  with respect to the distilled data and the step sizes (back-propagation
  through the unrolled training);
* evaluation, with ``create_graph=False``: plain training of a network with
  the learned steps, no graph kept.

Two options bound the memory of the unrolled graph (``unroll(...,
checkpoint=True, truncate=N)``):

* checkpointing stores no activations: only the weights at the start of
  segments of about sqrt(T) steps are kept, and the backward pass recomputes
  each segment, then each step (the same gradient up to float rounding, for
  two more passes of each step without a graph);
* truncation back-propagates through the last ``N`` steps only; the earlier
  steps run without a graph (a different, cheaper, biased gradient).

:func:`unroll_batch` runs several initializations at once under
``torch.func.vmap``. :func:`loss_and_grad` is the first-order gradient of
the real-data loss (optionally in chunks of the batch) that
:mod:`distill.distillation` back-propagates through the unrolled graph.
"""

import math

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable
from torch.func import functional_call

from .kernels import first_order

# NOTE: torch.compile is not used. Its AOTAutograd backend does not support
# double backward ("torch.compile with aot_autograd does not currently support
# double backward"), which the unrolled steps need through autograd.grad. The
# first-order real-data loss alone compiles, but on a 2-core CPU it ran
# slower than eager (LeNet, batch 1024) after about 100 s of compilation.
# Written with torch.func.grad, a whole unroll does compile (its backward is
# then a first-order one) and gives the same gradients to float rounding, but
# it did not pay on a 2-core CPU either: LeNet, 10 steps x 3 epochs on 10
# images, the unroll and its backward took 0.22 s against 0.30 s eager after
# 450 s of compilation; one compiled step reused 30 times (38 s to compile)
# saved about 10%.

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


class _Step:
    """theta -> theta - eta * grad_theta l(x, y; theta) on weight tuples.

    ``batched=False``: the weights are one network's, the gradient comes
    from ``torch.autograd.grad``. ``batched=True``: every weight has a
    leading dimension B (one network per initialization) and the step runs
    under ``torch.func.vmap`` with ``torch.func.grad``; x, y and eta are
    shared. With ``create_graph=False`` the result carries no graph.
    """

    def __init__(self, model, names, loss_fn, batched=False):
        self.model = model
        self.names = tuple(names)
        self.loss_fn = loss_fn
        self.batched = batched
        if batched:
            grad = torch.func.grad(self._loss)

            def one(params, x, y, eta):
                # params: one network's weights, without the B dimension
                grads = grad(params, x, y)
                return tuple(p - eta * g for p, g in zip(params, grads))

            self._vmapped = torch.func.vmap(one, in_dims=(0, None, None, None))

    def _loss(self, params, x, y):
        out = functional_call(self.model, dict(zip(self.names, params)), (x,))
        return self.loss_fn(out, y)

    def __call__(self, params, x, y, eta, create_graph):
        if self.batched:
            with torch.set_grad_enabled(create_graph and torch.is_grad_enabled()):
                return self._vmapped(tuple(params), x, y, eta)
        with torch.enable_grad():
            # Weights that carry no graph (theta0 of a fixed initialization,
            # the output of untracked steps) become leaves here: only the
            # inner gradient needs them to require grad.
            params = tuple(
                p if create_graph and p.requires_grad else p.detach().requires_grad_()
                for p in params
            )
            if create_graph:
                loss = self._loss(params, x, y)
                grads = torch.autograd.grad(loss, params, create_graph=True)
            else:
                with first_order():
                    loss = self._loss(params, x, y)
                    grads = torch.autograd.grad(loss, params)
        if create_graph:
            return tuple(p - eta * g for p, g in zip(params, grads))
        with torch.no_grad():
            return tuple(p - eta * g for p, g in zip(params, grads))


class _CheckpointedStep(torch.autograd.Function):
    """A step that stores its inputs only and recomputes itself backwards.

    Forward: the new weights, computed without a graph. Backward: the step
    is run again with the graph on the saved inputs (weights before the
    step, the distilled batch, the step size) and the incoming gradient is
    back-propagated through it, so the gradient equals the plain unroll's.
    """

    @staticmethod
    def forward(ctx, step, eta, x, y, *params):
        ctx.step = step
        ctx.save_for_backward(eta, x, y, *params)
        return step(params, x, y, eta, create_graph=False)

    @staticmethod
    @once_differentiable
    def backward(ctx, *grad_out):
        saved = ctx.saved_tensors  # eta, x, y, *params
        needed = ctx.needs_input_grad[1:]
        with torch.enable_grad():
            inputs = [
                t.detach().requires_grad_(bool(need)) for t, need in zip(saved, needed)
            ]
            eta, x, y, *params = inputs
            new = ctx.step(tuple(params), x, y, eta, create_graph=True)
            wanted = [t for t, need in zip(inputs, needed) if need]
            grads = iter(torch.autograd.grad(
                new, wanted, grad_out, allow_unused=True
            ))
        return (None, *(next(grads) if need else None for need in needed))


class _CheckpointedSegment(torch.autograd.Function):
    """Consecutive steps that store the weights before the first one only.

    Forward: the steps, without a graph. Backward: the segment is run again
    from its saved input as a chain of :class:`_CheckpointedStep` (storing
    the weights after each step of this segment only) and the incoming
    gradient is back-propagated through that chain.
    """

    @staticmethod
    def forward(ctx, step, which, etas, x, y, *params):
        # which: the index s into x and y of each step; etas: (L,) step sizes
        ctx.step, ctx.which = step, which
        ctx.save_for_backward(etas, x, y, *params)
        for j, s in enumerate(which):
            params = step(params, x[s], y[s], etas[j], create_graph=False)
        return params

    @staticmethod
    @once_differentiable
    def backward(ctx, *grad_out):
        saved = ctx.saved_tensors  # etas, x, y, *params
        needed = ctx.needs_input_grad[2:]
        with torch.enable_grad():
            inputs = [
                t.detach().requires_grad_(bool(need)) for t, need in zip(saved, needed)
            ]
            etas, x, y, *params = inputs
            for j, s in enumerate(ctx.which):
                params = _CheckpointedStep.apply(ctx.step, etas[j], x[s], y[s], *params)
            wanted = [t for t, need in zip(inputs, needed) if need]
            grads = iter(torch.autograd.grad(
                params, wanted, grad_out, allow_unused=True
            ))
        return (None, None, *(next(grads) if need else None for need in needed))


def unroll(model, params, x, y, step_sizes, loss_fn, create_graph=True, *,
           checkpoint=False, truncate=0):
    """Train ``params`` with ``S`` steps x ``E`` epochs on the distilled data.

    Args:
        model: the network (its own weights are not used).
        params: theta0, dict name -> tensor. It need not require grad; with
            ``create_graph=False`` it is detached first.
        x: distilled inputs, (S, m, *input_shape): step s uses x[s].
        y: their targets, (S, m) class indices or (S, m, k) values.
        step_sizes: positive step sizes, (E, S): epoch e, step s.
        loss_fn: ``loss_fn(output, target) -> scalar``.
        create_graph: keep the graph for back-propagation through the steps.
        checkpoint: store no activations: the T tracked steps are cut into
            segments of about sqrt(T) steps, only the weights at the start
            of each segment are kept, and the backward pass recomputes each
            segment (same gradient up to rounding; memory of about 2 sqrt(T)
            weight sets and one step's activations instead of T steps' worth;
            time: two more passes of each step without a graph). The result
            can be differentiated once (no gradient of the gradient).
        truncate: 0 to back-propagate through every step; N > 0 to keep
            the graph of the last N steps only (truncated back-propagation;
            the earlier steps, their inputs and step sizes get no gradient).

    Returns:
        The weights after the last step, a new dict.
    """
    step = _Step(model, params.keys(), loss_fn)
    return _unroll(step, params, x, y, step_sizes, create_graph, checkpoint,
                   truncate)


def unroll_batch(model, params, x, y, step_sizes, loss_fn, create_graph=True, *,
                 checkpoint=False, truncate=0):
    """:func:`unroll` for B initializations at once, under ``torch.func.vmap``.

    ``params`` holds B networks: each tensor has a leading dimension B,
    e.g. ``conv1.weight`` of shape (B, 6, 1, 5, 5). The distilled data and
    step sizes are shared. Returns the B trained networks, same layout;
    network b equals ``unroll`` of network b (up to float rounding).
    """
    step = _Step(model, params.keys(), loss_fn, batched=True)
    return _unroll(step, params, x, y, step_sizes, create_graph, checkpoint,
                   truncate)


def _unroll(step, params, x, y, step_sizes, create_graph, checkpoint, truncate):
    epochs, steps = step_sizes.shape
    total = epochs * steps
    if truncate < 0:
        raise ValueError(f"truncate must be 0 or positive, got {truncate}")
    # Steps before `tracked` run without a graph.
    tracked = max(0, total - truncate) if truncate else 0
    if not create_graph:
        tracked = total

    names = tuple(params)
    weights = tuple(params.values())
    if tracked:
        weights = tuple(w.detach() for w in weights)
    flat = step_sizes.reshape(-1)  # (E*S,), epoch-major: step k is k // S, k % S
    etas = flat.unbind(0)
    for k in range(tracked):
        s = k % steps
        weights = step(weights, x[s], y[s], etas[k].detach(), create_graph=False)
    if checkpoint and tracked < total:
        length = math.isqrt(total - tracked - 1) + 1  # ceil(sqrt(T)) steps
        for start in range(tracked, total, length):
            stop = min(start + length, total)
            if stop - start == 1:
                weights = _CheckpointedStep.apply(
                    step, etas[start], x[start % steps], y[start % steps], *weights
                )
            else:
                which = tuple(k % steps for k in range(start, stop))
                weights = _CheckpointedSegment.apply(
                    step, which, flat[start:stop], x, y, *weights
                )
    else:
        for k in range(tracked, total):
            s = k % steps
            weights = step(weights, x[s], y[s], etas[k], create_graph=True)
    if not create_graph:
        weights = tuple(w.detach() for w in weights)
    return dict(zip(names, weights))


def loss_and_grad(model, params, x, y, loss_fn, chunk=0):
    """The loss on ``(x, y)`` and its gradient w.r.t. ``params``, no graph.

    ``chunk`` > 0 processes the batch in chunks of that many examples and
    weights the chunk losses by their share of the batch, so that only one
    chunk's activations are alive at a time; ``loss_fn`` must then be a mean
    over examples (cross-entropy, mean squared error) and the result is the
    whole batch's up to float rounding. 0: the whole batch at once. No
    gradient is computed for ``x``.

    Returns:
        ``(loss, grads)``: a 0-d tensor and a dict name -> tensor.
    """
    n = len(x)
    chunk = chunk if 0 < chunk < n else n
    params = {k: v.detach().requires_grad_() for k, v in params.items()}
    weights = tuple(params.values())
    total, grads = None, None
    with torch.enable_grad(), first_order():
        for start in range(0, n, chunk):
            xc, yc = x[start:start + chunk], y[start:start + chunk]
            loss = loss_fn(forward(model, params, xc), yc)
            if len(xc) < n:
                loss = loss * (len(xc) / n)  # the chunk's share of the mean
            g = torch.autograd.grad(loss, weights)
            loss = loss.detach()
            if grads is None:
                total, grads = loss, list(g)
            else:
                total = total + loss
                for acc, new in zip(grads, g):
                    acc.add_(new)
    return total, dict(zip(params, grads))


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
