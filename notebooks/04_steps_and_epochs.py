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
# # 4. More gradient steps and epochs
#
# **What the paper claims** (section "More gradient steps and epochs";
# numbers from the project page, the paper's, not ours): one step on ten
# images is not the limit. With **S steps**, each with its own batch of
# distilled images and its own learned step size, repeated for **E
# epochs** (each epoch with its own step sizes again), the distilled data
# trains a network further. The gradient flows back through the whole
# unrolled training (back-propagation through time). On CIFAR-10 with a
# fixed initialization, 100 images (10 steps x 3 epochs) take the small
# AlexNet-style network from **8.8%** to **54.0%** test accuracy, against
# about **80%** for training on the full data set.
#
# What we check here:
#
# 1. MNIST, fixed initialization: test accuracy over a small grid of steps
#    x epochs, all runs with the same outer-iteration budget;
# 2. the learned step sizes per step and epoch;
# 3. the images of each step;
# 4. the paper's CIFAR-10 row, fixed initialization, 10 steps x 3 epochs
#    (`cifar10_fixed` in `distill.experiments`).

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
# the MNIST grid: steps x epochs, all other settings from the mnist_fixed row
grid_steps = (1, 2, 5)
grid_epochs = (1, 3)
# share of the mnist_fixed row's outer iterations that each grid run gets;
# None: all of them at paper scale, a fifth below it (keeps cpu scale short)
grid_share = None
# Adam learning rate of the grid runs: the paper's. At the cpu-scale row's
# 0.05 the 5 x 3 run collapsed to chance after about 220 iterations.
grid_lr = 0.01

# %%
import itertools

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

import distill
from distill.experiments import BASELINE_TITLES, get_experiment, run_experiment, subset
from distill.plotting import save_figure, set_style, step_rows

set_style()
if seed != 0:  # keep other seeds' runs apart from the shared default files
    runs_dir = os.path.join(runs_dir, f"seed{seed}")
    results_dir = os.path.join(results_dir, f"seed{seed}")
os.makedirs(runs_dir, exist_ok=True)

row = get_experiment("mnist_fixed")
# the training and test images of the mnist_fixed row at this scale
mnist = subset(distill.load_dataset("mnist", data_root, device=device),
               train=row.train_images[scale], test=row.test_images[scale])
if grid_share is None:
    grid_share = 1.0 if scale == "paper" else 0.2
base = row.at(scale, seed=seed)
grid_iterations = max(1, round(base.iterations * grid_share))
print(f"grid: steps {grid_steps} x epochs {grid_epochs}, {grid_iterations} outer "
      f"iterations each at Adam {grid_lr} (the {row.name} row has "
      f"{base.iterations} at {base.lr} at {scale} scale)")

# %% [markdown]
# ## MNIST: a grid of steps x epochs
#
# Every run starts from the same theta0 (the seed draws it first) and gets
# the same number of outer iterations; only the number of steps S (so the
# number of images, 10 per step) and of epochs E change. A finished run is
# reloaded from `runs_dir`.

# %%
grid = {}
for steps, epochs in itertools.product(grid_steps, grid_epochs):
    settings = base.replace(steps=steps, epochs=epochs, iterations=grid_iterations,
                            lr=grid_lr)
    output = f"{runs_dir}/mnist_fixed-grid-{steps}x{epochs}-{scale}.pt"
    grid[steps, epochs] = distill.distill(mnist, settings, output=output)

rows = []
for (steps, epochs), result in grid.items():
    summary = distill.evaluate(result, mnist)
    rows.append({"steps": steps, "epochs": epochs, "images": result.num_images,
                 "gradient steps": steps * epochs,
                 "test accuracy": summary["test_accuracy"],
                 "before": summary["test_accuracy_before"],
                 "distillation (s)": result.history["seconds"]})
grid_table = pd.DataFrame(rows)
grid_table.round(3)

# %%
fig, ax = plt.subplots(figsize=(6, 3.6))
for epochs, part in grid_table.groupby("epochs"):
    ax.plot(part["steps"], 100 * part["test accuracy"], marker="o",
            label=f"{epochs} epoch{'s' if epochs > 1 else ''}")
ax.axhline(100 * grid_table["before"].iloc[0], color="0.5", ls=":",
           label="theta0 untrained")
ax.set_xticks(list(grid_steps))
ax.set_xlabel("steps S (10 distilled images each)")
ax.set_ylabel("test accuracy (%)")
ax.set_ylim(0, 100)
ax.set_title(f"MNIST, LeNet, fixed init: steps x epochs\n({scale} scale, one run "
             f"per cell, {grid_iterations} outer iterations each)")
ax.legend()
save_figure(fig, "04_mnist_steps_epochs", figures_dir)
plt.show()

# %% [markdown]
# ## The learned step sizes
#
# Each gradient step (epoch e, step s) has its own learned step size. The
# heat map shows them for the largest run of the grid; the line plot puts
# every run's schedule side by side, in the order the steps are taken.

# %%
largest = grid[max(grid_steps), max(grid_epochs)]
eta = largest.step_sizes.cpu().numpy()  # (E, S)
fig, axes = plt.subplots(1, 2, figsize=(11, 3.4),
                         gridspec_kw={"width_ratios": [1, 1.4]})
sns.heatmap(eta, annot=True, fmt=".3f", annot_kws={"size": 9}, cmap="viridis",
            ax=axes[0],
            xticklabels=range(1, eta.shape[1] + 1),
            yticklabels=range(1, eta.shape[0] + 1),
            cbar_kws={"label": "learned step size"})
axes[0].set_xlabel("step s")
axes[0].set_ylabel("epoch e")
axes[0].set_title(f"{eta.shape[1]} steps x {eta.shape[0]} epochs")
for (steps, epochs), result in grid.items():
    values = result.step_sizes.flatten().cpu().numpy()
    axes[1].plot(range(1, len(values) + 1), values, marker=".",
                 label=f"{steps} x {epochs}")
axes[1].set_xlabel("gradient step (in the order taken)")
axes[1].set_ylabel("learned step size")
axes[1].set_title("every run of the grid (steps x epochs)")
axes[1].legend(ncol=2, fontsize=8)
fig.suptitle(f"MNIST learned step sizes ({scale} scale, one run per setting)")
fig.tight_layout()
save_figure(fig, "04_mnist_step_sizes", figures_dir)
plt.show()

# %% [markdown]
# ## The images of each step
#
# One row per step of the largest run: the network sees row 1, then row 2,
# and so on, and then the rows again in the next epoch.

# %%
fig = step_rows(largest.images, mnist.mean, mnist.std, mnist.class_names,
                f"MNIST distilled images, {largest.settings.steps} steps x "
                f"{largest.settings.epochs} epochs, fixed init ({scale} scale, "
                "one run)")
save_figure(fig, "04_mnist_step_images", figures_dir)
plt.show()

# %% [markdown]
# ## CIFAR-10, fixed initialization, 100 images
#
# The paper's row (10 steps x 3 epochs), with its real-image baselines
# given the same training procedure. At `cpu` scale the run is much
# shorter than the paper's, with fewer epochs and a test subset (the
# experiment's notes, printed below, list every reduction), so expect an
# accuracy well below 54%.

# %%
cifar = distill.load_dataset("cifar10", data_root, device=device)
cifar_row = get_experiment("cifar10_fixed")
print(cifar_row.title)
if cifar_row.notes:
    print("notes:", cifar_row.notes)
cifar_distilled, cifar_record = run_experiment(
    "cifar10_fixed", scale, data_root=data_root, device=device,
    runs_dir=runs_dir, results_dir=results_dir, seed=seed,
)
print(f"test accuracy before: {cifar_record['test_accuracy_before']:.3f}, "
      f"after: {cifar_record['test_accuracy']:.3f} "
      f"({cifar_record['iterations']} outer iterations, "
      f"{cifar_record['seconds']:.0f} s)")

# %%
def baseline_table(record):
    """One row per baseline in the record: its title and test accuracy."""
    rows = [{"method": BASELINE_TITLES.get(key, key), "key": key,
             "test accuracy": value["test_accuracy"]}
            for key, value in sorted(record.get("baselines", {}).items())]
    return pd.DataFrame(rows, columns=["method", "key", "test accuracy"])


cifar_shape = (f"{cifar_distilled.settings.steps} steps x "
               f"{cifar_distilled.settings.epochs} epoch"
               f"{'s' if cifar_distilled.settings.epochs > 1 else ''}")
cifar_baselines = baseline_table(cifar_record)
cifar_table = pd.concat([pd.DataFrame([
    {"method": "theta0, untrained", "key": "before",
     "test accuracy": cifar_record["test_accuracy_before"]},
    {"method": f"distilled, {cifar_shape}", "key": "distilled",
     "test accuracy": cifar_record["test_accuracy"]},
]), cifar_baselines], ignore_index=True)
cifar_table.round(3)

# %%
fig = step_rows(cifar_distilled.images, cifar.mean, cifar.std, cifar.class_names,
                f"CIFAR-10 distilled images, {cifar_shape}, fixed init "
                f"({scale} scale, one run)")
save_figure(fig, "04_cifar10_step_images", figures_dir)
plt.show()

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6),
                         gridspec_kw={"width_ratios": [1.3, 1]})
cifar_eta = cifar_distilled.step_sizes.cpu().numpy()
sns.heatmap(cifar_eta, cmap="viridis", ax=axes[0],
            xticklabels=range(1, cifar_eta.shape[1] + 1),
            yticklabels=range(1, cifar_eta.shape[0] + 1),
            cbar_kws={"label": "learned step size"})
axes[0].set_xlabel("step s")
axes[0].set_ylabel("epoch e")
axes[0].set_title("learned step sizes")
colors = ["0.6" if k == "before" else "C0" if k == "distilled" else "C1"
          for k in cifar_table["key"]]
axes[1].barh(cifar_table["method"], 100 * cifar_table["test accuracy"], color=colors)
axes[1].invert_yaxis()
axes[1].axvline(100 * cifar_row.paper_accuracy, color="k", ls="--", lw=1,
                label=f"paper ({100 * cifar_row.paper_accuracy:.1f}%)")
axes[1].set_xlim(0, 100)
axes[1].set_xlabel("test accuracy (%)")
axes[1].set_title(f"accuracy, one theta0, {cifar_record['test_images']} test images")
axes[1].legend(loc="lower right")
fig.suptitle(f"CIFAR-10, fixed init, {cifar_distilled.num_images} images, "
             f"{cifar_shape} "
             f"({scale} scale, one run)")
fig.tight_layout()
save_figure(fig, "04_cifar10_fixed", figures_dir)
plt.show()

# %% [markdown]
# ## What the run showed
#
# The summary below reads this run's numbers (see the tables above). The
# expectation from the paper: on MNIST more steps and more epochs raise
# the accuracy at the same outer-iteration budget, and on CIFAR-10 the
# distilled images beat real images trained the same way.
#
# At `cpu` scale each grid run gets a fifth of the row's outer iterations
# at the paper's Adam learning rate, so the small cells are far from
# converged and their order is noisy: in the committed run 1 step x 3
# epochs and 2 x 1 sat below 1 x 1, while 5 x 3 led by far (the table
# above has this run's numbers). The final check asserts there that the
# largest cell is the best and that the most steps beat one step at every
# number of epochs; it prints whether more epochs beat fewer at every
# number of steps, and asserts that at `paper` scale. (With the row's full
# cpu-scale budget, notebook 01 finds 1 x 3 above 1 x 1.) The CIFAR-10 row
# is a small fraction of the paper's run (see its notes), so its gain over
# theta0 stays well below the paper's; the check asserts that it is a gain
# and that it beats random real images, and asserts the paper's size of
# gain only at `paper` scale.

# %%
pivot = grid_table.pivot(index="steps", columns="epochs", values="test accuracy")
print(f"scale: {scale}; MNIST test accuracy, rows = steps, columns = epochs:")
print(pivot.round(3).to_string())
best = grid_table.loc[grid_table["test accuracy"].idxmax()]
print(f"best MNIST cell: {best['steps']:.0f} steps x {best['epochs']:.0f} epochs "
      f"({best['test accuracy']:.1%})")
paper_before = (f"{cifar_row.paper_before:.1%} -> "
                if cifar_row.paper_before is not None else "")
print(f"CIFAR-10 {cifar_shape}: {cifar_record['test_accuracy_before']:.1%} -> "
      f"{cifar_record['test_accuracy']:.1%} on "
      f"{cifar_record['test_images']} test images "
      f"(paper, 10 x 3: {paper_before}{cifar_row.paper_accuracy:.1%})")
if len(cifar_baselines):
    top = cifar_baselines.loc[cifar_baselines["test accuracy"].idxmax()]
    print(f"best CIFAR-10 baseline: {top['method']} ({top['test accuracy']:.1%})")

# %%
# NBVAL_CHECK_OUTPUT
accuracies = [*grid_table["test accuracy"], *grid_table["before"],
              cifar_record["test_accuracy"], cifar_record["test_accuracy_before"],
              *cifar_baselines["test accuracy"]]
assert all(0.0 <= a <= 1.0 for a in accuracies)
for (steps, epochs), result in grid.items():
    assert tuple(result.step_sizes.shape) == (epochs, steps)
    assert (result.step_sizes > 0).all()
assert (cifar_distilled.step_sizes > 0).all()
accuracy = dict(zip(zip(grid_table["steps"], grid_table["epochs"]),
                    grid_table["test accuracy"]))
claims, observed = {}, {}
if scale != "smoke":
    large = (max(grid_steps), max(grid_epochs))
    cifar_real = cifar_baselines.set_index("key")["test accuracy"]
    claims = {
        "MNIST: the largest grid run is the best":
            accuracy[large] == max(accuracy.values()),
        "MNIST: for every number of epochs, the most steps beat one step":
            all(accuracy[max(grid_steps), e] > accuracy[min(grid_steps), e]
                for e in grid_epochs),
        "CIFAR-10: distilled beats theta0":
            cifar_record["test_accuracy"] > cifar_record["test_accuracy_before"],
        "CIFAR-10: distilled beats random real images":
            bool(cifar_record["test_accuracy"] > cifar_real.get("random_real", 0.0)),
    }
    observed = {
        "MNIST: for every number of steps, more epochs do better":
            all(accuracy[s, max(grid_epochs)] > accuracy[s, min(grid_epochs)]
                for s in grid_steps),
    }
if scale == "paper":  # the short cpu-scale grid runs are not held to these
    claims.update(observed)
    observed = {}
    claims["CIFAR-10: distilled beats theta0 by 30 points"] = (
        cifar_record["test_accuracy"] > cifar_record["test_accuracy_before"] + 0.3)
assert all(claims.values()), claims
cifar_settings = cifar_distilled.settings
print("grid (steps, epochs):", sorted(grid))
print("CIFAR-10 step sizes shaped (epochs, steps):",
      tuple(cifar_distilled.step_sizes.shape)
      == (cifar_settings.epochs, cifar_settings.steps))
print("step sizes positive:", True)
print("accuracies are fractions:", True)
for claim, holds in claims.items():
    print(f"{claim}: {holds}")
for claim, holds in observed.items():
    print(f"(not asserted at {scale} scale) {claim}: {holds}")
