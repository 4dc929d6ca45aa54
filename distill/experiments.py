"""Named experiments: the settings of each row of the paper, at three scales.

A setting has one home, here. Notebooks and the command line pick an
experiment by name and a scale, and may override single fields.

Scales:

* ``paper``: the paper's settings (400 epochs of the real data at batch
  1024, learning rate halved every 40 epochs); needs a GPU.
* ``cpu``: reduced so that a 2-core machine runs a row in minutes; every
  reduction is stated in the experiment's ``notes``.
* ``smoke``: the smallest run that exercises every code path (tests).
"""

from dataclasses import dataclass, field

from .distillation import Settings

SCALES = ("smoke", "cpu", "paper")

# Outer iterations per epoch of the real data at batch 1024.
MNIST_EPOCH = 60_000 // 1024  # 58
CIFAR10_EPOCH = 50_000 // 1024  # 48


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

    def at(self, scale, **changes):
        """The settings at ``scale``, with optional field overrides."""
        if scale not in SCALES:
            from .errors import DistillError

            raise DistillError(
                f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}"
            )
        return self.settings[scale].replace(**changes)


def _scales(paper, cpu, smoke):
    return {"paper": paper, "cpu": cpu, "smoke": smoke}


def _mnist(**fields):
    return Settings(dataset="mnist", model="lenet", step_size_init=0.02, **fields)


def _cifar10(**fields):
    return Settings(dataset="cifar10", model="alexnet", step_size_init=0.001,
                    **fields)


def _paper_schedule(epoch):
    return {"iterations": 400 * epoch, "lr_decay_every": 40 * epoch}


EXPERIMENTS = {
    "mnist_fixed": Experiment(
        name="mnist_fixed",
        title="MNIST, LeNet, fixed init, 10 images (1 step x 3 epochs)",
        paper_accuracy=0.938, paper_std=None, paper_source="project page",
        settings=_scales(
            paper=_mnist(init="fixed", steps=1, epochs=3,
                         **_paper_schedule(MNIST_EPOCH)),
            cpu=_mnist(init="fixed", steps=1, epochs=3, iterations=1500,
                       lr_decay_every=600),
            smoke=_mnist(init="fixed", steps=1, epochs=3, iterations=5,
                         batch_size=128),
        ),
        notes="cpu: 1,500 iterations (26 epochs of the real data) instead of "
        "23,200, learning rate halved every 600.",
    ),
}


def get_experiment(name):
    """The :class:`Experiment` called ``name``."""
    if name not in EXPERIMENTS:
        from .errors import DistillError

        raise DistillError(
            f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}"
        )
    return EXPERIMENTS[name]


def run_experiment(name, scale, *, data_root=None, device="cpu", runs_dir="runs",
                   results_dir="results", progress=None, pretrained=None,
                   **changes):
    """Run (or resume, or reload) one experiment and record its result.

    The distilled data is kept in ``runs_dir/<name>-<scale>.pt``: a finished
    run there is loaded instead of recomputed, an interrupted one resumes.
    The test accuracy goes to ``results_dir/<name>-<scale>.json`` (see
    :func:`write_result`).

    Returns:
        ``(distilled, summary)``: the :class:`Distilled` and the dict that
        was written.
    """
    import os

    from .data import load_dataset
    from .distillation import distill
    from .evaluation import evaluate

    experiment = get_experiment(name)
    settings = experiment.at(scale, **changes)
    data = load_dataset(settings.dataset, data_root, device=device)
    os.makedirs(runs_dir, exist_ok=True)
    output = os.path.join(runs_dir, f"{name}-{scale}.pt")

    distilled = distill(
        data, settings, output=output, progress=progress,
        pretrained=pretrained["train"] if pretrained else None,
    )
    summary = evaluate(
        distilled, data, models=experiment.eval_models[scale],
        pretrained=pretrained["test"] if pretrained else None,
    )
    record = write_result(experiment, scale, distilled, summary, results_dir,
                          device=device)
    return distilled, record


def write_result(experiment, scale, distilled, summary, results_dir,
                 device="cpu", extra=None):
    """Write ``results_dir/<name>-<scale>.json`` and return its dict.

    Fields: experiment, title, scale, settings, test_accuracy,
    test_accuracy_std, test_accuracy_before, models (evaluation networks),
    iterations, seconds (wall time of the distillation), device,
    library_version, paper_accuracy, paper_std, and ``extra`` (e.g.
    baselines) when given. Keys are sorted so a re-run writes the same text
    for the same numbers.
    """
    import json
    import os
    import platform

    import torch

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
