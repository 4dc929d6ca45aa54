"""Test accuracy of networks trained on distilled data.

The procedure is the same for distilled data and for the baselines: start
from theta0, take the learned steps, measure accuracy on the real test set.
For a fixed initialization that is one number; for random or pre-trained
initializations it is a mean and standard deviation over held-out theta0
draws (the paper uses 200).
"""

import statistics

import torch

from .errors import DistillError
from .models import sample_params
from .unroll import accuracy, loss_function, mean_loss

# Held-out initializations are drawn from a stream no run uses for training.
HELD_OUT_SEED_OFFSET = 1_000_003


def held_out_inits(model, initializer, count, seed):
    """``count`` theta0 draws from a stream disjoint from training's."""
    generator = torch.Generator().manual_seed(seed + HELD_OUT_SEED_OFFSET)
    return [sample_params(model, initializer, generator) for _ in range(count)]


def evaluate(distilled, data, models=None, seed=None, pretrained=None,
             progress=None):
    """Train networks with ``distilled`` and measure them on the test set.

    Args:
        distilled: a :class:`distill.Distilled`.
        data: the real data (``TensorData``) whose test split is used.
        models: number of held-out initializations for ``random`` init
            (default 200, the paper's count); ignored for ``fixed``.
        seed: seed of the held-out draws (default: the run's seed).
        pretrained: for ``pretrained`` init, the held-out trained networks.
        progress: optional iterable wrapper, e.g. ``tqdm``, for the models.

    Returns:
        A dict with ``test_accuracy`` (mean, a fraction),
        ``test_accuracy_std``, ``test_accuracies`` (one per network),
        ``test_accuracy_before`` (the same networks before training) and
        ``models`` (how many); for regression ``test_loss``, ``test_losses``
        and so on instead.
    """
    settings = distilled.settings
    if distilled.images.shape[2:] != data.x_test.shape[1:]:
        raise DistillError(
            f"the distilled images have shape {tuple(distilled.images.shape[2:])} "
            f"but {data.name} inputs are {tuple(data.x_test.shape[1:])}; evaluate "
            f"on the data set the result was made for ({settings.dataset})"
        )
    distilled = distilled.to(data.device)
    model = distilled.model().to(data.device)

    if settings.init == "fixed":
        inits = [distilled.theta0]
    elif settings.init == "random":
        count = 200 if models is None else models
        if count <= 0:
            raise DistillError(f"--models must be positive, got {count}")
        base = settings.seed if seed is None else seed
        inits = held_out_inits(model, settings.initializer, count, base)
    else:
        if not pretrained:
            raise DistillError(
                "this result adapts pre-trained networks: pass the held-out "
                "pool (pretrained=[...] or --pretrained-pool)"
            )
        inits = list(pretrained) if models is None else list(pretrained)[:models]

    return evaluate_inits(distilled.train, model, inits, data, progress)


def evaluate_inits(train, model, inits, data, progress=None):
    """Measure ``train(theta0)`` for each theta0 in ``inits``; a summary dict."""
    regression = data.num_classes == 0
    before, after = [], []
    iterator = progress(inits) if progress is not None else inits
    for theta0 in iterator:
        theta0 = {k: v.to(data.device) for k, v in theta0.items()}
        theta = train(theta0)
        if regression:
            mse = loss_function("mse")
            before.append(mean_loss(model, theta0, data.x_test, data.y_test, mse))
            after.append(mean_loss(model, theta, data.x_test, data.y_test, mse))
        else:
            before.append(accuracy(model, theta0, data.x_test, data.y_test))
            after.append(accuracy(model, theta, data.x_test, data.y_test))
    return summarize(after, before, "test_loss" if regression else "test_accuracy")


PLURALS = {"test_accuracy": "test_accuracies", "test_loss": "test_losses"}


def summarize(after, before, key="test_accuracy"):
    """Mean, standard deviation and the raw values, as a dict.

    ``key`` is ``"test_accuracy"`` or ``"test_loss"``; the raw values go
    under its plural (``"test_accuracies"`` or ``"test_losses"``).
    """
    if key not in PLURALS:
        raise DistillError(
            f"unknown summary key {key!r}; choose one of {', '.join(PLURALS)}"
        )
    std = statistics.stdev(after) if len(after) > 1 else 0.0
    return {
        key: statistics.fmean(after),
        f"{key}_std": std,
        f"{key}_before": statistics.fmean(before),
        PLURALS[key]: after,
        "models": len(after),
    }
