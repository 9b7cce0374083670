"""Tests of sedl.shift: references (torchvision, SciPy), properties, determinism, bad input."""

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from scipy import ndimage
from torchvision.transforms import InterpolationMode

from sedl import data, shift


@pytest.fixture(scope="module")
def digits():
    x, _ = data.mnist("test")
    return x[::16]  # (32, 1, 28, 28); the split is sorted by class, so this takes every digit


def test_public_names():
    assert shift.CORRUPTIONS == ("rotation", "noise", "blur", "contrast", "translation", "thickness")
    assert shift.MAX_SEVERITY == 5


@pytest.mark.parametrize("name", shift.CORRUPTIONS)
@pytest.mark.parametrize("severity", [0.5, 1, 2.7, 5])
def test_shape_dtype_range(digits, name, severity):
    out = shift.corrupt(digits, name, severity, seed=3)
    assert out.shape == digits.shape and out.dtype == digits.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert not torch.equal(out, digits)


@pytest.mark.parametrize("name", shift.CORRUPTIONS)
def test_severity_zero_is_identity_copy(digits, name):
    out = shift.corrupt(digits, name, 0, seed=5)
    assert torch.equal(out, digits) and out is not digits


def test_colour_images_and_empty_batch():
    x = data.image("chelsea", size=32)  # (1, 3, 32, 48)
    for name in shift.CORRUPTIONS:
        out = shift.corrupt(x, name, 3)
        assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    empty = torch.zeros(0, 1, 28, 28)
    assert shift.corrupt(empty, "noise", 2).shape == empty.shape


@pytest.mark.parametrize("name", shift.CORRUPTIONS)
def test_effect_grows_with_severity(digits, name):
    distances = [(shift.corrupt(digits, name, s, seed=0) - digits).abs().mean().item()
                 for s in (0, 1, 2, 3, 4, 5)]
    assert all(a < b for a, b in zip(distances, distances[1:], strict=False)), distances


@pytest.mark.parametrize("name", shift.CORRUPTIONS)
def test_deterministic_and_seeded(digits, name):
    a = shift.corrupt(digits, name, 2.5, seed=11)
    assert torch.equal(a, shift.corrupt(digits, name, 2.5, seed=11))
    b = shift.corrupt(digits, name, 2.5, seed=12)
    random_parts = {"rotation", "noise", "translation"}
    assert torch.equal(a, b) == (name not in random_parts)


def test_rotation_matches_torchvision(digits):
    out = shift.corrupt(digits, "rotation", 3)  # 30 degrees, either way
    for image, rotated in zip(digits, out, strict=True):
        errors = [(TF.rotate(image, angle, interpolation=InterpolationMode.BILINEAR) - rotated)
                  .abs().max().item() for angle in (30.0, -30.0)]
        assert min(errors) < 1e-4


def test_blur_matches_scipy(digits):
    sigma, _ = shift.strength("blur", 2)
    out = shift.corrupt(digits, "blur", 2)[:, 0].double().numpy()
    radius = int(np.ceil(3 * sigma))
    ref = np.stack([ndimage.gaussian_filter(img[0].double().numpy(), sigma, mode="nearest",
                                            radius=radius) for img in digits])
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_thickness_matches_scipy_dilation(digits):
    severity = 1 / shift.strength("thickness", 1)[0]  # a dilation radius of exactly 1 pixel
    out = shift.corrupt(digits, "thickness", severity)[:, 0].numpy()
    ref = np.stack([ndimage.grey_dilation(img[0].numpy(), size=(3, 3), mode="nearest")
                    for img in digits])
    np.testing.assert_allclose(out, ref, atol=1e-6)


def test_contrast_by_hand():
    x = torch.tensor([0.0, 0.5, 1.0, 0.5]).view(1, 1, 2, 2)
    lost, _ = shift.strength("contrast", 4)  # 60% of the contrast
    expected = 0.5 + (x - 0.5) * (1 - lost)
    torch.testing.assert_close(shift.corrupt(x, "contrast", 4), expected)


def test_noise_statistics():
    x = torch.full((64, 1, 28, 28), 0.5)
    std, _ = shift.strength("noise", 3)
    delta = shift.corrupt(x, "noise", 3, seed=0) - x
    assert abs(delta.mean().item()) < 0.005 and abs(delta.std().item() - std) < 0.005


def test_translation_moves_centroid(digits):
    pixels, _ = shift.strength("translation", 2.5)  # 3 pixels: MNIST's 4-pixel border keeps the ink
    out = shift.corrupt(digits, "translation", 2.5, seed=4)
    grid = torch.arange(28.0)

    def centroid(x):  # (N, 1, H, W) -> (N, 2)
        mass = x.sum(dim=(1, 2, 3))
        return torch.stack([(x.sum(dim=(1, 3)) * grid).sum(1) / mass,
                            (x.sum(dim=(1, 2)) * grid).sum(1) / mass], 1)

    moved = (centroid(out) - centroid(digits)).norm(dim=1)
    kept = (out.sum(dim=(1, 2, 3)) / digits.sum(dim=(1, 2, 3)) - 1).abs() < 0.01  # no ink lost at the edge
    assert kept.sum() >= 0.8 * len(kept)
    torch.testing.assert_close(moved[kept], torch.full_like(moved[kept], pixels), atol=0.1, rtol=0)


def test_strength_is_linear_in_severity():
    for name in shift.CORRUPTIONS:
        one, unit = shift.strength(name, 1)
        assert shift.strength(name, shift.MAX_SEVERITY) == (pytest.approx(5 * one), unit)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"name": "fog"}, ValueError, "name: expected one of"),
    ({"name": 3}, ValueError, "name: expected one of"),
    ({"severity": -0.1}, ValueError, r"severity: expected a number >= 0.0, got -0.1"),
    ({"severity": 5.5}, ValueError, r"severity: expected a number <= 5, got 5.5"),
    ({"severity": float("nan")}, ValueError, "severity: expected a number, got nan"),
    ({"severity": "2"}, TypeError, "severity: expected a number"),
    ({"seed": -1}, ValueError, "seed: expected an int >= 0"),
    ({"seed": 1.5}, TypeError, "seed: expected an int"),
    ({"images": torch.zeros(28, 28)}, ValueError, r"images: expected shape \(N, C, H, W\)"),
    ({"images": torch.full((1, 1, 4, 4), 2.0)}, ValueError, r"images: expected values in \[0, 1\]"),
    ({"images": torch.zeros(1, 1, 4, 4, dtype=torch.uint8)}, TypeError, "images: expected a floating"),
    ({"images": np.zeros((1, 1, 4, 4))}, TypeError, "images: expected a torch.Tensor"),
])
def test_corrupt_bad_input(kwargs, error, message):
    args = {"images": torch.rand(2, 1, 8, 8), "name": "noise", "severity": 1, "seed": 0} | kwargs
    with pytest.raises(error, match=message):
        shift.corrupt(args["images"], args["name"], args["severity"], seed=args["seed"])


@pytest.mark.parametrize("args, error, message", [
    ({"name": "fog"}, ValueError, "name: expected one of .*got 'fog'"),
    ({"name": None}, ValueError, "name: expected one of .*got None"),
    ({"severity": -1}, ValueError, "severity: expected a number >= 0.0, got -1.0"),
    ({"severity": 6}, ValueError, "severity: expected a number <= 5, got 6.0"),
    ({"severity": float("inf")}, ValueError, "severity: expected a finite number, got inf"),
    ({"severity": float("nan")}, ValueError, "severity: expected a number, got nan"),
    ({"severity": [1]}, TypeError, "severity: expected a number, got list"),
    ({"severity": True}, TypeError, "severity: expected a number, got bool"),
])
def test_strength_bad_input(args, error, message):
    args = {"name": "rotation", "severity": 1.0} | args
    with pytest.raises(error, match=message):
        shift.strength(args["name"], args["severity"])
