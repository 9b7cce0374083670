"""Foreign inputs: images that are not MNIST digits, to test out-of-distribution detection.

:func:`foreign_images` makes four kinds, from easy to hard to tell apart from a digit:
uniform noise, patches of natural photographs, capital letters rendered in DejaVu fonts
and centred like MNIST digits, and scikit-learn's 8x8 digits upsampled to MNIST's format.
The page that uses them is :ref:`sec_rel_preventing`; the scores they test are in
:mod:`sedl.ood`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sedl import data
from sedl._checks import check_choice, check_int, check_seed

__all__ = ["FOREIGN_KINDS", "foreign_images"]

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
