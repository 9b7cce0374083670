"""Argument checks that :mod:`sedl._checks` does not have yet, in its message form.

``"<argument>: expected <what>, got <what came>"``, ``TypeError`` for the wrong kind of
object and ``ValueError`` for the right kind with a wrong value. They belong in
:mod:`sedl._checks` beside the others; they live here until that module takes them, so
that the visualization modules can check every argument without editing a shared file.
"""

from __future__ import annotations

import math

import torch

from sedl._checks import check_float


def check_bool(value: object, name: str) -> bool:
    """A real ``bool``: ``1`` or ``"no"`` are refused, not read as true."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")
    return value


def check_generator(value: object, name: str = "generator") -> torch.Generator | None:
    """``None`` or a ``torch.Generator`` (a seed is not one: ``repro.generator(seed)`` makes one)."""
    if value is not None and not isinstance(value, torch.Generator):
        raise TypeError(f"{name}: expected a torch.Generator or None, got {type(value).__name__} {value!r}")
    return value


def check_finite(value: object, name: str, *, minimum: float | None = None,
                 strict_min: bool = False) -> float:
    """A finite real number, at least ``minimum`` (above it if ``strict_min``)."""
    value = check_float(value, name, minimum=minimum, strict_min=strict_min)
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    return value
