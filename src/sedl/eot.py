"""Expectation over transformation for patches: random rotations and scales, pasted differentiably.

Taught in :ref:`sec_adv_physical`. A sticker in the world is seen turned and nearer or farther,
not only shifted. :func:`random_transforms` draws an angle and a scale per image,
:func:`random_corners` a position at which the turned, scaled patch still lies wholly inside
the image, and :func:`paste_transformed` pastes it there by bilinear resampling
(``grid_sample``), so that the gradient reaches the patch's pixels through the transform.
With angle 0 and scale 1 the paste is :func:`sedl.patches.apply_patch`'s.

References
----------
Athalye, Engstrom, Ilyas and Kwok (2018), "Synthesizing robust adversarial examples", ICML.
https://proceedings.mlr.press/v80/athalye18b.html
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sedl._adversarial import check_generator as _check_generator
from sedl._checks import check_float, check_images, check_int, check_tensor

__all__ = ["random_transforms", "random_corners", "paste_transformed"]


def check_scale(scale: object) -> tuple[float, float]:
    """A scale range: one number ``s`` (always ``s``) or a pair ``(low, high)``, 0 < low <= high <= 4."""
    if isinstance(scale, list | tuple):
        if len(scale) != 2:
            raise ValueError(f"scale: expected a number or a pair (low, high), got {len(scale)} values")
        low = check_float(scale[0], "scale[0]", minimum=0.0, maximum=4.0, strict_min=True)
        high = check_float(scale[1], "scale[1]", minimum=low, maximum=4.0)
        return low, high
    value = check_float(scale, "scale", minimum=0.0, maximum=4.0, strict_min=True)
    return value, value


def check_transforms(transforms: object, n: int | None = None) -> torch.Tensor:
    """``(N, 2)`` float rows of (angle in degrees, scale > 0)."""
    transforms = check_tensor(transforms, "transforms")
    if transforms.dim() != 2 or transforms.shape[1] != 2 or (n is not None and len(transforms) != n):
        rows = "N" if n is None else n
        raise ValueError(f"transforms: expected a tensor of shape ({rows}, 2) of (angle, scale) rows, "
                         f"got shape {tuple(transforms.shape)}")
    if not transforms.is_floating_point():
        raise TypeError(f"transforms: expected a floating-point tensor, got dtype {transforms.dtype}")
    if len(transforms) and not (transforms.isfinite().all() and (transforms[:, 1] > 0).all()):
        scales = transforms[:, 1]
        raise ValueError("transforms: expected finite angles and scales > 0, got "
                         f"scales in [{scales.min().item():.4g}, {scales.max().item():.4g}]")
    return transforms


def margins(transforms: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``(N,)`` whole pixels the turned, scaled patch reaches beyond its upright square, per side.

    The bilinear paste touches an image pixel whose centre maps to within half a patch pixel
    beyond the patch's edge; the side of that footprint, rounded up to the parity of
    ``patch_size`` so that it stays centred on the square, is ``patch_size + 2 * margin``.
    """
    angle = torch.deg2rad(transforms[:, 0].double())
    reach = transforms[:, 1].double() * (patch_size + 1) * (angle.cos().abs() + angle.sin().abs()) - 1
    return ((reach - patch_size - 1e-9).clamp(min=0) / 2).ceil().long()  # (N,)


def random_transforms(n: int, *, max_angle: float = 0.0, scale: float | tuple[float, float] = 1.0,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """``(n, 2)`` rows of (angle in degrees, scale), uniform in ``[-max_angle, max_angle]`` and ``scale``.

    ``scale`` is one number or a range ``(low, high)``. Both columns are drawn from
    ``generator`` (``None``: a fresh generator seeded 0), angles first.
    """
    check_int(n, "n", minimum=0)
    max_angle = check_float(max_angle, "max_angle", minimum=0.0, maximum=180.0)
    low, high = check_scale(scale)
    generator = _check_generator(generator)
    angles = (2 * torch.rand(n, generator=generator) - 1) * max_angle
    scales = low + (high - low) * torch.rand(n, generator=generator)
    return torch.stack([angles, scales], dim=1)


def random_corners(transforms: torch.Tensor, *, image_size: int, patch_size: int,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """``(N, 2)`` random (top, left) corners of the upright patch square, one per transform,
    at which the turned, scaled patch lies wholly inside the image (uniform over those places)."""
    transforms = check_transforms(transforms)
    check_int(image_size, "image_size", minimum=1)
    check_int(patch_size, "patch_size", minimum=1, maximum=image_size)
    generator = _check_generator(generator)
    margin = margins(transforms, patch_size)[:, None]  # (N, 1)
    room = image_size - patch_size + 1 - 2 * margin  # places per axis
    if len(transforms) and room.min() < 1:
        raise ValueError(f"transforms: expected transforms whose patch of side {patch_size} fits in an "
                         f"image of side {image_size}, got scales up to {transforms[:, 1].max().item():.4g}")
    draw = torch.rand(len(transforms), 2, generator=generator)
    return margin + (draw * room).floor().long().clamp(max=room - 1)


def paste_transformed(images: torch.Tensor, patch: torch.Tensor, transforms: torch.Tensor,
                      locations: torch.Tensor) -> torch.Tensor:
    """Paste ``patch`` ``(C, s, s)`` over each image, turned and scaled about the centre of the
    upright square whose (top, left) corner is that image's location.

    A positive angle turns the patch counter-clockwise as the image is displayed. Each output
    pixel reads the patch by bilinear interpolation at the point the inverse transform sends
    it to; a mask resampled the same way blends the edge, so the result is differentiable in
    ``patch`` and stays in [0, 1]. The whole turned patch must lie inside the image.
    Returns images ``(N, C, H, W)``.
    """
    from sedl.patches import _check_locations, _check_patch  # the same contract as apply_patch's

    n, c, h, w = check_images(images).shape
    s = _check_patch(patch, c, min(h, w)).shape[-1]
    transforms = check_transforms(transforms, n)
    locations = _check_locations(locations, n)
    margin = margins(transforms, s)[:, None]  # (N, 1)
    limit = torch.tensor([h - s, w - s])[None] - margin
    outside = ((locations < margin) | (locations > limit)).any(1)  # (N,)
    if n and outside.any():
        i = int(outside.nonzero()[0])
        m, (top, left) = int(margin[i]), limit[i].tolist()
        raise ValueError(f"locations: expected each (top, left) corner to keep the turned patch inside the "
                         f"image, got {locations[i].tolist()} in row {i}, whose patch needs corners "
                         f"in [{m}, {top}] x [{m}, {left}]")
    angle = torch.deg2rad(transforms[:, 0].to(patch.dtype))[:, None, None]  # (N, 1, 1)
    zoom = transforms[:, 1].to(patch.dtype)[:, None, None]
    centre = locations.to(patch.dtype) + s / 2  # (N, 2): row, column of the square's centre
    dy = torch.arange(h, dtype=patch.dtype)[None, :, None] + 0.5 - centre[:, 0, None, None]  # (N, H, 1)
    dx = torch.arange(w, dtype=patch.dtype)[None, None, :] + 0.5 - centre[:, 1, None, None]  # (N, 1, W)
    # Inverse transform, image offsets -> patch offsets (rows grow downwards, so this turns the
    # patch counter-clockwise on screen); then to grid_sample's [-1, 1] over the patch.
    u = (angle.cos() * dx - angle.sin() * dy) / zoom / (s / 2)  # (N, H, W)
    v = (angle.sin() * dx + angle.cos() * dy) / zoom / (s / 2)
    grid = torch.stack([u, v], dim=-1)  # (N, H, W, 2), x first
    source = torch.cat([patch, torch.ones_like(patch[:1])])[None].expand(n, -1, -1, -1)  # (N, C+1, s, s)
    sampled = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    ink, mask = sampled[:, :c], sampled[:, c:]  # the patch premultiplied by its mask, and the mask
    return (ink + (1 - mask) * images).clamp(0, 1)
