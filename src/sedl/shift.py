"""Named, deterministic image corruptions with a severity scale, for distribution shift.

A model trained on clean digits meets rotated, noisy, blurred, faded, moved or
bolder ones once it is deployed. :func:`corrupt` applies one such change with
a severity between 0 (the images as they are) and :data:`MAX_SEVERITY`, in the
spirit of the ImageNet-C and MNIST-C benchmarks. Severities are real numbers,
so a simulated deployment stream can drift gradually from one level to the
next; every random choice (the direction of a rotation or translation, the
noise pattern) is drawn from ``seed`` alone, so equal arguments give equal
images, and the same ``seed`` at a higher severity gives the same change, only
stronger. The chapter page :ref:`sec_distribution_shift` shows the accuracy of
the reference model under each corruption.

References
----------
Hendrycks and Dietterich (2019), "Benchmarking neural network robustness to
common corruptions and perturbations", ICLR. https://arxiv.org/abs/1903.12261
Mu and Gilmer (2019), "MNIST-C: A robustness benchmark for computer vision",
arXiv:1906.02337. https://arxiv.org/abs/1906.02337
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from sedl._checks import check_choice, check_float, check_images, check_seed

__all__ = ["CORRUPTIONS", "MAX_SEVERITY", "corrupt", "strength"]

CORRUPTIONS: tuple[str, ...] = ("rotation", "noise", "blur", "contrast", "translation", "thickness")
MAX_SEVERITY = 5

# Physical strength per unit of severity, and its unit (see strength()).
_PER_LEVEL = {"rotation": (10.0, "degrees"), "noise": (0.06, "noise std"),
              "blur": (0.45, "blur sigma (px)"), "contrast": (0.15, "contrast lost"),
              "translation": (1.2, "pixels"), "thickness": (0.35, "dilation radius (px)")}


def strength(name: str, severity: float) -> tuple[float, str]:
    """The physical strength of corruption ``name`` at ``severity``, and its unit.

    >>> strength("rotation", 5)
    (50.0, 'degrees')
    """
    check_choice(name, "name", CORRUPTIONS)
    severity = check_float(severity, "severity", minimum=0.0, maximum=MAX_SEVERITY)
    per_level, unit = _PER_LEVEL[name]
    return per_level * severity, unit


def _affine(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    # theta (N, 2, 3) in normalised coordinates; pixels from outside the frame are black.
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _rotation(images, degrees, generator):
    sign = torch.randint(0, 2, (len(images),), generator=generator) * 2 - 1  # each image's direction
    angle = sign * math.radians(degrees)
    cos, sin, zero = torch.cos(angle), torch.sin(angle), torch.zeros(len(images))
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    return _affine(images, theta)


def _translation(images, pixels, generator):
    direction = torch.rand(len(images), generator=generator) * 2 * math.pi
    h, w = images.shape[-2:]
    # A shift of one pixel is 2 / size in affine_grid's [-1, 1] coordinates.
    dx, dy = torch.cos(direction) * pixels * 2 / w, torch.sin(direction) * pixels * 2 / h
    one, zero = torch.ones(len(images)), torch.zeros(len(images))
    theta = torch.stack([torch.stack([one, zero, dx], 1), torch.stack([zero, one, dy], 1)], 1)
    return _affine(images, theta)


def _noise(images, std, generator):
    z = torch.randn(images.shape, generator=generator).to(images)
    return images + std * z


def _blur(images, sigma, generator):
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = images.shape[1]
    x = F.pad(images, (radius, radius, radius, radius), mode="replicate")
    # Separable Gaussian: one pass along the rows, one along the columns, each channel alone.
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def _contrast(images, lost, generator):
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return mean + (images - mean) * (1 - lost)


def _thickness(images, radius, generator):
    # Grey-level dilation by whole pixels, blended linearly for the fractional part.
    whole, frac = int(radius), radius - int(radius)
    x = images
    for _ in range(whole):
        x = F.max_pool2d(x, 3, stride=1, padding=1)
    if frac > 0:
        x = x + frac * (F.max_pool2d(x, 3, stride=1, padding=1) - x)
    return x


_FUNCTIONS = {"rotation": _rotation, "noise": _noise, "blur": _blur, "contrast": _contrast,
              "translation": _translation, "thickness": _thickness}


def corrupt(images: torch.Tensor, name: str, severity: float, *, seed: int = 0) -> torch.Tensor:
    """Apply the corruption ``name`` at ``severity`` to a batch of images.

    Parameters
    ----------
    images : torch.Tensor
        ``(N, C, H, W)`` floats in [0, 1].
    name : str
        One of :data:`CORRUPTIONS`: ``"rotation"`` (each image turned by
        10 degrees per level, clockwise or anticlockwise), ``"noise"`` (additive
        Gaussian noise, std 0.06 per level), ``"blur"`` (Gaussian blur, sigma
        0.45 px per level), ``"contrast"`` (15% of the contrast around each
        image's mean lost per level), ``"translation"`` (moved by 1.2 px per
        level in a random direction) or ``"thickness"`` (strokes dilated by
        0.35 px per level).
    severity : float
        In ``[0, MAX_SEVERITY]``; fractions are allowed. 0 returns an unchanged copy.
    seed : int
        Seeds the random parts (directions, noise) so that the result is reproducible.

    Returns
    -------
    torch.Tensor
        Corrupted images, same shape and dtype as ``images``, values in [0, 1].

    References
    ----------
    Hendrycks and Dietterich (2019), ICLR, https://arxiv.org/abs/1903.12261 ;
    Mu and Gilmer (2019), https://arxiv.org/abs/1906.02337

    Examples
    --------
    >>> x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    >>> y = corrupt(x, "blur", 2.5, seed=1)
    >>> y.shape == x.shape, bool(y.min() >= 0) and bool(y.max() <= 1)
    (True, True)
    >>> torch.equal(corrupt(x, "noise", 0), x)
    True
    """
    check_images(images)
    amount, _ = strength(name, severity)
    check_seed(seed)
    if amount == 0 or images.numel() == 0:
        return images.clone()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        out = _FUNCTIONS[name](images, amount, generator)
    return out.clamp(0.0, 1.0)
