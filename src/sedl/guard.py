"""The input guard: refuse, with a reason, inputs that break the model's contract.

The first line of defence taught on :ref:`sec_rel_preventing`. :func:`fit_guard` measures
simple statistics of the training images (:func:`image_features`) and keeps their range;
:func:`input_problems` checks each new input against the contract (dtype, channels, size,
values in [0, 1], not blank) and against that range, and says why it refuses one.
Out-of-distribution scores, which need the model, are in :mod:`sedl.ood`.
"""

from __future__ import annotations

import torch

from sedl._checks import check_float, check_images, check_int, check_tensor

__all__ = ["image_features", "fit_guard", "input_problems"]

_FEATURES = ("mean", "ink", "border")


def image_features(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image statistics the guard bounds: ``mean`` brightness, ``ink`` (share of
    pixels above 0.5) and ``border`` (mean of the outermost two-pixel frame), each ``(N,)``."""
    check_images(images)
    if min(images.shape[-2:]) < 5:
        raise ValueError(f"images: expected height and width of at least 5 (a two-pixel frame "
                         f"around an inside), got shape {tuple(images.shape)}")
    frame = torch.ones(images.shape[-2:], dtype=torch.bool)
    frame[2:-2, 2:-2] = False
    return {"mean": images.mean(dim=(1, 2, 3)),
            "ink": (images > 0.5).float().mean(dim=(1, 2, 3)),
            "border": images[..., frame].mean(dim=(1, 2))}


def fit_guard(images: torch.Tensor, *, quantile: float = 0.001) -> dict[str, tuple[float, float]]:
    """Bounds of :func:`image_features` on training images: their ``quantile`` and
    ``1 - quantile`` quantiles, so that about ``2 * quantile`` of clean inputs fail each."""
    quantile = check_float(quantile, "quantile", minimum=0.0, maximum=0.5)
    check_images(images)
    if len(images) == 0:
        raise ValueError("images: expected at least one training image, got 0")
    bounds = {}
    for name, values in image_features(images).items():
        lo, hi = torch.quantile(values.double(), torch.tensor([quantile, 1 - quantile]).double())
        bounds[name] = (float(lo), float(hi))
    return bounds


def _check_size(size: object) -> tuple[int, int]:
    if (not isinstance(size, tuple | list) or len(size) != 2
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in size)):
        raise TypeError(f"size: expected a pair (height, width) of positive ints, got {size!r}")
    return int(size[0]), int(size[1])


def _check_bounds(bounds: object) -> dict[str, tuple[float, float]]:
    ok = isinstance(bounds, dict) and set(bounds) <= set(_FEATURES) and all(
        isinstance(b, tuple | list) and len(b) == 2 and all(isinstance(v, int | float) for v in b)
        and b[0] <= b[1] for b in bounds.values())
    if not ok:
        raise ValueError(f"bounds: expected the dict fit_guard() returns, got {bounds!r:.80}")
    return bounds


def _contract_problems(images: torch.Tensor, channels: int, size: tuple[int, int]) -> list[str]:
    problems = []
    if not images.is_floating_point():
        problems.append(f"dtype {images.dtype}, expected floating point")
    if images.shape[1] != channels:
        problems.append(f"{images.shape[1]} channels, expected {channels}")
    if tuple(images.shape[-2:]) != size:
        problems.append(f"size {images.shape[-2]}x{images.shape[-1]}, expected {size[0]}x{size[1]}")
    return problems


def input_problems(images: torch.Tensor, bounds: dict[str, tuple[float, float]], *,
                   channels: int = 1, size: tuple[int, int] = (28, 28)) -> list[str]:
    """Why each image should be rejected: ``""`` to accept it, else the reasons, ``"; "``-joined.

    Checks, in order: the contract (dtype, ``channels``, ``size`` as ``(height, width)``),
    finite values in [0, 1], a *blank* image (max - min below 0.1), and each feature of
    :func:`image_features` within ``bounds`` (from :func:`fit_guard`).

    >>> bounds = {"mean": (0.05, 0.3), "ink": (0.03, 0.3), "border": (0.0, 0.05)}
    >>> input_problems(torch.zeros(1, 1, 28, 28), bounds)
    ['blank (max - min = 0)']
    """
    images = check_tensor(images, "images")
    if images.dim() != 4:
        raise ValueError(f"images: expected shape (N, C, H, W), got shape {tuple(images.shape)}")
    channels = check_int(channels, "channels", minimum=1)
    size = _check_size(size)
    bounds = _check_bounds(bounds)
    common = _contract_problems(images, channels, size)
    x = images.double()
    reasons = []
    for i in range(len(images)):
        mine = list(common)
        lo, hi = x[i].min().item(), x[i].max().item()
        if not torch.isfinite(x[i]).all():
            mine.append("contains NaN or infinity")
        elif lo < 0 or hi > 1:
            mine.append(f"values in [{lo:.3g}, {hi:.3g}], expected [0, 1]")
        elif hi - lo < 0.1:
            mine.append(f"blank (max - min = {hi - lo:.2g})")
        if not mine:  # the statistics only mean something for a valid image
            stats = image_features(images[i:i + 1].float())
            mine += [f"{name} {stats[name].item():.3f} outside [{a:.3f}, {b:.3f}]"
                     for name, (a, b) in bounds.items() if not a <= stats[name].item() <= b]
        reasons.append("; ".join(mine))
    return reasons
