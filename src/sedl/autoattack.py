"""AutoAttack (standard, L-infinity): APGD-CE, APGD-T, FAB-T and Square, each on what the others left.

Taught in :ref:`sec_adv_defences`. Croce and Hein (2020) showed that many published
defences looked robust only because their PGD evaluation was badly tuned (a fixed step
size, too few steps, a loss that saturates), and proposed an ensemble of attacks that
need no tuning. Its *standard* version runs, on the images still classified correctly,

1. **APGD-CE** (:func:`apgd`, ``loss="ce"``): PGD whose step size starts at ``2 eps`` and
   halves whenever the loss stops rising, with momentum, keeping the best point seen;
2. **APGD-T** (:func:`apgd_targeted`): the same, on the targeted *difference of logits
   ratio* loss (:func:`dlr_loss`), once towards each of the 9 most likely wrong classes;
3. **FAB-T** (:func:`sedl.fab.fab_targeted`): a minimal-perturbation attack that steps onto
   the linearised decision boundary towards each of the same 9 classes;
4. **Square** (:func:`sedl.square.square`): a random search that uses only the scores, with
   5000 queries, for models whose gradients mislead the first three.

This module holds the two APGD attacks; :func:`autoattack` runs all four in order and says,
image by image, which survive. Threat model: L-infinity ball of radius ``eps``, untargeted
success (the targeted components use targets only as a search device); the first three are
white box (gradients), Square is black box (scores). The arithmetic of each component
follows the reference implementation step for step, and the tests check it against
torchattacks' ``APGD``, ``APGDT``, ``FAB`` (``multi_targeted``) and ``Square`` from the
same random start.

References
----------
Croce and Hein (2020), "Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks", ICML. https://arxiv.org/abs/2003.01690
"""

from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from sedl import fab, square
from sedl._adversarial import EvalMode, check_eps, check_generator, check_inputs, each_likely_target
from sedl._checks import check_choice, check_float, check_int, check_labels, check_tensor

__all__ = ["dlr_loss", "apgd", "apgd_targeted", "autoattack", "COMPONENTS"]

#: The components of standard AutoAttack, in the order :func:`autoattack` runs them.
COMPONENTS = ("apgd-ce", "apgd-t", "fab-t", "square")


def dlr_loss(logits: torch.Tensor, labels: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
    """Difference of logits ratio, per image: the loss APGD climbs when cross-entropy saturates.

    Untargeted: ``-(z_y - max_{i != y} z_i) / (z_(1) - z_(3))``; targeted towards ``t``:
    ``-(z_y - z_t) / (z_(1) - (z_(3) + z_(4)) / 2)``, with ``z_(k)`` the k-th largest logit.
    Dividing by a spread of the logits makes it unchanged when the logits are scaled or
    shifted, so a model cannot hide behind huge or tiny logits. Returns ``(N,)``.
    """
    check_tensor(logits, "logits")
    if logits.dim() != 2 or logits.shape[1] < 4:
        raise ValueError(f"logits: expected shape (N, K) with K >= 4, got shape {tuple(logits.shape)}")
    labels = check_labels(labels, n=len(logits), num_classes=logits.shape[1])
    if target is not None:
        target = check_labels(target, "target", n=len(logits), num_classes=logits.shape[1])
    z_sorted, index = logits.sort(dim=1)
    rows = torch.arange(len(logits))
    if target is None:
        top_is_true = (index[:, -1] == labels).float()
        return -(logits[rows, labels] - z_sorted[:, -2] * top_is_true
                 - z_sorted[:, -1] * (1.0 - top_is_true)) / (z_sorted[:, -1] - z_sorted[:, -3] + 1e-12)
    return -(logits[rows, labels] - logits[rows, target]) / (
        z_sorted[:, -1] - 0.5 * z_sorted[:, -3] - 0.5 * z_sorted[:, -4] + 1e-12)


def _loss_and_grad(model, x, loss_fn):
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        loss = loss_fn(logits)
        grad, = torch.autograd.grad(loss.sum(), x)
    return logits.detach(), loss.detach(), grad.detach()


def _oscillates(losses, i, k, rho):
    """Whether, over the last ``k`` steps, the loss rose in at most a fraction ``rho`` of them."""
    rises = sum(losses[i - j] > losses[i - j - 1] for j in range(k))  # index -1 wraps, as in the paper's code
    return rises <= k * rho


def _apgd_run(model, x, y, *, eps, steps, rho, loss_fn, generator):
    """One APGD run from a random start; returns (best adversarial images, still correct)."""
    n = len(x)
    checkpoint, k_min, k_drop = (max(int(share * steps), 1) for share in (0.22, 0.06, 0.03))
    t = 2 * torch.rand(x.shape, generator=generator).to(x.device) - 1
    x_adv = (x + eps * t / t.flatten(1).abs().max(1, keepdim=True)[0].view(-1, 1, 1, 1)).clamp(0, 1)
    logits, loss, grad = _loss_and_grad(model, x_adv, loss_fn)
    x_best, x_fooling, grad_best = x_adv.clone(), x_adv.clone(), grad.clone()
    correct, loss_best = logits.argmax(1) == y, loss.clone()
    losses = torch.zeros(steps, n, device=x.device)
    step = torch.full((n, 1, 1, 1), 2.0 * eps, device=x.device)
    x_old, k, since_check = x_adv.clone(), checkpoint, 0
    best_at_check, reduced_at_check = loss_best.clone(), torch.ones(n, dtype=torch.bool, device=x.device)
    for i in range(steps):
        with torch.no_grad():
            momentum, x_old = x_adv - x_old, x_adv.clone()
            a = 0.75 if i > 0 else 1.0
            z = torch.clamp(torch.min(torch.max(x_adv + step * grad.sign(), x - eps), x + eps), 0.0, 1.0)
            x_adv = torch.clamp(torch.min(torch.max(x_adv + (z - x_adv) * a + momentum * (1 - a), x - eps),
                                          x + eps), 0.0, 1.0)
        logits, loss, grad = _loss_and_grad(model, x_adv, loss_fn)
        fooled = logits.argmax(1) != y
        correct &= ~fooled
        x_fooling[fooled] = x_adv[fooled]
        losses[i] = loss
        better = loss > loss_best
        x_best[better], grad_best[better], loss_best[better] = x_adv[better], grad[better], loss[better]
        since_check += 1
        if since_check == k:  # halve the step where the loss stalled, and restart from the best point
            halve = _oscillates(losses, i, k, rho) | (~reduced_at_check & (best_at_check >= loss_best))
            reduced_at_check, best_at_check = halve.clone(), loss_best.clone()
            step[halve] /= 2.0
            x_adv[halve], grad[halve] = x_best[halve].clone(), grad_best[halve].clone()
            since_check, k = 0, max(k - k_drop, k_min)
    return x_fooling, correct


def _check_apgd(model, images, labels, eps, steps, rho, generator):
    labels = check_inputs(model, images, labels)
    check_eps(eps)
    check_int(steps, "steps", minimum=1)
    check_float(rho, "rho", minimum=0.0, maximum=1.0)
    return labels, check_generator(generator)


def apgd(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, eps: float = 0.3,
         steps: int = 100, loss: str = "ce", rho: float = 0.75,
         generator: torch.Generator | None = None) -> torch.Tensor:
    """Auto-PGD (untargeted, L-infinity): PGD with momentum and a step size that adapts itself.

    Parameters
    ----------
    model, images, labels
        As in :func:`sedl.attacks.fgsm`; ``labels`` are the true classes.
    eps : float
        Radius of the L-infinity ball.
    steps : int
        Gradient steps (100 in AutoAttack). The step size starts at ``2 eps``; at checkpoints
        spaced 22 %, then a little less, of ``steps`` apart, it halves for every image whose
        loss rose in at most a fraction ``rho`` of the steps since the last checkpoint (or did
        not improve), and that image restarts from the best point found.
    loss : {"ce", "dlr"}
        Cross-entropy or the untargeted :func:`dlr_loss`.
    generator : torch.Generator, optional
        Source of the random start (a random corner-scaled point of the ball); ``None``
        means a fresh generator seeded with 0.

    Returns
    -------
    torch.Tensor
        ``(N, C, H, W)``: for each image the last iterate that fooled the model, and the
        clean image for those never fooled (and those misclassified to begin with).
    """
    labels, generator = _check_apgd(model, images, labels, eps, steps, rho, generator)
    check_choice(loss, "loss", ("ce", "dlr"))
    with EvalMode(model) as device:
        x, y = images.to(device), labels.to(device)
        out = x.clone()
        with torch.no_grad():
            todo = (model(x).argmax(1) == y).nonzero().flatten()  # only the correct ones are attacked
        if len(todo):
            y_sub = y[todo]
            loss_fn = ((lambda z: F.cross_entropy(z, y_sub, reduction="none")) if loss == "ce"
                       else (lambda z: dlr_loss(z, y_sub)))
            x_fooling, correct = _apgd_run(model, x[todo], y_sub, eps=eps, steps=steps, rho=rho,
                                           loss_fn=loss_fn, generator=generator)
            out[todo[~correct]] = x_fooling[~correct]
        return out.detach().to(images.device)


def apgd_targeted(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, eps: float = 0.3,
                  steps: int = 100, targets: int = 9, rho: float = 0.75,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """APGD-T: APGD on the targeted DLR loss, towards each of the ``targets`` likeliest wrong classes.

    For ``r = 2, ..., targets + 1`` the images not yet fooled are attacked (one run each, a
    new random start from ``generator``) towards their ``r``-th most likely class on the
    clean image. Success is untargeted: any wrong class counts. Returns images as
    :func:`apgd` does. ``targets`` is at most the number of classes minus one.
    """
    labels, generator = _check_apgd(model, images, labels, eps, steps, rho, generator)
    check_int(targets, "targets", minimum=1)
    with EvalMode(model) as device:
        x, y = images.to(device), labels.to(device)
        with torch.no_grad():
            classes = model(x).shape[1]
        if targets > classes - 1 or classes < 4:
            raise ValueError(f"targets: expected at most {classes - 1} (and a model with at least "
                             f"4 classes, for the DLR loss), got {targets} for {classes} classes")

        def towards(x_sub, y_sub, target):
            x_fooling, correct = _apgd_run(model, x_sub, y_sub, eps=eps, steps=steps, rho=rho,
                                           loss_fn=lambda z: dlr_loss(z, y_sub, target), generator=generator)
            return x_fooling, ~correct

        out = each_likely_target(model, x, y, targets, towards)
        return out.detach().to(images.device)


@torch.no_grad()
def autoattack(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, eps: float = 0.3,
               steps: int = 100, targets: int = 9, queries: int = 5000, components=COMPONENTS,
               generator: torch.Generator | None = None) -> pd.DataFrame:
    """Standard AutoAttack: its components in order, each on the images the earlier ones left correct.

    Parameters
    ----------
    model, images, labels
        As in :func:`apgd`.
    eps : float
        Radius of the L-infinity ball (0.3 is the standard budget on MNIST).
    steps : int
        Steps of APGD-CE, of APGD-T per target and of FAB-T per target (100 in AutoAttack).
    targets : int
        Target classes of APGD-T and FAB-T (9 in AutoAttack, all the wrong ones of 10).
    queries : int
        Query budget of Square (5000 in AutoAttack).
    components : sequence of str
        Which of :data:`COMPONENTS` to run, in the order given (default: all four, in
        AutoAttack's order). Each runs once, without restarts, as in the standard version.
    generator : torch.Generator, optional
        The one source of the random starts of APGD and of Square's search, shared in turn
        (default: seeded with 0). FAB-T draws nothing. The reference code instead reseeds
        the global generator before every component; the attacks are the same, the draws not.

    Returns
    -------
    pandas.DataFrame
        One boolean column per component (and ``"clean"`` first), one row per image:
        whether the image is still classified correctly after that component and all
        before it. Its column means are the robust accuracies; the last is AutoAttack's.
    """
    labels = check_inputs(model, images, labels)
    check_eps(eps)
    check_int(steps, "steps", minimum=1)
    check_int(targets, "targets", minimum=1)
    check_int(queries, "queries", minimum=1)
    if isinstance(components, str) or not isinstance(components, list | tuple) or not components:
        raise ValueError(f"components: expected a non-empty sequence of names, got {components!r}")
    for name in components:
        check_choice(name, "components[...]", COMPONENTS)
    if len(set(components)) < len(components):
        raise ValueError(f"components: expected each name at most once, got {list(components)}")
    generator = check_generator(generator)
    attack = {"apgd-ce": lambda x, y: apgd(model, x, y, eps=eps, steps=steps, generator=generator),
              "apgd-t": lambda x, y: apgd_targeted(model, x, y, eps=eps, steps=steps, targets=targets,
                                                   generator=generator),
              "fab-t": lambda x, y: fab.fab_targeted(model, x, y, eps=eps, steps=steps, targets=targets),
              "square": lambda x, y: square.square(model, x, y, eps=eps, queries=queries,
                                                   generator=generator)}
    with EvalMode(model) as device:
        logits = model(images.to(device))
        if targets > logits.shape[1] - 1 and {"apgd-t", "fab-t"} & set(components):
            raise ValueError(f"targets: expected at most {logits.shape[1] - 1} (the number of classes minus "
                             f"one), got {targets}")
        ok = logits.argmax(1).cpu() == labels
        columns = {"clean": ok.clone()}
        for name in components:
            idx = ok.nonzero().flatten()
            if len(idx):
                x_adv = attack[name](images[idx], labels[idx])
                ok[idx] = model(x_adv.to(device)).argmax(1).cpu() == labels[idx]
            columns[name] = ok.clone()
    return pd.DataFrame({name: column.numpy() for name, column in columns.items()})
