"""Plumbing shared by the attack modules (private to them): argument checks, the eval-mode guard,
the input gradient, and the loop over likely target classes of AutoAttack's targeted attacks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from sedl._checks import check_bool, check_float, check_images, check_labels, check_module
from sedl._checks import check_generator as _optional_generator
from sedl.train import evaluating, model_device

__all__ = ["check_inputs", "check_generator", "check_bool", "check_eps", "EvalMode", "input_gradient",
           "each_likely_target"]


def check_inputs(model, images, labels) -> torch.Tensor:
    """A model, images on the book's contract and one integer label per image."""
    check_module(model)
    check_images(images)
    return check_labels(labels, n=images.shape[0])


def check_generator(generator: object) -> torch.Generator:
    """The generator itself, or for ``None`` a fresh generator seeded with 0.

    A fresh generator is drawn *per call*: a function that attacks several times (restarts,
    targets) resolves ``None`` once and passes the same generator to every attack, so that
    each attack continues the stream instead of starting it again.
    """
    generator = _optional_generator(generator)
    return torch.Generator().manual_seed(0) if generator is None else generator


def check_eps(eps: object, name: str = "eps", *, norm: str = "linf") -> float:
    """A finite budget >= 0; at most 1 in L-infinity, where pixels live in [0, 1]."""
    return check_float(eps, name, minimum=0.0, maximum=1.0 if norm == "linf" else None)


def project_to_ball(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Each perturbation of ``delta`` moved to the nearest point of the ``eps``-ball: a clip in
    L-infinity, a rescale in L2 (PGD's projection and the universal perturbation's).

    In L2 the factor is ``eps / ||delta||`` where the perturbation is longer than ``eps``, else 1:
    the bits of torchattacks' ``min(eps / ||delta||, 1)`` wherever that is defined, and 1 (not
    0/0) for a zero perturbation in a ball of radius 0.
    """
    if norm == "linf":
        return delta.clamp(-eps, eps)
    norms = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)  # (N, C*H*W) -> (N, 1, 1, 1)
    return delta * torch.where(norms > eps, eps / norms, torch.ones_like(norms))


@contextmanager
def EvalMode(model: nn.Module) -> Iterator[torch.device]:  # noqa: N802  (used like the class it was)
    """Eval mode for an attack (every submodule's mode given back, even on an error); yields the
    device the model computes on."""
    with evaluating(model):
        yield model_device(model)


def input_gradient(model, x, labels, targeted: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits at ``x`` and the gradient of the attacker's objective with respect to ``x``."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, labels)
        # Untargeted: climb the loss of the true class. Targeted: descend that of the target.
        grad, = torch.autograd.grad(-loss if targeted else loss, x)
    return logits.detach(), grad


def each_likely_target(model, x: torch.Tensor, y: torch.Tensor, targets: int, attack) -> torch.Tensor:
    """A targeted attack run as AutoAttack runs it: towards the 2nd most likely class of each image,
    then the 3rd, ..., up to ``targets`` classes, each time only on the images still classified
    correctly. ``attack(x_sub, y_sub, target)`` returns ``(images, fooled)``; the first target
    that fools an image gives its result, the others keep the clean image."""
    out = x.clone()
    with torch.no_grad():
        todo = model(x).argmax(1) == y
    for rank in range(2, targets + 2):
        idx = todo.nonzero().flatten()
        if not len(idx):
            break
        with torch.no_grad():
            target = model(x[idx]).sort(dim=1)[1][:, -rank]
        adv, fooled = attack(x[idx], y[idx], target)
        out[idx[fooled]], todo[idx[fooled]] = adv[fooled], False
    return out
