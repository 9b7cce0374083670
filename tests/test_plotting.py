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


def test_image_grid_rejects_bad_input():
    with pytest.raises(ValueError, match=r"images: expected values in \[0, 1\]"):
        plotting.image_grid(torch.full((1, 1, 4, 4), 2.0))
    with pytest.raises(ValueError, match="titles: expected 2 titles, one per image, got 1"):
        plotting.image_grid(torch.rand(2, 1, 4, 4), titles=["a"])
    with pytest.raises(ValueError, match="images: expected at least one image, got 0"):
        plotting.image_grid(torch.rand(0, 1, 4, 4))
    with pytest.raises(ValueError, match="ncols: expected an int >= 1"):
        plotting.image_grid(torch.rand(2, 1, 4, 4), ncols=0)


def test_training_curves_plot_each_metric():
    h = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [3, 2, 1], "val_loss": [3, 2.5, 2],
                      "train_accuracy": [.5, .6, .7], "val_accuracy": [.4, .5, .6]})
    fig = plotting.training_curves(h)
    assert len(fig.axes) == 2
    assert [len(ax.lines) for ax in fig.axes] == [2, 2]
    assert list(fig.axes[0].lines[1].get_ydata()) == [3, 2.5, 2]


def test_training_curves_reject_bad_history():
    with pytest.raises(TypeError, match="history: expected a pandas DataFrame, got dict"):
        plotting.training_curves({"epoch": [1]})
    with pytest.raises(ValueError, match="history: expected an 'epoch' column"):
        plotting.training_curves(pd.DataFrame({"loss": [1]}))
    with pytest.raises(ValueError, match="metrics: no column train_f1 or val_f1"):
        plotting.training_curves(pd.DataFrame({"epoch": [1], "train_loss": [1]}), metrics=["f1"])
