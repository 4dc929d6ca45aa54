"""The hypergradient the textbook way: what the speed-ups are measured against.

The original implementation of the paper computes one outer iteration as
most readers would write it: the inner steps with
``torch.autograd.grad(..., create_graph=True)`` through the ordinary
``torch.nn.functional`` layers, then the real-data loss on the whole batch,
then one ``backward()`` through everything. :func:`reference_step` does
exactly that on the state of a :class:`distill.distillation._Run`, so that
the benchmark can time it beside ``_Run.outer_step`` in the same run, on
the same machine, and the tests can check that both give the same
gradients.

What it leaves out of ``outer_step``: the three-piece chain rule (the
first-order gradient of the real loss, then one backward pass through the
unrolled graph), chunks of the real batch, the first-order LeNet kernels
of :mod:`distill.kernels`, ``vmap`` over initializations and
checkpointing. The benchmark also runs it with the system's malloc
behaviour. It is the same mathematics as ``outer_step``; only the float
rounding differs.

NOTE: this is not the original code (which cannot be fetched on the build
machines and no longer runs on PyTorch 2.x): it has none of that code's
own overheads, such as copying weights into and out of a flat parameter
vector at every step, so it is, if anything, faster than the original.
"""

import torch
import torch.nn.functional as F

from distill.unroll import forward, gradient_step


def reference_gradients(run, x_real, y_real, thetas):
    """Gradients of the mean real-data loss for ``run.variables``.

    Args:
        run: a ``distill.distillation._Run`` (its images ``run.x``, labels
            ``run.y``, raw step sizes ``run.step_sizes_raw``, model and loss).
        x_real, y_real: the real batch, (n, *input_shape) and (n,).
        thetas: the initial weights of this iteration, a list of dicts.

    Returns:
        ``(loss, grads)``: the mean real-data loss (a float) and one
        gradient per tensor of ``run.variables``, in that order.
    """
    settings = run.settings
    count = len(thetas)
    grads = [torch.zeros_like(v) for v in run.variables]
    total = 0.0
    for theta0 in thetas:
        eta = F.softplus(run.step_sizes_raw)  # (E, S)
        # draw_theta0 hands out detached tensors: leaves of this graph
        theta = {k: v.requires_grad_() for k, v in theta0.items()}
        for epoch in range(settings.epochs):
            for step in range(settings.steps):
                # run.x[step]: (m, *input_shape), the images of this step
                theta = gradient_step(
                    run.model, theta, run.x[step], run.y[step],
                    eta[epoch, step], run.loss_fn, create_graph=True,
                )
        loss = run.loss_fn(forward(run.model, theta, x_real), y_real) / count
        for g, d in zip(grads, torch.autograd.grad(loss, run.variables)):
            g += d
        total += loss.item()
    return total, grads


def reference_step(run):
    """One outer iteration of ``run`` computed by :func:`reference_gradients`.

    Draws the real batch and the initializations exactly as
    ``run.outer_step()`` does (same random stream), takes the same Adam
    step and returns the real-data loss before it.
    """
    x_real, y_real, thetas = run.draw_batch()
    loss, grads = reference_gradients(run, x_real, y_real, thetas)
    return run.take_step(grads, loss)
