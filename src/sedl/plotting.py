"""Figures the chapters share: image grids and training curves.

Functions return a :class:`matplotlib.figure.Figure` and never call
``plt.show()``; the page decides how to display or save it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import pandas as pd
import torch
from matplotlib.figure import Figure

from sedl._checks import check_float, check_images, check_int, check_str, check_strings, check_tensor

__all__ = ["image_grid", "training_curves", "to_numpy_image"]


def to_numpy_image(image: torch.Tensor):
    """One ``(C, H, W)`` tensor in [0, 1] as an ``(H, W)`` or ``(H, W, 3)`` NumPy array."""
    check_tensor(image, "image")
    if image.dim() != 3 and not (image.dim() == 4 and len(image) == 1):
        raise ValueError(f"image: expected shape (C, H, W) or (1, C, H, W), got shape {tuple(image.shape)}")
    if image.shape[-3] not in (1, 3):
        raise ValueError(f"image: expected 1 or 3 channels, got shape {tuple(image.shape)}")
    image = check_images(image[None] if image.dim() == 3 else image, "image")[0]
    array = image.detach().cpu().permute(1, 2, 0).numpy()
    return array[:, :, 0] if array.shape[2] == 1 else array


def image_grid(images: torch.Tensor, *, titles: Sequence[str] | None = None,
               ncols: int | None = None, cmap: str = "gray", scale: float = 1.2,
               suptitle: str | None = None) -> Figure:
    """Show ``images`` ``(N, C, H, W)`` in [0, 1] in a grid, one axis per image.

    Parameters
    ----------
    titles : sequence of str, optional
        One title per image.
    ncols : int, optional
        Columns of the grid (default: up to 8).
    cmap : str
        Colour map for single-channel images.
    scale : float
        Inches per grid cell.

    >>> fig = image_grid(torch.rand(3, 1, 8, 8), titles=["a", "b", "c"])
    >>> len(fig.axes)
    3
    """
    check_images(images)
    n = images.shape[0]
    if n == 0:
        raise ValueError("images: expected at least one image, got 0")
    if images.shape[1] not in (1, 3):
        raise ValueError(f"images: expected 1 or 3 channels, got shape {tuple(images.shape)}")
    if titles is not None:
        check_strings(titles, "titles")
        if len(titles) != n:
            raise ValueError(f"titles: expected {n} titles, one per image, got {len(titles)}")
    ncols = min(n, 8) if ncols is None else check_int(ncols, "ncols", minimum=1)
    check_str(cmap, "cmap")
    if cmap not in plt.colormaps():
        raise ValueError(f"cmap: expected a matplotlib colour map such as 'gray', got {cmap!r}")
    check_float(scale, "scale", minimum=0.0, strict_min=True)
    check_str(suptitle, "suptitle", allow_none=True)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, scale * nrows + 0.3),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            ax.imshow(to_numpy_image(images[i]), cmap=cmap, vmin=0, vmax=1)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    plt.close(fig)  # the caller displays it; keep pyplot's list of open figures empty
    return fig


def training_curves(history: pd.DataFrame, *, metrics: Sequence[str] = ("loss", "accuracy"),
                    title: str | None = None) -> Figure:
    """Train and validation curves per epoch from :func:`sedl.train.fit`'s history.

    >>> h = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
    >>> len(training_curves(h, metrics=["loss"]).axes)
    1
    """
    if not isinstance(history, pd.DataFrame):
        raise TypeError(f"history: expected a pandas DataFrame, got {type(history).__name__}")
    if "epoch" not in history:
        raise ValueError(f"history: expected an 'epoch' column, got {list(history.columns)}")
    check_strings(metrics, "metrics")
    if not metrics:
        raise ValueError("metrics: expected at least one metric, got none")
    check_str(title, "title", allow_none=True)
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=True):
        columns = [c for c in (f"train_{metric}", f"val_{metric}") if c in history]
        if not columns:
            raise ValueError(f"metrics: no column train_{metric} or val_{metric} in history")
        for column in columns:
            ax.plot(history["epoch"], history[column], marker="o", ms=3,
                    label=column.split("_")[0].replace("val", "validation"))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.legend()
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    plt.close(fig)
    return fig
