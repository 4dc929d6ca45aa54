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
# # 1. Fixed initialization: ten images train LeNet in one step
#
# **What the paper claims** (section "Fixed initialization, one step";
# numbers from the project page, the paper's, not ours): when every network
# starts from one known initialization theta0, ten synthetic MNIST images,
# one per class, and a learned step size are enough to train LeNet. Test
# accuracy goes from **12.9%** (theta0, untrained) to **93.8%**, against
# about **99%** for the same network trained on all 60,000 images.
#
# "One step" means one *batch* of distilled images per gradient step. The
# original code's command for this number uses **1 step x 3 epochs**: the
# same ten images applied three times, each pass with its own learned step
# size. This notebook shows both 1 x 1 and 1 x 3.
#
# What we check here:
#
# 1. the ten distilled images and their learned step sizes;
# 2. accuracy before and after training on them, against real-image
#    baselines given the same training procedure;
# 3. 1 step x 1 epoch against 1 step x 3 epochs;
# 4. the images are tied to their initialization: the same images applied
#    to freshly drawn networks do much worse.
#
# The settings of each scale live in `distill.experiments` (row
# `mnist_fixed`); `cpu` scale runs fewer outer iterations than the paper,
# so expect lower numbers than the paper's there.

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
# fresh initializations for the "tied to theta0" check; None: the
# experiment's own count of evaluation networks at this scale
fresh_inits = None

# %%
import dataclasses

import matplotlib.pyplot as plt
import pandas as pd

import distill
from distill.experiments import BASELINE_TITLES, get_experiment, run_experiment, subset
from distill.plotting import image_grid, save_figure, set_style

set_style()
if seed != 0:  # keep other seeds' runs apart from the shared default files
    runs_dir = os.path.join(runs_dir, f"seed{seed}")
    results_dir = os.path.join(results_dir, f"seed{seed}")
os.makedirs(runs_dir, exist_ok=True)

experiment = get_experiment("mnist_fixed")
# the training and test images the row uses at this scale (all of them,
# except at smoke scale)
data = subset(distill.load_dataset("mnist", data_root, device=device),
              train=experiment.train_images[scale], test=experiment.test_images[scale])
print(data)
print(experiment.title)
print(f"scale {scale}:", experiment.at(scale, seed=seed))
if experiment.notes:
    print("notes:", experiment.notes)

# %% [markdown]
# ## The paper's row: 1 step x 3 epochs
#
# `run_experiment` distills (or reloads a finished run from `runs_dir`),
# trains theta0 with the result, and records the test accuracy together
# with the real-image baselines in `results_dir`.

# %%
distilled, record = run_experiment(
    "mnist_fixed", scale, data_root=data_root, device=device,
    runs_dir=runs_dir, results_dir=results_dir, seed=seed,
)
print(f"test accuracy before: {record['test_accuracy_before']:.3f}, "
      f"after: {record['test_accuracy']:.3f} "
      f"({record['iterations']} outer iterations, {record['seconds']:.0f} s)")

# %% [markdown]
# ## The extra run: 1 step x 1 epoch
#
# The same settings with a single pass over the ten images. Both runs draw
# theta0 and the starting noise from the same seed, so they start from the
# same network and differ only in the number of passes.

# %%
settings_1x1 = experiment.at(scale, epochs=1, seed=seed)
one_pass = distill.distill(
    data, settings_1x1, output=f"{runs_dir}/mnist_fixed-1x1-{scale}.pt",
)
summary_1x1 = distill.evaluate(one_pass, data)
assert one_pass.theta0.keys() == distilled.theta0.keys()
same_theta0 = all((one_pass.theta0[k] == distilled.theta0[k]).all()
                  for k in distilled.theta0)
print(f"same theta0 as the 1 x 3 run: {same_theta0}; test accuracy "
      f"{summary_1x1['test_accuracy']:.3f}")

# %% [markdown]
# ## The distilled images
#
# Each row is one run's ten images (class 0 to 9, left to right), drawn in
# the data's pixel range (values outside it are clipped). The learned step
# sizes are in the panel titles: one per epoch.


# %%
def step_sizes_text(result):
    return ", ".join(f"{v:.3g}" for v in result.step_sizes.flatten().tolist())


fig, axes = plt.subplots(2, 1, figsize=(9, 2.9))
for ax, (label, result) in zip(axes, [("1 step x 1 epoch", one_pass),
                                      ("1 step x 3 epochs", distilled)]):
    image_grid(result.images[0], data.mean, data.std,
               titles=data.class_names, ax=ax)
    ax.set_title(f"{label}: learned step size(s) {step_sizes_text(result)}")
fig.suptitle(f"MNIST distilled images, fixed init ({scale} scale, one run each)")
fig.tight_layout()
save_figure(fig, "01_distilled_images", figures_dir)
plt.show()

# %% [markdown]
# ## Accuracy against the baselines
#
# The baselines (`record["baselines"]`, computed by `run_experiment`) use
# ten real images, or images computed from real ones, with the *same*
# training procedure: the same theta0 and number of steps, with step sizes
# learned for them (optimized real images also learn their pixels,
# starting from real images instead of noise). The two 1-NN rows train no
# network: they classify the test set by the nearest of the ten images.
# They tell how much of the accuracy comes from learning the pixels.


# %%
def baseline_table(record):
    """One row per baseline in the record: its title and test accuracy."""
    rows = [{"method": BASELINE_TITLES.get(key, key), "key": key,
             "test accuracy": value["test_accuracy"]}
            for key, value in sorted(record.get("baselines", {}).items())]
    return pd.DataFrame(rows, columns=["method", "key", "test accuracy"])


baselines = baseline_table(record)
rows = [
    {"method": "theta0, untrained", "key": "before",
     "test accuracy": record["test_accuracy_before"]},
    {"method": "distilled, 1 step x 1 epoch", "key": "distilled_1x1",
     "test accuracy": summary_1x1["test_accuracy"]},
    {"method": "distilled, 1 step x 3 epochs", "key": "distilled_1x3",
     "test accuracy": record["test_accuracy"]},
]
table = pd.concat([pd.DataFrame(rows), baselines], ignore_index=True)
table["test accuracy"] = table["test accuracy"].round(3)
table

# %%
fig, ax = plt.subplots(figsize=(7, 0.45 * len(table) + 1))
colors = ["0.6" if k == "before" else "C0" if k.startswith("distilled") else "C1"
          for k in table["key"]]
ax.barh(table["method"], 100 * table["test accuracy"], color=colors)
ax.invert_yaxis()
ax.axvline(100 * experiment.paper_accuracy, color="k", ls="--", lw=1,
           label=f"paper, 1 x 3 ({100 * experiment.paper_accuracy:.1f}%)")
if experiment.paper_before is not None:
    ax.axvline(100 * experiment.paper_before, color="k", ls=":", lw=1,
               label=f"paper, untrained ({100 * experiment.paper_before:.1f}%)")
ax.set_xlim(0, 100)
ax.set_xlabel("test accuracy (%)")
ax.set_title(f"MNIST, LeNet, fixed init, 10 images ({scale} scale, one theta0)")
ax.legend(loc="lower right")
save_figure(fig, "01_accuracy", figures_dir)
plt.show()

# %% [markdown]
# ## Three passes over the same images
#
# In the 1 x 3 run every pass has its own step size. Cutting the learned
# schedule after one or two passes shows how much each pass adds (the
# images were learned for all three, so the truncated runs are not the
# same as the 1 x 1 run above).

# %%
passes = []
for e in range(1, distilled.step_sizes.shape[0] + 1):
    truncated = dataclasses.replace(distilled, step_sizes=distilled.step_sizes[:e])
    passes.append({"passes": e,
                   "step size": distilled.step_sizes[e - 1, 0].item(),
                   "test accuracy": distill.evaluate(truncated, data)["test_accuracy"]})
passes = pd.DataFrame(passes)
passes.round(3)

# %% [markdown]
# ## Tied to the initialization
#
# The images were learned for one theta0. Applying the same images and
# step sizes to networks drawn afresh from the same initializer (held-out
# draws, never seen during distillation) measures how much of what was
# learned is specific to that theta0.

# %%
def per_network(summary):
    """The per-network accuracies of an evaluation summary."""
    return summary["test_accuracies"]


model = distilled.model()
count = fresh_inits or experiment.eval_models[scale]
fresh = distill.held_out_inits(model, distilled.settings.initializer, count, seed)
summary_fresh = distill.evaluate_inits(distilled.train, model, fresh, data)
print(f"{count} fresh inits: {summary_fresh['test_accuracy']:.3f} "
      f"+- {summary_fresh['test_accuracy_std']:.3f} "
      f"(untrained {summary_fresh['test_accuracy_before']:.3f}); "
      f"the distilled theta0: {record['test_accuracy']:.3f}")

# %%
fig, ax = plt.subplots(figsize=(7, 3.2))
ax.hist([100 * a for a in per_network(summary_fresh)], bins=50,
        range=(0, 100), color="C1", alpha=0.8,
        label=f"fresh inits ({count})")
ax.axvline(100 * record["test_accuracy"], color="C0", lw=2,
           label="the theta0 it was distilled for")
ax.axvline(100 * record["test_accuracy_before"], color="0.5", ls=":",
           label="that theta0, untrained")
ax.set_xlim(0, 100)
ax.set_xlabel("test accuracy after training on the 10 images (%)")
ax.set_ylabel("networks")
ax.set_title(f"Same images, other initializations ({scale} scale, "
             f"{count} held-out networks)")
ax.legend(loc="upper center", fontsize=9)
save_figure(fig, "01_other_inits", figures_dir)
plt.show()

# %% [markdown]
# ## What the run showed
#
# The summary below is computed from this run's variables (see the tables
# above). At `cpu` scale the run is shorter than the paper's, so the
# accuracy is expected to sit below the paper's 93.8% while keeping its
# shape: far above theta0 and above real images trained the same way; 1 x 3
# above 1 x 1; and a large drop on fresh initializations.

# %%
best_baseline = None
if len(baselines):
    best_baseline = baselines.loc[baselines["test accuracy"].idxmax()]
best_trained = (baselines[~baselines["key"].str.startswith("knn_")]
                .sort_values("test accuracy").tail(1))
print(f"scale: {scale}")
print(f"theta0 untrained:        {record['test_accuracy_before']:.1%}")
print(f"distilled, 1 x 1:        {summary_1x1['test_accuracy']:.1%}")
print(f"distilled, 1 x 3:        {record['test_accuracy']:.1%}"
      f"  (paper: {experiment.paper_accuracy:.1%})")
if best_baseline is not None:
    print(f"best baseline:            {best_baseline['test accuracy']:.1%} "
          f"({best_baseline['method']})")
for _, b in best_trained.iterrows():
    print(f"best baseline that trains theta0 with learned steps: "
          f"{b['test accuracy']:.1%} ({b['method']})")
print(f"same images, {count} fresh inits: {summary_fresh['test_accuracy']:.1%} "
      f"+- {summary_fresh['test_accuracy_std']:.1%}")

# %%
# NBVAL_CHECK_OUTPUT
accuracies = [record["test_accuracy_before"], record["test_accuracy"],
              summary_1x1["test_accuracy"], *per_network(summary_fresh),
              *baselines["test accuracy"]]
assert all(0.0 <= a <= 1.0 for a in accuracies)
assert (distilled.step_sizes > 0).all() and (one_pass.step_sizes > 0).all()
row_settings = experiment.at(scale)
assert tuple(distilled.step_sizes.shape) == (row_settings.epochs, row_settings.steps)
assert tuple(one_pass.step_sizes.shape) == (1, row_settings.steps)
assert same_theta0
claims = {}
trained_baselines = baselines[~baselines["key"].str.startswith("knn_")]
if scale != "smoke":
    claims = {
        "distilled beats theta0 by 50 points":
            record["test_accuracy"] > record["test_accuracy_before"] + 0.5,
        "distilled beats every baseline that trains theta0 the same way":
            bool((record["test_accuracy"] > trained_baselines["test accuracy"]).all()),
        "1 x 3 beats 1 x 1":
            record["test_accuracy"] > summary_1x1["test_accuracy"],
        "fresh inits do worse by 20 points":
            summary_fresh["test_accuracy"] < record["test_accuracy"] - 0.2,
    }
    assert all(claims.values()), claims
print("one image per class and step:",
      tuple(distilled.images.shape[:2]) == (row_settings.steps, data.num_classes))
print("1 x 1 and 1 x 3 start from the same theta0:", same_theta0)
print("step sizes positive:", True)
print("accuracies are fractions:", True)
for claim, holds in claims.items():
    print(f"{claim}: {holds}")
