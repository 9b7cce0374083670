"""Universal adversarial patches: one square of free pixels that turns any image into a target class.

Taught in :ref:`sec_adv_physical`. The threat model: white box (the model's gradients while
training the patch), targeted (one class for every image), cross-entropy loss of the target; the
attacker controls every pixel of a small square region (no norm bound on the change there) but
not where it lands on the image, nor, with ``max_angle`` and ``scale``, how it is turned and
scaled. :func:`train_patch` optimises the patch under an expectation over random positions (and
rotations and scales, through :mod:`sedl.eot`); :func:`apply_patch` pastes it upright,
:func:`patch_success` measures how often it reaches the target.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sedl import eot
from sedl._adversarial import EvalMode as _EvalMode
from sedl._adversarial import check_generator as _check_generator
from sedl._adversarial import check_inputs as _check_inputs
from sedl._checks import check_bool, check_float, check_images, check_int, check_module, check_tensor

__all__ = ["apply_patch", "random_locations", "train_patch", "patch_success"]


def _check_patch(patch: object, channels: int, side: int) -> torch.Tensor:
    patch = check_tensor(patch, "patch")
    if patch.dim() != 3 or patch.shape[-2] != patch.shape[-1] or patch.shape[-1] > side:
        raise ValueError(f"patch: expected a square (C, s, s) with s <= {side}, "
                         f"got shape {tuple(patch.shape)}")
    check_images(patch[None], "patch", channels=channels)
    return patch


def _check_locations(locations: object, n: int) -> torch.Tensor:
    """``(n, 2)`` integer (top, left) corners, one per image."""
    locations = check_tensor(locations, "locations")
    if tuple(locations.shape) != (n, 2):
        raise ValueError(f"locations: expected a tensor of shape ({n}, 2), got shape "
                         f"{tuple(locations.shape)}")
    if locations.is_floating_point() or locations.dtype == torch.bool:
        raise TypeError(f"locations: expected an integer tensor, got dtype {locations.dtype}")
    return locations


def random_locations(n: int, *, image_size: int, patch_size: int,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """``(n, 2)`` random (top, left) corners at which a square patch fits inside the image."""
    check_int(n, "n", minimum=0)
    check_int(image_size, "image_size", minimum=1)
    check_int(patch_size, "patch_size", minimum=1, maximum=image_size)
    return torch.randint(0, image_size - patch_size + 1, (n, 2), generator=_check_generator(generator))


def apply_patch(images: torch.Tensor, patch: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
    """Paste the square ``patch`` ``(C, s, s)`` over each image at its ``(top, left)`` location.

    Differentiable with respect to ``patch``. Returns images ``(N, C, H, W)`` in [0, 1].
    """
    n, c, h, w = check_images(images).shape
    s = _check_patch(patch, c, min(h, w)).shape[-1]
    locations = _check_locations(locations, n)
    if n and (locations.min() < 0 or locations[:, 0].max() > h - s or locations[:, 1].max() > w - s):
        raise ValueError(f"locations: expected (top, left) corners in [0, {h - s}] x [0, {w - s}], "
                         f"got values in [{int(locations.min())}, {int(locations.max())}]")
    top, left = locations[:, :1], locations[:, 1:]  # (N, 1) each
    rows, cols = torch.arange(h)[None] - top, torch.arange(w)[None] - left  # (N, H), (N, W)
    inside = ((rows >= 0) & (rows < s))[:, :, None] & ((cols >= 0) & (cols < s))[:, None, :]
    # Gather patch[c, row, col] for every pixel: (C, N, H, W) -> (N, C, H, W)
    canvas = patch[:, rows.clamp(0, s - 1)[:, :, None], cols.clamp(0, s - 1)[:, None, :]]
    return torch.where(inside[:, None], canvas.permute(1, 0, 2, 3), images)


def _check_transforms(max_angle: object, scale: object, size: int, image_size: int):
    """``(max_angle, (low, high))``, with the patch fitting the image under the worst transform."""
    max_angle = check_float(max_angle, "max_angle", minimum=0.0, maximum=180.0)
    scale = eot.check_scale(scale)
    worst = torch.tensor([[min(max_angle, 45.0), scale[1]]])  # |cos| + |sin| peaks at 45 degrees
    side = size + 2 * int(eot.margins(worst, size)[0])
    if side > image_size:
        raise ValueError(f"scale: expected a patch of side {size} to fit an image of side {image_size} "
                         f"when turned by up to {max_angle:g} degrees and scaled by up to {scale[1]:g}, "
                         f"got a footprint of side {side}")
    return max_angle, scale


def _placed(images, patch, max_angle, scale, generator):
    """Paste ``patch`` on every image at a random place (and, unless both are trivial, at a random
    angle and scale), drawing from ``generator``."""
    n, size = len(images), patch.shape[-1]
    if max_angle == 0 and scale == (1.0, 1.0):  # translation only: the original draws, exactly
        where = random_locations(n, image_size=images.shape[-1], patch_size=size, generator=generator)
        return apply_patch(images, patch, where)
    transforms = eot.random_transforms(n, max_angle=max_angle, scale=scale, generator=generator)
    where = eot.random_corners(transforms, image_size=images.shape[-1], patch_size=size, generator=generator)
    return eot.paste_transformed(images, patch, transforms, where)


def train_patch(model: nn.Module, images: torch.Tensor, *, target: int, size: int = 8,
                steps: int = 100, lr: float = 0.05, batch_size: int = 64, max_angle: float = 0.0,
                scale: float | tuple[float, float] = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """A universal adversarial patch: one square that turns any image into class ``target``.

    Each step pastes the patch at random places on a random batch of ``images`` and takes a
    signed gradient step of size ``lr`` that makes ``target`` more likely (an expectation over
    locations, so the patch works wherever it lands). With ``max_angle`` (degrees) or ``scale``
    (one number or a range ``(low, high)``) the expectation is also over rotations uniform in
    ``[-max_angle, max_angle]`` and scales uniform in the range (:mod:`sedl.eot`): expectation
    over transformation. Returns the patch ``(C, size, size)``.

    Threat model: white box, targeted, cross-entropy loss of ``target``; no norm bound inside
    the patch, any pixel value in [0, 1].

    References
    ----------
    Brown, Mane, Roy, Abadi and Gilmer (2017), "Adversarial patch", arXiv:1712.09665.
    https://arxiv.org/abs/1712.09665
    Athalye, Engstrom, Ilyas and Kwok (2018), "Synthesizing robust adversarial examples", ICML.
    https://proceedings.mlr.press/v80/athalye18b.html
    """
    check_module(model)
    n, c, h, _ = check_images(images).shape
    check_int(target, "target", minimum=0)
    check_int(size, "size", minimum=1, maximum=h)
    check_int(steps, "steps", minimum=0)
    check_float(lr, "lr", minimum=0.0, strict_min=True)
    check_int(batch_size, "batch_size", minimum=1)
    max_angle, scale = _check_transforms(max_angle, scale, size, h)
    generator = _check_generator(generator)
    patch = torch.rand(c, size, size, generator=generator)
    with _EvalMode(model) as device:
        for _ in range(steps):
            idx = torch.randint(0, n, (batch_size,), generator=generator)
            patch.requires_grad_(True)
            with torch.enable_grad():
                logits = model(_placed(images[idx], patch, max_angle, scale, generator).to(device))
                loss = F.cross_entropy(logits, torch.full((batch_size,), target, device=device))
                grad, = torch.autograd.grad(loss, patch)
            patch = (patch.detach() - lr * grad.sign()).clamp(0, 1)
    return patch


@torch.no_grad()
def patch_success(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                  patch: torch.Tensor, *, target: int, max_angle: float = 0.0,
                  scale: float | tuple[float, float] = 1.0, per_image: bool = False,
                  generator: torch.Generator | None = None) -> float | torch.Tensor:
    """Fraction of images not of class ``target`` that the patch, placed at random, turns into it.

    With ``max_angle`` or ``scale`` the patch is also turned and scaled at random, as in
    :func:`train_patch`. Two patches of the same size measured with generators of the same seed
    meet the same images at the same places, angles and scales: a paired comparison.
    ``per_image=True`` returns the bool outcome of each image not of class ``target`` instead.
    """
    labels = _check_inputs(model, images, labels)
    check_int(target, "target", minimum=0)
    _check_patch(patch, images.shape[1], min(images.shape[-2:]))
    max_angle, scale = _check_transforms(max_angle, scale, patch.shape[-1], min(images.shape[-2:]))
    check_bool(per_image, "per_image")
    generator = _check_generator(generator)
    x = images[labels != target]
    with _EvalMode(model) as device:
        hits = model(_placed(x, patch, max_angle, scale, generator).to(device)).argmax(1).cpu() == target
    return hits if per_image else hits.float().mean().item()
