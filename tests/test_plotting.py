"""Tests of the plotting helpers: reproducible files and image grids."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from distill.plotting import image_grid, save_figure, set_style  # noqa: E402

MNIST_MEAN, MNIST_STD = (0.1307,), (0.3081,)
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def _line_figure():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [1, 3, 2], label="a line")
    ax.set_title("title")
    ax.legend()
    return fig


@pytest.mark.parametrize("fmt", ["png", "pdf", "svg"])
def test_save_figure_is_byte_identical(tmp_path, fmt):
    set_style()
    first = save_figure(_line_figure(), "line", tmp_path / "a", formats=(fmt,))
    second = save_figure(_line_figure(), "line", tmp_path / "b", formats=(fmt,))
    plt.close("all")
    assert first == [tmp_path / "a" / f"line.{fmt}"]
    assert first[0].read_bytes() == second[0].read_bytes()


def test_save_figure_writes_each_format_and_creates_folder(tmp_path):
    fig = _line_figure()
    paths = save_figure(fig, "sub/fig", tmp_path / "new", formats=("png", "pdf"))
    again = save_figure(fig, "sub/fig2", tmp_path / "new", formats=("png", "pdf"))
    plt.close(fig)
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    for one, two in zip(paths, again):
        assert one.read_bytes() == two.read_bytes()
    png = paths[0].read_bytes()
    assert png.startswith(b"\x89PNG") and b"Software" not in png
    assert b"CreationDate" not in paths[1].read_bytes()


def test_save_figure_rejects_unknown_format(tmp_path):
    fig = _line_figure()
    with pytest.raises(ValueError):
        save_figure(fig, "x", tmp_path, formats=("bmp",))
    plt.close(fig)


@pytest.mark.parametrize(
    "shape, mean, std",
    [((10, 1, 28, 28), MNIST_MEAN, MNIST_STD), ((6, 3, 32, 32), CIFAR_MEAN, CIFAR_STD)],
)
def test_image_grid_panels(shape, mean, std):
    images = torch.randn(shape)
    titles = [f"class {i}" for i in range(shape[0])]
    fig = image_grid(images, mean, std, nrow=4, titles=titles)
    axes = fig.get_axes()
    assert len(axes) == 4 * ((shape[0] + 3) // 4)
    shown = [ax for ax in axes if ax.get_images()]
    assert len(shown) == shape[0]
    assert [ax.get_title() for ax in shown] == titles
    data = shown[0].get_images()[0].get_array()
    expected = (shape[2], shape[3]) if shape[1] == 1 else (shape[2], shape[3], 3)
    assert data.shape == expected
    assert float(data.min()) >= 0.0 and float(data.max()) <= 1.0
    assert shown[0].get_xticks().size == 0 and shown[0].get_yticks().size == 0
    plt.close(fig)


@pytest.mark.parametrize("channels", [1, 3])
def test_image_grid_mosaic_unnormalizes(channels):
    mean, std = [0.5] * channels, [0.25] * channels
    images = torch.zeros(5, channels, 8, 8)  # normalized zero -> the mean, 0.5
    images[0] = 10.0  # far above the range: clipped to 1
    fig, ax = plt.subplots()
    assert image_grid(images, mean, std, nrow=3, ax=ax, titles=list("abcde")) is fig
    (drawn,) = ax.get_images()
    mosaic = np.asarray(drawn.get_array())
    assert mosaic.shape[:2] == (2 * 9 + 1, 3 * 9 + 1)
    tile = mosaic[1:9, 10:18]  # second image
    assert np.allclose(tile, 0.5)
    assert np.allclose(mosaic[1:9, 1:9], 1.0)
    assert len(ax.texts) == 5
    plt.close(fig)


def test_image_grid_accepts_numpy_and_checks_titles():
    images = np.zeros((3, 1, 4, 4), dtype=np.float32)
    fig = image_grid(images, 0.0, 1.0)
    assert len(fig.get_axes()) == 3
    plt.close(fig)
    with pytest.raises(ValueError):
        image_grid(images, 0.0, 1.0, titles=["only one"])
