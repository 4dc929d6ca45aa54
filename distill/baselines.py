"""Baselines of the paper (section 6): the same number of images, the same
training procedure, but images that are not distilled.

Every baseline has as many images as the distilled data it is compared with
(``steps x images_per_class x classes``) and, except for the k-nearest
neighbour classifiers, is used the way the distilled data is: the same
``steps x epochs`` gradient steps from the same initial weights. Only the
step sizes are learned for it, with the images held fixed
(``learn_images=False``), by the same outer loop as the distillation.
Because only ``steps x epochs`` scalars are learned, the tuning may use fewer
outer iterations (and a larger Adam step size) than the distillation; the
experiments state what they use.

Kinds (:data:`BASELINE_KINDS`):

* ``random_real``: random real training images, ``images_per_class`` of each
  class for every step (the same images "optimized_real" starts from);
* ``average``: the average training image of each class, in every slot of
  that class;
* ``kmeans``: per class, ``steps x images_per_class`` k-means centroids of the
  class's training images (:func:`kmeans`, seeded k-means++ and Lloyd);
* ``optimized_real``: the distillation itself, started from the random real
  images instead of noise (``image_init="real"``); its images are learned,
  so it costs as much as a distillation;
* ``knn_random``, ``knn_kmeans``: no network; the test set is classified by
  its nearest neighbour (k = 1, Euclidean distance in normalized pixels)
  among the random real images or the k-means centroids.

The public entry point is :func:`run_baseline`; each kind is also a
function of its own.
"""

import time

import torch

from .data import TensorData
from .distillation import _Run, distill
from .errors import DistillError, DivergedError
from .evaluation import evaluate

BASELINE_KINDS = (
    "random_real", "average", "kmeans", "optimized_real", "knn_random",
    "knn_kmeans",
)
# Kinds whose images are used to train networks with learned step sizes.
FIXED_IMAGE_KINDS = ("random_real", "average", "kmeans")
NEAREST_NEIGHBOUR_KINDS = ("knn_random", "knn_kmeans")

# Seeds k-means apart from the run's own random stream.
KMEANS_SEED_OFFSET = 7_919


def check_kind(kind):
    """Raise :class:`DistillError` unless ``kind`` is a known baseline."""
    if kind not in BASELINE_KINDS:
        raise DistillError(
            f"unknown baseline {kind!r}; choose one of {', '.join(BASELINE_KINDS)}"
        )


def _check_classification(data, settings):
    if data.num_classes == 0:
        raise DistillError(
            "baselines compare class images; the regression toy has none. Use "
            "--dataset mnist or cifar10"
        )
    needed = settings.steps * settings.images_per_class
    smallest = int(torch.bincount(data.y_train.cpu(), minlength=data.num_classes)
                   .min())
    if smallest < needed:
        raise DistillError(
            f"the baseline needs {needed} training images per class "
            f"(steps x images per class) but the smallest class has {smallest}; "
            "lower --steps or --images-per-class"
        )


def _slot_labels(num_classes, steps, images_per_class):
    """The labels of the distilled data: ``0..C-1`` repeated, for each step."""
    labels = torch.arange(num_classes).repeat(images_per_class)
    return labels.expand(steps, -1).contiguous()  # (S, C*K)


def _place_per_class(per_class, steps, images_per_class):
    """Arrange per-class images (C, S*K, *shape) in the distilled layout.

    Slot ``j`` of every step holds class ``j % C`` (see
    :func:`distill.distillation.initial_data`); image ``s*K + k`` of a class
    goes to step ``s``, its ``k``-th slot of that class.
    """
    classes = per_class.shape[0]
    shape = per_class.shape[2:]
    grid = per_class.reshape(classes, steps, images_per_class, *shape)
    # (S, K, C, *shape) -> (S, K*C, *shape): slot k*C + c holds class c
    return grid.permute(1, 2, 0, *range(3, 3 + len(shape))).reshape(
        steps, images_per_class * classes, *shape
    )


def _new_run(data, settings, pretrained=None):
    """The distillation's own run state for ``settings`` (not yet trained).

    Its random stream is the distillation's: with ``image_init="real"`` its
    images are the random real images of the run's seed, its fixed theta0
    (if any) is the distillation's theta0, and its real batches and theta0
    draws follow in the same order.
    """
    return _Run(data, settings, pretrained, data.device)


def random_real_images(data, settings):
    """Random real training images in the distilled layout, and their labels.

    ``settings.images_per_class`` images of each class for each of
    ``settings.steps`` steps, drawn with the run's seed: the images that the
    ``optimized_real`` baseline starts from. Returns ``(x, y)`` of shapes
    (S, C*K, *input_shape) and (S, C*K).
    """
    _check_classification(data, settings)
    run = _new_run(data, settings.replace(image_init="real", learn_images=False))
    return run.x.detach().clone(), run.y.detach().clone()


def average_images(data, settings):
    """The mean training image of each class, in every slot of that class.

    Returns ``(x, y)`` in the distilled layout (see
    :func:`random_real_images`); every step holds the same images.
    """
    _check_classification(data, settings)
    classes = data.num_classes
    x = data.x_train.double()
    sums = torch.zeros(classes, *data.input_shape, dtype=torch.float64,
                       device=data.device)
    sums.index_add_(0, data.y_train, x)
    counts = torch.bincount(data.y_train, minlength=classes).to(sums)
    means = (sums / counts.view(-1, *([1] * len(data.input_shape)))).float()
    slots = settings.steps * settings.images_per_class
    per_class = means.unsqueeze(1).expand(classes, slots, *data.input_shape)
    x = _place_per_class(per_class, settings.steps, settings.images_per_class)
    y = _slot_labels(classes, settings.steps, settings.images_per_class)
    return x.contiguous(), y.to(data.device)


def _squared_distances(points, centers, point_norms=None):
    """(N, k) squared Euclidean distances between rows, never negative."""
    if point_norms is None:
        point_norms = points.pow(2).sum(1, keepdim=True)
    distances = point_norms - 2 * points @ centers.T + centers.pow(2).sum(1)
    return distances.clamp_min_(0)


def kmeans(points, k, seed=0, max_iterations=50):
    """Cluster ``points`` (N, D) into ``k`` groups; deterministic given ``seed``.

    k-means++ seeding (each next centre drawn with probability proportional
    to the squared distance to the nearest centre so far), then Lloyd
    iterations until no assignment changes or ``max_iterations``. An empty
    cluster is moved to the point farthest from its centre. With ``k = 1``
    the centre is the mean.

    Returns:
        ``(centers, assignments)``: (k, D) float32 centres on the device
        of ``points`` and (N,) int64 cluster indices.
    """
    count = len(points)
    if not 1 <= k <= count:
        raise DistillError(
            f"k-means needs 1 <= k <= number of points, got k={k} for {count} points"
        )
    points = points.float()
    if k == 1:
        center = points.double().mean(0, keepdim=True).float()
        return center, torch.zeros(count, dtype=torch.long, device=points.device)

    generator = torch.Generator().manual_seed(seed)
    norms = points.pow(2).sum(1, keepdim=True)
    first = torch.randint(count, (1,), generator=generator).item()
    chosen = [first]
    nearest = _squared_distances(points, points[first:first + 1], norms).squeeze(1)
    for _ in range(1, k):
        weights = nearest.double().cpu()
        if weights.sum() <= 0:  # every point coincides with a centre
            weights = torch.ones(count, dtype=torch.float64)
        pick = torch.multinomial(weights, 1, generator=generator).item()
        chosen.append(pick)
        new = _squared_distances(points, points[pick:pick + 1], norms).squeeze(1)
        nearest = torch.minimum(nearest, new)
    centers = points[chosen].clone()

    assignments = torch.full((count,), -1, dtype=torch.long, device=points.device)
    for _ in range(max_iterations):
        distances = _squared_distances(points, centers, norms)
        new_assignments = distances.argmin(1)
        if torch.equal(new_assignments, assignments):
            break
        assignments = new_assignments
        members = torch.zeros(k, count, device=points.device)
        members[assignments, torch.arange(count, device=points.device)] = 1.0
        sizes = members.sum(1)
        empty = sizes == 0
        centers = (members @ points) / sizes.clamp_min(1).unsqueeze(1)
        if empty.any():
            own = distances.gather(1, assignments.unsqueeze(1)).squeeze(1)
            farthest = own.argsort(descending=True)[: int(empty.sum())]
            centers[empty] = points[farthest]
    return centers, assignments


def kmeans_images(data, settings):
    """Per class, ``steps x images_per_class`` k-means centroids.

    Each class is clustered on its own (:func:`kmeans`, seeded by the run's
    seed and the class), so every centroid is an average of images of one
    class. Returns ``(x, y)`` in the distilled layout (see
    :func:`random_real_images`).
    """
    _check_classification(data, settings)
    classes = data.num_classes
    slots = settings.steps * settings.images_per_class
    per_class = []
    for label in range(classes):
        members = data.x_train[data.y_train == label].flatten(1)
        seed = settings.seed * 1_000 + KMEANS_SEED_OFFSET + label
        centers, _ = kmeans(members, slots, seed=seed)
        per_class.append(centers.view(slots, *data.input_shape))
    per_class = torch.stack(per_class)  # (C, S*K, *shape)
    x = _place_per_class(per_class, settings.steps, settings.images_per_class)
    y = _slot_labels(classes, settings.steps, settings.images_per_class)
    return x.contiguous(), y.to(data.device)


@torch.no_grad()
def nearest_neighbour_accuracy(reference_x, reference_y, test_x, test_y,
                               batch_size=2048):
    """Test accuracy of the 1-nearest-neighbour classifier on ``reference``.

    Distances are Euclidean on the flattened inputs; a tie goes to the
    reference point that comes first.
    """
    if tuple(reference_x.shape[:reference_y.dim()]) != tuple(reference_y.shape):
        raise DistillError(
            f"reference inputs of shape {tuple(reference_x.shape)} do not match "
            f"labels of shape {tuple(reference_y.shape)}"
        )
    labels = reference_y.reshape(-1)
    reference = reference_x.reshape(len(labels), -1).float()
    correct = 0
    for start in range(0, len(test_x), batch_size):
        batch = test_x[start:start + batch_size].flatten(1).float()
        nearest = _squared_distances(batch, reference).argmin(1)
        correct += (labels[nearest] == test_y[start:start + batch_size]).sum().item()
    return correct / len(test_x)


def learn_step_sizes(data, settings, images, labels, pretrained=None,
                     progress=None):
    """Learn the step sizes for fixed ``images``; returns a :class:`Distilled`.

    The outer loop of :func:`distill.distill` with ``learn_images=False``:
    Adam updates of the step sizes only, for ``settings.iterations``
    iterations at ``settings.lr``. ``images`` (S, m, *shape) and ``labels``
    (S, m) must have the layout of the distilled data of ``settings``. With
    ``settings.image_init="real"`` the run draws the same real batches and
    theta0 as a distillation (or an ``optimized_real`` run) of the same
    seed; use ``"noise"`` when ``data`` lacks images of some class (the
    relabelled data of an attack).
    """
    settings = settings.replace(learn_images=False)
    if settings.init == "pretrained" and not pretrained:
        raise DistillError(
            "init mode 'pretrained' needs a pool of trained networks; pass "
            "pretrained=[...] or --pretrained-pool"
        )
    run = _new_run(data, settings, pretrained)
    if tuple(images.shape) != tuple(run.x.shape):
        raise DistillError(
            f"baseline images have shape {tuple(images.shape)}, but "
            f"{settings.steps} steps x {settings.images_per_class} per class "
            f"need {tuple(run.x.shape)}"
        )
    with torch.no_grad():
        run.x.copy_(images.to(run.x))
        run.y = labels.to(run.y.device).clone()

    started = time.perf_counter()
    while run.iteration < settings.iterations:
        try:
            loss = run.outer_step()
        except FloatingPointError:
            raise DivergedError(
                f"learning the baseline's step sizes diverged at iteration "
                f"{run.iteration + 1}; lower --lr ({settings.lr}) or "
                f"--step-size-init ({settings.step_size_init})"
            ) from None
        run.history["seconds"] = time.perf_counter() - started
        if progress is not None:
            progress(run.iteration, settings.iterations, loss)
    return run.result()


def train_baseline(kind, data, settings, pretrained=None, progress=None,
                   output=None):
    """Train a baseline that uses networks; returns its :class:`Distilled`.

    ``optimized_real`` distills from the random real images (with
    ``output`` as its checkpoint file); the fixed-image kinds learn their
    step sizes with :func:`learn_step_sizes`. ``pretrained`` is the list
    of weight dicts theta0 is drawn from, for ``init="pretrained"``.
    """
    if kind == "optimized_real":
        return distill(
            data, settings.replace(image_init="real", learn_images=True),
            pretrained=pretrained, output=output, progress=progress,
        )
    if kind not in FIXED_IMAGE_KINDS:
        raise DistillError(
            f"{kind} trains no network; use nearest_neighbour_accuracy"
        )
    images, labels = baseline_images(kind, data, settings)
    settings = settings.replace(image_init="real")
    return learn_step_sizes(data, settings, images, labels, pretrained, progress)


def baseline_images(kind, data, settings):
    """The fixed images ``(x, y)`` of a baseline kind, in the distilled layout.

    ``random_real``/``knn_random`` give the random real images,
    ``average`` the class means, ``kmeans``/``knn_kmeans`` the centroids.
    """
    check_kind(kind)
    if kind in ("random_real", "knn_random"):
        return random_real_images(data, settings)
    if kind == "average":
        return average_images(data, settings)
    if kind in ("kmeans", "knn_kmeans"):
        return kmeans_images(data, settings)
    raise DistillError(
        "optimized_real images are learned; call run_baseline to get them"
    )


def run_baseline(kind, data, settings, *, pretrained=None, eval_models=None,
                 progress=None, output=None, trained=None):
    """Build, train and test one baseline; returns ``(distilled, summary)``.

    Args:
        kind: one of :data:`BASELINE_KINDS`.
        data: the real data (a classification ``TensorData``).
        settings: the :class:`distill.Settings` of the distilled data it is
            compared with; ``iterations`` and ``lr`` are those of the
            step-size tuning (or of the distillation, for ``optimized_real``).
        pretrained: for ``init="pretrained"``, a pool dict with ``train``
            and ``test`` lists of weight dicts.
        eval_models: held-out initializations for random init (default 200).
        progress: optional ``progress(iteration, total, loss)`` callback.
        output: for ``optimized_real``, a ``.pt`` path to checkpoint to and
            resume from (see :func:`distill.distill`).
        trained: an already trained :class:`Distilled` of this kind to test
            instead of training one (a cached result).

    Returns:
        ``distilled`` is None for the nearest-neighbour kinds. ``summary``
        holds ``test_accuracy``, ``test_accuracy_std`` (None when no network
        is trained), ``models`` (networks tested, 0 for nearest neighbour),
        ``iterations`` and ``seconds``.
    """
    check_kind(kind)
    _check_classification(data, settings)
    started = time.perf_counter()
    if kind in NEAREST_NEIGHBOUR_KINDS:
        x, y = baseline_images(kind, data, settings)
        accuracy = nearest_neighbour_accuracy(x, y, data.x_test, data.y_test)
        return None, {
            "test_accuracy": accuracy, "test_accuracy_std": None, "models": 0,
            "iterations": 0, "seconds": time.perf_counter() - started,
        }

    pool_train = pretrained["train"] if pretrained else None
    pool_test = pretrained["test"] if pretrained else None
    distilled = trained or train_baseline(
        kind, data, settings, pool_train, progress, output
    )
    summary = evaluate(distilled, data, models=eval_models, pretrained=pool_test)
    return distilled, {
        "test_accuracy": summary["test_accuracy"],
        "test_accuracy_std": summary["test_accuracy_std"],
        "test_accuracy_before": summary["test_accuracy_before"],
        "models": summary["models"],
        "iterations": distilled.iteration,
        "seconds": time.perf_counter() - started,
        "step_sizes": [round(v, 6) for v in distilled.step_sizes.flatten().tolist()],
    }


def relabel(data, source, target):
    """A copy of ``data`` whose training labels ``source`` read ``target``.

    The test labels stay true. This is the objective of the malicious
    distillation: networks trained on the result should classify
    ``source`` as ``target`` and leave the other classes alone.
    """
    for name, value in (("source", source), ("target", target)):
        if not (isinstance(value, int) and 0 <= value < data.num_classes):
            raise DistillError(
                f"attack {name} class must be in 0..{data.num_classes - 1}, "
                f"got {value!r}"
            )
    if source == target:
        raise DistillError("the attacked class and its target must differ")
    y_train = data.y_train.clone()
    y_train[y_train == source] = target
    return TensorData(
        data.name, x_train=data.x_train, y_train=y_train, x_test=data.x_test,
        y_test=data.y_test, num_classes=data.num_classes, mean=data.mean,
        std=data.std, class_names=data.class_names,
    )


@torch.no_grad()
def attack_rates(model, params, data, source, target, batch_size=2048):
    """How one network treats the test set under the attack ``source -> target``.

    Returns a dict: ``success`` (fraction of test images of ``source``
    classified as ``target``), ``other_accuracy`` (accuracy on the test
    images of every other class) and ``accuracy`` (on the whole test set,
    true labels).
    """
    from .unroll import forward

    predictions = torch.cat([
        forward(model, params, data.x_test[start:start + batch_size]).argmax(1)
        for start in range(0, len(data.x_test), batch_size)
    ])
    attacked = data.y_test == source
    return {
        "success": (predictions[attacked] == target).float().mean().item(),
        "other_accuracy": (predictions[~attacked] == data.y_test[~attacked])
        .float().mean().item(),
        "accuracy": (predictions == data.y_test).float().mean().item(),
    }


def evaluate_attack(distilled, data, networks, source, target):
    """Attack rates before and after training each network in ``networks``.

    Returns means and standard deviations over the networks:
    ``attack_success``, ``other_accuracy``, ``test_accuracy`` (whole test
    set, true labels), each with ``_std`` and ``_before``, and ``models``.
    """
    import statistics

    if not networks:
        raise DistillError("the attack is tested on held-out pre-trained "
                           "networks; the pool has none")
    model = distilled.model().to(data.device)
    before, after = [], []
    for theta0 in networks:
        theta0 = {k: v.to(data.device) for k, v in theta0.items()}
        before.append(attack_rates(model, theta0, data, source, target))
        after.append(attack_rates(model, distilled.train(theta0, model), data,
                                  source, target))
    summary = {"models": len(after)}
    names = {"success": "attack_success", "other_accuracy": "other_accuracy",
             "accuracy": "test_accuracy"}
    for key, name in names.items():
        values = [rates[key] for rates in after]
        summary[name] = statistics.fmean(values)
        summary[f"{name}_std"] = (
            statistics.stdev(values) if len(values) > 1 else 0.0
        )
        summary[f"{name}_before"] = statistics.fmean(r[key] for r in before)
    return summary


def attack_labels(settings, num_classes, source, target):
    """Labels in the distilled layout where ``source`` reads ``target``.

    Used for real images as a poisoning baseline of the malicious row.
    """
    labels = _slot_labels(num_classes, settings.steps, settings.images_per_class)
    labels = labels.clone()
    labels[labels == source] = target
    return labels

