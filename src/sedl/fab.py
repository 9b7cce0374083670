"""FAB-T: the fast adaptive boundary attack, targeted version, in L-infinity (AutoAttack's third component).

Taught in :ref:`sec_adv_defences`. PGD climbs a loss and hopes to cross the decision
boundary; FAB (Croce and Hein 2020) aims at the boundary directly. At each step it replaces
the model by its first-order approximation at the current point, so that the boundary
between the true class ``y`` and a target class ``t`` becomes a hyperplane
``{x : f_t(x) - f_y(x) = 0}``, and computes the smallest L-infinity step onto that hyperplane
that keeps the pixels in [0, 1] (:func:`_project_linf`, an exact projection). It takes that
step both from the current point and from the clean image, and moves to a convex
combination that leans towards the clean image (weight at most ``alpha_max``): the attack
looks for an adversarial example *close* to the original, not just any one. Once it has
crossed, it steps back towards the clean image by a factor ``beta`` and tries again,
keeping the smallest crossing found. Because it follows the geometry of the boundary
instead of a loss, it does not suffer when a loss saturates or its gradient is rescaled.

Threat model: white box (gradients of the logits), L-infinity, minimal perturbation;
targeted as a search device (once towards each of the ``targets`` likeliest wrong classes
of the clean image) with untargeted success: a crossing counts only if it lies within
``eps`` of the clean image. The arithmetic follows the reference implementation
(``torchattacks.FAB`` with ``multi_targeted=True``, from Croce's ``auto-attack``) step for
step, and the tests check that both give the same images.

References
----------
Croce and Hein (2020), "Minimally distorted adversarial examples with a fast adaptive
boundary attack", ICML. https://arxiv.org/abs/1907.02044
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sedl._adversarial import EvalMode, check_eps, check_inputs, each_likely_target
from sedl._checks import check_float, check_int

__all__ = ["fab_targeted"]


def _project_linf(points: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Smallest L-infinity ``d`` with ``w . (points + d) = b`` and ``points + d`` in [0, 1], row by row.

    Moving every free coordinate by the same amount ``lambda`` in the direction of the sign of
    ``w`` changes ``w . x`` fastest per unit of L-infinity norm, until a coordinate hits the box;
    then it stays there. Sorting the coordinates by how soon they hit the box makes ``w . x``
    a piecewise-linear function of ``lambda``, and a binary search over the breakpoints finds
    the ``lambda`` that reaches the hyperplane. Rows that cannot reach it even at the box's
    corner get the corner. A transcription of ``projection_linf`` in the reference code.
    """
    t, w, b = points, w.clone(), b.clone()
    sign = 2 * ((w * t).sum(1) - b >= 0) - 1  # orient each hyperplane so that the point lies below it
    w.mul_(sign.unsqueeze(1))
    b.mul_(sign)
    a = (w < 0).float()  # the box corner each coordinate moves towards
    d = (a - t) * (w != 0).float()
    p = a - t * (2 * a - 1)  # distance from each coordinate to that corner
    order = torch.argsort(p, dim=1)
    b = b - (w * t).sum(1)
    b0 = (w * d).sum(1)
    order_rev = order.flip((1,))
    ws = w.gather(1, order_rev)
    bs2 = -ws * d.gather(1, order_rev)
    s = torch.cumsum(ws.abs(), dim=1)
    sb = torch.cumsum(bs2, dim=1) + b0.unsqueeze(1)
    b2 = sb[:, -1] - s[:, -1] * p.gather(1, order[:, 0:1]).squeeze(1)
    before_first = b - b2 > 0  # reached before any coordinate hits the box
    between = (b - b0 > 0) & (~before_first)  # reached after some: binary search for how many
    lb = torch.zeros(between.sum(), device=t.device)
    ub = torch.full_like(lb, w.shape[1] - 1)
    order_, sb_, s_, p_, b_ = order[between], sb[between], s[between], p[between], b[between]
    for _ in range(math.ceil(math.log2(w.shape[1]))):
        mid = torch.floor((lb + ub) / 2)
        mid_index = mid.long().unsqueeze(1)
        current = order_.gather(1, order_.size(1) - 1 - mid_index)
        b2 = (sb_.gather(1, mid_index) - s_.gather(1, mid_index) * p_.gather(1, current)).squeeze(1)
        further = b_ - b2 > 0
        lb = torch.where(further, mid, lb)
        ub = torch.where(further, ub, mid)
    lb = lb.long()
    if before_first.any():
        lam = torch.clamp_min((b[before_first] - sb[before_first, -1]) / (-s[before_first, -1]), min=0)
        d[before_first] = (2 * a[before_first] - 1) * lam.unsqueeze(-1)
    lam = torch.clamp_min((b[between] - sb[between, lb]) / (-s[between, lb]), min=0).unsqueeze(-1)
    d[between] = torch.min(lam, d[between]) * a[between] + torch.max(-lam, d[between]) * (1 - a[between])
    return d * (w != 0).float()


def _boundary_step_data(model, x, y, target):
    """The targeted linearisation at ``x``: ``f_t - f_y`` and its gradient (per image)."""
    rows = torch.arange(len(x))
    x = x.clone().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        diff = -(logits[rows, y] - logits[rows, target])
        grad, = torch.autograd.grad(diff.sum(), x)
    return diff.detach(), grad.detach()


def _fab_run(model, x, y, target, *, steps, alpha_max, eta, beta):
    """One targeted FAB run without a random start; returns (smallest crossing, its L-inf norm)."""
    n = len(x)
    adv, x1, x0 = x.clone(), x.clone(), x.clone().reshape(n, -1)
    res = 1e10 * torch.ones(n, device=x.device)  # smallest L-inf norm of a crossing so far
    for _ in range(steps):
        diff, grad = _boundary_step_data(model, x1, y, target)
        w = grad.reshape(n, -1)
        b = -diff + (grad * x1).reshape(n, -1).sum(-1)  # the hyperplane w . x = b
        d3 = _project_linf(torch.cat((x1.reshape(n, -1), x0), 0), torch.cat((w, w), 0), torch.cat((b, b), 0))
        d_here, d_clean = d3[:n].reshape(x1.shape), d3[-n:].reshape(x1.shape)
        norms = torch.max(d3.abs().max(dim=1, keepdim=True)[0].view(-1, 1, 1, 1),
                          1e-8 * torch.ones(2 * n, 1, 1, 1, device=x.device))
        a_here, a_clean = norms[:n], norms[-n:]
        # Lean towards the clean image's projection when that one is the shorter step.
        alpha = torch.min(torch.max(a_here / (a_here + a_clean), torch.zeros_like(a_here)),
                          alpha_max * torch.ones_like(a_here))
        x1 = ((x1 + eta * d_here) * (1 - alpha) + (x + d_clean * eta) * alpha).clamp(0.0, 1.0)
        crossed = (model(x1).argmax(1) != y).nonzero().flatten()
        if len(crossed):
            dist = (x1[crossed] - x[crossed]).reshape(len(crossed), -1).abs().max(dim=1)[0]
            closer = dist < res[crossed]
            adv[crossed] = torch.where(closer.view(-1, 1, 1, 1), x1[crossed], adv[crossed])
            res[crossed] = torch.where(closer, dist, res[crossed])
            x1[crossed] = x[crossed] + (x1[crossed] - x[crossed]) * beta  # step back towards the clean image
    return adv, res


@torch.no_grad()
def fab_targeted(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, eps: float = 0.3,
                 steps: int = 100, targets: int = 9, alpha_max: float = 0.1, eta: float = 1.05,
                 beta: float = 0.9) -> torch.Tensor:
    """FAB-T (white box, L-infinity, minimal perturbation): the closest crossing towards each likely class.

    For ``r = 2, ..., targets + 1`` the images still classified correctly (and not yet
    fooled within ``eps``) are attacked for ``steps`` steps towards their ``r``-th most
    likely class on the clean image; success is untargeted and counts only within ``eps``.
    As in AutoAttack's standard version the attack runs once per target, from the clean
    image (no random start), so it draws no random numbers.

    Parameters
    ----------
    model, images, labels
        As in :func:`sedl.attacks.fgsm`; ``labels`` are the true classes.
    eps : float
        Radius of the L-infinity ball a crossing must lie in to count. FAB itself is not
        bounded by it: it finds the smallest crossing it can, and ``eps`` only decides.
    steps : int
        Steps per target (100 in AutoAttack; ``torchattacks.FAB`` defaults to 10).
    targets : int
        Number of target classes, at most the number of classes minus one (9 in AutoAttack).
    alpha_max, eta, beta : float
        The largest weight on the step from the clean image (0.1), the overshoot of each
        projection (1.05, so that the step lands just past the boundary) and the factor of
        the step back after a crossing (0.9): the reference values.

    Returns
    -------
    torch.Tensor
        ``(N, C, H, W)``: for each image fooled within ``eps``, the smallest crossing found
        (for the first target that fooled it); the clean image for the others.
    """
    labels = check_inputs(model, images, labels)
    check_eps(eps)
    check_int(steps, "steps", minimum=1)
    check_int(targets, "targets", minimum=1)
    check_float(alpha_max, "alpha_max", minimum=0.0, maximum=1.0)
    check_float(eta, "eta", minimum=1.0)
    check_float(beta, "beta", minimum=0.0, maximum=1.0)
    with EvalMode(model) as device:
        x, y = images.to(device), labels.to(device)
        classes = model(x).shape[1]
        if targets > classes - 1:
            raise ValueError(f"targets: expected at most {classes - 1} (the number of classes "
                             f"minus one), got {targets}")

        def towards(x_sub, y_sub, target):
            adv, res = _fab_run(model, x_sub, y_sub, target, steps=steps, alpha_max=alpha_max, eta=eta,
                                beta=beta)
            adv = torch.where((res < 1e10).view(-1, 1, 1, 1), adv, x_sub)
            dist = (x_sub - adv).abs().reshape(len(x_sub), -1).max(1)[0]
            return adv, (model(adv).argmax(1) != y_sub) & (dist <= eps)

        out = each_likely_target(model, x, y, targets, towards)
        return out.detach().to(images.device)
