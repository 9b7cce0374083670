"""Tests of sedl.guard: the input contract, the fitted bounds, and the reasons for a refusal."""

import re

import numpy as np
import pytest
import torch

from sedl import guard


def digit_like(n, seed=0):
    """Bright 8x12 strokes on a black 28x28 background, jittered by a pixel or two."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 28, 28)
    for i, (dy, dx) in enumerate(torch.randint(-2, 3, (n, 2), generator=g).tolist()):
        x[i, 0, 8 + dy:20 + dy, 10 + dx:18 + dx] = 0.9
    return (x + 0.05 * torch.rand(x.shape, generator=g)).clamp(0, 1)


@pytest.fixture(scope="module")
def bounds():
    return guard.fit_guard(digit_like(200), quantile=0.0)


def test_guard_accepts_images_like_its_training_data(bounds):
    assert guard.input_problems(digit_like(20, seed=1), bounds) == [""] * 20


@pytest.mark.parametrize("make, reason", [
    (lambda x: torch.zeros_like(x), r"blank \(max - min = 0\)"),
    (lambda x: torch.full_like(x, 0.7), "blank"),
    (lambda x: (x * 0.5 + 0.5).clamp(0, 1), r"ink 1.000 outside \[0.122, 0.122\]"),
    (lambda x: 1 - x, r"border 0\.9\d+ outside"),
    (lambda x: x * 255, r"values in \[0.0\d+, 2\d\d\], expected \[0, 1\]"),
    (lambda x: (x * 255).to(torch.uint8), r"dtype torch.uint8, expected floating point"),
    (lambda x: x - 0.5, r"values in \[-0.5, 0.4\d+\], expected \[0, 1\]"),
    (lambda x: x.masked_fill(x > 0.5, float("nan")), "contains NaN or infinity"),
    (lambda x: x.repeat(1, 3, 1, 1), "3 channels, expected 1"),
    (lambda x: torch.nn.functional.interpolate(x, size=(32, 32)), "size 32x32, expected 28x28"),
])
def test_guard_rejects_bad_inputs_with_a_reason(bounds, make, reason):
    problems = guard.input_problems(make(digit_like(3, seed=2)), bounds)
    assert len(problems) == 3
    for problem in problems:
        assert problem and re.search(reason, problem), problem


@pytest.mark.parametrize("args, kind, message", [
    ({"images": np.zeros((1, 1, 28, 28))}, TypeError, "images: expected a torch.Tensor"),
    ({"images": torch.zeros(28, 28)}, ValueError, r"images: expected shape \(N, C, H, W\)"),
    ({"bounds": {"brightness": (0, 1)}}, ValueError, "bounds: expected the dict fit_guard"),
    ({"bounds": {"mean": (0.3, 0.1)}}, ValueError, "bounds: expected the dict fit_guard"),
    ({"bounds": {"mean": (0.0, float("nan"))}}, ValueError, "bounds: expected the dict fit_guard"),
    ({"bounds": [(0.0, 1.0)]}, ValueError, "bounds: expected the dict fit_guard"),
    ({"size": 28}, TypeError, r"size: expected a pair \(height, width\) of positive ints, got 28"),
    ({"size": (28, 0)}, TypeError, "size: expected a pair"),
    ({"size": (28, True)}, TypeError, "size: expected a pair"),
    ({"channels": "1"}, TypeError, "channels: expected an int, got str"),
    ({"channels": 0}, ValueError, "channels: expected an int >= 1, got 0"),
])
def test_input_problems_bad_input(bounds, args, kind, message):
    args = {"images": digit_like(2), "bounds": bounds} | args
    with pytest.raises(kind, match=message):
        guard.input_problems(args.pop("images"), args.pop("bounds"), **args)


@pytest.mark.parametrize("images, kind, message", [
    (np.zeros((2, 1, 28, 28)), TypeError, "images: expected a torch.Tensor"),
    (torch.zeros(0, 1, 28, 28), ValueError, "images: expected at least one training image"),
    (torch.zeros(2, 28, 28), ValueError, r"images: expected shape \(N, C, H, W\)"),
    (torch.zeros(2, 1, 4, 4), ValueError, "images: expected height and width of at least 5"),
    (torch.full((2, 1, 28, 28), 2.0), ValueError, r"images: expected values in \[0, 1\]"),
])
def test_fit_guard_bad_input(images, kind, message):
    with pytest.raises(kind, match=message):
        guard.fit_guard(images)


@pytest.mark.parametrize("quantile, kind, message", [
    (0.7, ValueError, "quantile: expected a number <= 0.5, got 0.7"),
    (-0.1, ValueError, "quantile: expected a number >= 0.0"),
    (float("nan"), ValueError, "quantile: expected a number, got nan"),
    ("0.01", TypeError, "quantile: expected a number, got str"),
])
def test_fit_guard_rejects_a_bad_quantile(quantile, kind, message):
    with pytest.raises(kind, match=message):
        guard.fit_guard(digit_like(5), quantile=quantile)


@pytest.mark.parametrize("images, kind, message", [
    (torch.zeros(1, 1, 28, 28, dtype=torch.uint8), TypeError, "images: expected a floating-point tensor"),
    ([[0.0]], TypeError, "images: expected a torch.Tensor, got list"),
    (torch.zeros(1, 28, 28), ValueError, r"images: expected shape \(N, C, H, W\)"),
    (torch.zeros(1, 1, 4, 28), ValueError, "images: expected height and width of at least 5"),
    (torch.full((1, 1, 28, 28), -0.5), ValueError, r"images: expected values in \[0, 1\]"),
])
def test_image_features_bad_input(images, kind, message):
    with pytest.raises(kind, match=message):
        guard.image_features(images)
