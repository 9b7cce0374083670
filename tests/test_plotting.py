import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from sedl import plotting


def test_image_grid_lays_out_grey_and_colour_images():
    fig = plotting.image_grid(torch.rand(10, 1, 6, 6), ncols=4, titles=[str(i) for i in range(10)])
    assert isinstance(fig, Figure)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 12 and len(shown) == 10
    assert shown[3].get_title() == "3"
    rgb = plotting.image_grid(torch.rand(2, 3, 5, 5))
    assert rgb.axes[0].images[0].get_array().shape == (5, 5, 3)


_TWO = torch.rand(2, 1, 4, 4)


@pytest.mark.parametrize("images, kwargs, error, fragment", [
    (torch.full((1, 1, 4, 4), 2.0), {}, ValueError, r"images: expected values in \[0, 1\]"),
    (torch.rand(0, 1, 4, 4), {}, ValueError, "images: expected at least one image, got 0"),
    (torch.rand(4, 4), {}, ValueError, r"images: expected shape \(N, C, H, W\)"),
    (torch.rand(1, 2, 4, 4), {}, ValueError, r"images: expected 1 or 3 channels, got shape \(1, 2, 4, 4\)"),
    ("cat.png", {}, TypeError, "images: expected a torch.Tensor, got str"),
    (_TWO, {"titles": ["a"]}, ValueError, "titles: expected 2 titles, one per image, got 1"),
    (_TWO, {"titles": "ab"}, TypeError, "titles: expected a list or tuple of str, got str"),
    (_TWO, {"titles": ["a", 2]}, TypeError, r"titles\[1\]: expected a str, got int"),
    (_TWO, {"ncols": 0}, ValueError, "ncols: expected an int >= 1"),
    (_TWO, {"ncols": 2.0}, TypeError, "ncols: expected an int, got float"),
    (_TWO, {"cmap": "greyish"}, ValueError,
     "cmap: expected a matplotlib colour map such as 'gray', got 'greyish'"),
    (_TWO, {"cmap": 3}, TypeError, "cmap: expected a str, got int"),
    (_TWO, {"scale": 0}, ValueError, "scale: expected a number > 0.0"),
    (_TWO, {"scale": float("inf")}, ValueError, "scale: expected a finite number, got inf"),
    (_TWO, {"suptitle": 5}, TypeError, "suptitle: expected a str or None, got int"),
])
def test_image_grid_bad_input(images, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        plotting.image_grid(images, **kwargs)


@pytest.mark.parametrize("image, error, fragment", [
    ([[0.5]], TypeError, "image: expected a torch.Tensor, got list"),
    (torch.rand(4, 4), ValueError,
     r"image: expected shape \(C, H, W\) or \(1, C, H, W\), got shape \(4, 4\)"),
    (torch.rand(2, 1, 4, 4), ValueError, r"got shape \(2, 1, 4, 4\)"),
    (torch.rand(2, 4, 4), ValueError, r"image: expected 1 or 3 channels, got shape \(2, 4, 4\)"),
    (torch.rand(1, 4, 4) + 1, ValueError, r"image: expected values in \[0, 1\]"),
])
def test_to_numpy_image_bad_input(image, error, fragment):
    with pytest.raises(error, match=fragment):
        plotting.to_numpy_image(image)


def test_to_numpy_image_shapes():
    assert plotting.to_numpy_image(torch.rand(1, 4, 5)).shape == (4, 5)
    assert plotting.to_numpy_image(torch.rand(1, 3, 4, 5)).shape == (4, 5, 3)


def test_training_curves_plot_each_metric():
    h = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [3, 2, 1], "val_loss": [3, 2.5, 2],
                      "train_accuracy": [.5, .6, .7], "val_accuracy": [.4, .5, .6]})
    fig = plotting.training_curves(h)
    assert len(fig.axes) == 2
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]
    assert list(fig.axes[0].lines[1].get_ydata()) == [3, 2.5, 2]


_HISTORY = pd.DataFrame({"epoch": [1], "train_loss": [1.0]})


@pytest.mark.parametrize("history, kwargs, error, fragment", [
    ({"epoch": [1]}, {}, TypeError, "history: expected a pandas DataFrame, got dict"),
    (pd.DataFrame({"loss": [1]}), {}, ValueError, "history: expected an 'epoch' column"),
    (_HISTORY, {"metrics": ["f1"]}, ValueError, "metrics: no column train_f1 or val_f1"),
    (_HISTORY, {"metrics": "loss"}, TypeError, "metrics: expected a list or tuple of str, got str"),
    (_HISTORY, {"metrics": []}, ValueError, "metrics: expected at least one metric, got none"),
    (_HISTORY, {"metrics": [1]}, TypeError, r"metrics\[0\]: expected a str, got int"),
    (_HISTORY, {"metrics": ["loss"], "title": 1}, TypeError, "title: expected a str or None, got int"),
])
def test_training_curves_bad_input(history, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        plotting.training_curves(history, **kwargs)
