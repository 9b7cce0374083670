"""The Square attack: a score-based black-box random search in L-infinity (AutoAttack's fourth component).

Taught in :ref:`sec_adv_defences`. Every other component of AutoAttack follows a gradient,
so a model whose gradients are masked (flat, noisy, shattered) can defeat all of them
without being robust. Square (Andriushchenko, Croce, Flammarion and Hein 2020) asks the
model only for its scores. It starts from vertical stripes of ``+-eps`` and then, query
after query, proposes to overwrite one random square window with ``+-eps`` (one sign per
colour channel), keeping the proposal only if it lowers the *margin*
``z_y - max_{i != y} z_i``, the amount by which the true class still wins. The side of the
square starts large (a fraction ``p_init`` of the pixels) and shrinks on a fixed schedule,
so the search goes from coarse to fine. Perturbations at the corners of the ball
(``+-eps`` everywhere) are where L-infinity attacks end up anyway, which is why such a
crude search works.

Threat model: black box with access to the logits (no gradients), L-infinity ball of
radius ``eps``, untargeted, margin loss, at most ``queries + 1`` queries per image. The
arithmetic and the order of the random draws follow the reference implementation
(``torchattacks.Square``, from Croce's ``auto-attack``), and the tests check that both
give the same images from the same seed.

References
----------
Andriushchenko, Croce, Flammarion and Hein (2020), "Square attack: a query-efficient
black-box adversarial attack via random search", ECCV. https://arxiv.org/abs/1912.00049
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sedl._adversarial import EvalMode, check_eps, check_generator, check_inputs
from sedl._checks import check_float, check_int

__all__ = ["square", "p_schedule"]

#: The schedule's breakpoints on a budget of 10,000 queries, and the divisor of ``p_init`` after each.
_SCHEDULE = ((10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64), (6000, 128),
             (8000, 256))


def p_schedule(i: int, queries: int, p_init: float = 0.8) -> float:
    """Fraction of the pixels the square covers at query ``i``: ``p_init`` halved at fixed points.

    The breakpoints (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000) are those of a
    10,000-query budget, rescaled to ``queries``: after the last one the square covers
    ``p_init / 512`` of the image.
    """
    check_int(i, "i", minimum=0)
    check_int(queries, "queries", minimum=1)
    check_float(p_init, "p_init", minimum=0.0, maximum=1.0, strict_min=True)
    return _p_at(i, queries, p_init)


def _p_at(i, queries, p_init):
    it = int(i / queries * 10000)
    for limit, divisor in _SCHEDULE:
        if it <= limit:
            return p_init / divisor
    return p_init / 512


def _margin(model, x, y):
    """``z_y - max_{i != y} z_i`` per image: positive while the true class wins."""
    logits = model(x)
    rows = torch.arange(len(x))
    true = logits[rows, y].clone()
    logits[rows, y] = -float("inf")
    return true - logits.max(dim=-1)[0]


def _signs(shape, generator, device):
    return torch.sign(2 * torch.rand(shape, generator=generator).to(device) - 1)


def _square_run(model, x, y, *, eps, queries, p_init, generator):
    """One Square run; returns the best point found per image (fooling wherever it fooled)."""
    c, h, w = x.shape[1:]
    x_best = torch.clamp(x + eps * _signs([len(x), c, 1, w], generator, x.device), 0.0, 1.0)  # stripes
    margin_min = _margin(model, x_best, y)
    loss_min = margin_min.clone()
    for i in range(queries):
        todo = (margin_min > 0.0).nonzero().flatten()
        if not len(todo):
            break
        x_curr, x_best_curr, y_curr = x[todo], x_best[todo], y[todo]
        s = max(int(round(math.sqrt(_p_at(i, queries, p_init) * (c * h * w) / c))), 1)  # side of the square
        # One window and one sign per channel for the whole batch, drawn in the reference's order.
        vh = int(((h - s) * torch.rand([1], generator=generator)).long())
        vw = int(((w - s) * torch.rand([1], generator=generator)).long())
        new_delta = torch.zeros([c, h, w], device=x.device)
        new_delta[:, vh:vh + s, vw:vw + s] = 2.0 * eps * _signs([c, 1, 1], generator, x.device)
        x_new = torch.min(torch.max(x_best_curr + new_delta, x_curr - eps), x_curr + eps).clamp(0.0, 1.0)
        margin = _margin(model, x_new, y_curr)
        improved = margin < loss_min[todo]
        loss_min[todo] = torch.where(improved, margin, loss_min[todo])
        keep = improved | (margin <= 0.0)
        margin_min[todo] = torch.where(keep, margin, margin_min[todo])
        x_best[todo] = torch.where(keep.view(-1, 1, 1, 1), x_new, x_best_curr)
    return x_best


@torch.no_grad()
def square(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, eps: float = 0.3,
           queries: int = 5000, p_init: float = 0.8,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Square attack (black box, scores only, L-infinity, untargeted, margin loss).

    Parameters
    ----------
    model, images, labels
        As in :func:`sedl.attacks.fgsm`; ``labels`` are the true classes. The model is only
        evaluated, never differentiated.
    eps : float
        Radius of the L-infinity ball.
    queries : int
        Proposals per image (5000 in AutoAttack), each one query; an image stops being
        queried once it is fooled. The initial stripes cost one more.
    p_init : float
        Fraction of the image the first squares cover, in (0, 1]; the schedule
        (:func:`p_schedule`) shrinks it as the budget is spent.
    generator : torch.Generator, optional
        Source of the stripes, windows and signs; ``None`` means a fresh generator seeded
        with 0.

    Returns
    -------
    torch.Tensor
        ``(N, C, H, W)``: the fooling point for each image the search fooled, and the clean
        image for the others (and for those misclassified to begin with).
    """
    labels = check_inputs(model, images, labels)
    check_eps(eps)
    check_int(queries, "queries", minimum=1)
    check_float(p_init, "p_init", minimum=0.0, maximum=1.0, strict_min=True)
    generator = check_generator(generator)
    with EvalMode(model) as device:
        x, y = images.to(device), labels.to(device)
        out = x.clone()
        idx = (model(x).argmax(1) == y).nonzero().flatten()  # only the correct ones are attacked
        if len(idx):
            adv = _square_run(model, x[idx], y[idx], eps=eps, queries=queries, p_init=p_init,
                              generator=generator)
            fooled = model(adv).argmax(1) != y[idx]
            out[idx[fooled]] = adv[fooled]
        return out.detach().to(images.device)
