"""Minimum-norm attacks: the smallest L2 change that flips a classifier's decision.

Taught in :ref:`sec_adv_minimal`. A budgeted attack (:func:`sedl.attacks.pgd`) asks
"does an adversarial example exist within eps?"; a minimum-norm attack asks "how far is the
nearest one?", a per-image distance to the decision boundary. :func:`cw` is Carlini and
Wagner's L2 attack (an Adam optimisation of distance plus a margin loss, with an optional
binary search over the trade-off constant), :func:`deepfool` walks to the linearised
boundary of the nearest class, and :func:`pgd_minimal_norms` bisects the radius at which
PGD-L2 first succeeds. :func:`perturbation_norms` measures what each attack found.

Every attack is white box and untargeted, takes images on the book's contract,
``(N, C, H, W)`` in [0, 1], returns images on it, and attacks the model in eval mode (its
mode is restored afterwards) on the device the model lives on. Each returns the image
itself where it finds nothing, so read its norms with :func:`perturbation_norms` and a
model, which marks those images ``inf``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sedl import attacks
from sedl._adversarial import EvalMode, check_bool, check_generator, check_inputs
from sedl._checks import check_choice, check_float, check_images, check_int, check_labels, check_module

__all__ = ["cw", "deepfool", "pgd_minimal_norms", "perturbation_norms"]


def _margin(logits: torch.Tensor, labels: torch.Tensor, kappa: float) -> torch.Tensor:
    """Carlini and Wagner's f6: ``max(z_y - max_{i != y} z_i, -kappa)``, zero gradient once fooled."""
    true_class = F.one_hot(labels, logits.shape[1]).bool()
    real = logits[true_class]  # (N, K) -> (N,)
    other = logits.masked_fill(true_class, -torch.inf).max(1).values
    return torch.clamp(real - other, min=-kappa)


def _cw_run(model, x, y, const, kappa, steps, lr, squeeze, abort_early):
    """One optimisation at fixed constants ``const`` (N,): the closest success and its squared L2."""
    z = torch.clamp(x * 2 - 1, min=-1, max=1) * squeeze  # squeeze < 1: pixels at 0 or 1 can move
    w = (0.5 * torch.log((1 + z) / (1 - z))).detach().requires_grad_(True)  # arctanh, the box's inverse
    optimizer = torch.optim.Adam([w], lr=lr)
    best, best_l2 = x.clone(), torch.full((len(x),), 1e10, device=x.device)
    prev_cost = 1e10
    for step in range(steps):
        with torch.enable_grad():
            adv = 1 / 2 * (torch.tanh(w) + 1)  # in [0, 1] whatever w is: no clipping needed
            l2 = F.mse_loss(adv.flatten(1), x.flatten(1), reduction="none").sum(dim=1)  # (N,)
            logits = model(adv)
            cost = l2.sum() + (const * _margin(logits, y, kappa)).sum()
            w.grad, = torch.autograd.grad(cost, w)
        optimizer.step()
        # A success needs the margin the loss aimed for: the true logit kappa below another one.
        shifted = logits.detach() + kappa * F.one_hot(y, logits.shape[1])
        better = (shifted.argmax(1) != y) & (best_l2 > l2.detach())
        best_l2 = torch.where(better, l2.detach(), best_l2)
        best = torch.where(better.view(-1, 1, 1, 1), adv.detach(), best)
        if abort_early and step % max(steps // 10, 1) == 0:  # stop once the cost no longer falls
            if cost.item() > prev_cost:
                break
            prev_cost = cost.item()
    return best, best_l2


def cw(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, c: float = 1.0,
       kappa: float = 0.0, steps: int = 50, lr: float = 0.01, binary_search_steps: int = 1,
       squeeze: float = 1 - 1e-6, abort_early: bool = True) -> torch.Tensor:
    """Carlini and Wagner's L2 attack: the closest misclassified image an optimiser can find.

    Threat model: white box (gradients of the logits), L2 distance, untargeted. The attack
    minimises ``||x' - x||_2^2 + c * f(x')`` over ``x' = (tanh(w) + 1) / 2``, which keeps every
    pixel in [0, 1] without clipping, with Adam on ``w``. The loss ``f`` is the paper's f6, the
    margin ``max(z_y - max_{i != y} z_i, -kappa)`` of the logits ``z``: it stops pushing once the
    image is misclassified by ``kappa``, so the distance term then pulls the image back towards
    the boundary. The image kept is the closest success seen during the optimisation.

    Parameters
    ----------
    model, images, labels
        As in :func:`sedl.attacks.pgd`: a classifier to logits, ``(N, C, H, W)`` in [0, 1],
        the true classes ``(N,)``.
    c : float
        Weight of the margin loss against the squared distance (the start of the search when
        ``binary_search_steps > 1``). Small ``c``: closer images, more failures.
    kappa : float
        Confidence: a success must put another class ``kappa`` logits above the true one.
    steps : int
        Adam steps per value of ``c`` (the paper: up to 10,000).
    lr : float
        Adam's learning rate on ``w`` (the paper: 0.01).
    binary_search_steps : int
        Runs of the optimisation, each from the image, with each image's own ``c``: halved
        towards the last failure after a success, and after a failure bisected towards the
        last success, or multiplied by 10 while there has been none (the paper: 9 runs from
        ``c = 1e-3``). ``1`` runs once at ``c``, as torchattacks does.
    squeeze : float
        The images are scaled by this factor towards 0.5 before the arctanh, as in the
        authors' code (0.999999), so that pixels at exactly 0 or 1 start at a finite ``w``
        and can move. ``1.0`` starts them at infinity, where their gradient is zero: they
        never change (torchattacks' behaviour, and on MNIST most pixels are 0).
    abort_early : bool
        Every ``steps // 10`` steps, stop a run whose total cost (summed over the batch) rose.

    Returns
    -------
    torch.Tensor
        ``(N, C, H, W)`` in [0, 1]: each image's closest success over all runs, or the image
        itself where no run succeeded.

    References
    ----------
    Carlini and Wagner (2017), "Towards evaluating the robustness of neural networks",
    IEEE Symposium on Security and Privacy. https://arxiv.org/abs/1608.04644
    """
    labels = check_inputs(model, images, labels)
    check_float(c, "c", minimum=0.0, strict_min=True)
    check_float(kappa, "kappa", minimum=0.0)
    check_int(steps, "steps", minimum=1)
    check_float(lr, "lr", minimum=0.0, strict_min=True)
    check_int(binary_search_steps, "binary_search_steps", minimum=1)
    check_float(squeeze, "squeeze", minimum=0.0, maximum=1.0, strict_min=True)
    check_bool(abort_early, "abort_early")
    with EvalMode(model) as device:
        x, y = images.to(device), labels.to(device)
        const = torch.full((len(x),), float(c), device=device)
        lower, upper = torch.zeros_like(const), torch.full_like(const, torch.inf)
        best, best_l2 = x.clone(), torch.full_like(const, torch.inf)
        for _ in range(binary_search_steps):
            adv, l2 = _cw_run(model, x, y, const, kappa, steps, lr, squeeze, abort_early)
            success = l2 < 1e10
            better = success & (l2 < best_l2)
            best_l2 = torch.where(better, l2, best_l2)
            best = torch.where(better.view(-1, 1, 1, 1), adv, best)
            upper = torch.where(success, torch.minimum(upper, const), upper)
            lower = torch.where(success, lower, torch.maximum(lower, const))
            const = torch.where(upper.isfinite(), (lower + upper) / 2, const * 10)
        return best.detach().to(images.device)


def _jacobian(model, x) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits ``(N, K)`` and their gradients ``(N, K, C, H, W)``, one backward pass per class."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        k = logits.shape[1]
        grads = [torch.autograd.grad(logits[:, i].sum(), x, retain_graph=i < k - 1)[0] for i in range(k)]
    return logits.detach(), torch.stack(grads, dim=1)


def deepfool(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, steps: int = 50,
             overshoot: float = 0.02) -> torch.Tensor:
    """DeepFool: step to the nearest class boundary of the linearised model, until it flips.

    Threat model: white box (the gradient of every logit), L2 distance, untargeted; no loss
    is optimised. At each step the model is replaced by its first-order expansion at the
    current image. For each other class ``k``, the boundary with the true class ``y`` is then
    a hyperplane at distance ``|f_k| / ||w_k||_2``, with ``f_k = z_k - z_y`` and
    ``w_k = grad z_k - grad z_y``; the step is the orthogonal projection onto the nearest of
    these hyperplanes, ``|f_l| w_l / ||w_l||^2``, clipped to [0, 1]. The iterates converge
    onto the boundary, so the total perturbation ``r`` is lengthened to ``(1 + overshoot) r``
    (the paper's Algorithm 2 and its remark on overshoot); an image stops as soon as that
    lengthened image is misclassified.

    Parameters
    ----------
    model, images, labels
        As in :func:`sedl.attacks.pgd`.
    steps : int
        Most linearisations per image (the paper's ``max_iter``: 50).
    overshoot : float
        How far past the boundary, as a fraction of the total perturbation (the paper: 0.02).
        torchattacks applies it to every step instead, and its iterates then converge onto
        the boundary without crossing it; with ``overshoot=0`` the two coincide.

    Returns
    -------
    torch.Tensor
        ``(N, C, H, W)`` in [0, 1]: misclassified images, or the last lengthened iterate of
        those that did not flip within ``steps``.

    References
    ----------
    Moosavi-Dezfooli, Fawzi and Frossard (2016), "DeepFool: a simple and accurate method to
    fool deep neural networks", CVPR. https://arxiv.org/abs/1511.04599
    """
    labels = check_inputs(model, images, labels)
    check_int(steps, "steps", minimum=1)
    check_float(overshoot, "overshoot", minimum=0.0)
    with EvalMode(model) as device:
        x, y = images.to(device), labels.to(device)
        x_i, active = x.clone(), torch.arange(len(x), device=device)

        def lengthened(idx):  # the image the attack returns: the total perturbation, overshot
            return (x[idx] + (1 + overshoot) * (x_i[idx] - x[idx])).clamp(0, 1)

        for step in range(steps + 1):  # the last pass only checks the last step
            with torch.no_grad():
                active = active[model(lengthened(active)).argmax(1) == y[active]]  # not yet fooled
            if not len(active) or step == steps:
                break
            logits, grads = _jacobian(model, x_i[active])
            rows, true = torch.arange(len(active), device=device), y[active]
            f = logits - logits[rows, true][:, None]                   # (n, K)
            w = (grads - grads[rows, true][:, None]).flatten(2)        # (n, K, C*H*W)
            distance = f.abs() / w.norm(dim=2)
            distance[rows, true] = torch.inf  # the true class is no boundary (0 / 0 there)
            nearest = distance.argmin(1)                               # the closest boundary
            f_l, w_l = f[rows, nearest], w[rows, nearest]              # (n,), (n, C*H*W)
            delta = f_l.abs()[:, None] * w_l / (w_l.norm(dim=1)[:, None] ** 2)
            x_i[active] = (x_i[active] + delta.view_as(x_i[active])).clamp(0, 1)
        return lengthened(slice(None)).detach().to(images.device)


def pgd_minimal_norms(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                      eps_max: float = 8.0, bisection_steps: int = 10, steps: int = 20,
                      alpha_factor: float = 2.5, random_start: bool = False,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """The smallest L2 radius at which PGD-L2 fools the model, found per image by bisection.

    Threat model: white box, L2 ball, untargeted, cross-entropy loss (that of
    :func:`sedl.attacks.pgd`, run with ``norm="l2"``, ``steps`` steps of
    ``alpha_factor * eps / steps`` and its early stop). Each image starts with the bracket
    ``[0, eps_max]`` and each round attacks at the bracket's middle, keeping the half where
    success changes; the images whose middle is the same are attacked together. The answer
    is the upper end of the final bracket: a radius at which PGD did succeed, within
    ``eps_max / 2**bisection_steps`` of the smallest. The bisection assumes that an attack
    that succeeds at one radius succeeds at every larger one, which holds for an exact
    maximiser and approximately for PGD.

    Parameters
    ----------
    model, images, labels
        As in :func:`sedl.attacks.pgd`.
    eps_max : float
        The largest radius tried; images PGD cannot fool there get ``inf``.
    bisection_steps : int
        Halvings of each bracket.
    steps, alpha_factor, random_start, generator
        PGD's steps, step-size rule, random start and its source (see :func:`sedl.attacks.pgd`).

    Returns
    -------
    torch.Tensor
        ``(N,)`` float: 0 for images misclassified already, ``inf`` for those PGD cannot fool
        within ``eps_max``, else the smallest radius found to succeed.
    """
    labels = check_inputs(model, images, labels)
    check_float(eps_max, "eps_max", minimum=0.0, strict_min=True)
    check_int(bisection_steps, "bisection_steps", minimum=0)
    check_int(steps, "steps", minimum=1)
    check_float(alpha_factor, "alpha_factor", minimum=0.0, strict_min=True)
    check_bool(random_start, "random_start")
    generator = check_generator(generator)

    def fooled(idx: torch.Tensor, eps: float) -> torch.Tensor:
        return ~attacks.robust_accuracy(model, images[idx], labels[idx], eps=eps, norm="l2", steps=steps,
                                        alpha=alpha_factor * eps / steps, early_stop=True,
                                        random_start=random_start, generator=generator, per_image=True)

    everyone = torch.arange(len(images))
    lower = torch.zeros(len(images), dtype=torch.float64)
    upper = torch.where(fooled(everyone, eps_max), eps_max, torch.inf).to(torch.float64)
    wrong = ~attacks.robust_accuracy(model, images, labels, attack="none", per_image=True)
    upper[wrong] = 0.0  # misclassified already: the nearest adversarial example is the image
    for _ in range(bisection_steps):
        middle = (lower + upper) / 2
        searching = upper.isfinite() & (upper > 0)
        for eps in middle[searching].unique().tolist():
            idx = (searching & (middle == eps)).nonzero().flatten()
            hit = fooled(idx, eps)
            upper[idx[hit]], lower[idx[~hit]] = eps, eps
    return upper.float()


def perturbation_norms(images: torch.Tensor, adversarial: torch.Tensor, *, norm: str = "l2",
                       model: nn.Module | None = None, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Size of each perturbation ``adversarial - images``; ``inf`` where it does not fool ``model``.

    Parameters
    ----------
    images, adversarial : torch.Tensor
        ``(N, C, H, W)`` in [0, 1], the same shape.
    norm : {"l2", "linf"}
        The size measured.
    model, labels : optional
        Give both to mark the adversarial images that ``model`` still classifies as ``labels``
        with ``inf``: an attack that found nothing has not found a perturbation of size 0.

    Returns
    -------
    torch.Tensor
        ``(N,)`` float norms.
    """
    check_images(images)
    check_images(adversarial, "adversarial")
    if adversarial.shape != images.shape:
        raise ValueError(f"adversarial: expected the shape of images {tuple(images.shape)}, "
                         f"got {tuple(adversarial.shape)}")
    check_choice(norm, "norm", attacks.NORMS)
    if (model is None) != (labels is None):
        raise ValueError(f"labels: expected both model and labels or neither, got "
                         f"{'model' if labels is None else 'labels'} alone")
    delta = (adversarial - images).flatten(1)  # (N, C, H, W) -> (N, C*H*W)
    sizes = delta.norm(dim=1) if norm == "l2" else delta.abs().amax(dim=1)
    if model is not None:
        check_module(model)
        labels = check_labels(labels, n=len(images))
        with EvalMode(model) as device, torch.no_grad():
            still_right = model(adversarial.to(device)).argmax(1).cpu() == labels.cpu()
        sizes = torch.where(still_right.to(sizes.device), torch.inf, sizes)
    return sizes
