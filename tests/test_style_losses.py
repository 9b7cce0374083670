"""Bad input of sedl.style_losses; the losses' values are tested in tests/test_style.py."""

import numpy as np
import pytest
import torch

from sedl import style_losses

F4 = torch.rand(1, 2, 4, 4, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("features, kind, message", [
    (np.zeros((1, 2, 4, 4)), TypeError, "features: expected a torch.Tensor, got ndarray"),
    ([[0.0]], TypeError, "features: expected a torch.Tensor, got list"),
    (torch.rand(2, 4, 4), ValueError,
     r"features: expected a float tensor \(N, C, H, W\), got shape \(2, 4, 4\)"),
    (torch.ones(1, 2, 4, 4, dtype=torch.long), ValueError,
     "features: expected a float tensor .* torch.int64"),
])
def test_gram_matrix_bad_input(features, kind, message):
    with pytest.raises(kind, match=message):
        style_losses.gram_matrix(features)


@pytest.mark.parametrize("features, target, kind, message", [
    (F4.numpy(), F4, TypeError, "features: expected a torch.Tensor, got ndarray"),
    (F4, F4.tolist(), TypeError, "target: expected a torch.Tensor, got list"),
    (F4, F4[..., :3], ValueError, r"features: expected shape \(1, 2, 4, 3\) \(that of the target\), "
                                  r"got \(1, 2, 4, 4\)"),
])
def test_content_loss_bad_input(features, target, kind, message):
    with pytest.raises(kind, match=message):
        style_losses.content_loss(features, target)


@pytest.mark.parametrize("features, target_gram, kind, message", [
    (F4, None, TypeError, "target_gram: expected a torch.Tensor, got NoneType"),
    (F4.numpy(), torch.zeros(1, 2, 2), TypeError, "features: expected a torch.Tensor, got ndarray"),
    (F4[0], torch.zeros(1, 2, 2), ValueError, r"features: expected a float tensor \(N, C, H, W\)"),
    (F4, torch.zeros(1, 3, 3), ValueError, r"features \(its Gram matrix\): expected shape \(1, 3, 3\)"),
])
def test_style_loss_bad_input(features, target_gram, kind, message):
    with pytest.raises(kind, match=message):
        style_losses.style_loss(features, target_gram)


@pytest.mark.parametrize("image, kind, message", [
    (np.zeros((1, 3, 4, 4)), TypeError, "image: expected a torch.Tensor, got ndarray"),
    (torch.zeros(4), ValueError, r"image: expected a float tensor \(N, C, H, W\), got shape \(4,\)"),
    (torch.zeros(3, 4, 4), ValueError, r"image: expected a float tensor \(N, C, H, W\)"),
    (torch.zeros(1, 3, 4, 4, dtype=torch.uint8), ValueError, "image: expected a float tensor .* torch.uint8"),
])
def test_tv_loss_bad_input(image, kind, message):
    with pytest.raises(kind, match=message):
        style_losses.tv_loss(image)
