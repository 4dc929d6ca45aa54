# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Random initialization: distilled data for networks it has not seen
#
# **What the paper claims** (section "Random initialization"; numbers from
# the project page, the paper's, not ours): when theta0 is drawn afresh
# from the initializer's distribution (Xavier) at every outer iteration,
# the distilled data has to train *any* network of that distribution,
# including ones never seen during distillation. That is harder and needs
# more images: with 100 images (10 steps x 3 epochs),
#
# | data set | paper's test accuracy over held-out initializations |
# | --- | --- |
# | MNIST, LeNet | **79.5% +- 8.1%** |
# | CIFAR-10, AlexNet-style | **36.8% +- 1.2%** |
#
# with standard deviations over 200 held-out initializations.
#
# What we check here:
#
# 1. MNIST then CIFAR-10: the accuracy of every held-out network trained on
#    the distilled images, as a distribution, against real images trained
#    the same way;
# 2. the distilled images;
# 3. MNIST: how the accuracy grows with the number of distilled images
#    (a few shorter runs with fewer steps).
#
# The settings of each scale live in `distill.experiments` (rows
# `mnist_random` and `cifar10_random`); at `cpu` scale the runs are much
# shorter than the paper's and use fewer held-out networks (see each
# row's notes).

# %%
import os

# %% tags=["parameters"]
scale = os.environ.get("DISTILL_SCALE", "cpu")  # smoke | cpu | paper
seed = 0
device = "cpu"
data_root = None
figures_dir = os.environ.get("DISTILL_FIGURES_DIR", "../figures")
runs_dir = os.environ.get("DISTILL_RUNS_DIR", "../runs")
results_dir = os.environ.get("DISTILL_RESULTS_DIR", "../results")
# the sweep over the number of distilled images: MNIST runs with these
# numbers of steps (10 images each), other settings from mnist_random
sweep_steps = (1, 2, 5)
# share of the mnist_random row's outer iterations each sweep run gets
# (1.0: the same budget as the row, so the row is the sweep's last point)
sweep_share = 1.0

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

import distill
from distill.experiments import (
    BASELINE_TITLES, get_experiment, run_experiment, subset,
)
from distill.plotting import save_figure, set_style, step_rows

set_style()
if seed != 0:  # keep other seeds' runs apart from the shared default files
    runs_dir = os.path.join(runs_dir, f"seed{seed}")
    results_dir = os.path.join(results_dir, f"seed{seed}")
os.makedirs(runs_dir, exist_ok=True)

def per_network(summary):
    """The per-network accuracies of an evaluation summary or record."""
    return summary["test_accuracies"]


def baseline_table(record):
    """One row per baseline in the record: mean and std over networks."""
    rows = []
    for key, value in sorted(record.get("baselines", {}).items()):
        value = value if isinstance(value, dict) else {"test_accuracy": value}
        if value.get("test_accuracy") is not None:
            rows.append({"method": BASELINE_TITLES.get(key, key), "key": key,
                         "accuracy": value["test_accuracy"],
                         "std": value.get("test_accuracy_std") or 0.0})
    return pd.DataFrame(rows, columns=["method", "key", "accuracy", "std"])


def row_data(row, data):
    """The training and test images ``row`` uses at this scale."""
    return subset(data, train=row.train_images[scale], test=row.test_images[scale])


def run_row(name, data):
    """Run (or reload) a paper row; its record and per-network accuracies."""
    row = get_experiment(name)
    print(row.title)
    if row.notes:
        print("notes:", row.notes)
    distilled, record = run_experiment(
        name, scale, data_root=data_root, device=device, runs_dir=runs_dir,
        results_dir=results_dir, seed=seed,
    )
    accuracies = per_network(record)
    if accuracies is None:  # the record keeps the summary only: re-evaluate
        # on the same held-out networks and test images as the record
        accuracies = per_network(distill.evaluate(
            distilled, row_data(row, data), models=row.eval_models[scale]))
    assert abs(sum(accuracies) / len(accuracies) - record["test_accuracy"]) < 1e-3
    print(f"{record['models']} held-out networks, {record['test_images']} test "
          "images: before "
          f"{record['test_accuracy_before']:.3f}, after {record['test_accuracy']:.3f} "
          f"+- {record['test_accuracy_std']:.3f} ({record['iterations']} outer "
          f"iterations, {record['seconds']:.0f} s)")
    return row, distilled, record, accuracies


# %% [markdown]
# ## MNIST, 100 images, random initialization
#
# `run_experiment` distills (or reloads a finished run from `runs_dir`),
# then trains the row's number of held-out networks (initializations drawn
# from a random stream the distillation never used) and records mean and
# standard deviation, with the real-image baselines, in `results_dir`.

# %%
mnist = distill.load_dataset("mnist", data_root, device=device)
mnist_row, mnist_distilled, mnist_record, mnist_accuracies = run_row(
    "mnist_random", mnist)

# %%
fig = step_rows(mnist_distilled.images, mnist.mean, mnist.std, mnist.class_names,
                f"MNIST distilled images for random init, "
                f"{mnist_distilled.settings.steps} steps x "
                f"{mnist_distilled.settings.epochs} epochs ({scale} scale, one run)")
save_figure(fig, "02_mnist_random_images", figures_dir)
plt.show()

# %% [markdown]
# ## CIFAR-10, 100 images, random initialization
#
# The same for CIFAR-10 and the small AlexNet-style network.

# %%
cifar = distill.load_dataset("cifar10", data_root, device=device)
cifar_row, cifar_distilled, cifar_record, cifar_accuracies = run_row(
    "cifar10_random", cifar)

# %%
fig = step_rows(cifar_distilled.images, cifar.mean, cifar.std, cifar.class_names,
                f"CIFAR-10 distilled images for random init, "
                f"{cifar_distilled.settings.steps} steps x "
                f"{cifar_distilled.settings.epochs} epochs ({scale} scale, one run)")
save_figure(fig, "02_cifar10_random_images", figures_dir)
plt.show()

# %% [markdown]
# ## Accuracy over held-out initializations
#
# Each dot is one held-out network trained on the distilled images; the
# violin is their distribution. The paper's mean +- std is drawn beside
# it, and the real-image baselines (the same training procedure, their
# step sizes learned) as mean +- std over their own evaluation networks.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), sharey=True)
for ax, row, result, record, accuracies in [
    (axes[0], mnist_row, mnist_distilled, mnist_record, mnist_accuracies),
    (axes[1], cifar_row, cifar_distilled, cifar_record, cifar_accuracies),
]:
    points = pd.DataFrame({"method": "distilled",
                           "accuracy": [100 * a for a in accuracies]})
    sns.violinplot(data=points, x="method", y="accuracy", ax=ax, color="C0",
                   inner=None, cut=0, alpha=0.35)
    np.random.seed(seed)  # stripplot jitters with numpy's global generator
    sns.stripplot(data=points, x="method", y="accuracy", ax=ax, color="C0", size=4)
    labels = ["distilled (this run)"]
    if row.paper_accuracy is not None:
        ax.errorbar([len(labels)], [100 * row.paper_accuracy],
                    yerr=[100 * (row.paper_std or 0.0)], fmt="D", color="k",
                    capsize=4)
        labels.append("distilled (paper)")
    for b in baseline_table(record).itertuples():
        ax.errorbar([len(labels)], [100 * b.accuracy], yerr=[100 * b.std], fmt="o",
                    color="C1", capsize=4)
        labels.append(b.method)
    ax.axhline(100 * record["test_accuracy_before"], color="0.5", ls=":",
               label="untrained (mean)")
    ax.set_xticks(range(len(labels)), labels, fontsize=8, rotation=35, ha="right")
    ax.set_xlabel("")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(f"{row.title.split(',')[0]}, {result.num_images} images: "
                 f"{record['models']} held-out networks")
    ax.legend(loc="upper right", fontsize=8)
fig.suptitle(f"Random initialization: one dot per held-out network, others mean +- std "
             f"({scale} scale, one run per data set)")
fig.tight_layout()
save_figure(fig, "02_random_init_accuracy", figures_dir)
plt.show()

# %%
summary = pd.DataFrame([
    {"data set": row.title.split(",")[0], "untrained": record["test_accuracy_before"],
     "distilled (mean)": record["test_accuracy"],
     "distilled (std)": record["test_accuracy_std"],
     "paper (mean)": row.paper_accuracy, "paper (std)": row.paper_std,
     "networks": record["models"]}
    for row, record in [(mnist_row, mnist_record), (cifar_row, cifar_record)]
])
summary.round(3)

# %% [markdown]
# ## MNIST: accuracy against the number of distilled images
#
# A few runs of the MNIST row with fewer steps (10 images per step, the
# row's epochs), all with the same outer-iteration budget as the row (with
# the default `sweep_share`), so the row is the last point of the curve.

# %%
base = mnist_row.at(scale, seed=seed)
sweep_iterations = max(1, round(base.iterations * sweep_share))
# as many held-out networks as the row's baselines are tested on
sweep_models = mnist_row.baseline_models[scale] or mnist_row.eval_models[scale]
sweep_data = row_data(mnist_row, mnist)
sweep_rows = []
for steps in sweep_steps:
    if steps == base.steps and sweep_iterations == mnist_record["iterations"]:
        continue  # that is the row itself, added below
    settings = base.replace(steps=steps, iterations=sweep_iterations)
    result = distill.distill(
        sweep_data, settings, output=f"{runs_dir}/mnist_random-steps{steps}-{scale}.pt")
    evaluation = distill.evaluate(result, sweep_data, models=sweep_models)
    sweep_rows.append({"steps": steps, "images": result.num_images,
                       "test accuracy": evaluation["test_accuracy"],
                       "std": evaluation["test_accuracy_std"],
                       "distillation (s)": result.history["seconds"]})
# the row itself, at the same budget (more networks)
if sweep_iterations == mnist_record["iterations"]:
    sweep_rows.append({"steps": base.steps, "images": mnist_distilled.num_images,
                       "test accuracy": mnist_record["test_accuracy"],
                       "std": mnist_record["test_accuracy_std"],
                       "distillation (s)": mnist_record["seconds"]})
sweep = pd.DataFrame(sweep_rows).sort_values("images", ignore_index=True)
print(f"{sweep_iterations} outer iterations per sweep run, {sweep_models} "
      "held-out networks each")
sweep.round(3)

# %%
fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.errorbar(sweep["images"], 100 * sweep["test accuracy"], yerr=100 * sweep["std"],
            marker="o", capsize=4, label=f"{sweep_iterations} outer iterations each")
ax.errorbar([mnist_distilled.num_images], [100 * mnist_record["test_accuracy"]],
            yerr=[100 * mnist_record["test_accuracy_std"]], fmt="*", ms=14,
            color="C3", capsize=4, zorder=3,
            label=f"the mnist_random row ({mnist_record['iterations']} iterations)")
ax.axhline(100 * mnist_record["test_accuracy_before"], color="0.5", ls=":",
           label="untrained (mean)")
ax.set_xscale("log")
ticks = sorted({*sweep["images"], mnist_distilled.num_images})
ax.set_xticks(ticks, [str(t) for t in ticks])
ax.minorticks_off()
ax.set_xlabel("distilled images (10 per step)")
ax.set_ylabel("test accuracy (%), mean +- std")
ax.set_ylim(0, 100)
ax.set_title(f"MNIST, random init: more images ({scale} scale, one run per point,\n"
             f"{sweep_models} held-out networks each, "
             f"the row {mnist_record['models']})")
ax.legend(fontsize=8, loc="upper left")
save_figure(fig, "02_mnist_images_sweep", figures_dir)
plt.show()

# %% [markdown]
# ## What the run showed
#
# The summary below reads this run's numbers (see the tables above). The
# expectation from the paper: the distilled images train unseen networks
# well above their untrained accuracy and above real images trained the
# same way, with a spread over initializations; and more images help.
#
# At `cpu` scale the runs are far shorter than the paper's (a few hundred
# outer iterations instead of about twenty thousand; CIFAR-10 with one
# epoch instead of three), so the numbers sit below the paper's, and the
# summary lists the baselines the distilled data does *not* beat at this
# scale. The final check asserts at `cpu` scale only what such short runs
# show (far above untrained networks on MNIST, more images help); the
# comparisons with the baselines and the CIFAR-10 gain are asserted at
# `paper` scale.

# %%
print(f"scale: {scale}")
for row, record in [(mnist_row, mnist_record), (cifar_row, cifar_record)]:
    print(f"{row.name}: {record['test_accuracy_before']:.1%} -> "
          f"{record['test_accuracy']:.1%} +- {record['test_accuracy_std']:.1%} over "
          f"{record['models']} networks (paper: {row.paper_accuracy:.1%} +- "
          f"{row.paper_std or 0:.1%})")
    for b in baseline_table(record).itertuples():
        print(f"    baseline {b.method}: {b.accuracy:.1%}")
    above = [b.method for b in baseline_table(record).itertuples()
             if b.accuracy >= record["test_accuracy"]]
    print(f"    baselines at or above the distilled mean: {', '.join(above) or 'none'}")
print("MNIST sweep (images: accuracy):",
      ", ".join(f"{i}: {a:.1%}"
                for i, a in zip(sweep["images"], sweep["test accuracy"])))

# %%
# NBVAL_CHECK_OUTPUT
accuracies = [*mnist_accuracies, *cifar_accuracies, *sweep["test accuracy"],
              mnist_record["test_accuracy_before"],
              cifar_record["test_accuracy_before"]]
for record in (mnist_record, cifar_record):
    accuracies += list(baseline_table(record)["accuracy"])
assert all(0.0 <= a <= 1.0 for a in accuracies)
assert len(mnist_accuracies) == mnist_record["models"] == mnist_row.eval_models[scale]
assert len(cifar_accuracies) == cifar_record["models"] == cifar_row.eval_models[scale]
for result in (mnist_distilled, cifar_distilled):
    assert (result.step_sizes > 0).all()
claims = {}
if scale != "smoke":
    claims = {
        "MNIST: distilled beats untrained networks by 30 points":
            mnist_record["test_accuracy"] > mnist_record["test_accuracy_before"] + 0.3,
        "MNIST: more images, higher accuracy (largest sweep run vs smallest)":
            bool(sweep["test accuracy"].iloc[-1]
                 > sweep["test accuracy"].iloc[0] + 0.2),
    }
if scale == "paper":
    mnist_real = baseline_table(mnist_record).set_index("key")["accuracy"]
    cifar_real = baseline_table(cifar_record).set_index("key")["accuracy"]
    claims.update({
        "MNIST: distilled beats random real images":
            bool(mnist_record["test_accuracy"] > mnist_real.get("random_real", 0.0)),
        "CIFAR-10: distilled beats untrained networks by 10 points":
            cifar_record["test_accuracy"] > cifar_record["test_accuracy_before"] + 0.1,
        "CIFAR-10: distilled beats random real images":
            bool(cifar_record["test_accuracy"] > cifar_real.get("random_real", 0.0)),
    })
assert all(claims.values()), claims
print("one accuracy per held-out network:", True)
print("sweep image counts distinct:", bool(sweep["images"].is_unique))
print("step sizes positive:", True)
print("accuracies are fractions:", True)
for claim, holds in claims.items():
    print(f"{claim}: {holds}")
