"""Plumbing shared by the attack modules (private to :mod:`sedl.attacks`, :mod:`sedl.autoattack`
and :mod:`sedl.patches`): argument checks, the eval-mode guard, the input gradient."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sedl._checks import check_float, check_images, check_labels, check_module


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
    if generator is None:
        return torch.Generator().manual_seed(0)
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    return generator


def check_bool(value: object, name: str) -> bool:
    """A real bool: ``"no"`` or ``0`` are not silently read as a truth value."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")
    return value


def check_eps(eps: object, name: str = "eps", *, norm: str = "linf") -> float:
    """A finite budget >= 0; at most 1 in L-infinity, where pixels live in [0, 1]."""
    eps = check_float(eps, name, minimum=0.0, maximum=1.0 if norm == "linf" else None)
    if not math.isfinite(eps):
        raise ValueError(f"{name}: expected a finite number, got {eps}")
    return eps


class EvalMode:
    """Put a model in eval mode for an attack and give back the mode it had, even on an error."""

    def __init__(self, model: nn.Module):
        self.model, self.was_training = model, model.training

    def __enter__(self) -> torch.device:
        self.model.eval()
        parameter = next(self.model.parameters(), None)
        return parameter.device if parameter is not None else torch.device("cpu")

    def __exit__(self, *exc) -> None:
        self.model.train(self.was_training)


def input_gradient(model, x, labels, targeted: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits at ``x`` and the gradient of the attacker's objective with respect to ``x``."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, labels)
        # Untargeted: climb the loss of the true class. Targeted: descend that of the target.
        grad, = torch.autograd.grad(-loss if targeted else loss, x)
    return logits.detach(), grad
