"""Shared fixtures: the offline data root and small slices of MNIST."""

import os
from pathlib import Path

import pytest
import torch

import distill

REPO = Path(__file__).resolve().parents[1]

# The tests' batches are small: one thread avoids the cost of waking
# others, which dominates on a 2-core machine.
torch.set_num_threads(1)


def data_root():
    """``$DISTILL_DATA_ROOT``, else the offline copy beside the checkout."""
    root = os.environ.get(distill.data.DATA_ROOT_ENV)
    if root:
        return root
    return str(REPO.parent / "shared" / "data")


@pytest.fixture(scope="session")
def root():
    path = data_root()
    if not (Path(path) / "MNIST" / "raw").exists():
        pytest.skip(f"MNIST not found under {path}; set DISTILL_DATA_ROOT")
    return path


@pytest.fixture(scope="session")
def mnist(root):
    """The whole of MNIST as tensors (about 200 MB, loaded once)."""
    return distill.load_dataset("mnist", root)


@pytest.fixture(scope="session")
def mnist_small(mnist):
    """5,000 training and 2,000 test images: enough for quick checks."""
    return distill.TensorData(
        "mnist", mnist.x_train[:5000], mnist.y_train[:5000],
        mnist.x_test[:2000], mnist.y_test[:2000], num_classes=10,
        mean=mnist.mean, std=mnist.std, class_names=mnist.class_names,
    )
