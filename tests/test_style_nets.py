"""Bad input of sedl.style_nets; the networks themselves are tested in tests/test_style.py."""

import numpy as np
import pytest
import torch

from sedl import style_nets


@pytest.mark.parametrize("args, kind, message", [
    ({"images": np.zeros((1, 1, 4, 4))}, TypeError, "images: expected a torch.Tensor, got ndarray"),
    ({"images": torch.rand(1, 2, 4, 4)}, ValueError,
     r"images: expected 1 or 3 channels, got shape \(1, 2, 4, 4\)"),
    ({"images": torch.rand(1, 4, 4)}, ValueError, r"images: expected shape \(N, C, H, W\)"),
    ({"images": torch.full((1, 3, 4, 4), 1.5)}, ValueError, r"images: expected values in \[0, 1\]"),
    ({"images": torch.ones(1, 3, 4, 4, dtype=torch.uint8)}, TypeError, "images: expected a floating-point"),
    ({"images": torch.rand(1, 2, 4, 4), "name": "content"}, ValueError, "content: expected 1 or 3 channels"),
    ({"name": 3}, TypeError, "name: expected a str, got int"),
])
def test_as_rgb_bad_input(args, kind, message):
    args = {"images": torch.rand(1, 1, 4, 4)} | args
    with pytest.raises(kind, match=message):
        style_nets.as_rgb(args.pop("images"), **args)


@pytest.mark.parametrize("args, kind, message", [
    ({"kind": "resnet50"}, ValueError, "kind: expected one of .*got 'resnet50'"),
    ({"kind": None}, ValueError, "kind: expected one of .*got None"),
    ({"fallback": "vgg16"}, ValueError, "fallback: expected one of .*got 'vgg16'"),
    ({"fallback": 3}, ValueError, "fallback: expected one of .*got 3"),
    ({"fallback": ""}, ValueError, "fallback: expected one of .*got ''"),
    ({"seed": -1}, ValueError, "seed: expected an int >= 0, got -1"),
    ({"seed": 0.5}, TypeError, "seed: expected an int, got float"),
    ({"allow_download": "yes"}, TypeError, "allow_download: expected a bool or None, got str"),
    ({"allow_download": 1}, TypeError, "allow_download: expected a bool or None, got int"),
])
def test_feature_net_bad_input(args, kind, message):
    args = {"kind": "random-multiscale"} | args
    with pytest.raises(kind, match=message):
        style_nets.feature_net(args.pop("kind"), **args)


@pytest.mark.parametrize("args, kind, message", [
    ({"seed": -1}, ValueError, "seed: expected an int >= 0, got -1"),
    ({"seed": "0"}, TypeError, "seed: expected an int, got str"),
    ({"channels": 0}, ValueError, "channels: expected an int >= 1, got 0"),
    ({"channels": 4.0}, TypeError, "channels: expected an int, got float"),
    ({"kernel": 4}, ValueError, "kernel: expected an odd filter size, got 4"),
    ({"kernel": 0}, ValueError, "kernel: expected an int >= 1, got 0"),
    ({"scales": 9}, ValueError, "scales: expected an int <= 8, got 9"),
    ({"scales": 0}, ValueError, "scales: expected an int >= 1, got 0"),
    ({"reason": 3}, TypeError, "reason: expected a str, got int"),
])
def test_random_multiscale_bad_input(args, kind, message):
    with pytest.raises(kind, match=message):
        style_nets.random_multiscale(**({"channels": 4, "scales": 2} | args))
