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
# # 5. Different initializations: fixed, random, pre-trained, and a malicious use
#
# **What the paper claims** (section "Different initializations"; numbers
# from the project page, the paper's, not ours): the distribution
# p(theta0) that the distilled data is learned for decides what it can do.
#
# | theta0 drawn from | MNIST images | paper's test accuracy |
# | --- | --- | --- |
# | one fixed initialization | 10 | 12.9% -> **93.8%** |
# | random (Xavier) initializations | 100 | **79.5% +- 8.1%** |
# | pre-trained on USPS (adapted to MNIST) | 100 | 67.5% +- 3.9% -> **92.7% +- 1.4%** |
#
# With pre-trained networks, a few distilled images *adapt* a network
# trained on one data set to another. The paper also shows a malicious
# use: a few distilled images that, in one gradient step, make
# pre-trained networks misclassify one chosen class as another (no number
# for it in our notes).
#
# Two stand-ins here, stated in the rows' notes in `distill.experiments`:
# no copy of USPS is available offline, so the source domain is **MNIST
# made USPS-like** (digits cropped, shrunk to 16x16 and stretched to fill
# the frame); and the attack row makes **class 0 read as 1**.
#
# What we check here:
#
# 1. the three ways to draw theta0 side by side (rows `mnist_fixed`,
#    `mnist_random`, `mnist_adaptation`);
# 2. the adaptation: source and target images, each held-out pre-trained
#    network before and after the distilled steps, the distilled images;
# 3. the malicious images (row `mnist_malicious`): how often the attacked
#    class is read as the target, and what happens to the other classes.

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

# %%
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

import distill
from distill import Settings
from distill.experiments import (
    BASELINE_TITLES, get_experiment, pretrained_pool, run_experiment,
    source_data, subset,
)
from distill.plotting import image_grid, save_figure, set_style, step_rows

set_style()
if seed != 0:  # keep other seeds' runs apart from the shared default files
    runs_dir = os.path.join(runs_dir, f"seed{seed}")
    results_dir = os.path.join(results_dir, f"seed{seed}")
os.makedirs(runs_dir, exist_ok=True)

mnist = distill.load_dataset("mnist", data_root, device=device)


def row_data(row):
    """The MNIST training and test images ``row`` uses at this scale."""
    return subset(mnist, train=row.train_images[scale], test=row.test_images[scale])


def recorded(name):
    """A finished row's result and record, when another notebook wrote both.

    Returns None unless ``runs_dir`` holds the row's complete run and
    ``results_dir`` a record of exactly that run (same settings, same number
    of iterations); then nothing needs to be run or tested again.
    """
    run_path = os.path.join(runs_dir, f"{name}-{scale}.pt")
    record_path = os.path.join(results_dir, f"{name}-{scale}.json")
    if not (os.path.exists(run_path) and os.path.exists(record_path)):
        return None
    distilled = distill.Distilled.load(run_path, device=device)
    with open(record_path) as handle:
        record = json.load(handle)
    expected = get_experiment(name).at(scale, seed=seed)
    if (distilled.complete and Settings.from_dict(record["settings"]) == expected
            and record["iterations"] == distilled.iteration):
        return distilled, record
    return None


def run_row(name, reuse=False):
    """Run (or reload) a paper row; print what it is and return the pair.

    With ``reuse``, a row that notebook 01 or 02 already ran and recorded
    is read back instead of being tested again with its baselines.
    """
    row = get_experiment(name)
    print(f"{name}: {row.title}")
    found = recorded(name) if reuse else None
    if found is not None:
        print(f"    read back from {results_dir}")
        distilled, record = found
    else:
        distilled, record = run_experiment(
            name, scale, data_root=data_root, device=device, runs_dir=runs_dir,
            results_dir=results_dir, seed=seed,
        )
    print(f"    {record['models']} networks: "
          f"before {record['test_accuracy_before']:.3f}, "
          f"after {record['test_accuracy']:.3f} +- {record['test_accuracy_std']:.3f}")
    return row, distilled, record


# %% [markdown]
# ## Three ways to draw theta0
#
# The fixed and random rows are the ones of notebooks 01 and 02: when
# those ran first with the same `runs_dir` and `results_dir`, their
# distilled data and records are read back here, not recomputed. The
# pre-trained row first trains its pool
# of networks on the USPS-like source (cached in `runs_dir` too), then
# distills 100 images against networks drawn from that pool.

# %%
rows = {name: run_row(name, reuse=name != "mnist_adaptation")
        for name in ("mnist_fixed", "mnist_random", "mnist_adaptation")}

# %%
INIT_LABELS = {"fixed": "one fixed theta0", "random": "random (Xavier) theta0",
               "pretrained": "pre-trained on USPS-like MNIST"}
table = pd.DataFrame([
    {"theta0": INIT_LABELS[distilled.settings.init], "images": distilled.num_images,
     "networks": record["models"],
     "before": record["test_accuracy_before"], "after": record["test_accuracy"],
     "after std": record["test_accuracy_std"],
     "paper before": row.paper_before, "paper after": row.paper_accuracy,
     "paper after std": row.paper_std}
    for row, distilled, record in rows.values()
])
table.round(3)

# %%
fig, ax = plt.subplots(figsize=(8, 3.8))
x = np.arange(len(table))
ax.bar(x - 0.2, 100 * table["before"], 0.4, color="0.65", label="before (this run)")
ax.bar(x + 0.2, 100 * table["after"], 0.4, yerr=100 * table["after std"],
       capsize=4, color="C0", label="after the distilled steps (this run)")
paper = table["paper after"].notna()
ax.errorbar(x[paper] + 0.2, 100 * table["paper after"][paper],
            yerr=100 * table["paper after std"][paper].fillna(0.0),
            fmt="D", color="k", capsize=4, label="paper, after")
ax.set_xticks(x, [f"{t}\n({n} images, {m} network{'s' if m > 1 else ''})"
                  for t, n, m in zip(table["theta0"], table["images"],
                                     table["networks"])],
              fontsize=9)
ax.set_ylabel("test accuracy (%), mean +- std")
ax.set_ylim(0, 100)
ax.set_title(f"MNIST, LeNet: the distribution of theta0 ({scale} scale, one run "
             "per row)")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=8)
save_figure(fig, "05_init_modes", figures_dir)
plt.show()

# %% [markdown]
# ## Adaptation: from USPS-like digits to MNIST
#
# The pool's networks were trained on the source images (top row) and are
# tested on real MNIST (bottom row). The domain gap is what the distilled
# images have to bridge.

# %%
adaptation_row, adaptation, adaptation_record = rows["mnist_adaptation"]
source = source_data(mnist, adaptation_row.source_transform)
picks = torch.stack([torch.nonzero(mnist.y_test == c)[0, 0] for c in range(10)])
fig, axes = plt.subplots(2, 1, figsize=(9, 3.3))
image_grid(source.x_test[picks], mnist.mean, mnist.std, titles=mnist.class_names,
           ax=axes[0])
axes[0].set_title(f"source: {adaptation_row.source_transform} "
                  "(the pool is trained on these)")
image_grid(mnist.x_test[picks], mnist.mean, mnist.std, titles=mnist.class_names,
           ax=axes[1])
axes[1].set_title("target: MNIST (the networks are tested on these)")
fig.suptitle("The adaptation's two domains (the same ten test digits)")
fig.tight_layout()
save_figure(fig, "05_adaptation_domains", figures_dir)
plt.show()

# %% [markdown]
# Each held-out pre-trained network (never drawn during distillation),
# before and after the distilled steps, on the row's test images.

# %%
test_data = row_data(adaptation_row)
pool = pretrained_pool(adaptation_row, scale, test_data, runs_dir)  # cached by the row
model = adaptation.model()
held_out = pool["test"][: adaptation_record["models"]]
networks = pd.DataFrame([
    {"network": i + 1,
     "before": distill.accuracy(model, theta, test_data.x_test, test_data.y_test),
     "after": distill.accuracy(model, adaptation.train(theta), test_data.x_test,
                               test_data.y_test)}
    for i, theta in enumerate(held_out)
])
networks.round(3)

# %%
fig, ax = plt.subplots(figsize=(5, 4))
for _, r in networks.iterrows():
    ax.plot([0, 1], [100 * r["before"], 100 * r["after"]], color="C0", alpha=0.6,
            marker="o")
if adaptation_row.paper_before is not None:
    ax.errorbar([-0.08, 1.08], [100 * adaptation_row.paper_before,
                                100 * adaptation_row.paper_accuracy],
                yerr=[100 * adaptation_row.paper_before_std,
                      100 * adaptation_row.paper_std],
                fmt="D", color="k", capsize=4, label="paper (USPS -> MNIST)")
    ax.legend(loc="lower right", fontsize=8)
ax.set_xticks([0, 1], ["pre-trained", "after the\ndistilled steps"])
ax.set_xlim(-0.3, 1.3)
ax.set_ylim(0, 100)
ax.set_ylabel("MNIST test accuracy (%)")
ax.set_title(f"Adaptation, {len(networks)} held-out networks\n({scale} scale, one run)")
save_figure(fig, "05_adaptation_networks", figures_dir)
plt.show()

# %%
fig = step_rows(adaptation.images, mnist.mean, mnist.std, mnist.class_names,
                f"Distilled images that adapt USPS-like networks to MNIST, "
                f"{adaptation.settings.steps} steps x "
                f"{adaptation.settings.epochs} epochs "
                f"({scale} scale, one run)")
save_figure(fig, "05_adaptation_images", figures_dir)
plt.show()


# %%
def baseline_table(record):
    """One row per baseline in the record: its title and test accuracy."""
    rows = [{"method": BASELINE_TITLES.get(key, key), "key": key,
             "accuracy": value["test_accuracy"],
             "std": value.get("test_accuracy_std")}
            for key, value in sorted(record.get("baselines", {}).items())]
    return pd.DataFrame(rows, columns=["method", "key", "accuracy", "std"])


adaptation_baselines = baseline_table(adaptation_record)
adaptation_baselines.round(3)

# %% [markdown]
# The baselines above adapt the same held-out networks with real images
# (or images computed from them) and the same number of steps, their step
# sizes learned the same way; the 1-NN rows use no network at all.
#
# ## Malicious data: a few images that make one class read as another
#
# The networks of this row are pre-trained on clean MNIST. The distilled
# images are learned against real batches in which the attacked class
# (`source_class`, printed below) is labelled as the target class, so one
# step on them should teach held-out networks to read the attacked class
# as the target while keeping the other classes right. The distilled
# images keep the labels 0 to 9; only their pixels and the step size are
# learned. The baseline takes the same step on real images whose attacked
# class is labelled as the target (step size learned the same way).

# %%
malicious_row, malicious, malicious_record = run_row("mnist_malicious")
source_class, target_class = malicious_row.attack
read_as = f"{source_class}s read as {target_class}"
attack = pd.DataFrame([
    {"images": "distilled", "when": when,
     read_as: malicious_record[f"attack_success{suffix}"],
     "other classes right": malicious_record[f"other_accuracy{suffix}"]}
    for when, suffix in [("before", "_before"), ("after", "")]
] + [
    {"images": f"{BASELINE_TITLES.get(key, key)}, {source_class}s labelled "
               f"{target_class}", "when": "after",
     read_as: value["attack_success"],
     "other classes right": value["other_accuracy"]}
    for key, value in sorted(malicious_record.get("baselines", {}).items())
    if "attack_success" in value
])
attack.round(3)

# %%
fig, ax = plt.subplots(figsize=(9, 1.8))
labels = [f"label {c}" for c in malicious.labels[0].tolist()]
image_grid(malicious.images[0], mnist.mean, mnist.std, titles=labels, ax=ax)
ax.set_title(f"The malicious images, one step of size "
             f"{malicious.step_sizes.flatten()[0].item():.3g} "
             f"({scale} scale, one run)")
save_figure(fig, "05_malicious_images", figures_dir)
plt.show()

# %% [markdown]
# What the held-out networks predict for the test images of class
# `source_class`, before and after the malicious step (averaged over the
# networks).

# %%
malicious_test = row_data(malicious_row)
# cached in runs_dir
malicious_pool = pretrained_pool(malicious_row, scale, malicious_test, runs_dir)
attacked = malicious_test.x_test[malicious_test.y_test == source_class]
model = malicious.model()
counts = {"before": np.zeros(10), "after": np.zeros(10)}
malicious_networks = malicious_pool["test"][: malicious_record["models"]]
for theta in malicious_networks:
    for when, params in (("before", theta), ("after", malicious.train(theta))):
        with torch.no_grad():
            predicted = distill.forward(model, params, attacked).argmax(1)
        votes = np.bincount(predicted.cpu().numpy(), minlength=10)
        counts[when] += votes / len(attacked)
predictions = pd.DataFrame(
    {when: c / len(malicious_networks) for when, c in counts.items()})
predictions.index.name = "predicted class"

fig, ax = plt.subplots(figsize=(7, 3.4))
width = 0.4
ax.bar(np.arange(10) - width / 2, 100 * predictions["before"], width, color="0.65",
       label="before")
ax.bar(np.arange(10) + width / 2, 100 * predictions["after"], width, color="C3",
       label="after the malicious step")
ax.set_xticks(range(10))
ax.set_xlabel(f"predicted class of the test images of class {source_class}")
ax.set_ylabel("share of the images (%)")
ax.set_ylim(0, 100)
ax.set_title(f"Malicious step: {len(malicious_networks)} held-out pre-trained networks "
             f"({scale} scale)")
ax.legend()
save_figure(fig, "05_malicious_predictions", figures_dir)
plt.show()

# %% [markdown]
# ## What the run showed
#
# The summary below reads this run's numbers (see the tables above). The
# expectation from the paper: a fixed theta0 needs far fewer images than
# random ones; pre-trained networks gain from a few distilled images, more
# than from real images trained the same way; and the malicious images
# turn most of the attacked class into the target class while the other
# classes stay mostly right.
#
# At `cpu` scale the pools are small (a few networks, one epoch each) and
# the runs a small fraction of the paper's, so the final check asserts
# there only the first two points and the gain of every held-out network;
# it prints whether the baseline comparison and the attack hold in this
# run, and asserts them at `paper` scale.

# %%
print(f"scale: {scale}")
for row, distilled, record in rows.values():
    print(f"{row.name}: {distilled.num_images} images, {record['models']} networks: "
          f"{record['test_accuracy_before']:.1%} -> {record['test_accuracy']:.1%} "
          f"+- {record['test_accuracy_std']:.1%}")
for b in adaptation_baselines.itertuples():
    print(f"    adaptation baseline, {b.method}: {b.accuracy:.1%}")
print(f"malicious, class {source_class} read as {target_class}: "
      f"{malicious_record['attack_success_before']:.1%} -> "
      f"{malicious_record['attack_success']:.1%}; other classes right: "
      f"{malicious_record['other_accuracy_before']:.1%} -> "
      f"{malicious_record['other_accuracy']:.1%}")

# %%
# NBVAL_CHECK_OUTPUT
fractions = [*table["before"], *table["after"], *networks["before"], *networks["after"],
             *adaptation_baselines["accuracy"], *attack[read_as],
             *attack["other classes right"], *predictions["before"],
             *predictions["after"]]
assert all(0.0 <= f <= 1.0 for f in fractions)
assert all(abs(predictions[w].sum() - 1.0) < 1e-6 for w in ("before", "after"))
for _, distilled, _ in rows.values():
    assert (distilled.step_sizes > 0).all()
assert (malicious.step_sizes > 0).all()
assert abs(networks["after"].mean() - adaptation_record["test_accuracy"]) < 1e-3
fixed_after = rows["mnist_fixed"][2]["test_accuracy"]
random_after = rows["mnist_random"][2]["test_accuracy"]
real = adaptation_baselines.set_index("key")["accuracy"]
poisoned = [v["attack_success"] for v in malicious_record["baselines"].values()
            if "attack_success" in v]
claims, observed = {}, {}
if scale != "smoke":
    claims = {
        "fixed theta0: 10 images beat random theta0 with 100":
            fixed_after > random_after,
        "adaptation: every held-out pre-trained network gains":
            bool((networks["after"] > networks["before"]).all()),
    }
    observed = {
        "adaptation: distilled beats random real images":
            bool(adaptation_record["test_accuracy"] > real.get("random_real", 0.0)),
        f"malicious: most test {read_as} after the step":
            malicious_record["attack_success"] > 0.5,
        "malicious: distilled beats mislabelled real images":
            malicious_record["attack_success"] > max(poisoned, default=0.0),
    }
if scale == "paper":  # the short cpu-scale runs are not held to these
    claims.update(observed)
    observed = {}
assert all(claims.values()), claims
print("init modes:", [distilled.settings.init for _, distilled, _ in rows.values()])
print("attack turns one class into another:", source_class != target_class)
print("step sizes positive:", True)
print("accuracies are fractions:", True)
for claim, holds in claims.items():
    print(f"{claim}: {holds}")
for claim, holds in observed.items():
    print(f"(observed, not asserted at {scale} scale) {claim}: {holds}")
