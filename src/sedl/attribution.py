"""Attribution: which input pixels a classifier's score for one class depends on.

Five methods over the book's image contract (``(N, C, H, W)`` in [0, 1]), one
short function each. The gradient methods return attributions of the input's
shape ``(N, C, H, W)``, signed; Grad-CAM and occlusion return one map per
image, ``(N, 1, H, W)``. :func:`heatmap` reduces any of them to ``(N, H, W)``
for display. The page :ref:`sec_attribution` compares them and checks which
ones can be trusted.

Every function explains the model's *logit* (pre-softmax score) for
``target``, runs the model in eval mode and restores its mode afterwards.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sedl import hooks
from sedl._checks import (
    check_bool,
    check_float,
    check_generator,
    check_images,
    check_int,
    check_labels,
    check_module,
)
from sedl.train import evaluating

__all__ = ["gradient", "smoothgrad", "integrated_gradients", "grad_cam", "occlusion", "heatmap"]


def _prepare(model, images, target) -> tuple[torch.Tensor, torch.Tensor]:
    """Check the arguments; return the images and one target class per image ``(N,)``."""
    check_module(model)
    check_images(images)
    n = images.shape[0]
    if n == 0:
        raise ValueError("images: expected at least one image, got shape "
                         f"{tuple(images.shape)}")
    if isinstance(target, int) and not isinstance(target, bool):
        target = torch.full((n,), target, dtype=torch.long)
    check_labels(target, "target", n=n)
    with torch.no_grad(), evaluating(model):
        logits = model(images[:1])
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"model: expected a classifier with logits of shape (N, num_classes), got {got}")
    check_labels(target, "target", num_classes=logits.shape[1])
    return images, target


def _score_gradient(model: nn.Module, images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d logit[target] / d images, ``(N, C, H, W)``; each image's score depends only on itself."""
    images = images.detach().requires_grad_(True)
    scores = model(images).gather(1, target[:, None]).sum()
    return torch.autograd.grad(scores, images)[0]


def gradient(model: nn.Module, images: torch.Tensor, target: int | torch.Tensor) -> torch.Tensor:
    """Vanilla gradient (saliency): how the target logit changes with each pixel.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier mapping images to logits ``(N, num_classes)``.
    images : torch.Tensor
        ``(N, C, H, W)`` in [0, 1].
    target : int or torch.Tensor
        The class to explain: one for all images, or one per image ``(N,)``.

    Returns
    -------
    torch.Tensor
        ``(N, C, H, W)``, signed.

    References
    ----------
    Simonyan, Vedaldi and Zisserman (2014), "Deep inside convolutional networks",
    ICLR workshop. https://arxiv.org/abs/1312.6034
    """
    images, target = _prepare(model, images, target)
    with evaluating(model):
        return _score_gradient(model, images, target)


def smoothgrad(model: nn.Module, images: torch.Tensor, target: int | torch.Tensor, *,
               samples: int = 50, noise: float = 0.15, generator: torch.Generator | None = None,
               batch_size: int = 1000) -> torch.Tensor:
    """SmoothGrad: the gradient averaged over noisy copies of each image.

    ``noise`` is the standard deviation of the Gaussian noise as a fraction of
    the pixel range (1 for images in [0, 1]); the paper recommends 10-20 %.
    The noisy copies are evaluated ``batch_size`` at a time.

    References
    ----------
    Smilkov et al. (2017), "SmoothGrad: removing noise by adding noise".
    https://arxiv.org/abs/1706.03825
    """
    images, target = _prepare(model, images, target)
    check_int(samples, "samples", minimum=1)
    check_float(noise, "noise", minimum=0.0)
    check_generator(generator)
    check_int(batch_size, "batch_size", minimum=1)
    eps = torch.randn((samples, *images.shape), generator=generator, dtype=images.dtype) * noise
    noisy = (images[None] + eps.to(images.device)).flatten(0, 1)  # (samples * N, C, H, W)
    labels = target.repeat(samples)
    with evaluating(model):
        grads = torch.cat([_score_gradient(model, noisy[i:i + batch_size], labels[i:i + batch_size])
                           for i in range(0, len(noisy), batch_size)])
    return grads.view(samples, *images.shape).mean(0)


def integrated_gradients(model: nn.Module, images: torch.Tensor, target: int | torch.Tensor, *,
                         baseline: torch.Tensor | None = None, steps: int = 50,
                         batch_size: int = 1000) -> torch.Tensor:
    """Integrated Gradients: (x - x') times the gradient averaged on the path x' -> x.

    The right Riemann sum of the paper (eq. 3) with ``steps`` points
    ``alpha = k / steps``. Attributions satisfy *completeness*: they sum to
    ``f(x) - f(x')`` up to the error of the sum. ``baseline`` defaults to a
    black image (``zeros``); it may be one image ``(1, C, H, W)`` or one per image.

    References
    ----------
    Sundararajan, Taly and Yan (2017), "Axiomatic attribution for deep
    networks", ICML. https://arxiv.org/abs/1703.01365
    """
    images, target = _prepare(model, images, target)
    check_int(steps, "steps", minimum=1)
    check_int(batch_size, "batch_size", minimum=1)
    baseline = torch.zeros_like(images[:1]) if baseline is None else check_images(baseline, "baseline")
    if baseline.shape[1:] != images.shape[1:] or baseline.shape[0] not in (1, images.shape[0]):
        raise ValueError(f"baseline: expected shape (1 or {images.shape[0]}, "
                         f"{', '.join(map(str, images.shape[1:]))}), got {tuple(baseline.shape)}")
    baseline = baseline.expand_as(images)
    alphas = torch.arange(1, steps + 1, dtype=images.dtype, device=images.device) / steps
    # (steps, N, C, H, W): every point of every path, flattened into one batch.
    path = baseline[None] + alphas[:, None, None, None, None] * (images - baseline)[None]
    path, labels = path.flatten(0, 1), target.repeat(steps)
    with evaluating(model):
        grads = torch.cat([_score_gradient(model, path[i:i + batch_size], labels[i:i + batch_size])
                           for i in range(0, len(path), batch_size)])
    return (images - baseline) * grads.view(steps, *images.shape).mean(0)


def grad_cam(model: nn.Module, images: torch.Tensor, target: int | torch.Tensor, *,
             layer: str) -> torch.Tensor:
    """Grad-CAM: a layer's channels weighted by their mean gradient, upsampled to the input.

    ``layer`` names a convolutional layer's output (usually the last one, e.g.
    ``"features.relu4"`` of :class:`sedl.models.SmallCNN`). The map is passed
    through ReLU, bilinearly upsampled and scaled to [0, 1] per image, as in
    the paper and in ``pytorch-grad-cam``.

    Returns
    -------
    torch.Tensor
        ``(N, 1, H, W)`` in [0, 1].

    References
    ----------
    Selvaraju et al. (2017), "Grad-CAM: visual explanations from deep networks
    via gradient-based localization", ICCV. https://arxiv.org/abs/1610.02391
    """
    images, target = _prepare(model, images, target)
    if not isinstance(layer, str):
        raise TypeError(f"layer: expected a layer name (str), got {type(layer).__name__} {layer!r}")
    with evaluating(model), hooks.record(model, [layer], detach=False) as outputs:
        scores = model(images).gather(1, target[:, None]).sum()
        acts = outputs[layer]
        if acts.dim() != 4:
            raise ValueError(f"layer: expected a layer with (N, C, h, w) outputs, got {layer!r} "
                             f"with shape {tuple(acts.shape)}")
        grads = torch.autograd.grad(scores, acts)[0]
    weights = grads.mean(dim=(2, 3), keepdim=True)  # (N, K, h, w) -> (N, K, 1, 1)
    cam = F.relu((weights * acts).sum(1, keepdim=True)).detach()  # (N, 1, h, w)
    cam = F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)
    low = cam.amin(dim=(2, 3), keepdim=True)
    return (cam - low) / (cam.amax(dim=(2, 3), keepdim=True) - low + 1e-7)


@torch.no_grad()
def occlusion(model: nn.Module, images: torch.Tensor, target: int | torch.Tensor, *,
              patch: int = 4, stride: int = 2, fill: float = 0.0,
              batch_size: int = 1000) -> torch.Tensor:
    """Occlusion sensitivity: how much the target logit drops when a patch is covered.

    A ``patch`` x ``patch`` square of value ``fill`` slides over each image in
    steps of ``stride``; each pixel gets the mean drop over the patches that
    covered it (the convention of Captum's ``Occlusion``, whose windows at the
    right and bottom edges are also cut off rather than skipped). The occluded
    copies are evaluated about ``batch_size`` at a time.

    Returns
    -------
    torch.Tensor
        ``(N, 1, H, W)``; positive where covering the pixel lowers the score.

    References
    ----------
    Zeiler and Fergus (2014), "Visualizing and understanding convolutional
    networks", ECCV. https://arxiv.org/abs/1311.2901
    """
    images, target = _prepare(model, images, target)
    n, _, h, w = images.shape
    check_int(patch, "patch", minimum=1, maximum=min(h, w))
    check_int(stride, "stride", minimum=1)
    check_float(fill, "fill", minimum=0.0, maximum=1.0)
    check_int(batch_size, "batch_size", minimum=1)
    # The last window in each direction may stick out and is cut off, so no pixel is skipped.
    windows = [(top, left) for top in range(0, h - patch + stride, stride)
               for left in range(0, w - patch + stride, stride)]
    total, count = torch.zeros(n, 1, h, w), torch.zeros(1, 1, h, w)
    per_batch = max(1, batch_size // n)
    with evaluating(model):
        base = model(images).gather(1, target[:, None]).cpu()[:, 0]  # (N,)
        for start in range(0, len(windows), per_batch):
            chunk = windows[start:start + per_batch]
            covered = images.repeat(len(chunk), 1, 1, 1)  # (len(chunk) * N, C, H, W)
            for j, (top, left) in enumerate(chunk):
                covered[j * n:(j + 1) * n, :, top:top + patch, left:left + patch] = fill
            scores = model(covered).gather(1, target.repeat(len(chunk))[:, None]).cpu()
            drops = base - scores.view(len(chunk), n)  # (len(chunk), N)
            for j, (top, left) in enumerate(chunk):
                # A patch that changes no pixel changes nothing: its drop is exactly 0, not the
                # float noise of a batch of another size (which also moves with the thread count).
                window = images[:, :, top:top + patch, left:left + patch]
                drops[j][(window == fill).flatten(1).all(1).cpu()] = 0.0
                total[:, 0, top:top + patch, left:left + patch] += drops[j][:, None, None]
                count[:, :, top:top + patch, left:left + patch] += 1
    return total / count.clamp(min=1)


def heatmap(attributions: torch.Tensor, *, absolute: bool = True) -> torch.Tensor:
    """One map per image ``(N, H, W)``: the channel sum of ``|attributions|`` (or signed).

    >>> heatmap(torch.tensor([[[[1.0, -2.0]], [[3.0, 1.0]]]]), absolute=False)
    tensor([[[ 4., -1.]]])
    """
    if not isinstance(attributions, torch.Tensor):
        raise TypeError(f"attributions: expected a torch.Tensor, got {type(attributions).__name__}")
    if attributions.dim() != 4:
        raise ValueError(f"attributions: expected shape (N, C, H, W), got {tuple(attributions.shape)}")
    check_bool(absolute, "absolute")
    values = attributions.abs() if absolute else attributions
    return values.sum(1).detach()
