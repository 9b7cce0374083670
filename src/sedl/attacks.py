"""Adversarial attacks on image classifiers, and robust accuracy under them.

Taught in :ref:`sec_adversarial`: :func:`fgsm` (one signed gradient step),
:func:`pgd` (projected gradient descent in an L-infinity or L2 ball, with a
random start), a universal adversarial patch (:func:`train_patch`,
:func:`apply_patch`, :func:`patch_success`), and :func:`robust_accuracy` /
:func:`accuracy_curve` to measure a model against them.

Every attack takes images on the book's contract, ``(N, C, H, W)`` in [0, 1],
and returns images on it: perturbations are clipped so that pixels stay valid.
The model is attacked in eval mode (its mode is restored afterwards) on the
device it lives on. Randomness comes only from an explicit ``torch.Generator``.
"""

from __future__ import annotations

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from sedl._checks import (
    check_choice,
    check_float,
    check_images,
    check_int,
    check_labels,
    check_module,
    check_seed,
)

__all__ = ["fgsm", "pgd", "robust_accuracy", "accuracy_curve", "apply_patch",
           "random_locations", "train_patch", "patch_success"]

NORMS = ("linf", "l2")


def _check_inputs(model, images, labels):
    check_module(model)
    check_images(images)
    return check_labels(labels, n=images.shape[0])


def _check_generator(generator: object) -> torch.Generator:
    if generator is None:
        return torch.Generator().manual_seed(0)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    return generator


class _EvalMode:
    """Put a model in eval mode for an attack and give back the mode it had."""

    def __init__(self, model: nn.Module):
        self.model, self.was_training = model, model.training

    def __enter__(self) -> torch.device:
        self.model.eval()
        return next(self.model.parameters()).device

    def __exit__(self, *exc) -> None:
        self.model.train(self.was_training)


def _input_gradient(model, x, labels, targeted: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits at ``x`` and the gradient of the attacker's objective with respect to ``x``."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, labels)
        # Untargeted: climb the loss of the true class. Targeted: descend that of the target.
        grad, = torch.autograd.grad(-loss if targeted else loss, x)
    return logits.detach(), grad


def fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, eps: float = 0.3,
         targeted: bool = False) -> torch.Tensor:
    """Fast gradient sign method: ``x + eps * sign(grad_x loss)``, clipped to [0, 1].

    Parameters
    ----------
    model : torch.nn.Module
        Classifier from images in [0, 1] to logits.
    images : torch.Tensor
        ``(N, C, H, W)`` in [0, 1].
    labels : torch.Tensor
        ``(N,)`` true classes, or the classes to reach when ``targeted``.
    eps : float
        L-infinity size of the perturbation (0.3 for MNIST in the paper).
    targeted : bool
        Step towards ``labels`` instead of away from them.

    Returns
    -------
    torch.Tensor
        Adversarial images ``(N, C, H, W)`` in [0, 1] with ``|x_adv - x| <= eps``.

    References
    ----------
    Goodfellow, Shlens and Szegedy (2015), "Explaining and harnessing adversarial
    examples", ICLR. https://arxiv.org/abs/1412.6572

    Examples
    --------
    >>> from sedl import models
    >>> x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    >>> x_adv = fgsm(models.build(), x, torch.tensor([0, 1, 2, 3]), eps=0.1)
    >>> bool((x_adv - x).abs().max() <= 0.1 + 1e-6)
    True
    """
    labels = _check_inputs(model, images, labels)
    check_float(eps, "eps", minimum=0.0)
    with _EvalMode(model) as device:
        x, y = images.to(device), labels.to(device)
        _, grad = _input_gradient(model, x, y, targeted)
        return (x + eps * grad.sign()).clamp(0, 1).detach().to(images.device)


def _project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    if norm == "linf":
        return delta.clamp(-eps, eps)
    norms = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)  # (N, C*H*W) -> (N, 1, 1, 1)
    return delta * torch.clamp(eps / norms, max=1.0)


def _random_start(x: torch.Tensor, eps: float, norm: str, generator: torch.Generator):
    if norm == "linf":  # uniform in the cube
        delta = torch.empty_like(x, device="cpu").uniform_(-eps, eps, generator=generator)
    else:  # a random direction, scaled to a uniform fraction of the radius
        delta = torch.empty_like(x, device="cpu").normal_(generator=generator)
        radius = torch.empty(len(x), 1, 1, 1).uniform_(0, 1, generator=generator)
        delta *= radius / delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * eps
    return (x + delta.to(x.device)).clamp(0, 1)


def _step(grad: torch.Tensor, alpha: float, norm: str) -> torch.Tensor:
    if norm == "linf":
        return alpha * grad.sign()
    norms = grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + 1e-10  # (N, C*H*W) -> (N, 1, 1, 1)
    return alpha * (grad / norms)  # torchattacks' order of operations, to the last bit


def pgd(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, eps: float = 0.3,
        alpha: float = 0.01, steps: int = 40, norm: str = "linf", targeted: bool = False,
        random_start: bool = True, early_stop: bool = False,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent: repeated small gradient steps, projected back into the eps-ball.

    Parameters
    ----------
    model, images, labels, targeted
        As in :func:`fgsm`.
    eps : float
        Radius of the ball around each image, in the ``norm`` (0.3 in L-infinity for MNIST).
    alpha : float
        Step size: each step moves ``alpha * sign(grad)`` (L-infinity) or ``alpha`` along the
        normalised gradient (L2). The paper's MNIST attack: 40 steps of 0.01.
    steps : int
        Number of gradient steps.
    norm : {"linf", "l2"}
        The distance that bounds the perturbation.
    random_start : bool
        Start at a random point of the ball (uniform in L-infinity; a random direction at a
        uniformly drawn fraction of the radius in L2) instead of at the image.
    early_stop : bool
        Freeze an image at the first iterate that fools the model (the target class when
        ``targeted``) and stop computing on it: faster when measuring robust accuracy.
    generator : torch.Generator, optional
        Source of the random start; ``None`` means a fresh generator seeded with 0.

    Returns
    -------
    torch.Tensor
        Adversarial images ``(N, C, H, W)`` in [0, 1] within ``eps`` of ``images``.

    References
    ----------
    Madry, Makelov, Schmidt, Tsipras and Vladu (2018), "Towards deep learning models
    resistant to adversarial attacks", ICLR. https://arxiv.org/abs/1706.06083
    """
    labels = _check_inputs(model, images, labels)
    check_float(eps, "eps", minimum=0.0)
    check_float(alpha, "alpha", minimum=0.0)
    check_int(steps, "steps", minimum=0)
    check_choice(norm, "norm", NORMS)
    generator = _check_generator(generator)
    with _EvalMode(model) as device:
        x, y = images.to(device), labels.to(device)
        x_adv = _random_start(x, eps, norm, generator) if random_start else x.clone()
        out, index = torch.empty_like(x), torch.arange(len(x), device=device)
        for _ in range(steps):
            logits, grad = _input_gradient(model, x_adv, y, targeted)
            if early_stop:
                going = (logits.argmax(1) == y) != targeted  # not yet fooled
                out[index[~going]] = x_adv[~going]
                index, x, y, x_adv, grad = (t[going] for t in (index, x, y, x_adv, grad))
            x_adv = (x + _project(x_adv + _step(grad, alpha, norm) - x, eps, norm)).clamp(0, 1)
        out[index] = x_adv
        return out.detach().to(images.device)


_ATTACKS = {"none": None, "fgsm": fgsm, "pgd": pgd}


def robust_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                    attack: str = "pgd", restarts: int = 1, batch_size: int = 500,
                    **attack_args) -> float:
    """Accuracy on adversarial versions of ``images``: the fraction the attack cannot break.

    Parameters
    ----------
    attack : {"none", "fgsm", "pgd"}
        The attack; ``"none"`` gives the clean accuracy.
    restarts : int
        Attack each image that is still classified correctly this many times (each PGD run
        draws a new random start from ``generator``); it counts as robust only if it survives all.
    batch_size : int
        Images attacked at once.
    **attack_args
        Passed to the attack (``eps=``, ``steps=``, ``generator=``, ...); untargeted only.

    Returns
    -------
    float
        Robust accuracy in [0, 1]; an upper bound on the accuracy against any attacker.
    """
    labels = _check_inputs(model, images, labels)
    check_choice(attack, "attack", _ATTACKS)
    check_int(restarts, "restarts", minimum=1)
    check_int(batch_size, "batch_size", minimum=1)
    if "targeted" in attack_args:
        raise ValueError("attack_args: expected an untargeted attack, got targeted=...")
    correct = torch.zeros(len(images), dtype=torch.bool)
    with _EvalMode(model) as device:
        for start in range(0, len(images), batch_size):
            x, y = images[start:start + batch_size], labels[start:start + batch_size]
            with torch.no_grad():
                ok = model(x.to(device)).argmax(1).cpu() == y
            for _ in range(restarts if _ATTACKS[attack] else 0):
                idx = ok.nonzero().flatten()
                if len(idx):
                    x_adv = _ATTACKS[attack](model, x[idx], y[idx], **attack_args)
                    with torch.no_grad():
                        ok[idx] = model(x_adv.to(device)).argmax(1).cpu() == y[idx]
            correct[start:start + batch_size] = ok
    return correct.float().mean().item()


def accuracy_curve(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                   eps_values, attack: str = "pgd", seeds=(0,), steps: int = 10,
                   alpha_factor: float = 2.5, early_stop: bool = True, **attack_args) -> pd.DataFrame:
    """Robust accuracy for each ``eps`` (and each seed of PGD's random start).

    PGD takes ``steps`` steps of size ``alpha_factor * eps / steps``, the rule of thumb of
    Madry et al. (2018) that lets the attack cross the ball and move along its surface,
    with ``early_stop`` (see :func:`pgd`); ``steps``, ``alpha_factor``, ``early_stop`` and
    ``seeds`` do not apply to FGSM. ``attack_args`` go to the attack (``norm=`` for PGD).

    Returns
    -------
    pandas.DataFrame
        Columns ``attack, eps, seed, accuracy``: one row per eps and seed (one seed, the
        first, for FGSM, which has no randomness).
    """
    check_choice(attack, "attack", ("fgsm", "pgd"))
    check_float(alpha_factor, "alpha_factor", minimum=0.0, strict_min=True)
    rows = []
    for eps in eps_values:
        check_float(eps, "eps_values[...]", minimum=0.0)
        for seed in seeds if attack == "pgd" else list(seeds)[:1]:
            check_seed(seed, "seeds[...]")
            args = dict(attack_args, eps=eps)
            if attack == "pgd":
                args |= {"steps": steps, "alpha": alpha_factor * eps / max(steps, 1),
                         "early_stop": early_stop, "generator": torch.Generator().manual_seed(seed)}
            acc = robust_accuracy(model, images, labels, attack=attack if eps > 0 else "none", **args)
            rows.append({"attack": attack, "eps": eps, "seed": seed, "accuracy": acc})
    return pd.DataFrame(rows)


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
    check_images(patch[None] if isinstance(patch, torch.Tensor) and patch.dim() == 3 else patch,
                 "patch", channels=c)
    s = patch.shape[-1]
    if patch.shape[-2] != s or s > min(h, w):
        raise ValueError(f"patch: expected a square (C, s, s) with s <= {min(h, w)}, "
                         f"got shape {tuple(patch.shape)}")
    if not isinstance(locations, torch.Tensor) or tuple(locations.shape) != (n, 2):
        raise ValueError(f"locations: expected a tensor of shape ({n}, 2), got "
                         f"{getattr(locations, 'shape', type(locations).__name__)}")
    top, left = locations[:, :1], locations[:, 1:]  # (N, 1) each
    rows, cols = torch.arange(h)[None] - top, torch.arange(w)[None] - left  # (N, H), (N, W)
    inside = ((rows >= 0) & (rows < s))[:, :, None] & ((cols >= 0) & (cols < s))[:, None, :]
    # Gather patch[c, row, col] for every pixel: (C, N, H, W) -> (N, C, H, W)
    canvas = patch[:, rows.clamp(0, s - 1)[:, :, None], cols.clamp(0, s - 1)[:, None, :]]
    return torch.where(inside[:, None], canvas.permute(1, 0, 2, 3), images)


def train_patch(model: nn.Module, images: torch.Tensor, *, target: int, size: int = 8,
                steps: int = 100, lr: float = 0.05, batch_size: int = 64,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """A universal adversarial patch: one square that turns any image into class ``target``.

    Each step pastes the patch at random places on a random batch of ``images`` and takes a
    signed gradient step of size ``lr`` that makes ``target`` more likely (an expectation over
    locations, so the patch works wherever it lands). Returns the patch ``(C, size, size)``.

    References
    ----------
    Brown, Mane, Roy, Abadi and Gilmer (2017), "Adversarial patch", arXiv:1712.09665.
    https://arxiv.org/abs/1712.09665
    """
    check_module(model)
    n, c, h, _ = check_images(images).shape
    check_int(target, "target", minimum=0)
    check_int(size, "size", minimum=1, maximum=h)
    check_int(steps, "steps", minimum=0)
    check_float(lr, "lr", minimum=0.0, strict_min=True)
    check_int(batch_size, "batch_size", minimum=1)
    generator = _check_generator(generator)
    patch = torch.rand(c, size, size, generator=generator)
    with _EvalMode(model) as device:
        for _ in range(steps):
            idx = torch.randint(0, n, (batch_size,), generator=generator)
            where = random_locations(batch_size, image_size=h, patch_size=size, generator=generator)
            patch.requires_grad_(True)
            with torch.enable_grad():
                logits = model(apply_patch(images[idx], patch, where).to(device))
                loss = F.cross_entropy(logits, torch.full((batch_size,), target, device=device))
                grad, = torch.autograd.grad(loss, patch)
            patch = (patch.detach() - lr * grad.sign()).clamp(0, 1)
    return patch


@torch.no_grad()
def patch_success(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                  patch: torch.Tensor, *, target: int, generator: torch.Generator | None = None) -> float:
    """Fraction of images not of class ``target`` that the patch, placed at random, turns into it."""
    labels = _check_inputs(model, images, labels)
    check_int(target, "target", minimum=0)
    keep = labels != target
    x = images[keep]
    where = random_locations(len(x), image_size=x.shape[-1], patch_size=patch.shape[-1],
                             generator=generator)
    with _EvalMode(model) as device:
        return (model(apply_patch(x, patch, where).to(device)).argmax(1) == target).float().mean().item()
