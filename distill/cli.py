"""The command line: ``python -m distill {run,evaluate,pretrain,baseline,experiment}``.

Every command shows a progress bar on a terminal (``--quiet`` or
``TQDM_DISABLE=1`` hides it) and ends with ONE line of JSON on stdout, so
that scripts can read the result. A mistake in the input prints one line
``error: ...`` on stderr and exits with status 2.
"""

import argparse
import dataclasses
import json
import os
import sys

import torch

from .data import DATA_ROOT_ENV, DATASETS, load_dataset
from .distillation import INIT_MODES, Distilled, Settings, distill, load_file
from .errors import DistillError
from .evaluation import evaluate
from .models import INITS, MODELS
from .pool import load_pool, make_pool, save_pool

# Defaults that depend on the data set; everything else is Settings' own.
DATASET_DEFAULTS = {
    "mnist": {"model": "lenet", "step_size_init": 0.02},
    "cifar10": {"model": "alexnet", "step_size_init": 0.001},
}

CHOICES = {
    "dataset": DATASETS, "model": tuple(MODELS), "init": INIT_MODES,
    "initializer": INITS, "image_init": ("noise", "real"),
}
HELP = {
    "batch_chunk": "real examples per chunk of the real-data loss; 0: the "
                   "whole batch; default: 128 on the CPU, the whole batch on "
                   "a GPU",
}


def choose_device(name):
    """``auto`` -> cuda when available, else cpu; checks ``cuda`` exists."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise DistillError(
            "--device cuda was asked for but no CUDA GPU is available; use "
            "--device cpu or auto"
        )
    if name not in ("cpu", "cuda"):
        raise DistillError(f"unknown device {name!r}; use auto, cpu or cuda")
    return name


def progress_bar(description, quiet):
    """A tqdm-backed ``progress(iteration, total, loss)`` callback."""
    from tqdm.auto import tqdm

    bar = tqdm(desc=description, disable=quiet or None, unit="it", leave=False)

    def update(iteration, total, loss):
        bar.total = total
        bar.n = iteration
        bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        bar.refresh()

    update.close = bar.close
    return update


def add_common(parser):
    parser.add_argument(
        "--data-root", default=None,
        help=f"folder holding the data sets (default: ${DATA_ROOT_ENV}, else "
        "download into ~/.cache/distill/data)",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_settings_flags(parser):
    """One flag per :class:`Settings` field, with the field's default."""
    for field in dataclasses.fields(Settings):
        flag = "--" + field.name.replace("_", "-")
        default = field.default
        if field.name in ("model", "step_size_init"):
            default = None  # chosen from the data set
        kwargs = {"default": default, "dest": field.name}
        if isinstance(field.default, bool):
            kwargs["type"] = _boolean
            kwargs["metavar"] = "yes|no"
        elif isinstance(field.default, tuple):
            kwargs.update(type=float, nargs=len(field.default))
        elif field.default is None:
            kwargs["type"] = int  # batch_chunk: None chooses by device
        else:
            kwargs["type"] = type(field.default)
        if field.name in CHOICES:
            kwargs["help"] = "one of " + ", ".join(CHOICES[field.name])
        if field.name in HELP:
            kwargs["help"] = HELP[field.name]
        parser.add_argument(flag, **kwargs)


def _boolean(text):
    if text.lower() in ("yes", "true", "1"):
        return True
    if text.lower() in ("no", "false", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")


def settings_from_args(args):
    """A :class:`Settings` from parsed flags and the data set's defaults."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(Settings)}
    values["dataset"] = values["dataset"].lower().replace("-", "")
    if values["dataset"] not in DATASETS:
        raise DistillError(
            f"unknown data set {args.dataset!r}; choose one of {', '.join(DATASETS)}"
        )
    for name, default in DATASET_DEFAULTS.get(values["dataset"], {}).items():
        if values[name] is None:
            values[name] = default
    return Settings(**values)


def report(summary):
    """Print the final JSON line on stdout."""
    print(json.dumps(summary, sort_keys=True), flush=True)


def command_run(args):
    settings = settings_from_args(args)
    device = choose_device(args.device)
    if not args.output.endswith(".pt"):
        raise DistillError(f"--output should be a .pt file, got {args.output!r}")
    if os.path.exists(args.output):
        load_file(args.output)  # fail early on a file that is not a run
    data = load_dataset(settings.dataset, args.data_root, device=device)

    pool = None
    if settings.init == "pretrained":
        if not args.pretrained_pool:
            raise DistillError(
                "--init pretrained needs --pretrained-pool FILE; make one with "
                "`python -m distill pretrain`"
            )
        pool = load_pool(args.pretrained_pool, settings.model)

    bar = progress_bar("distill", args.quiet)
    try:
        result = distill(
            data, settings, output=args.output, device=device,
            checkpoint_every=args.checkpoint_every, progress=bar,
            pretrained=pool["train"] if pool else None,
        )
    finally:
        bar.close()

    summary = evaluate(
        result, data, models=args.eval_models,
        pretrained=pool["test"] if pool else None,
    )
    report(_summary(result, summary, args.output))


def command_evaluate(args):
    device = choose_device(args.device)
    result = Distilled.load(args.result)
    settings = result.settings
    if not result.complete:
        print(
            f"warning: {args.result} is a checkpoint at iteration "
            f"{result.iteration} of {settings.iterations}; evaluating it as is",
            file=sys.stderr,
        )
    data = load_dataset(settings.dataset, args.data_root, device=device)
    pool = None
    if settings.init == "pretrained":
        if not args.pretrained_pool:
            raise DistillError(
                "this result adapts pre-trained networks; pass the same "
                "--pretrained-pool FILE as for the run"
            )
        pool = load_pool(args.pretrained_pool, settings.model)

    from tqdm.auto import tqdm

    def wrap(items):
        return tqdm(items, desc="evaluate", disable=args.quiet or None, leave=False)

    summary = evaluate(
        result, data, models=args.models, seed=args.seed,
        pretrained=pool["test"] if pool else None, progress=wrap,
    )
    report(_summary(result, summary, args.result))


def command_pretrain(args):
    device = choose_device(args.device)
    data = load_dataset(args.dataset, args.data_root, device=device)
    model = args.model or DATASET_DEFAULTS[data.name]["model"]

    from tqdm.auto import tqdm

    def wrap(items):
        return tqdm(items, desc="pretrain", disable=args.quiet or None, leave=False)

    pool = make_pool(
        data, model, args.count, args.held_out, seed=args.seed, progress=wrap,
        epochs=args.epochs, lr=args.lr,
    )
    save_pool(pool, args.output)
    report({"output": args.output, "model": model, "dataset": data.name,
            "train": len(pool["train"]), "test": len(pool["test"])})


def command_baseline(args):
    """Build, train and test one baseline; print its summary."""
    from .baselines import NEAREST_NEIGHBOUR_KINDS, check_kind, run_baseline

    check_kind(args.kind)
    settings = settings_from_args(args)
    device = choose_device(args.device)
    if args.output is not None and not args.output.endswith(".pt"):
        raise DistillError(f"--output should be a .pt file, got {args.output!r}")
    if args.eval_models is not None and args.eval_models <= 0:
        raise DistillError(
            f"--eval-models must be positive, got {args.eval_models}"
        )
    pool = None
    if settings.init == "pretrained" and args.kind not in NEAREST_NEIGHBOUR_KINDS:
        if not args.pretrained_pool:
            raise DistillError(
                "--init pretrained needs --pretrained-pool FILE; make one with "
                "`python -m distill pretrain`"
            )
        pool = load_pool(args.pretrained_pool, settings.model)
    data = load_dataset(settings.dataset, args.data_root, device=device)

    bar = progress_bar(args.kind, args.quiet)
    try:
        distilled, summary = run_baseline(
            args.kind, data, settings, pretrained=pool,
            eval_models=args.eval_models, progress=bar,
            output=args.output if args.kind == "optimized_real" else None,
        )
    finally:
        bar.close()
    if distilled is not None and args.output and args.kind != "optimized_real":
        distilled.save(args.output)
    out = {
        "kind": args.kind, "dataset": settings.dataset, "model": settings.model,
        "init": settings.init, "steps": settings.steps, "epochs": settings.epochs,
        "images": settings.steps * settings.images_per_class * data.num_classes,
    }
    out.update({key: value for key, value in summary.items() if key != "step_sizes"})
    if args.output:
        out["output"] = args.output
    report(out)


def command_experiment(args):
    """Run one named experiment (with its baselines) or list them."""
    from .experiments import describe_experiments, get_experiment, run_experiment

    if args.list:
        for line in describe_experiments():
            print(line)
        return
    if not args.name:
        raise DistillError(
            "name an experiment (see `python -m distill experiment --list`)"
        )
    get_experiment(args.name)
    device = choose_device(args.device)
    bar = progress_bar(args.name, args.quiet)
    try:
        distilled, record = run_experiment(
            args.name, args.scale, data_root=args.data_root, device=device,
            runs_dir=args.runs_dir, results_dir=args.results_dir, progress=bar,
        )
    finally:
        bar.close()
    out = {
        key: record[key] for key in (
            "experiment", "scale", "test_accuracy", "test_accuracy_std",
            "test_accuracy_before", "models", "iterations", "seconds",
            "seconds_total", "paper_accuracy", "paper_std",
        )
    }
    out["baselines"] = {
        kind: {"test_accuracy": value["test_accuracy"],
               "test_accuracy_std": value["test_accuracy_std"]}
        for kind, value in record["baselines"].items()
    }
    for key in ("attack_success", "other_accuracy"):
        if key in record:
            out[key] = record[key]
    out["result"] = os.path.join(args.results_dir,
                                 f"{args.name}-{args.scale}.json")
    report(out)


def _summary(result, summary, path):
    out = {
        "output": os.fspath(path),
        "dataset": result.settings.dataset,
        "model": result.settings.model,
        "init": result.settings.init,
        "images": result.num_images,
        "iterations": result.iteration,
        "seconds": round(result.history["seconds"], 2),
    }
    out.update({k: v for k, v in summary.items() if not k.endswith("s")
                or k == "models"})
    return out


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m distill",
        description="Dataset distillation (Wang et al., 2018): learn a few "
        "synthetic training images and the step sizes to use them with.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="distill a data set into a .pt file")
    add_settings_flags(run)
    run.add_argument("--output", required=True, help="result file (.pt); an "
                     "existing run with the same settings is resumed")
    run.add_argument("--checkpoint-every", type=int, default=None,
                     help="iterations between checkpoints (default: 10%% of "
                     "the run)")
    run.add_argument("--pretrained-pool", default=None,
                     help="pool file from `pretrain`, for --init pretrained")
    run.add_argument("--eval-models", type=int, default=20,
                     help="held-out initializations tested at the end of a "
                     "random-init run (default 20; `evaluate` uses 200)")
    add_common(run)
    run.set_defaults(handler=command_run)

    ev = commands.add_parser("evaluate", help="test accuracy of a saved result")
    ev.add_argument("result", help="a .pt file written by `run`")
    ev.add_argument("--models", type=int, default=None,
                    help="held-out initializations (random init; default 200)")
    ev.add_argument("--seed", type=int, default=None,
                    help="seed of the held-out draws (default: the run's)")
    ev.add_argument("--pretrained-pool", default=None)
    add_common(ev)
    ev.set_defaults(handler=command_evaluate)

    pre = commands.add_parser("pretrain", help="train a pool of networks for "
                              "--init pretrained")
    pre.add_argument("--dataset", default="mnist")
    pre.add_argument("--model", default=None)
    pre.add_argument("--count", type=int, default=10,
                     help="networks to distill against")
    pre.add_argument("--held-out", type=int, default=10,
                     help="networks kept for evaluation")
    pre.add_argument("--epochs", type=int, default=1)
    pre.add_argument("--lr", type=float, default=1e-3)
    pre.add_argument("--seed", type=int, default=0)
    pre.add_argument("--output", required=True)
    add_common(pre)
    pre.set_defaults(handler=command_pretrain)
    from .baselines import BASELINE_KINDS
    from .experiments import SCALES

    base = commands.add_parser(
        "baseline", help="train and test one baseline (real images, k-means, "
        "kNN) with the same procedure as distilled data",
    )
    base.add_argument("--kind", required=True,
                      help="one of " + ", ".join(BASELINE_KINDS))
    add_settings_flags(base)
    base.add_argument("--pretrained-pool", default=None,
                      help="pool file from `pretrain`, for --init pretrained")
    base.add_argument("--eval-models", type=int, default=None,
                      help="held-out initializations tested (random init; "
                      "default 200)")
    base.add_argument("--output", default=None,
                      help="optional .pt file for the trained baseline")
    add_common(base)
    base.set_defaults(handler=command_baseline)

    exp = commands.add_parser(
        "experiment", help="run a row of the paper (with its baselines) and "
        "write results/<name>-<scale>.json",
    )
    exp.add_argument("name", nargs="?", default=None,
                     help="experiment name (see --list)")
    exp.add_argument("--list", action="store_true", help="list the experiments")
    exp.add_argument("--scale", default="cpu", choices=SCALES,
                     help="smoke, cpu (default) or paper")
    exp.add_argument("--runs-dir", default="runs",
                     help="where runs, pools and baselines are cached")
    exp.add_argument("--results-dir", default="results",
                     help="where the JSON result is written")
    add_common(exp)
    exp.set_defaults(handler=command_experiment)
    return parser


def main(argv=None):
    """Entry point; returns the exit status (0, 2 for bad input, 130 on ^C)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except DistillError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        message = str(stop) or "interrupted"
        print(f"interrupted: {message}", file=sys.stderr)
        return 130
    return 0
