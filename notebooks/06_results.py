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
# # 6. All rows of the paper, with their baselines
#
# **What the paper claims** (numbers from the project page, the paper's,
# not ours): a handful of learned images and step sizes train a network
# from scratch, and do so better than real images given the same training
# procedure.
#
# | row | images | the paper |
# |---|---|---|
# | MNIST, fixed init | 10 (1 step x 3 epochs) | 12.9% -> 93.8% |
# | MNIST, random init | 100 (10 steps x 3 epochs) | 79.5% +- 8.1% |
# | CIFAR-10, fixed init | 100 | 8.8% -> 54.0% |
# | CIFAR-10, random init | 100 | 36.8% +- 1.2% |
# | adaptation, USPS -> MNIST | 100 | 67.5% +- 3.9% -> 92.7% +- 1.4% |
# | malicious images | a few, one step | no number quoted here |
#
# The baselines (paper, section 6) have the same number of images and the
# same training procedure: the same initial weights, the same steps x
# epochs, with the step sizes learned for them while the images stay
# fixed. They are random real images, per-class average images, per-class
# k-means centroids, "optimized" real images (here: the distillation
# started from the random real images instead of noise), and the
# 1-nearest-neighbour classifier on random real images or on the k-means
# centroids (no network at all).
#
# This notebook only *reads* `results/<row>-<scale>.json`, written by
# `python -m distill experiment ROW --scale SCALE` (or by
# `distill.experiments.run_experiment`, which the other notebooks call).
# The `cpu` scale is much shorter than the paper's runs (each row's
# reductions are listed at the end); the `paper` column stays empty until
# a paper-scale run has written its file. Nothing in the table is
# estimated or copied by hand.

# %%
import os

# %% tags=["parameters"]
scale = os.environ.get("DISTILL_SCALE", "cpu")  # smoke | cpu | paper
results_dir = "../results"
figures_dir = os.environ.get("DISTILL_FIGURES_DIR", "../figures")
data_root = None
device = "cpu"
seed = 0

# %%
import json
import math

import matplotlib.pyplot as plt
import pandas as pd

from distill.experiments import BASELINE_TITLES, EXPERIMENTS
from distill.plotting import save_figure, set_style

set_style()
# The table always shows the cpu and paper scales (the committed results);
# `scale` only decides whether the markdown table is written to
# results/README.md (not at smoke scale, where tests run the notebook).
TABLE_SCALES = ("cpu", "paper")
SHORT = {
    "random_real": "random real",
    "average": "average",
    "kmeans": "k-means",
    "optimized_real": "optimized real",
    "knn_random": "1-NN random",
    "knn_kmeans": "1-NN k-means",
}


def load_results(folder):
    """(row, scale) -> the JSON record, for every file that exists."""
    found = {}
    for name in EXPERIMENTS:
        for which in TABLE_SCALES:
            path = os.path.join(folder, f"{name}-{which}.json")
            if os.path.exists(path):
                with open(path) as handle:
                    found[(name, which)] = json.load(handle)
    return found


results = load_results(results_dir)
print(f"{len(results)} result files in {results_dir}:",
      ", ".join(f"{n}-{s}" for n, s in sorted(results)))

# %% [markdown]
# ## The table
#
# Accuracies are on the real test set, in percent; `+-` is the standard
# deviation over held-out initializations (random or pre-trained init).
# For the malicious row the number is the fraction of test images of the
# attacked class (0) that the networks classify as the target class (1)
# after the one step, with the accuracy on the other classes beside it.


# %%
def percent(value, std=None):
    """'93.8' or '79.5 +- 8.1'; '' for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = f"{100 * value:.1f}"
    if std:
        text += f" +- {100 * std:.1f}"
    return text


def ours(record):
    """The row's headline number in a record, as text."""
    if record is None:
        return ""
    if "attack_success" in record:
        return (f"{percent(record['attack_success'], record['attack_success_std'])}"
                f" (others {percent(record['other_accuracy'])})")
    std = record["test_accuracy_std"] if record["models"] > 1 else None
    return percent(record["test_accuracy"], std)


def before(record):
    """Accuracy (or attack success) of the networks before the steps."""
    if record is None:
        return ""
    key = "attack_success" if "attack_success" in record else "test_accuracy"
    return percent(record[f"{key}_before"])


def baseline_text(record, kind):
    """One baseline of a record, as text ('' when it was not run)."""
    if record is None or kind not in record.get("baselines", {}):
        return ""
    value = record["baselines"][kind]
    if "attack_success" in value:
        return percent(value["attack_success"], value["attack_success_std"])
    std = value["test_accuracy_std"] if (value.get("models") or 0) > 1 else None
    return percent(value["test_accuracy"], std)


def paper_text(experiment):
    """The paper's number for a row (project page), as text."""
    if experiment.paper_accuracy is None:
        return ""
    text = percent(experiment.paper_accuracy, experiment.paper_std)
    if experiment.paper_before is not None:
        start = percent(experiment.paper_before, experiment.paper_before_std)
        text = f"{start} -> {text}"
    return text


rows = []
for name, experiment in EXPERIMENTS.items():
    cpu = results.get((name, "cpu"))
    paper_run = results.get((name, "paper"))
    row = {
        "row": name,
        "paper": paper_text(experiment),
        "ours, before": before(cpu),
        "ours (cpu)": ours(cpu),
        "ours (paper scale)": ours(paper_run),
    }
    for kind, short in SHORT.items():
        row[short] = baseline_text(cpu, kind)
    row["cpu minutes"] = (
        f"{cpu['seconds_total'] / 60:.1f}" if cpu and "seconds_total" in cpu else ""
    )
    rows.append(row)
table = pd.DataFrame(rows)
table

# %% [markdown]
# ### Rows run at paper scale
#
# A paper-scale run has baselines of its own, computed at the same scale
# (the paper's outer iterations, real batch and evaluation networks).
# Only the rows that have such a file are listed, with the device that ran
# them.


# %%
def paper_scale_table(found):
    """One line per row with a paper-scale record; None when there is none."""
    lines = []
    for name, experiment in EXPERIMENTS.items():
        record = found.get((name, "paper"))
        if record is None:
            continue
        line = {
            "row": name,
            "paper": paper_text(experiment),
            "ours, before": before(record),
            "ours (paper scale)": ours(record),
        }
        for kind, short in SHORT.items():
            line[short] = baseline_text(record, kind)
        line["device"] = record.get("device", "")
        line["minutes"] = f"{record.get('seconds_total', 0) / 60:.1f}"
        lines.append(line)
    return pd.DataFrame(lines) if lines else None


paper_table = paper_scale_table(results)
print("no paper-scale result yet" if paper_table is None
      else f"{len(paper_table)} row(s) at paper scale")
paper_table

# %% [markdown]
# The same table in markdown, for the README (written to
# `results/README.md` at cpu and paper scale).


# %%
def markdown_table(frame):
    """A GitHub-flavoured markdown table of a data frame of strings."""
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    lines = [header, rule]
    for _, values in frame.iterrows():
        lines.append("| " + " | ".join(str(v) for v in values) + " |")
    return "\n".join(lines)


def reductions(found):
    """The notes of each row's cpu run, as markdown bullets."""
    lines = []
    for name, experiment in EXPERIMENTS.items():
        record = found.get((name, "cpu"))
        if record is not None:
            lines.append(f"* `{name}`: {record.get('notes', experiment.notes)}")
    return "\n".join(lines)


readme = "\n".join([
    "# Results",
    "",
    "Written by `notebooks/06_results.py` from the JSON files in this",
    "folder (each written by `python -m distill experiment ROW --scale",
    "SCALE`). Test accuracy in percent; `+-`: standard deviation over",
    "held-out initializations. Paper: numbers from the project page.",
    "Baselines at cpu scale: the same images count and training procedure,",
    "step sizes learned for the fixed images. Malicious row: fraction of",
    "test 0s classified as 1 after the step (others: accuracy on the other",
    "classes).",
    "",
    markdown_table(table),
    "",
] + ([] if paper_table is None else [
    "Rows run at paper scale, with baselines at the same scale:",
    "",
    markdown_table(paper_table),
    "",
]) + [
    "What the cpu scale changes, per row:",
    "",
    reductions(results),
    "",
])
print(readme)
if scale != "smoke":
    with open(os.path.join(results_dir, "README.md"), "w") as handle:
        handle.write(readme)

# %% [markdown]
# ## Ours against the baselines, as a figure
#
# One group of bars per classification row at cpu scale: the distilled
# data, each baseline, and the paper's number as a tick.

# %%
classification = [
    name for name in EXPERIMENTS
    if (name, "cpu") in results and "attack_success" not in results[(name, "cpu")]
]
fig, ax = plt.subplots(figsize=(10, 0.9 * max(1, len(classification)) + 1.5))
bar = 0.11
kinds = list(SHORT)
for i, name in enumerate(classification):
    record = results[(name, "cpu")]
    values = [record["test_accuracy"]] + [
        record["baselines"].get(kind, {}).get("test_accuracy", float("nan"))
        for kind in kinds
    ]
    labels = ["distilled"] + [SHORT[k] for k in kinds]
    for j, value in enumerate(values):
        ax.barh(i + (j - 3) * bar, 100 * value, height=bar,
                color="C0" if j == 0 else f"C{j}",
                label=labels[j] if i == 0 else None)
    paper = EXPERIMENTS[name].paper_accuracy
    if paper is not None:
        ax.plot([100 * paper] * 2, [i - 0.45, i + 0.45], color="k", lw=2,
                label="paper" if i == 0 else None)
ax.set_yticks(range(len(classification)))
ax.set_yticklabels(classification)
ax.invert_yaxis()
ax.set_xlim(0, 100)
ax.set_xlabel("test accuracy (%)")
ax.set_title("Distilled data against baselines (cpu scale)")
ax.legend(loc="lower right", fontsize=8, ncol=2)
save_figure(fig, "06_results", figures_dir)
plt.show()

# %% [markdown]
# ## What the table shows
#
# The summary below is computed from the files (nothing is typed in by
# hand). Expect the `cpu` column to sit below the paper's numbers: the runs
# are tens to hundreds of times shorter (see the reductions above). The
# shape to look for is the paper's: distilled images far above the
# untrained networks and above real images trained the same way; the
# comparison with the 1-nearest-neighbour classifier on k-means centroids,
# which trains no network at all, is the hardest.


# %%
def best_baseline(record, trained_only=False):
    """(kind, accuracy) of the best baseline of a record, or None."""
    candidates = {
        kind: value["test_accuracy"]
        for kind, value in record.get("baselines", {}).items()
        if not (trained_only and kind.startswith("knn"))
    }
    if not candidates:
        return None
    kind = max(candidates, key=candidates.get)
    return kind, candidates[kind]


for name, which in [(n, w) for w in TABLE_SCALES for n in EXPERIMENTS]:
    record = results.get((name, which))
    if record is None:
        if which == "cpu":
            print(f"{name}: no cpu result")
        continue
    label = f"{name} ({which})"
    if "attack_success" in record:
        base = record["baselines"].get("random_real")
        print(f"{label}: class 0 read as 1 in {record['attack_success']:.1%} of "
              f"test 0s (before: {record['attack_success_before']:.1%}); other "
              f"classes {record['other_accuracy']:.1%} (before: "
              f"{record['other_accuracy_before']:.1%})"
              + (f"; real images labelled the same way: "
                 f"{base['attack_success']:.1%}" if base else ""))
        continue
    best = best_baseline(record)
    best_trained = best_baseline(record, trained_only=True)
    print(f"{label}: {record['test_accuracy']:.1%} (before "
          f"{record['test_accuracy_before']:.1%}); best baseline "
          f"{BASELINE_TITLES[best[0]]} {best[1]:.1%}; best trained baseline "
          f"{BASELINE_TITLES[best_trained[0]]} {best_trained[1]:.1%}")

# %%
# NBVAL_CHECK_OUTPUT
checked = 0
for (name, which), record in sorted(results.items()):
    assert record["experiment"] == name and record["scale"] == which
    values = [record["test_accuracy"], record["test_accuracy_before"]]
    values += [b["test_accuracy"] for b in record["baselines"].values()]
    assert all(0.0 <= v <= 1.0 for v in values), (name, which)
    checked += 1
fixed = results.get(("mnist_fixed", "cpu"))
if fixed is not None:
    # the distilled images beat every baseline that trains the same network
    assert fixed["test_accuracy"] > best_baseline(fixed, trained_only=True)[1]
rows_with_cpu = sorted(name for name, which in results if which == "cpu")
print("rows with a cpu result:", len(rows_with_cpu))
print("every accuracy is a fraction:", checked == len(results))
print("mnist_fixed beats its trained baselines:", fixed is not None)
