"""Inputs the model was never meant to see: an input guard and out-of-distribution scores.

Two lines of defence, taught on :ref:`sec_rel_preventing`. The *input guard*
(:func:`fit_guard`, :func:`input_problems`) rejects inputs that break the
contract or fall outside simple bounds measured on the training images, and
says why. *Out-of-distribution scores* rank inputs by how much they look like
the training data: the maximum softmax probability (:func:`msp`), the energy
score (:func:`energy`) and the Mahalanobis distance in feature space
(:func:`fit_gaussians`, :func:`mahalanobis`); :func:`detection_metrics` measures
how well a score separates the two. :func:`foreign_images` makes the foreign
inputs the page tests against.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata

from sedl import data
from sedl._checks import (
    check_choice,
    check_float,
    check_images,
    check_int,
    check_labels,
    check_module,
    check_seed,
    check_tensor,
)

__all__ = ["image_features", "fit_guard", "input_problems", "msp", "energy", "features",
           "Gaussians", "fit_gaussians", "mahalanobis", "detection_metrics", "foreign_images",
           "FOREIGN_KINDS"]

# ---------------------------------------------------------------- the input guard


def image_features(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-image statistics the guard bounds: ``mean`` brightness, ``ink`` (share of
    pixels above 0.5) and ``border`` (mean of the outermost two-pixel frame), each ``(N,)``."""
    check_images(images)
    frame = torch.ones(images.shape[-2:], dtype=torch.bool)
    frame[2:-2, 2:-2] = False
    return {"mean": images.mean(dim=(1, 2, 3)),
            "ink": (images > 0.5).float().mean(dim=(1, 2, 3)),
            "border": images[..., frame].mean(dim=(1, 2))}


def fit_guard(images: torch.Tensor, *, quantile: float = 0.001) -> dict[str, tuple[float, float]]:
    """Bounds of :func:`image_features` on training images: their ``quantile`` and
    ``1 - quantile`` quantiles, so that about ``2 * quantile`` of clean inputs fail each."""
    quantile = check_float(quantile, "quantile", minimum=0.0, maximum=0.5)
    bounds = {}
    for name, values in image_features(images).items():
        lo, hi = torch.quantile(values.double(), torch.tensor([quantile, 1 - quantile]).double())
        bounds[name] = (float(lo), float(hi))
    return bounds


def _contract_problems(images: torch.Tensor, channels: int, size: tuple[int, int]) -> list[str]:
    problems = []
    if not images.is_floating_point():
        problems.append(f"dtype {images.dtype}, expected floating point")
    if images.shape[1] != channels:
        problems.append(f"{images.shape[1]} channels, expected {channels}")
    if tuple(images.shape[-2:]) != tuple(size):
        problems.append(f"size {images.shape[-2]}x{images.shape[-1]}, expected {size[0]}x{size[1]}")
    return problems


def input_problems(images: torch.Tensor, bounds: dict[str, tuple[float, float]], *,
                   channels: int = 1, size: tuple[int, int] = (28, 28)) -> list[str]:
    """Why each image should be rejected: ``""`` to accept it, else the reasons, ``"; "``-joined.

    Checks, in order: the contract (dtype, channels, size), finite values in
    [0, 1], a *blank* image (max - min below 0.1), and each feature of
    :func:`image_features` within ``bounds`` (from :func:`fit_guard`).

    >>> bounds = {"mean": (0.05, 0.3), "ink": (0.03, 0.3), "border": (0.0, 0.05)}
    >>> input_problems(torch.zeros(1, 1, 28, 28), bounds)
    ['blank (max - min = 0)']
    """
    images = check_tensor(images, "images")
    if images.dim() != 4:
        raise ValueError(f"images: expected shape (N, C, H, W), got shape {tuple(images.shape)}")
    channels = check_int(channels, "channels", minimum=1)
    if not isinstance(bounds, dict) or not set(bounds) <= {"mean", "ink", "border"}:
        raise ValueError(f"bounds: expected the dict fit_guard() returns, got {bounds!r:.80}")
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


# ---------------------------------------------------------------- scores


def _check_logits(logits: object) -> torch.Tensor:
    logits = check_tensor(logits, "logits")
    if logits.dim() != 2 or not logits.is_floating_point():
        raise ValueError("logits: expected a floating-point tensor (N, K), got "
                         f"shape {tuple(logits.shape)} and dtype {logits.dtype}")
    return logits.detach().double()  # float64: softmax of a confident model saturates in float32


def msp(logits: torch.Tensor) -> torch.Tensor:
    """Maximum softmax probability ``(N,)``: high for inputs like the training data.

    References
    ----------
    Hendrycks and Gimpel (2017), "A baseline for detecting misclassified and
    out-of-distribution examples in neural networks", ICLR. https://arxiv.org/abs/1610.02136

    >>> msp(torch.tensor([[0.0, 0.0], [5.0, 0.0]])).round(decimals=3)
    tensor([0.5000, 0.9930], dtype=torch.float64)
    """
    return _check_logits(logits).softmax(dim=1).amax(dim=1)


def energy(logits: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    """Negative free energy ``T * logsumexp(logits / T)``, ``(N,)``: high for in-distribution.

    References
    ----------
    Liu, Wang, Owens and Li (2020), "Energy-based out-of-distribution
    detection", NeurIPS. https://arxiv.org/abs/2010.03759
    """
    t = check_float(temperature, "temperature", minimum=0.0, strict_min=True)
    return t * torch.logsumexp(_check_logits(logits) / t, dim=1)


@torch.no_grad()
def features(model: torch.nn.Module, images: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """Penultimate features ``(N, D)`` from ``model.embed`` (e.g. a :class:`sedl.models.SmallCNN`)."""
    check_module(model)
    if not callable(getattr(model, "embed", None)):
        raise TypeError(f"model: expected a model with an embed() method, got {type(model).__name__}")
    check_images(images)
    check_int(batch_size, "batch_size", minimum=1)
    was_training = model.training
    model.eval()
    out = torch.cat([model.embed(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    model.train(was_training)
    return out


class Gaussians(NamedTuple):
    """Class-conditional Gaussians with a shared covariance: ``means (K, D)``, ``precision (D, D)``."""

    means: torch.Tensor
    precision: torch.Tensor


def fit_gaussians(feats: torch.Tensor, labels: torch.Tensor) -> Gaussians:
    """Fit one mean per class and a tied covariance to training features (Lee et al., 2018).

    References
    ----------
    Lee, Lee, Lee and Shin (2018), "A simple unified framework for detecting
    out-of-distribution samples and adversarial attacks", NeurIPS.
    https://arxiv.org/abs/1807.03888
    """
    feats = check_tensor(feats, "feats")
    if feats.dim() != 2:
        raise ValueError(f"feats: expected shape (N, D), got shape {tuple(feats.shape)}")
    labels = check_labels(labels, n=feats.shape[0])
    f = feats.detach().double()
    classes = labels.unique()
    means = torch.stack([f[labels == c].mean(0) for c in classes])  # (K, D)
    centred = f - means[torch.searchsorted(classes, labels)]  # (N, D)
    covariance = centred.T @ centred / len(f)  # (D, D)
    # pinv: dead ReLU units make the covariance singular.
    return Gaussians(means, torch.linalg.pinv(covariance, hermitian=True))


def mahalanobis(feats: torch.Tensor, gaussians: Gaussians) -> torch.Tensor:
    """Score ``(N,)``: minus the squared Mahalanobis distance to the closest class mean."""
    feats = check_tensor(feats, "feats")
    if not isinstance(gaussians, Gaussians):
        raise TypeError(f"gaussians: expected a Gaussians, got {type(gaussians).__name__}")
    if feats.dim() != 2 or feats.shape[1] != gaussians.means.shape[1]:
        raise ValueError(f"feats: expected shape (N, {gaussians.means.shape[1]}), "
                         f"got shape {tuple(feats.shape)}")
    diff = feats.detach().double()[:, None, :] - gaussians.means[None]  # (N, K, D)
    distances = torch.einsum("nkd,de,nke->nk", diff, gaussians.precision, diff)  # (N, K)
    return -distances.amin(dim=1)


def detection_metrics(scores_in: torch.Tensor, scores_out: torch.Tensor) -> dict[str, float]:
    """How well a score separates in-distribution (high) from foreign inputs (low).

    Returns ``auroc`` (the probability that a random in-distribution input
    scores above a random foreign one, ties counting half) and
    ``fpr_at_95_tpr`` (the share of foreign inputs still accepted by the
    threshold that accepts 95% of in-distribution inputs).

    >>> detection_metrics(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 3.0]))
    {'auroc': 0.875, 'fpr_at_95_tpr': 0.5}
    """
    a = _check_scores(scores_in, "scores_in")
    b = _check_scores(scores_out, "scores_out")
    ranks = rankdata(np.concatenate([a, b]))  # average ranks: ties count half
    auroc = (ranks[:len(a)].sum() - len(a) * (len(a) + 1) / 2) / (len(a) * len(b))
    threshold = np.sort(a)[int(np.floor(0.05 * len(a)))]  # accepts >= 95% of ``a``
    return {"auroc": float(auroc), "fpr_at_95_tpr": float(np.mean(b >= threshold))}


def _check_scores(scores: object, name: str) -> np.ndarray:
    scores = check_tensor(scores, name)
    if scores.dim() != 1 or scores.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty 1-d tensor, got shape {tuple(scores.shape)}")
    values = scores.detach().cpu().double().numpy()
    if not np.isfinite(values).all():
        raise ValueError(f"{name}: expected finite values, got NaN or infinity")
    return values


# ---------------------------------------------------------------- foreign images

FOREIGN_KINDS = ("noise", "patches", "letters", "digits8x8")
_PATCH_SOURCES = ("astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel",
                  "moon", "rocket")
_LETTERS = "ACDEFHJKLMNPQRTUVWXY"  # capitals, without those that look like digits (B G I O S Z)


def _patches(n: int, rng: np.random.Generator) -> torch.Tensor:
    sources = [data.image(name, size=64).mean(dim=1, keepdim=True) for name in _PATCH_SOURCES]
    out = []
    for k in rng.integers(len(sources), size=n):
        img = sources[k]
        top, left = (int(rng.integers(s - 27)) for s in img.shape[-2:])
        out.append(img[0, :, top:top + 28, left:left + 28])
    return torch.stack(out)


def _mnist_like(glyph: np.ndarray) -> torch.Tensor:
    """Fit a glyph into 20x20 and centre its mass in 28x28, as MNIST was made."""
    from PIL import Image

    ys, xs = np.nonzero(glyph > 0)
    glyph = glyph[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    scale = 20 / max(glyph.shape)
    h, w = (max(1, round(s * scale)) for s in glyph.shape)
    small = np.asarray(Image.fromarray(glyph).resize((w, h), Image.LANCZOS), dtype=np.float32) / 255
    small = small.clip(0, 1)
    cy, cx = (np.arange(s) @ small.sum(axis=1 - k) / small.sum() for k, s in enumerate(small.shape))
    top, left = (int(np.clip(round(14 - c), 0, 28 - s)) for c, s in zip((cy, cx), (h, w), strict=True))
    canvas = torch.zeros(1, 28, 28)
    canvas[0, top:top + h, left:left + w] = torch.from_numpy(small)
    return canvas


def _letters(n: int, rng: np.random.Generator) -> torch.Tensor:
    import matplotlib
    from PIL import Image, ImageDraw, ImageFont

    font_dir = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    fonts = [ImageFont.truetype(font_dir / name, 48) for name in
             ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf")]
    out = []
    for _ in range(n):
        canvas = Image.new("L", (80, 80), 0)
        ImageDraw.Draw(canvas).text((40, 40), str(rng.choice(list(_LETTERS))), fill=255, anchor="mm",
                                    font=fonts[rng.integers(len(fonts))],
                                    stroke_width=int(rng.integers(0, 4)), stroke_fill=255)
        canvas = canvas.rotate(float(rng.uniform(-15, 15)), resample=Image.BILINEAR)
        out.append(_mnist_like(np.asarray(canvas)))
    return torch.stack(out)


def _digits8x8(n: int, rng: np.random.Generator) -> torch.Tensor:
    x, _ = data.digits("all")
    x = x[torch.from_numpy(rng.choice(len(x), size=n, replace=n > len(x)))]
    x = F.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False)  # (n, 1, 20, 20)
    return F.pad(x, (4, 4, 4, 4)).clamp(0, 1)


def foreign_images(kind: str, *, n: int = 500, seed: int = 0) -> torch.Tensor:
    """``n`` images ``(n, 1, 28, 28)`` in [0, 1] that are not MNIST digits.

    Parameters
    ----------
    kind : str
        ``"noise"`` (uniform pixel noise), ``"patches"`` (greyscale crops of
        scikit-image's natural photographs and textures), ``"letters"``
        (capital letters rendered in four DejaVu fonts with random stroke width
        and rotation, then fitted and centred like MNIST digits) or
        ``"digits8x8"`` (scikit-learn's 8x8 digits upsampled to 20x20 and padded:
        digits, but from another source).
    n : int
        Number of images.
    seed : int
        Seed of every random choice.

    >>> tuple(foreign_images("letters", n=3).shape)
    (3, 1, 28, 28)
    """
    check_choice(kind, "kind", FOREIGN_KINDS)
    n = check_int(n, "n", minimum=1)
    rng = np.random.default_rng(check_seed(seed))
    if kind == "noise":
        return torch.from_numpy(rng.random((n, 1, 28, 28), dtype=np.float32))
    return {"patches": _patches, "letters": _letters, "digits8x8": _digits8x8}[kind](n, rng)
