"""The losses of neural style transfer: Gram matrices, content, style and total variation.

Taught in :ref:`sec_style_statistics` and :ref:`sec_neural_style_transfer`;
:mod:`sedl.style` re-exports them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sedl._checks import check_tensor

__all__ = ["gram_matrix", "content_loss", "style_loss", "tv_loss"]


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Channel-by-channel inner products of feature maps, averaged over positions.

    ``G[n, i, j] = sum_p F[n, i, p] F[n, j, p] / (H W)``: the uncentred covariance of
    the channels, which forgets *where* a feature fired and keeps *which features
    fire together*. Dividing by the number of positions makes it independent of
    the image size, so a texture can be matched at any resolution.

    Parameters
    ----------
    features : torch.Tensor
        ``(N, C, H, W)`` feature maps.

    Returns
    -------
    torch.Tensor
        ``(N, C, C)``, symmetric positive semi-definite.

    References
    ----------
    Gatys, Ecker and Bethge (2015), "Texture synthesis using convolutional neural
    networks", NeurIPS. https://arxiv.org/abs/1505.07376

    Examples
    --------
    >>> gram_matrix(torch.ones(1, 2, 4, 4))
    tensor([[[1., 1.],
             [1., 1.]]])
    """
    check_tensor(features, "features")
    if features.dim() != 4 or not features.is_floating_point():
        raise ValueError(f"features: expected a float tensor (N, C, H, W), got shape "
                         f"{tuple(features.shape)} and dtype {features.dtype}")
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)  # (N, C, H, W) -> (N, C, HW)
    return _Gram.apply(flat) / (h * w)  # (N, C, HW) @ (N, HW, C) -> (N, C, C)


class _Gram(torch.autograd.Function):
    """``F F^T`` with a backward pass of one matrix product, ``(dG + dG^T) F``, where autograd
    would compute two and add them: the Gram matrices dominate the cost of a shallow network."""

    @staticmethod
    def forward(ctx, flat: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(flat)
        return flat @ flat.transpose(1, 2)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        return (grad + grad.transpose(1, 2)) @ flat


def _relative_sq_error(x: torch.Tensor, target: torch.Tensor, name: str) -> torch.Tensor:
    check_tensor(x, name)
    check_tensor(target, "target")
    if x.shape != target.shape:
        raise ValueError(f"{name}: expected shape {tuple(target.shape)} (that of the target), "
                         f"got {tuple(x.shape)}")
    return F.mse_loss(x, target, reduction="sum") / target.pow(2).sum().clamp_min(1e-12)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error between feature maps, relative to the target's squared norm.

    ``||F - P||^2 / ||P||^2``: 0 for identical features, 1 for all-zero features.
    Gatys et al. use ``||F - P||^2 / 2``; the relative form gives losses of the same
    scale whatever network computed the features, so one set of weights serves all.

    >>> float(content_loss(torch.zeros(1, 2, 3, 3), torch.ones(1, 2, 3, 3)))
    1.0
    """
    return _relative_sq_error(features, target, "features")


def style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Relative squared error between the Gram matrix of ``features`` and a target Gram matrix.

    ``||G(F) - A||^2 / ||A||^2``. Gatys et al. weight ``||G - A||^2`` by
    ``1 / (4 C^2 (HW)^2)`` instead; dividing by ``||A||^2`` gives every layer the
    same scale without a hand-tuned weight per layer.

    >>> f = torch.rand(1, 4, 5, 5)
    >>> float(style_loss(f, gram_matrix(f)))
    0.0
    """
    check_tensor(target_gram, "target_gram")
    return _relative_sq_error(gram_matrix(features), target_gram, "features (its Gram matrix)")


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation: mean squared difference between neighbouring pixels.

    A smoothness prior that suppresses the high-frequency noise the other
    losses leave alone (Mahendran and Vedaldi 2015, with exponent 2).

    >>> float(tv_loss(torch.ones(1, 3, 8, 8)))
    0.0
    """
    check_tensor(image, "image")
    if image.dim() != 4 or not image.is_floating_point():
        raise ValueError(f"image: expected a float tensor (N, C, H, W), got shape "
                         f"{tuple(image.shape)} and dtype {image.dtype}")
    dy = image[..., 1:, :] - image[..., :-1, :]
    dx = image[..., :, 1:] - image[..., :, :-1]
    return dy.pow(2).mean() + dx.pow(2).mean()
