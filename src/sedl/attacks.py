"""Gradient attacks on image classifiers, and robust accuracy under them.

Taught in :ref:`sec_adversarial`: :func:`fgsm` (one signed gradient step), :func:`pgd`
(projected gradient descent in an L-infinity or L2 ball, with a random start), :func:`noise`
(the baseline every attack must beat: random signs or uniform noise of the same budget),
and :func:`robust_accuracy` / :func:`accuracy_curve` to measure a model against them and
against the APGD attacks of :mod:`sedl.autoattack`.

The package's attacks, where they live and their threat models (each function's documentation
gives the details; "= torchattacks" marks the ones tested against that library):

==========================  ==================  =========  ==========  ================  ==================
attack                      function            access     norm        goal              loss
==========================  ==================  =========  ==========  ================  ==================
FGSM (= torchattacks)       attacks.fgsm        white box  L-inf       untargeted        cross-entropy
PGD (= torchattacks)        attacks.pgd         white box  L-inf, L2   either            cross-entropy
APGD-CE / APGD-T (=)        autoattack.apgd…    white box  L-inf       untargeted / tgt  CE / DLR
FAB-T (= torchattacks)      fab.fab_targeted    white box  L-inf       targeted, min     linearised margin
Square (= torchattacks)     square.square       scores     L-inf       untargeted        margin
C&W L2 (= at squeeze 1)     minimal.cw          white box  L2, min     untargeted        f6 margin + c·norm
DeepFool (≈ torchattacks)   minimal.deepfool    white box  L2, min     untargeted        linearised margin
universal perturbation      universal.…         white box  L-inf, L2   untargeted, all   DeepFool / CE
adversarial patch + EOT     patches.train_patch white box  none (area) targeted          cross-entropy
==========================  ==================  =========  ==========  ================  ==================

Every attack takes images on the book's contract, ``(N, C, H, W)`` in [0, 1],
and returns images on it: perturbations are clipped so that pixels stay valid.
The model is attacked in eval mode (its mode is restored afterwards) on the
device it lives on. Randomness comes only from an explicit ``torch.Generator``.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from sedl import autoattack
from sedl._adversarial import EvalMode as _EvalMode
from sedl._adversarial import check_bool, check_eps, check_generator, check_inputs
from sedl._adversarial import input_gradient as _input_gradient
from sedl._adversarial import project_to_ball as _project_to_ball
from sedl._checks import check_choice, check_float, check_images, check_int, check_seed

__all__ = ["fgsm", "pgd", "noise", "robust_accuracy", "accuracy_curve"]

NORMS = ("linf", "l2")
_check_inputs, _check_generator = check_inputs, check_generator


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
    check_eps(eps)
    check_bool(targeted, "targeted")
    with _EvalMode(model) as device:
        x, y = images.to(device), labels.to(device)
        _, grad = _input_gradient(model, x, y, targeted)
        return (x + eps * grad.sign()).clamp(0, 1).detach().to(images.device)


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
    check_choice(norm, "norm", NORMS)
    check_eps(eps, norm=norm)
    check_eps(alpha, "alpha", norm="l2")  # any finite step: a large one is clipped back
    check_int(steps, "steps", minimum=0)
    for flag, name in ((targeted, "targeted"), (random_start, "random_start"), (early_stop, "early_stop")):
        check_bool(flag, name)
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
            x_adv = (x + _project_to_ball(x_adv + _step(grad, alpha, norm) - x, eps, norm)).clamp(0, 1)
        out[index] = x_adv
        return out.detach().to(images.device)


NOISES = ("signs", "uniform")


def noise(images: torch.Tensor, *, eps: float = 0.3, kind: str = "signs",
          generator: torch.Generator | None = None) -> torch.Tensor:
    """Random noise of an attack's L-infinity budget: the baseline an attack has to beat.

    ``kind="signs"`` moves every pixel by exactly ``eps`` up or down at random (the same
    L-infinity and L2 size as FGSM's step, in a random direction); ``"uniform"`` adds noise
    drawn uniformly from ``[-eps, eps]`` (PGD's random start without the steps). Clipped to [0, 1].
    An attack's accuracy means something only where it lies well below this one's.
    """
    check_images(images)
    check_eps(eps)
    check_choice(kind, "kind", NOISES)
    generator = _check_generator(generator)
    if kind == "signs":
        delta = torch.randint(0, 2, images.shape, generator=generator).to(images) * 2 - 1
    else:
        delta = torch.empty(images.shape).uniform_(-1, 1, generator=generator).to(images)
    return (images + eps * delta).clamp(0, 1)


def _noise_attack(kind):
    def attack(model, images, labels, *, eps=0.3, generator=None):
        return noise(images, eps=eps, kind=kind, generator=generator)
    return attack


_ATTACKS = {"none": None, "fgsm": fgsm, "pgd": pgd, "signs": _noise_attack("signs"),
            "uniform": _noise_attack("uniform"), "apgd-ce": autoattack.apgd,
            "apgd-t": autoattack.apgd_targeted}
_RANDOM = ("pgd", "signs", "uniform", "apgd-ce", "apgd-t")  # the attacks that draw from a generator


@torch.no_grad()
def _correct(model, x, y, device) -> torch.Tensor:
    return model(x.to(device)).argmax(1).cpu() == y


def robust_accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                    attack: str = "pgd", restarts: int = 1, batch_size: int = 500,
                    per_image: bool = False, **attack_args) -> float | torch.Tensor:
    """Accuracy on adversarial versions of ``images``: the fraction the attack cannot break.

    Parameters
    ----------
    attack : {"none", "fgsm", "pgd", "signs", "uniform", "apgd-ce", "apgd-t"}
        The attack (:func:`fgsm`, :func:`pgd`, :func:`noise` of either kind, or
        :func:`sedl.autoattack.apgd` / :func:`sedl.autoattack.apgd_targeted`); ``"none"``
        gives the clean accuracy.
    restarts : int
        Attack each image that is still classified correctly this many times; it counts as
        robust only if it survives all. The attacks that draw random numbers (a random start,
        noise) draw every restart from one stream, ``generator=`` (default: seeded with 0), so
        each restart starts somewhere new, and a run with more restarts repeats the runs of a
        run with fewer before adding its own: robust accuracy can only fall, image by image.
    batch_size : int
        Images attacked at once.
    per_image : bool
        Return the ``(N,)`` boolean tensor of the images that survive instead of its mean.
    **attack_args
        Passed to the attack (``eps=``, ``steps=``, ``generator=``, ...); untargeted only.

    Returns
    -------
    float or torch.Tensor
        Robust accuracy in [0, 1]; an upper bound on the accuracy against any attacker.
    """
    labels = _check_inputs(model, images, labels)
    check_choice(attack, "attack", _ATTACKS)
    check_int(restarts, "restarts", minimum=1)
    check_int(batch_size, "batch_size", minimum=1)
    check_bool(per_image, "per_image")
    if "targeted" in attack_args:
        raise ValueError("attack_args: expected an untargeted attack, got targeted=...")
    if attack in _RANDOM:  # one stream for every restart and batch: each draw is a new start
        attack_args["generator"] = _check_generator(attack_args.get("generator"))
    batches = [slice(start, start + batch_size) for start in range(0, len(images), batch_size)]
    with _EvalMode(model) as device:
        ok = torch.cat([_correct(model, images[b], labels[b], device) for b in batches]) \
            if len(images) else torch.zeros(0, dtype=torch.bool)
        for _ in range(restarts if _ATTACKS[attack] else 0):
            for b in batches:
                idx = ok[b].nonzero().flatten() + b.start
                if len(idx):
                    x_adv = _ATTACKS[attack](model, images[idx], labels[idx], **attack_args)
                    ok[idx] = _correct(model, x_adv, labels[idx], device)
    return ok if per_image else ok.float().mean().item()


def accuracy_curve(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
                   eps_values, attack: str = "pgd", seeds=(0,), steps: int = 10,
                   alpha_factor: float = 2.5, early_stop: bool = True, **attack_args) -> pd.DataFrame:
    """Robust accuracy for each ``eps`` (and each seed of the attack's randomness).

    PGD takes ``steps`` steps of size ``alpha_factor * eps / steps``, the rule of thumb of
    Madry et al. (2018) that lets the attack cross the ball and move along its surface,
    with ``early_stop`` (see :func:`pgd`); ``steps``, ``alpha_factor`` and ``early_stop``
    apply to PGD only, ``seeds`` to PGD and the noises. ``attack_args`` go to the attack
    (``norm=`` for PGD).

    Returns
    -------
    pandas.DataFrame
        Columns ``attack, eps, seed, accuracy``: one row per eps and seed (one seed, the
        first, for FGSM, which has no randomness).
    """
    check_choice(attack, "attack", ("fgsm", "pgd", *NOISES))
    check_float(alpha_factor, "alpha_factor", minimum=0.0, strict_min=True)
    check_int(steps, "steps", minimum=1)
    check_bool(early_stop, "early_stop")
    rows = []
    for eps in eps_values:
        check_float(eps, "eps_values[...]", minimum=0.0)
        for seed in seeds if attack != "fgsm" else list(seeds)[:1]:
            check_seed(seed, "seeds[...]")
            args = dict(attack_args, eps=eps)
            if attack != "fgsm":
                args["generator"] = torch.Generator().manual_seed(seed)
            if attack == "pgd":
                args |= {"steps": steps, "alpha": alpha_factor * eps / steps, "early_stop": early_stop}
            acc = robust_accuracy(model, images, labels, attack=attack if eps > 0 else "none", **args)
            rows.append({"attack": attack, "eps": eps, "seed": seed, "accuracy": acc})
    return pd.DataFrame(rows)
