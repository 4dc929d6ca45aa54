"""Data sets as whole tensors: MNIST, CIFAR-10 and a 1-D quadratic toy.

Every loader returns a :class:`TensorData`: normalized train and test tensors
that live on one device, so that a training step indexes a tensor instead of
iterating a DataLoader.

Where the files come from:

* ``root`` argument, else the ``DISTILL_DATA_ROOT`` environment variable,
  else ``~/.cache/distill/data``.
* MNIST is read with ``torchvision.datasets.MNIST`` (``MNIST/raw`` under the
  root). CIFAR-10 is read from the standard python batches
  (``cifar-10-batches-py`` under the root) by this module, so that a
  rebuilt, read-only copy whose checksums differ from the originals still
  loads; torchvision is only used to download it when it is missing.
* Downloads happen only when ``download=True`` or, by default, when the
  root is the default cache folder.
"""

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .errors import DistillError

DATA_ROOT_ENV = "DISTILL_DATA_ROOT"
DEFAULT_ROOT = Path.home() / ".cache" / "distill" / "data"

DATASETS = ("mnist", "cifar10")

# Per-channel statistics of the training sets, the usual constants.
MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)


@dataclass
class TensorData:
    """A classification or regression data set held as tensors.

    ``x_train``: (N, C, H, W) for images or (N, 1) for the toy, normalized.
    ``y_train``: (N,) int64 class labels, or (N, 1) float targets.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    mean: tuple = (0.0,)
    std: tuple = (1.0,)
    class_names: tuple = field(default_factory=tuple)

    @property
    def input_shape(self):
        """Shape of one input, e.g. (1, 28, 28)."""
        return tuple(self.x_train.shape[1:])

    @property
    def device(self):
        return self.x_train.device

    def to(self, device):
        """The same data on ``device`` (a no-op when already there)."""
        device = torch.device(device)
        if self.x_train.device == device:
            return self
        moved = {
            name: getattr(self, name).to(device)
            for name in ("x_train", "y_train", "x_test", "y_test")
        }
        return TensorData(
            self.name, num_classes=self.num_classes, mean=self.mean,
            std=self.std, class_names=self.class_names, **moved,
        )

    def __repr__(self):
        return (
            f"TensorData({self.name!r}, train={tuple(self.x_train.shape)}, "
            f"test={tuple(self.x_test.shape)}, classes={self.num_classes}, "
            f"device={self.device})"
        )


def resolve_root(root=None):
    """The data root: ``root``, else ``$DISTILL_DATA_ROOT``, else the cache."""
    if root is None or root == "":
        root = os.environ.get(DATA_ROOT_ENV) or DEFAULT_ROOT
    return Path(root).expanduser()


def load_dataset(name, root=None, device="cpu", download=None):
    """Load a data set by name (``"mnist"`` or ``"cifar10"``) as tensors.

    Args:
        name: data set name, case-insensitive; ``"cifar-10"`` also works.
        root: folder holding the data (see the module docstring).
        device: where the tensors go.
        download: ``True`` to fetch missing files with torchvision,
            ``False`` never to; ``None`` downloads only into the default
            cache folder, never into a root the user named.

    Raises:
        DistillError: unknown name, or files missing and no download.
    """
    key = name.lower().replace("-", "").replace("_", "")
    if key not in DATASETS:
        raise DistillError(
            f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}"
        )

    explicit_root = root not in (None, "") or bool(os.environ.get(DATA_ROOT_ENV))
    root = resolve_root(root)
    if download is None:
        download = not explicit_root

    loader = _load_mnist if key == "mnist" else _load_cifar10
    data = loader(root, download)
    return data.to(device)


def _missing(name, root, expected, download):
    how = (
        "the download failed (is there network access?)"
        if download
        else "downloads are off for a data root you named"
    )
    return DistillError(
        f"{name} not found under {root} (expected {expected}); {how}. "
        f"Point --data-root or ${DATA_ROOT_ENV} at a folder that holds it, "
        "or leave both unset to download it into "
        f"{DEFAULT_ROOT}."
    )


def _load_mnist(root, download):
    from torchvision.datasets import MNIST

    raw = root / "MNIST" / "raw"
    needed = ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte"]
    if not all((raw / f).exists() for f in needed):
        if not download:
            raise _missing("MNIST", root, "MNIST/raw/*-ubyte", download)
        try:
            MNIST(str(root), train=True, download=True)
            MNIST(str(root), train=False, download=True)
        except Exception as error:  # network errors come in many types
            raise _missing("MNIST", root, "MNIST/raw/*-ubyte", True) from error

    # torchvision reads the raw IDX files without writing anything.
    train = MNIST(str(root), train=True, download=False)
    test = MNIST(str(root), train=False, download=False)

    def to_tensor(images):
        # (N, 28, 28) uint8 -> (N, 1, 28, 28) float, normalized
        x = images.float().div_(255).unsqueeze(1)
        return (x - MNIST_MEAN[0]) / MNIST_STD[0]

    return TensorData(
        "mnist",
        x_train=to_tensor(train.data), y_train=train.targets.long(),
        x_test=to_tensor(test.data), y_test=test.targets.long(),
        num_classes=10, mean=MNIST_MEAN, std=MNIST_STD,
        class_names=tuple(str(d) for d in range(10)),
    )


def _load_cifar10(root, download):
    folder = root / "cifar-10-batches-py"
    train_files = [folder / f"data_batch_{i}" for i in range(1, 6)]
    test_file = folder / "test_batch"
    if not all(f.exists() for f in train_files + [test_file]):
        if not download:
            raise _missing("CIFAR-10", root, "cifar-10-batches-py/", download)
        try:
            from torchvision.datasets import CIFAR10

            CIFAR10(str(root), train=True, download=True)
        except Exception as error:
            raise _missing("CIFAR-10", root, "cifar-10-batches-py/", True) from error

    def read(files):
        images, labels = [], []
        for path in files:
            with open(path, "rb") as handle:
                batch = pickle.load(handle, encoding="latin1")
            images.append(np.asarray(batch["data"], dtype=np.uint8))
            labels.extend(batch["labels"])
        x = torch.from_numpy(np.concatenate(images))  # (N, 3072) uint8
        x = x.view(-1, 3, 32, 32).float().div_(255)
        mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
        return (x - mean) / std, torch.tensor(labels, dtype=torch.long)

    x_train, y_train = read(train_files)
    x_test, y_test = read([test_file])
    return TensorData(
        "cifar10", x_train=x_train, y_train=y_train, x_test=x_test,
        y_test=y_test, num_classes=10, mean=CIFAR10_MEAN, std=CIFAR10_STD,
        class_names=CIFAR10_CLASSES,
    )


def quadratic_toy(n_train=1000, n_test=1000, noise=0.1, interval=(-1.0, 1.0),
                  coefficients=(0.0, 0.0, 1.0), seed=0, device="cpu"):
    """Noisy samples of a quadratic ``y = c0 + c1 x + c2 x^2`` on an interval.

    Returns a regression :class:`TensorData` with ``x`` of shape (N, 1) and
    ``y`` of shape (N, 1); the test targets are noise-free, so a test loss
    measures the distance to the true function. ``num_classes`` is 0.
    """
    generator = torch.Generator().manual_seed(seed)
    low, high = interval
    c0, c1, c2 = coefficients

    def sample(n, noisy):
        x = torch.rand(n, 1, generator=generator) * (high - low) + low
        y = c0 + c1 * x + c2 * x**2
        if noisy:
            y = y + noise * torch.randn(n, 1, generator=generator)
        return x, y

    x_train, y_train = sample(n_train, noisy=True)
    x_test, y_test = sample(n_test, noisy=False)
    data = TensorData(
        "quadratic", x_train=x_train, y_train=y_train, x_test=x_test,
        y_test=y_test, num_classes=0,
    )
    return data.to(device)
