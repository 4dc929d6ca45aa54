"""Named experiments: the settings of each row of the paper, at three scales.

A setting has one home, here. Notebooks and the command line pick an
experiment by name and a scale, and may override single fields.

Scales:

* ``paper``: the paper's settings (400 epochs of the real data at batch
  1024, learning rate halved every 40 epochs); needs a GPU.
* ``cpu``: reduced so that a 2-core machine runs a row, its baselines
  included, in minutes; every reduction is stated in the experiment's
  ``notes``.
* ``smoke``: the smallest run that exercises every code path (tests).

Besides the distillation, :func:`run_experiment` computes the baselines of
the row (:mod:`distill.baselines`) and, for rows that adapt pre-trained
networks, trains the pool of networks it needs (cached in ``runs_dir``).
"""

import json
import os
import time
import warnings
from dataclasses import dataclass, field

import torch

from .distillation import Settings
from .errors import DistillError

SCALES = ("smoke", "cpu", "paper")

# Outer iterations per epoch of the real data at batch 1024.
MNIST_EPOCH = 60_000 // 1024  # 58
CIFAR10_EPOCH = 50_000 // 1024  # 48

ALL_BASELINES = (
    "random_real", "average", "kmeans", "optimized_real", "knn_random",
    "knn_kmeans",
)
BASELINE_TITLES = {
    "random_real": "random real images",
    "average": "per-class average images",
    "kmeans": "k-means centroids",
    "optimized_real": "optimized real images (distilled from real)",
    "knn_random": "1-NN on random real images",
    "knn_kmeans": "1-NN on k-means centroids",
}


def usps_like(images, mean, std):
    """MNIST made to look like USPS (16x16 digits that fill the frame).

    The stand-in source domain of the adaptation row. USPS digits are
    scanned at 16x16 pixels and scaled to fill the whole frame, while MNIST
    digits sit in a 20x20 box centred in 28x28 pixels with a blank margin.
    The transform crops that 20x20 box, resamples it to 16x16 (with
    anti-aliasing) and back up to the full 28x28 frame: digits become larger,
    thicker and blurrier, as USPS digits resized to 28x28 are.

    Args:
        images: (N, 1, 28, 28) normalized MNIST images.
        mean, std: the normalization of ``images`` (kept for the output).
    """
    import torch.nn.functional as F

    mean, std = float(mean[0]), float(std[0])
    pixels = images * std + mean  # back to [0, 1]
    box = pixels[..., 4:24, 4:24]
    small = F.interpolate(box, size=(16, 16), mode="bilinear",
                          align_corners=False, antialias=True)
    large = F.interpolate(small, size=images.shape[-2:], mode="bilinear",
                          align_corners=False)
    return (large.clamp(0, 1) - mean) / std


SOURCE_TRANSFORMS = {"usps_like": usps_like}


def source_data(data, transform):
    """``data`` with ``SOURCE_TRANSFORMS[transform]`` applied to its images."""
    from .data import TensorData

    if transform is None:
        return data
    if transform not in SOURCE_TRANSFORMS:
        raise DistillError(
            f"unknown source transform {transform!r}; choose one of "
            f"{', '.join(SOURCE_TRANSFORMS)}"
        )
    change = SOURCE_TRANSFORMS[transform]
    return TensorData(
        f"{data.name}-{transform}",
        x_train=change(data.x_train, data.mean, data.std), y_train=data.y_train,
        x_test=change(data.x_test, data.mean, data.std), y_test=data.y_test,
        num_classes=data.num_classes, mean=data.mean, std=data.std,
        class_names=data.class_names,
    )


@dataclass(frozen=True)
class PoolSpec:
    """How the pre-trained networks of a row are trained.

    Attributes:
        count: networks the distillation draws theta0 from.
        held_out: networks kept apart for evaluation.
        epochs: passes over the source training set (Adam, batch 256).
        lr: Adam's step size.
        train_images: train on the first this many source images only
            (None: all).
        seed: networks get seeds ``seed, seed + 1, ...``.
    """

    count: int
    held_out: int
    epochs: int = 1
    lr: float = 1e-3
    train_images: int = None
    seed: int = 0

    def file_name(self, dataset, model, transform):
        """A cache file name that names everything the pool depends on."""
        subset = f"-first{self.train_images}" if self.train_images else ""
        return (
            f"pool-{dataset}-{transform or 'clean'}-{model}-{self.count}+"
            f"{self.held_out}-e{self.epochs}-lr{self.lr:g}{subset}-s{self.seed}.pt"
        )


@dataclass(frozen=True)
class Experiment:
    """One row of the paper's results.

    Attributes:
        name: identifier, e.g. ``mnist_fixed``.
        title: what a reader sees in a table.
        paper_accuracy: the paper's test accuracy (fraction) or None.
        paper_std: its standard deviation over initializations, or None.
        paper_source: where the paper's number comes from.
        settings: scale -> :class:`Settings`.
        eval_models: scale -> held-out initializations for evaluation.
        notes: what each reduced scale changes, in words.
        baselines: scale -> the baseline kinds computed with the row (see
            :mod:`distill.baselines`).
        baseline_models: scale -> held-out initializations the baselines
            are tested on (None: ``eval_models``).
        baseline_iterations: scale -> outer iterations spent learning the
            step sizes of a fixed-image baseline (``optimized_real`` runs as
            many iterations as the distillation).
        baseline_lr: Adam's step size for those step sizes.
        pool: scale -> :class:`PoolSpec` for rows with pre-trained
            initializations, else None.
        source_transform: name in :data:`SOURCE_TRANSFORMS` applied to the
            data the pool is trained on (the adaptation's source domain),
            or None for the data set itself.
        attack: ``(source, target)`` classes for the malicious row: the
            distilled data should make networks classify ``source`` as
            ``target``; None for ordinary rows.
        test_images: scale -> test on the first this many test images
            only (None: the whole test set).
        train_images: scale -> use only the first this many training
            images, for distillation, pool and baselines alike (None: all;
            smoke scale only).
        paper_before: the paper's accuracy before training, if it gives one.
        paper_before_std: its standard deviation.
    """

    name: str
    title: str
    paper_accuracy: float
    paper_std: float
    paper_source: str
    settings: dict
    eval_models: dict = field(default_factory=lambda: {
        "smoke": 2, "cpu": 20, "paper": 200,
    })
    notes: str = ""
    baselines: dict = field(default_factory=lambda: {
        scale: ALL_BASELINES for scale in SCALES
    })
    baseline_models: dict = field(default_factory=lambda: {
        "smoke": None, "cpu": None, "paper": None,
    })
    baseline_iterations: dict = field(default_factory=lambda: {
        "smoke": 2, "cpu": 150, "paper": 1000,
    })
    baseline_lr: float = 0.03
    pool: dict = None
    source_transform: str = None
    attack: tuple = None
    test_images: dict = field(default_factory=lambda: {
        "smoke": 500, "cpu": None, "paper": None,
    })
    train_images: dict = field(default_factory=lambda: {
        "smoke": 2000, "cpu": None, "paper": None,
    })
    paper_before: float = None
    paper_before_std: float = None

    def at(self, scale, **changes):
        """The settings at ``scale``, with optional field overrides."""
        check_scale(scale)
        return self.settings[scale].replace(**changes)

    def baseline_settings(self, scale, settings=None):
        """Settings of the step-size tuning of the fixed-image baselines."""
        check_scale(scale)
        settings = settings or self.at(scale)
        return settings.replace(
            iterations=self.baseline_iterations[scale], lr=self.baseline_lr,
            lr_decay_every=0, learn_images=False, image_init="real",
        )


def check_scale(scale):
    """Raise :class:`DistillError` unless ``scale`` is one of :data:`SCALES`."""
    if scale not in SCALES:
        raise DistillError(
            f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}"
        )


def _scales(paper, cpu, smoke):
    return {"paper": paper, "cpu": cpu, "smoke": smoke}


# The rows evaluate the real batch whole (batch_chunk 0) on every device: the
# committed results were computed that way, chunks change the float rounding
# and so the trajectory, and on one thread (as make figures runs) chunks are
# no faster.
_ROW_DEFAULTS = {"batch_chunk": 0}


def _mnist(**fields):
    return Settings(**{"dataset": "mnist", "model": "lenet",
                       "step_size_init": 0.02, **_ROW_DEFAULTS, **fields})


def _cifar10(**fields):
    return Settings(**{"dataset": "cifar10", "model": "alexnet",
                       "step_size_init": 0.001, **_ROW_DEFAULTS, **fields})


def _paper_schedule(epoch):
    return {"iterations": 400 * epoch, "lr_decay_every": 40 * epoch}


# Smoke scale: a handful of iterations on small real batches.
_SMOKE = {"iterations": 4, "batch_size": 64}
# Pools of pre-trained networks at each scale. Paper: the original code's
# 2,000 networks to distill against and 200 held out, trained 40 epochs at
# Adam 2e-4 (its learning-rate halving after 20 epochs is not reproduced).
_PAPER_POOL = PoolSpec(count=2000, held_out=200, epochs=40, lr=2e-4)
_CPU_POOL = PoolSpec(count=16, held_out=6, epochs=1, lr=1e-3,
                     train_images=20_000)
_SMOKE_POOL = PoolSpec(count=1, held_out=2, epochs=1, lr=1e-3,
                       train_images=256)
_POOLS = {"paper": _PAPER_POOL, "cpu": _CPU_POOL, "smoke": _SMOKE_POOL}




# What the cpu scale of both CIFAR-10 rows changes, and how their baselines
# are tuned.
_CIFAR10_CPU = (
    "cpu: 10 steps x 1 epoch (10 gradient steps on the 100 images instead of "
    "30), 300 iterations at real batch 128 instead of 19,200 at 1024, no "
    "learning-rate decay, initial step size 0.01 instead of 0.001 (at 0.001 "
    "the step sizes stay too small for so short a run: 17.5% fixed and 11.1% "
    "random after 100 iterations, against 29.2% and 21.9% at 0.01, on the "
    "whole test set)"
)
_CIFAR10_CPU_BASELINES = (
    "Baselines: step sizes learned for 30 iterations (paper scale 1,000) at "
    "Adam 0.03; no optimized real images (a second distillation does not fit "
    "the budget)."
)


def _every_scale(value):
    return {scale: value for scale in SCALES}


# Baselines without "optimized_real" (a second distillation, as costly as
# the row itself).
_WITHOUT_OPTIMIZED = tuple(k for k in ALL_BASELINES if k != "optimized_real")

EXPERIMENTS = {
    "mnist_fixed": Experiment(
        name="mnist_fixed",
        title="MNIST, LeNet, fixed init, 10 images (1 step x 3 epochs)",
        paper_accuracy=0.938, paper_std=None, paper_source="project page",
        paper_before=0.129,
        settings=_scales(
            paper=_mnist(init="fixed", steps=1, epochs=3,
                         **_paper_schedule(MNIST_EPOCH)),
            cpu=_mnist(init="fixed", steps=1, epochs=3, iterations=6000,
                       batch_size=512, lr=0.05, lr_decay_every=1000),
            smoke=_mnist(init="fixed", steps=1, epochs=3, **_SMOKE),
        ),
        baseline_iterations={"smoke": 2, "cpu": 100, "paper": 1000},
        notes="cpu: 6,000 iterations at real batch 512 (51 epochs of the real "
        "data) instead of 23,200 at 1024, Adam learning rate 0.05 (paper "
        "0.01) halved every 1,000 iterations. Baselines: step sizes learned "
        "for 100 iterations (paper scale 1,000) at Adam 0.1; optimized real "
        "images get the row's full schedule.",
        baseline_lr=0.1,
    ),
    "mnist_random": Experiment(
        name="mnist_random",
        title="MNIST, LeNet, random init, 100 images (10 steps x 3 epochs)",
        paper_accuracy=0.795, paper_std=0.081, paper_source="project page",
        settings=_scales(
            paper=_mnist(init="random", steps=10, epochs=3,
                         **_paper_schedule(MNIST_EPOCH)),
            cpu=_mnist(init="random", steps=10, epochs=3, iterations=1500,
                       batch_size=256, lr_decay_every=500),
            smoke=_mnist(init="random", steps=2, epochs=2, **_SMOKE),
        ),
        baseline_iterations={"smoke": 2, "cpu": 50, "paper": 1000},
        baseline_models={"smoke": None, "cpu": 10, "paper": None},
        notes="cpu: 1,500 iterations at real batch 256 (6.4 epochs of the real "
        "data) instead of 23,200 at 1024, learning rate halved every 500; 20 "
        "held-out initializations instead of 200 (baselines: 10). Baselines: "
        "step sizes learned for 50 iterations (paper scale 1,000) at Adam "
        "0.03; optimized real images get the row's full schedule.",
    ),
    "cifar10_fixed": Experiment(
        name="cifar10_fixed",
        title="CIFAR-10, AlexNet, fixed init, 100 images (10 steps x 3 epochs)",
        paper_accuracy=0.540, paper_std=None, paper_source="project page",
        paper_before=None,
        settings=_scales(
            paper=_cifar10(init="fixed", steps=10, epochs=3,
                           **_paper_schedule(CIFAR10_EPOCH)),
            cpu=_cifar10(init="fixed", steps=10, epochs=1, iterations=300,
                         batch_size=128, lr_decay_every=0, step_size_init=0.01),
            smoke=_cifar10(init="fixed", steps=1, epochs=2, iterations=2,
                           batch_size=16),
        ),
        baselines={"smoke": ALL_BASELINES, "cpu": _WITHOUT_OPTIMIZED,
                   "paper": ALL_BASELINES},
        baseline_iterations={"smoke": 1, "cpu": 30, "paper": 1000},
        test_images={"smoke": 200, "cpu": 2000, "paper": None},
        train_images={"smoke": 1000, "cpu": None, "paper": None},
        notes=_CIFAR10_CPU + "; tested on the first 2,000 test images. "
        + _CIFAR10_CPU_BASELINES,
    ),
    "cifar10_random": Experiment(
        name="cifar10_random",
        title="CIFAR-10, AlexNet, random init, 100 images (10 steps x 3 epochs)",
        paper_accuracy=0.368, paper_std=0.012, paper_source="project page",
        settings=_scales(
            paper=_cifar10(init="random", steps=10, epochs=3,
                           **_paper_schedule(CIFAR10_EPOCH)),
            cpu=_cifar10(init="random", steps=10, epochs=1, iterations=300,
                         batch_size=128, lr_decay_every=0, step_size_init=0.01),
            smoke=_cifar10(init="random", steps=1, epochs=2, iterations=2,
                           batch_size=16),
        ),
        eval_models={"smoke": 2, "cpu": 5, "paper": 200},
        baselines={"smoke": ALL_BASELINES, "cpu": _WITHOUT_OPTIMIZED,
                   "paper": ALL_BASELINES},
        baseline_iterations={"smoke": 1, "cpu": 30, "paper": 1000},
        test_images={"smoke": 200, "cpu": 1000, "paper": None},
        train_images={"smoke": 1000, "cpu": None, "paper": None},
        notes=_CIFAR10_CPU + "; 5 held-out initializations instead of 200, "
        "tested on the first 1,000 test images. " + _CIFAR10_CPU_BASELINES,
    ),
    "mnist_adaptation": Experiment(
        name="mnist_adaptation",
        title="MNIST, LeNet, pre-trained on USPS-like MNIST, 100 images "
        "(10 steps x 3 epochs)",
        paper_accuracy=0.927, paper_std=0.014,
        paper_source="project page (USPS -> MNIST)",
        paper_before=0.675, paper_before_std=0.039,
        settings=_scales(
            paper=_mnist(init="pretrained", steps=10, epochs=3,
                         inits_per_iteration=4, **_paper_schedule(MNIST_EPOCH)),
            cpu=_mnist(init="pretrained", steps=10, epochs=3, iterations=400,
                       batch_size=256, lr_decay_every=200, inits_per_iteration=4),
            smoke=_mnist(init="pretrained", steps=2, epochs=2, **_SMOKE),
        ),
        eval_models={"smoke": 2, "cpu": 6, "paper": 200},
        pool=_POOLS,
        source_transform="usps_like",
        baseline_iterations={"smoke": 2, "cpu": 50, "paper": 1000},
        notes="No USPS copy is available offline: the source domain is MNIST "
        "made USPS-like (the 20x20 digit box resampled to 16x16 and stretched "
        "to fill the 28x28 frame; see usps_like). cpu: a pool of 16 networks "
        "to distill against and 6 held out, each trained 1 epoch on the first "
        "20,000 source images (paper scale: 2,000 + 200, 40 epochs); 400 "
        "iterations at real batch 256, 4 networks per iteration as in the "
        "paper, learning rate halved every 200. Baselines: step sizes learned for "
        "50 iterations at Adam 0.03.",
    ),
    "mnist_malicious": Experiment(
        name="mnist_malicious",
        title="MNIST, LeNet, pre-trained, 10 malicious images make class 0 "
        "read as 1 (1 step)",
        paper_accuracy=None, paper_std=None,
        paper_source="the paper shows the attack; no number is quoted here",
        settings=_scales(
            paper=_mnist(init="pretrained", steps=1, epochs=1,
                         inits_per_iteration=4, **_paper_schedule(MNIST_EPOCH)),
            cpu=_mnist(init="pretrained", steps=1, epochs=1, iterations=1000,
                       batch_size=256, lr=0.05, lr_decay_every=500,
                       inits_per_iteration=4, step_size_init=0.03),
            smoke=_mnist(init="pretrained", steps=1, epochs=1, **_SMOKE),
        ),
        eval_models={"smoke": 2, "cpu": 6, "paper": 200},
        pool=_POOLS,
        attack=(0, 1),
        baselines=_every_scale(("random_real",)),
        baseline_iterations={"smoke": 2, "cpu": 100, "paper": 1000},
        notes="The networks are trained on clean MNIST; the distilled images "
        "are learned against real batches whose label 0 reads 1. cpu: pool "
        "of 16 networks to distill against and 6 held out, 1 epoch on the "
        "first 20,000 training images each (paper scale: 2,000 + 200, 40 "
        "epochs); 1,000 iterations at real batch 256, 4 networks per "
        "iteration, Adam learning rate 0.05 halved every 500, initial step "
        "size 0.03. Baseline: random real images, the 0s labelled 1, with "
        "step sizes learned for 100 iterations at Adam 0.03.",
    ),
}


def get_experiment(name):
    """The :class:`Experiment` called ``name``."""
    if name not in EXPERIMENTS:
        raise DistillError(
            f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}"
        )
    return EXPERIMENTS[name]


def subset(data, train=None, test=None):
    """``data`` cut to its first ``train`` training and ``test`` test images.

    None keeps a split whole.
    """
    from .data import TensorData

    train = len(data.x_train) if train is None else min(train, len(data.x_train))
    test = len(data.x_test) if test is None else min(test, len(data.x_test))
    if train == len(data.x_train) and test == len(data.x_test):
        return data
    return TensorData(
        data.name, x_train=data.x_train[:train], y_train=data.y_train[:train],
        x_test=data.x_test[:test], y_test=data.y_test[:test],
        num_classes=data.num_classes, mean=data.mean, std=data.std,
        class_names=data.class_names,
    )


def pretrained_pool(experiment, scale, data, runs_dir, progress=None):
    """The pool of trained networks of a row: loaded, or trained and cached.

    The networks are trained on the row's source data (``data`` after
    ``experiment.source_transform``) as :class:`PoolSpec` says, and cached
    in ``runs_dir`` under a name that lists those choices. Returns the pool
    dict (``train`` and ``test`` lists of weight dicts, ``seconds``).
    """
    from .pool import load_pool, make_pool, save_pool

    if experiment.pool is None:
        raise DistillError(
            f"experiment {experiment.name} has no pool of pre-trained networks"
        )
    spec = experiment.pool[scale]
    settings = experiment.at(scale)
    os.makedirs(runs_dir, exist_ok=True)
    path = os.path.join(runs_dir, spec.file_name(
        settings.dataset, settings.model, experiment.source_transform
    ))
    if os.path.exists(path):
        return load_pool(path, settings.model)

    source = subset(source_data(data, experiment.source_transform),
                    train=spec.train_images)
    started = time.perf_counter()
    pool = make_pool(
        source, settings.model, spec.count, spec.held_out, seed=spec.seed,
        progress=progress, epochs=spec.epochs, lr=spec.lr,
    )
    pool["seconds"] = round(time.perf_counter() - started, 1)
    pool["source_transform"] = experiment.source_transform or "none"
    save_pool(pool, path)
    return pool


def _cached_baseline(path, expected, compute, device):
    """A trained baseline from ``path`` if it was made with ``expected``."""
    from .distillation import Distilled

    if os.path.exists(path):
        cached = Distilled.load(path, device=device)
        if cached.settings == expected and cached.complete:
            return cached
    result = compute()
    result.save(path)
    return result


def compute_baselines(experiment, scale, settings, data, test_data, pool=None,
                      runs_dir="runs", progress=None):
    """The baselines of one row: kind -> summary dict.

    Args:
        experiment, scale: the row and its scale.
        settings: the row's distillation settings (with any overrides).
        data: the real data the baselines are built from and tuned on.
        test_data: the data whose test split measures them.
        pool: for pre-trained rows, the pool dict (``train``, ``test``).
        runs_dir: trained baselines are cached there as
            ``<name>-<scale>-<kind>.pt`` and reloaded when their settings
            match.
        progress: optional ``progress(iteration, total, loss)`` callback.

    Returns:
        kind -> dict with ``title``, ``test_accuracy``,
        ``test_accuracy_std`` (None for nearest neighbour), ``models``,
        ``iterations`` (outer iterations of its training), ``seconds``
        (training plus testing) and, for trained kinds, ``step_sizes``;
        for the malicious row also ``attack_success`` and
        ``other_accuracy``.
    """
    from . import baselines as base

    tuning = experiment.baseline_settings(scale, settings)
    models = experiment.baseline_models[scale] or experiment.eval_models[scale]
    pool_train = pool["train"] if pool is not None else None
    pool_test = pool["test"][:models] if pool is not None else None
    images = {}
    build_seconds = [0.0]  # time spent building images, charged once

    def fixed_images(kind):
        """The images of ``kind``, computed once and shared by kNN kinds."""
        key = {"knn_random": "random_real", "knn_kmeans": "kmeans"}.get(kind, kind)
        if key not in images:
            started = time.perf_counter()
            images[key] = base.baseline_images(key, data, tuning)
            build_seconds[0] += time.perf_counter() - started
        return images[key]

    results = {}
    for kind in experiment.baselines[scale]:
        started = time.perf_counter()
        path = os.path.join(runs_dir, f"{experiment.name}-{scale}-{kind}.pt")
        record = {"title": BASELINE_TITLES[kind]}
        build_seconds[0] = 0.0
        if kind in base.NEAREST_NEIGHBOUR_KINDS:
            x, y = fixed_images(kind)
            accuracy = base.nearest_neighbour_accuracy(
                x, y, test_data.x_test, test_data.y_test
            )
            record.update(test_accuracy=accuracy, test_accuracy_std=None,
                          models=0, iterations=0,
                          seconds=time.perf_counter() - started)
            results[kind] = _rounded_record(record)
            continue

        if experiment.attack is not None:
            source, target = experiment.attack
            x, _ = fixed_images(kind)
            labels = base.attack_labels(tuning, data.num_classes, source, target)
            attack_tuning = tuning.replace(image_init="noise")
            distilled = _cached_baseline(
                path, attack_tuning,
                lambda: base.learn_step_sizes(
                    base.relabel(data, source, target), attack_tuning, x,
                    labels, pretrained=pool_train, progress=progress),
                data.device,
            )
        elif kind == "optimized_real":
            set_aside_stale_run(
                path, settings.replace(image_init="real", learn_images=True)
            )
            distilled = base.train_baseline(
                kind, data, settings, pretrained=pool_train, progress=progress,
                output=path,
            )
        else:
            distilled = _cached_baseline(
                path, tuning,
                lambda: base.learn_step_sizes(
                    data, tuning, *fixed_images(kind), pretrained=pool_train,
                    progress=progress),
                data.device,
            )
        started = time.perf_counter()
        if experiment.attack is not None:
            summary = base.evaluate_attack(
                distilled, test_data, pool_test, *experiment.attack
            )
        else:
            _, summary = base.run_baseline(
                kind, test_data, distilled.settings,
                pretrained={"train": pool_train, "test": pool_test}
                if pool is not None else None,
                eval_models=models, trained=distilled,
            )
        record.update(summary)
        record["iterations"] = distilled.iteration
        record["step_sizes"] = [
            float(f"{v:.4g}") for v in distilled.step_sizes.flatten().tolist()
        ]
        # building the images, training (as recorded with the result, also
        # when it is reloaded) and testing
        record["seconds"] = (
            build_seconds[0] + distilled.history["seconds"]
            + time.perf_counter() - started
        )
        results[kind] = _rounded_record(record)
    return results


def _rounded_record(record):
    """Accuracies to 4 decimals and seconds to 0.1, for stable JSON text."""
    out = {}
    for key, value in record.items():
        if isinstance(value, float) and key == "seconds":
            out[key] = round(value, 1)
        elif isinstance(value, float):
            out[key] = round(value, 4)
        else:
            out[key] = value
    return out


def set_aside_stale_run(path, settings):
    """Move a cached run at ``path`` aside if it cannot continue as ``settings``.

    A run made with other settings (an edited experiment, an override), or
    one already past ``settings.iterations``, is renamed to
    ``<path without .pt>.stale.pt`` (replacing an older one there) with a
    warning, so that the caller starts afresh and nothing computed is
    deleted. Returns the new path, or None when nothing was moved.
    """
    from .distillation import load_file, settings_differences

    if not os.path.exists(path):
        return None
    try:
        record = load_file(path)
    except DistillError as error:
        why = [str(error)]
    else:
        why = settings_differences(record, settings)
        if record.get("state") is None:
            why.append("no resume state")
        if record.get("iteration", 0) > settings.iterations:
            why.append(f"iterations: {record['iteration']} done > "
                       f"{settings.iterations} asked")
    if not why:
        return None
    stem = path[: -len(".pt")] if path.endswith(".pt") else path
    stale = stem + ".stale.pt"
    os.replace(path, stale)
    warnings.warn(
        f"{path} held a run that does not match the current settings "
        f"({'; '.join(why)}); it was moved to {stale} and the run starts afresh",
        stacklevel=2,
    )
    return stale


def run_experiment(name, scale, *, data_root=None, device="cpu", runs_dir="runs",
                   results_dir="results", progress=None, pretrained=None,
                   **changes):
    """Run (or resume, or reload) one experiment and record its result.

    The distilled data is kept in ``runs_dir/<name>-<scale>.pt``: a finished
    run there is loaded instead of recomputed, an interrupted one resumes.
    Rows with pre-trained initializations train their pool of networks
    first (cached in ``runs_dir``, see :func:`pretrained_pool`) unless
    ``pretrained`` (a pool dict with ``train`` and ``test``) is given. The
    row's baselines are computed too (:func:`compute_baselines`). The test
    accuracy, the baselines and the timings go to
    ``results_dir/<name>-<scale>.json`` (see :func:`write_result`).

    Returns:
        ``(distilled, record)``: the :class:`Distilled` and the dict that
        was written.
    """
    from .baselines import evaluate_attack, relabel
    from .data import load_dataset
    from .distillation import distill
    from .evaluation import evaluate

    experiment = get_experiment(name)
    settings = experiment.at(scale, **changes)
    data = load_dataset(settings.dataset, data_root, device=device)
    data = subset(data, train=experiment.train_images[scale])
    os.makedirs(runs_dir, exist_ok=True)
    output = os.path.join(runs_dir, f"{name}-{scale}.pt")

    if settings.init == "pretrained" and pretrained is None:
        pretrained = pretrained_pool(experiment, scale, data, runs_dir)
    target = data if experiment.attack is None else relabel(data, *experiment.attack)
    set_aside_stale_run(output, settings)
    distilled = distill(
        target, settings, output=output, progress=progress,
        pretrained=pretrained["train"] if pretrained else None,
    )

    started = time.perf_counter()
    test_data = subset(data, test=experiment.test_images[scale])
    models = experiment.eval_models[scale]
    if experiment.attack is not None:
        summary = evaluate_attack(
            distilled, test_data, pretrained["test"][:models], *experiment.attack
        )
    else:
        summary = evaluate(
            distilled, test_data, models=models,
            pretrained=pretrained["test"] if pretrained else None,
        )
    evaluation_seconds = time.perf_counter() - started

    baselines = compute_baselines(
        experiment, scale, settings, data, test_data, pretrained, runs_dir,
        progress,
    )
    extra = {
        "baselines": baselines,
        "notes": experiment.notes,
        "paper_source": experiment.paper_source,
        "paper_before": experiment.paper_before,
        "paper_before_std": experiment.paper_before_std,
        "test_images": len(test_data.x_test),
        "train_images": len(data.x_train),
        "seconds_total": round(
            distilled.history["seconds"] + evaluation_seconds
            + sum(b["seconds"] for b in baselines.values())
            + (pretrained.get("seconds", 0.0) if pretrained else 0.0), 1
        ),
    }
    per_network = summary.get("test_accuracies")
    if per_network is not None:
        extra["test_accuracies"] = [round(value, 4) for value in per_network]
    if pretrained is not None:
        spec = experiment.pool[scale] if experiment.pool else None
        extra["pool"] = {
            "source_transform": experiment.source_transform or "none",
            "train": len(pretrained["train"]), "test": len(pretrained["test"]),
            "epochs": spec.epochs if spec else None,
            "train_images": spec.train_images if spec else None,
            "seconds": pretrained.get("seconds"),
        }
    if experiment.attack is not None:
        source, target_class = experiment.attack
        extra["attack"] = {"source": source, "target": target_class}
        for key in ("attack_success", "other_accuracy"):
            for suffix in ("", "_std", "_before"):
                extra[key + suffix] = round(summary[key + suffix], 4)
    record = write_result(experiment, scale, distilled, summary, results_dir,
                          device=device, extra=extra)
    return distilled, record


def write_result(experiment, scale, distilled, summary, results_dir,
                 device="cpu", extra=None):
    """Write ``results_dir/<name>-<scale>.json`` and return its dict.

    Fields: experiment, title, scale, settings, test_accuracy,
    test_accuracy_std, test_accuracy_before, models (evaluation networks),
    iterations, seconds (wall time of the distillation), device,
    library_version, paper_accuracy, paper_std, and ``extra`` when given.
    :func:`run_experiment` adds: ``baselines`` (kind -> test_accuracy,
    test_accuracy_std, models, iterations, seconds, ...), ``test_accuracies``
    (one per evaluation network), ``notes``, ``paper_source``,
    ``paper_before(_std)``, ``train_images``, ``test_images``,
    ``seconds_total`` (pool, distillation, evaluation and baselines), and
    ``pool`` / ``attack`` / ``attack_success`` / ``other_accuracy`` for the
    rows that have them. Keys are sorted so a re-run writes the same text
    for the same numbers (the timings aside).
    """
    import platform

    from .version import __version__

    if device == "cuda" and torch.cuda.is_available():
        device_name = torch.cuda.get_device_name()
    else:
        device_name = f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"
    record = {
        "experiment": experiment.name,
        "title": experiment.title,
        "scale": scale,
        "settings": distilled.settings.to_dict(),
        "test_accuracy": round(summary["test_accuracy"], 4),
        "test_accuracy_std": round(summary["test_accuracy_std"], 4),
        "test_accuracy_before": round(summary["test_accuracy_before"], 4),
        "models": summary["models"],
        "iterations": distilled.iteration,
        "seconds": round(distilled.history["seconds"], 1),
        "device": device_name,
        "library_version": __version__,
        "paper_accuracy": experiment.paper_accuracy,
        "paper_std": experiment.paper_std,
    }
    if extra:
        record.update(extra)
    os.makedirs(results_dir, exist_ok=True)
    path = os.path.join(results_dir, f"{experiment.name}-{scale}.json")
    with open(path + ".tmp", "w") as handle:
        json.dump(record, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(path + ".tmp", path)
    return record


def describe_experiments():
    """One line per experiment: name, title and the paper's number."""
    lines = []
    for name, experiment in EXPERIMENTS.items():
        paper = (
            f"paper {100 * experiment.paper_accuracy:.1f}%"
            if experiment.paper_accuracy is not None else "paper: no number"
        )
        lines.append(f"{name}: {experiment.title} ({paper})")
    return lines
