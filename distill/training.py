"""Ordinary training on real data: references and pre-trained networks.

Used for the "trained on the full data set" reference accuracy and for the
pools of trained networks that ``init="pretrained"`` adapts.
"""

import torch

from .kernels import first_order
from .models import make_model, sample_params
from .unroll import forward, loss_function


def train_network(data, model_name, epochs=1, lr=1e-3, batch_size=256,
                  initializer="xavier", seed=0, theta0=None, progress=None):
    """Train one network on ``data.x_train`` with Adam; returns its weights.

    Args:
        data: a ``TensorData``; its training split is used.
        model_name: a name from :data:`distill.models.MODELS`.
        epochs: passes over the training set.
        lr, batch_size: Adam's step size and the mini-batch size.
        initializer, seed: how theta0 is drawn (ignored if ``theta0``).
        theta0: optional starting weights.
        progress: optional iterable wrapper (``tqdm``) for the batches.

    Returns:
        The trained weights, a dict name -> tensor on ``data.device``.
    """
    generator = torch.Generator().manual_seed(seed)
    outputs = data.num_classes or data.y_train.shape[-1]
    model = make_model(model_name, data.input_shape, outputs).to(data.device)
    if theta0 is None:
        theta0 = sample_params(model, initializer, generator)
    params = {
        k: v.detach().clone().to(data.device).requires_grad_()
        for k, v in theta0.items()
    }
    loss_fn = loss_function("cross_entropy" if data.num_classes else "mse")
    optimizer = torch.optim.Adam(params.values(), lr=lr)

    n = len(data.x_train)
    batches = [
        (epoch, start) for epoch in range(epochs) for start in range(0, n, batch_size)
    ]
    order = None
    for epoch, start in progress(batches) if progress else batches:
        if start == 0:
            order = torch.randperm(n, generator=generator).to(data.device)
        index = order[start:start + batch_size]
        optimizer.zero_grad(set_to_none=True)
        with first_order():
            out = forward(model, params, data.x_train[index])
            loss_fn(out, data.y_train[index]).backward()
        optimizer.step()

    return {k: v.detach() for k, v in params.items()}


def train_networks(data, model_name, count, seed=0, **kwargs):
    """``count`` networks trained by :func:`train_network`, seeds seed.. ."""
    return [
        train_network(data, model_name, seed=seed + i, **kwargs) for i in range(count)
    ]
