"""Bad input of sedl.style_optim; the optimisation itself is tested in tests/test_style.py."""

import numpy as np
import pytest
import torch
from torch import nn

from sedl import style_nets, style_optim


@pytest.fixture(scope="module")
def net():
    return style_nets.random_multiscale(0, channels=4, scales=2)


def image(h=32, w=32, seed=0):
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


# Every case fails in the checks, before a single step of the optimisation.
COMMON = [
    ({"net": nn.Identity()}, TypeError, "net: expected a sedl.style.Features .*got Identity"),
    ({"net": None}, TypeError, "net: expected a sedl.style.Features .*got NoneType"),
    ({"steps": 0}, ValueError, "steps: expected an int >= 1, got 0"),
    ({"steps": 1.5}, TypeError, "steps: expected an int, got float"),
    ({"optimizer": "sgd"}, ValueError, "optimizer: expected one of .*got 'sgd'"),
    ({"lr": 0.0}, ValueError, "lr: expected a number > 0.0, got 0.0"),
    ({"lr": float("inf")}, ValueError, "lr: expected a finite number, got inf"),
    ({"lr": "1"}, TypeError, "lr: expected a number, got str"),
    ({"seed": -1}, ValueError, "seed: expected an int >= 0, got -1"),
    ({"style_layers": ["conv1_1"]}, ValueError, "style_layers: expected one of .*got 'conv1_1'"),
    ({"style_layers": "scale1"}, TypeError, "style_layers: expected a non-empty sequence of layer names"),
]


@pytest.mark.parametrize("args, kind, message", COMMON + [
    ({"content": np.zeros((1, 3, 32, 32))}, TypeError, "content: expected a torch.Tensor, got ndarray"),
    ({"content": torch.full((1, 3, 32, 32), 1.5)}, ValueError, r"content: expected values in \[0, 1\]"),
    ({"content": image().expand(2, -1, -1, -1)}, ValueError, "content: expected one image"),
    ({"content": image(16, 64)}, ValueError, "content: expected height and width >= 32"),
    ({"style": torch.rand(1, 2, 32, 32)}, ValueError, "style: expected 1 or 3 channels"),
    ({"style": [0.5]}, TypeError, "style: expected a torch.Tensor, got list"),
    ({"content_weight": -1.0}, ValueError, "content_weight: expected a number >= 0.0, got -1.0"),
    ({"style_weight": float("nan")}, ValueError, "style_weight: expected a number, got nan"),
    ({"tv_weight": "1"}, TypeError, "tv_weight: expected a number, got str"),
    ({"content_layers": ["relu9_9"]}, ValueError, "content_layers: expected one of"),
    ({"init": "zeros"}, ValueError, "init: expected one of .*got 'zeros'"),
    ({"init": 0}, ValueError, "init: expected one of .*got 0"),
    ({"init": image(32, 40)}, ValueError, r"init: expected the content's shape \(1, 3, 32, 32\)"),
    ({"init": torch.full((1, 3, 32, 32), -1.0)}, ValueError, r"init: expected values in \[0, 1\]"),
])
def test_transfer_bad_input(net, args, kind, message):
    args = {"content": image(), "style": image(seed=1), "net": net, "steps": 1} | args
    with pytest.raises(kind, match=message):
        style_optim.transfer(args.pop("content"), args.pop("style"), **args)


@pytest.mark.parametrize("args, kind, message", COMMON + [
    ({"texture": np.zeros((1, 3, 32, 32))}, TypeError, "texture: expected a torch.Tensor, got ndarray"),
    ({"texture": -image()}, ValueError, r"texture: expected values in \[0, 1\]"),
    ({"texture": image(8, 8)}, ValueError, "texture: expected height and width >= 32"),
    ({"size": (4, 4)}, ValueError, r"size: expected a \(height, width\) tuple of ints >= 32, got \(4, 4\)"),
    ({"size": 32}, TypeError, r"size: expected a \(height, width\) tuple of ints >= 32, got 32"),
    ({"size": [32, 32]}, TypeError, "size: expected a .*tuple"),
    ({"size": (32, 32.0)}, TypeError, "size: expected a .*tuple of ints"),
    ({"size": (32, 32, 3)}, TypeError, "size: expected a .*tuple"),
])
def test_synthesize_bad_input(net, args, kind, message):
    args = {"texture": image(), "net": net, "steps": 1} | args
    with pytest.raises(kind, match=message):
        style_optim.synthesize(args.pop("texture"), **args)
