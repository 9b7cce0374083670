"""The shared argument checks: the message form every public function relies on."""

import pytest
import torch

from sedl import _checks


def test_check_images_accepts_the_contract():
    x = torch.rand(2, 3, 4, 4)
    assert _checks.check_images(x, channels=3, size=(4, 4)) is x


@pytest.mark.parametrize("value, kwargs, error, fragment", [
    ([1.0], {}, TypeError, "x: expected a torch.Tensor, got list"),
    (torch.rand(3, 4, 4), {}, ValueError, r"x: expected shape \(N, C, H, W\), got shape \(3, 4, 4\)"),
    (torch.ones(1, 1, 2, 2, dtype=torch.uint8), {}, TypeError, "x: expected a floating-point tensor"),
    (torch.rand(1, 1, 2, 2) - 1, {}, ValueError, r"x: expected values in \[0, 1\]"),
    (torch.rand(1, 1, 2, 2), {"channels": 3}, ValueError, "x: expected 3 channel"),
    (torch.rand(1, 1, 2, 2), {"size": (3, 3)}, ValueError, r"x: expected height and width \(3, 3\)"),
])
def test_check_images_names_the_problem(value, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        _checks.check_images(value, "x", **kwargs)


def test_check_float_rejects_nan_and_bounds():
    with pytest.raises(ValueError, match="eps: expected a number, got nan"):
        _checks.check_float(float("nan"), "eps")
    with pytest.raises(ValueError, match="eps: expected a number >= 0"):
        _checks.check_float(-0.1, "eps", minimum=0)
    assert _checks.check_float(3, "eps") == 3.0


def test_check_labels_and_choice():
    with pytest.raises(ValueError, match=r"y: expected shape \(N,\)"):
        _checks.check_labels(torch.zeros(2, 2, dtype=torch.long), "y")
    with pytest.raises(ValueError, match=r"mode: expected one of \['a', 'b'\], got 'c'"):
        _checks.check_choice("c", "mode", ["b", "a"])
