"""The optimisation loop of neural style transfer and texture synthesis.

:func:`transfer` optimises an image so that its features match the content of
one image and the Gram matrices of another; :func:`synthesize` is the same loop
without content, i.e. texture synthesis. Both return the image and the loss
history, one row per evaluation of the loss and its gradient. :mod:`sedl.style`
re-exports them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from sedl._checks import check_choice, check_float, check_int, check_seed
from sedl.style_losses import content_loss, gram_matrix, style_loss, tv_loss
from sedl.style_nets import Features, as_rgb, feature_net  # noqa: F401 (feature_net: the doctest)

__all__ = ["transfer", "synthesize", "Result"]


@dataclass
class Result:
    """What :func:`transfer` and :func:`synthesize` return.

    ``image`` is ``(1, 3, H, W)`` in [0, 1]: the evaluated image with the lowest loss.
    ``history`` has one row per evaluation of the loss and its gradient: ``evaluation,
    loss, content, style, tv, box, seconds`` (``loss`` is the weighted sum of the terms
    plus ``box``, the penalty on pixels outside [0, 1]; ``seconds`` is cumulative). The
    last row of an L-BFGS run can be a trial point of a line search; :attr:`best` is the
    row of the returned image. ``network`` names the feature network.
    """

    image: torch.Tensor
    history: pd.DataFrame
    network: str

    @property
    def best(self) -> pd.Series:
        """The history row of the returned image (the lowest loss)."""
        return self.history.loc[self.history["loss"].idxmin()]


_OPTIMIZERS = ("lbfgs", "adam")


def _loss_fn(net: Features, content_targets: dict, style_targets: dict, weights: tuple):
    layers = tuple(dict.fromkeys((*content_targets, *style_targets)))
    zero = torch.zeros(())

    def terms(x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = net(x, layers)
        content = sum((content_loss(feats[k], t) for k, t in content_targets.items()), zero)
        style = sum((style_loss(feats[k], t) for k, t in style_targets.items()), zero)
        terms = {"content": content / max(1, len(content_targets)),
                 "style": style / len(style_targets), "tv": tv_loss(x)}
        terms["loss"] = sum(w * terms[k] for k, w in zip(("content", "style", "tv"), weights, strict=True))
        return terms
    return terms


_BOX_WEIGHT = 1e3  # weight of the mean squared distance of the pixels from [0, 1]


class _BudgetSpent(Exception):
    """Raised inside the closure to stop L-BFGS exactly when the evaluation budget is spent."""


def _optimise(x0: torch.Tensor, terms_fn, *, steps: int, optimizer: str, lr: float):
    """Minimise ``terms_fn(x)["loss"]`` plus a penalty on pixels outside [0, 1] over the image
    ``x``, with exactly ``steps`` evaluations; return the best image evaluated, clamped to [0, 1].

    The PyTorch tutorial clamps the pixels inside the closure. Moving the parameters during
    L-BFGS's line search breaks its assumptions (here it made runs diverge), so the box is a
    smooth penalty instead, part of the one function the optimiser sees."""
    x = x0.detach().clone().contiguous().requires_grad_(True)  # L-BFGS flattens with .view()
    rows, best, start = [], [float("inf"), None], time.perf_counter()

    def closure() -> torch.Tensor:
        if len(rows) == steps:
            raise _BudgetSpent
        opt.zero_grad(set_to_none=True)
        terms = terms_fn(x)
        terms["box"] = _BOX_WEIGHT * (x - x.detach().clamp(0, 1)).pow(2).mean()
        terms["loss"] = terms["loss"] + terms["box"]
        terms["loss"].backward()
        rows.append({k: v.item() for k, v in terms.items()} | {"seconds": time.perf_counter() - start})
        if rows[-1]["loss"] < best[0]:
            best[:] = rows[-1]["loss"], x.detach().clone()
        return terms["loss"]

    if optimizer == "adam":
        opt = torch.optim.Adam([x], lr=lr)
    else:
        opt = torch.optim.LBFGS([x], lr=lr, max_iter=20, history_size=50, line_search_fn="strong_wolfe")
    while len(rows) < steps:
        before = len(rows)
        try:
            opt.step(closure)
        except _BudgetSpent:
            break
        if len(rows) - before <= 1 and optimizer == "lbfgs":  # converged (L-BFGS's tolerances)
            break
    history = pd.DataFrame(rows, columns=["loss", "content", "style", "tv", "box", "seconds"])
    history.insert(0, "evaluation", range(1, len(history) + 1))
    return best[1].clamp(0, 1), history


def _check_common(net, steps, optimizer, lr, seed, weights):
    if not isinstance(net, Features):
        raise TypeError(f"net: expected a sedl.style.Features (from feature_net), got {type(net).__name__}")
    check_int(steps, "steps", minimum=1)
    check_choice(optimizer, "optimizer", _OPTIMIZERS)
    check_float(lr, "lr", minimum=0.0, strict_min=True)
    check_seed(seed)
    for name, value in weights.items():
        check_float(value, name, minimum=0.0)


def _single(images: object, name: str, min_size: int = 32) -> torch.Tensor:
    images = as_rgb(images, name)
    if images.shape[0] != 1:
        raise ValueError(f"{name}: expected one image, shape (1, C, H, W), got {tuple(images.shape)}")
    if min(images.shape[-2:]) < min_size:  # the deepest layers need a few pixels to look at
        raise ValueError(f"{name}: expected height and width >= {min_size}, got {tuple(images.shape)}")
    return images


def transfer(content: torch.Tensor, style: torch.Tensor, *, net: Features,
             content_weight: float = 1.0, style_weight: float = 100.0, tv_weight: float = 1.0,
             content_layers: Sequence[str] | None = None, style_layers: Sequence[str] | None = None,
             steps: int = 100, optimizer: str = "lbfgs", lr: float | None = None,
             init: str | torch.Tensor = "content", seed: int = 0) -> Result:
    """Neural style transfer: an image with the content of ``content`` and the style of ``style``.

    Minimises ``content_weight * content + style_weight * style + tv_weight * tv`` over
    the pixels (:func:`content_loss` averaged over ``content_layers``, :func:`style_loss`
    averaged over ``style_layers``, :func:`tv_loss`).

    Parameters
    ----------
    content, style : torch.Tensor
        ``(1, C, H, W)`` images in [0, 1], ``C`` = 1 or 3; their sizes may differ.
    net : Features
        From :func:`feature_net`.
    content_weight, style_weight, tv_weight : float
        Weights of the three losses (all losses are relative, see :func:`style_loss`).
    content_layers, style_layers : sequence of str, optional
        Layers of ``net``; default ``net.content_layers`` and ``net.style_layers``.
    steps : int
        Number of evaluations of the loss and its gradient.
    optimizer : {"lbfgs", "adam"}
        L-BFGS with a strong-Wolfe line search (``lr`` default 1) or Adam (default 0.02).
    init : {"content", "noise"} or torch.Tensor
        Start from the content image, from uniform noise, or from a given image of the
        content's size.
    seed : int
        Seed of the noise.

    Returns
    -------
    Result
        The image ``(1, 3, H, W)`` and the loss history.

    References
    ----------
    Gatys, Ecker and Bethge (2016), "Image style transfer using convolutional neural
    networks", CVPR. https://doi.org/10.1109/CVPR.2016.265
    """
    content, style = _single(content, "content"), _single(style, "style")
    lr = (1.0 if optimizer == "lbfgs" else 0.02) if lr is None else lr
    _check_common(net, steps, optimizer, lr, seed, {"content_weight": content_weight,
                  "style_weight": style_weight, "tv_weight": tv_weight})
    content_layers = net.check_layers(content_layers or net.content_layers, "content_layers")
    style_layers = net.check_layers(style_layers or net.style_layers, "style_layers")
    if isinstance(init, torch.Tensor):
        x0 = _single(init, "init")
        if x0.shape != content.shape:
            raise ValueError(f"init: expected the content's shape {tuple(content.shape)}, "
                             f"got {tuple(x0.shape)}")
    else:
        check_choice(init, "init", ("content", "noise"))
        x0 = content if init == "content" else torch.rand(content.shape, generator=torch.Generator()
                                                          .manual_seed(seed))
    with torch.no_grad():
        c_targets = net(content, content_layers)
        s_targets = {k: gram_matrix(v) for k, v in net(style, style_layers).items()}
    terms = _loss_fn(net, c_targets, s_targets, (content_weight, style_weight, tv_weight))
    image, history = _optimise(x0, terms, steps=steps, optimizer=optimizer, lr=lr)
    return Result(image, history, net.name)


def synthesize(texture: torch.Tensor, *, net: Features, size: tuple[int, int] | None = None,
               style_layers: Sequence[str] | None = None, steps: int = 100, optimizer: str = "lbfgs",
               lr: float | None = None, seed: int = 0) -> Result:
    """Texture synthesis: a new image, from noise, whose Gram matrices match those of ``texture``.

    Parameters
    ----------
    texture : torch.Tensor
        ``(1, C, H, W)`` in [0, 1], ``C`` = 1 or 3.
    size : (int, int), optional
        Height and width of the new image; default the texture's.
    style_layers, steps, optimizer, lr, seed
        As in :func:`transfer`; ``seed`` fixes the starting noise.

    References
    ----------
    Gatys, Ecker and Bethge (2015), "Texture synthesis using convolutional neural
    networks", NeurIPS. https://arxiv.org/abs/1505.07376

    Examples
    --------
    >>> net = feature_net("random-multiscale")
    >>> out = synthesize(torch.rand(1, 3, 32, 32), net=net, steps=5)
    >>> tuple(out.image.shape), len(out.history) <= 5
    ((1, 3, 32, 32), True)
    """
    texture = _single(texture, "texture")
    lr = (1.0 if optimizer == "lbfgs" else 0.02) if lr is None else lr
    _check_common(net, steps, optimizer, lr, seed, {})
    style_layers = net.check_layers(style_layers or net.style_layers, "style_layers")
    if size is None:
        size = tuple(texture.shape[-2:])
    elif (not isinstance(size, tuple) or len(size) != 2
          or not all(isinstance(s, int) and not isinstance(s, bool) for s in size)):
        raise TypeError(f"size: expected a (height, width) tuple of ints >= 32, got {size!r}")
    elif min(size) < 32:
        raise ValueError(f"size: expected a (height, width) tuple of ints >= 32, got {size!r}")
    with torch.no_grad():
        s_targets = {k: gram_matrix(v) for k, v in net(texture, style_layers).items()}
    x0 = torch.rand((1, 3, *size), generator=torch.Generator().manual_seed(seed))
    terms = _loss_fn(net, {}, s_targets, (0.0, 1.0, 0.0))
    image, history = _optimise(x0, terms, steps=steps, optimizer=optimizer, lr=lr)
    return Result(image, history, net.name)
