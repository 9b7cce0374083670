"""Fixtures shared by the tests of sedl.attacks, sedl.autoattack and sedl.patches."""

import pytest

from sedl import data, models, train


@pytest.fixture(scope="module")
def model():
    """A small CNN trained for two epochs on 1,000 MNIST images (a few seconds)."""
    x, y = data.mnist("train")
    net = models.build(seed=0, width=8)
    train.fit(net, (x[::4], y[::4]), epochs=2, lr=3e-3, seed=0)  # every 4th: all classes
    return net.eval()


@pytest.fixture(scope="module")
def batch():
    x, y = data.mnist("test")
    return x[::7][:64], y[::7][:64]  # the split is sorted by class: take every 7th
