"""Plotting helpers for the notebooks: a common style, image grids, and
figure files that are byte-identical when they are written again.

Nothing in the package imports this module; only the notebooks and the
command line do. It imports matplotlib (and seaborn, in :func:`set_style`)
when a function is called, so ``import distill`` stays light.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["image_grid", "save_figure", "set_style"]

# Metadata that would change from one run or one machine to the next is left
# out of every written file: no dates, no software versions.
_METADATA = {
    "png": {"Software": None},
    "pdf": {"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None},
    "svg": {"Date": None, "Creator": None},
}

# Fixed seed for the ids matplotlib generates inside SVG files.
_SVG_HASHSALT = "distill"


def set_style(context: str = "notebook", font_scale: float = 1.0) -> None:
    """Apply the project's figure style to matplotlib.

    A seaborn "whitegrid" theme with fixed font sizes, so every notebook's
    figures look alike.

    Args:
        context: seaborn plotting context ("paper", "notebook", "talk").
        font_scale: factor applied to all font sizes of the context.
    """
    import seaborn as sns

    sns.set_theme(
        context=context,
        style="whitegrid",
        font_scale=font_scale,
        rc={
            "axes.titlesize": 12,
            "axes.labelsize": 11,
            "xtick.labelsize": 10,
            "ytick.labelsize": 10,
            "legend.fontsize": 10,
            "figure.titlesize": 13,
            "figure.dpi": 100,
            "savefig.bbox": "tight",
            "svg.hashsalt": _SVG_HASHSALT,
        },
    )


def save_figure(
    fig,
    name: str,
    figures_dir: str | os.PathLike = "figures",
    formats: Sequence[str] = ("png",),
    dpi: int = 150,
) -> list[Path]:
    """Write a figure to ``figures_dir/name.<format>`` for each format.

    The files carry no date and no software version, so writing the same
    figure again gives byte-identical files (PNG, PDF and SVG).

    Args:
        fig: the matplotlib figure.
        name: file name without extension; may contain subfolders.
        figures_dir: folder to write into; created if missing.
        formats: any of "png", "pdf", "svg".
        dpi: resolution of raster output.

    Returns:
        The paths written, in the order of ``formats``.
    """
    import matplotlib

    if isinstance(formats, str):
        formats = (formats,)
    paths = []
    for fmt in formats:
        fmt = fmt.lower().lstrip(".")
        if fmt not in _METADATA:
            raise ValueError(f"unsupported format {fmt!r}; use png, pdf or svg")
        path = Path(figures_dir) / f"{name}.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        with matplotlib.rc_context({"svg.hashsalt": _SVG_HASHSALT}):
            fig.savefig(
                path,
                format=fmt,
                dpi=dpi,
                bbox_inches="tight",
                metadata=dict(_METADATA[fmt]),
            )
        paths.append(path)
    return paths


def _to_numpy(images) -> np.ndarray:
    """Return images as a float numpy array of shape (N, C, H, W)."""
    if hasattr(images, "detach"):  # a torch tensor, without importing torch
        images = images.detach().float().cpu().numpy()
    array = np.asarray(images, dtype=np.float64)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {array.shape}")
    return array


def _per_channel(value, channels: int, what: str) -> np.ndarray:
    """Broadcast a scalar or per-channel sequence to shape (1, C, 1, 1)."""
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.size == 1:
        array = np.repeat(array, channels)
    if array.size != channels:
        raise ValueError(f"{what} has {array.size} values for {channels} channels")
    return array.reshape(1, channels, 1, 1)


def _unnormalize(images, mean, std) -> np.ndarray:
    """Undo per-channel normalization; return (N, H, W, C) values in [0, 1]."""
    array = _to_numpy(images)
    channels = array.shape[1]
    if channels not in (1, 3):
        raise ValueError(f"expected 1 or 3 channels, got {channels}")
    mean = _per_channel(mean, channels, "mean")
    std = _per_channel(std, channels, "std")
    array = np.clip(array * std + mean, 0.0, 1.0)
    return array.transpose(0, 2, 3, 1)


def image_grid(images, mean, std, nrow=None, titles=None, ax=None):
    """Draw a batch of normalized images as a grid.

    Images are un-normalized with ``x * std + mean`` per channel and clipped
    to [0, 1]; one-channel images are drawn in grayscale.

    Without ``ax``, a new figure gets one small panel per image, each with its
    title (for example the class name) above it. With ``ax``, the images are
    tiled into a single mosaic drawn on that axes, and the titles are written
    in the tiles' upper left corners.

    Args:
        images: tensor or array of shape (N, C, H, W), C being 1 or 3.
        mean: per-channel mean used for normalization (scalar or length C).
        std: per-channel standard deviation (scalar or length C).
        nrow: images per row; default ``min(N, 10)``.
        titles: optional sequence of N strings.
        ax: optional matplotlib axes to draw a mosaic into.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    pixels = _unnormalize(images, mean, std)
    count, height, width, channels = pixels.shape
    if titles is not None:
        titles = [str(t) for t in titles]
        if len(titles) != count:
            raise ValueError(f"{len(titles)} titles for {count} images")
    ncol = int(nrow) if nrow else min(count, 10)
    ncol = max(1, min(ncol, count))
    rows = math.ceil(count / ncol)
    gray = channels == 1
    shown = pixels[..., 0] if gray else pixels
    style = {"cmap": "gray", "vmin": 0.0, "vmax": 1.0} if gray else {}

    if ax is None:
        fig, axes = plt.subplots(
            rows,
            ncol,
            figsize=(1.3 * ncol, (1.3 + (0.25 if titles else 0.0)) * rows),
            squeeze=False,
        )
        for index, panel in enumerate(axes.flat):
            panel.set_xticks([])
            panel.set_yticks([])
            panel.grid(False)
            if index >= count:
                panel.set_axis_off()
                continue
            panel.imshow(shown[index], interpolation="nearest", **style)
            if titles:
                panel.set_title(titles[index], fontsize=9)
        fig.tight_layout()
        return fig

    pad = 1
    mosaic_shape = (rows * (height + pad) + pad, ncol * (width + pad) + pad)
    if gray:
        mosaic = np.ones(mosaic_shape)
    else:
        mosaic = np.ones(mosaic_shape + (channels,))
    for index in range(count):
        top = pad + (index // ncol) * (height + pad)
        left = pad + (index % ncol) * (width + pad)
        mosaic[top : top + height, left : left + width] = shown[index]
    ax.imshow(mosaic, interpolation="nearest", **style)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    if titles:
        for index, title in enumerate(titles):
            top = pad + (index // ncol) * (height + pad)
            left = pad + (index % ncol) * (width + pad)
            ax.text(
                left + 0.5,
                top + 0.5,
                title,
                fontsize=7,
                va="top",
                ha="left",
                bbox={"facecolor": "white", "alpha": 0.7, "pad": 1, "linewidth": 0},
            )
    return ax.figure


def step_rows(images, mean, std, titles=None, title=None, row_label="step"):
    """Draw distilled images one row per step: a figure of S mosaics.

    Args:
        images: tensor or array (S, m, C, H, W), the images of each step
            (``Distilled.images``).
        mean, std: the data's per-channel normalization (see
            :func:`image_grid`).
        titles: optional m strings (e.g. class names), written on the
            first row only.
        title: optional figure title.
        row_label: each row is labelled ``f"{row_label} {s + 1}"``.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    steps = len(images)
    width = max(1, images.shape[1])
    fig, axes = plt.subplots(
        steps, 1, figsize=(0.9 * min(width, 10) + 0.9, 0.95 * steps + 0.6),
        squeeze=False,
    )
    for s, ax in enumerate(axes[:, 0]):
        image_grid(images[s], mean, std, titles=titles if s == 0 else None,
                   nrow=width, ax=ax)
        ax.set_ylabel(f"{row_label} {s + 1}", rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
