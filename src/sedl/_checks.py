"""Argument checks shared by every public function of :mod:`sedl`.

Each check raises ``TypeError`` (wrong kind of object) or ``ValueError``
(right kind, wrong value) with a message of one form:
``"<argument>: expected <what>, got <what came>"``. Pages and tests rely on
that form, so that a reader who passes the wrong thing learns which argument
to fix.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real

import torch


def _fail(kind: type[Exception], name: str, expected: str, got: object) -> None:
    raise kind(f"{name}: expected {expected}, got {got}")


def check_int(value: object, name: str, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """An integer (not a bool) within ``[minimum, maximum]``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        _fail(TypeError, name, "an int", f"{type(value).__name__} {value!r}")
    if minimum is not None and value < minimum:
        _fail(ValueError, name, f"an int >= {minimum}", value)
    if maximum is not None and value > maximum:
        _fail(ValueError, name, f"an int <= {maximum}", value)
    return int(value)


def check_bool(value: object, name: str, *, allow_none: bool = False) -> bool | None:
    """A real ``bool``: not ``"no"``, ``1`` or ``np.True_``, which ``if value:`` would read as a flag.

    ``allow_none`` also lets ``None`` through, for an option whose default is decided later.
    """
    if not (isinstance(value, bool) or (allow_none and value is None)):
        _fail(TypeError, name, "a bool or None" if allow_none else "a bool",
              f"{type(value).__name__} {value!r:.60}")
    return value


def check_float(value: object, name: str, *, minimum: float | None = None,
                maximum: float | None = None, strict_min: bool = False,
                finite: bool = True) -> float:
    """A real number within ``[minimum, maximum]`` (``(minimum, ...`` if ``strict_min``).

    NaN is always refused. ``inf`` and ``-inf`` are refused unless ``finite=False``: a step
    size, a radius, a probability or a duration of infinity is a mistake, never a setting, and
    an infinite learning rate trains NaN weights without a word. Pass ``finite=False`` only
    where infinity means something (a threshold that never fires, an unbounded norm).
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        _fail(TypeError, name, "a number", f"{type(value).__name__} {value!r}")
    value = float(value)
    if value != value:  # NaN compares unequal to itself
        _fail(ValueError, name, "a number", "nan")
    if finite and math.isinf(value):
        _fail(ValueError, name, "a finite number", value)
    if minimum is not None and (value < minimum or (strict_min and value == minimum)):
        bound = ">" if strict_min else ">="
        _fail(ValueError, name, f"a number {bound} {minimum}", value)
    if maximum is not None and value > maximum:
        _fail(ValueError, name, f"a number <= {maximum}", value)
    return value


def check_seed(seed: object, name: str = "seed") -> int:
    """A seed NumPy accepts: an int in ``[0, 2**32 - 1]``."""
    return check_int(seed, name, minimum=0, maximum=2**32 - 1)


def check_str(value: object, name: str, *, allow_none: bool = False) -> str | None:
    """A ``str`` (or ``None`` where ``allow_none``): a title, a label, a colour-map name."""
    if not (isinstance(value, str) or (allow_none and value is None)):
        _fail(TypeError, name, "a str or None" if allow_none else "a str",
              f"{type(value).__name__} {value!r:.60}")
    return value


def check_strings(values: object, name: str, *, n: int | None = None) -> list[str]:
    """A list or tuple of ``str`` (one string is refused: it would be read letter by letter)."""
    if not isinstance(values, list | tuple):
        _fail(TypeError, name, "a list or tuple of str", f"{type(values).__name__} {values!r:.60}")
    for i, value in enumerate(values):
        check_str(value, f"{name}[{i}]")
    if n is not None and len(values) != n:
        _fail(ValueError, name, f"{n} strings", len(values))
    return list(values)


def check_choice(value: object, name: str, choices: Iterable[str]) -> str:
    """One of a fixed set of names."""
    choices = sorted(choices)
    if not isinstance(value, str) or value not in choices:
        _fail(ValueError, name, f"one of {choices}", repr(value))
    return value


def check_tensor(value: object, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        _fail(TypeError, name, "a torch.Tensor", type(value).__name__)
    return value


def check_images(images: object, name: str = "images", *, channels: int | None = None,
                 size: tuple[int, int] | None = None) -> torch.Tensor:
    """The book's image contract: a float tensor ``(N, C, H, W)`` with values in [0, 1]."""
    images = check_tensor(images, name)
    if images.dim() != 4:
        _fail(ValueError, name, "shape (N, C, H, W)", f"shape {tuple(images.shape)}")
    if not images.is_floating_point():
        _fail(TypeError, name, "a floating-point tensor", f"dtype {images.dtype}")
    if channels is not None and images.shape[1] != channels:
        _fail(ValueError, name, f"{channels} channel(s) in (N, C, H, W)",
              f"shape {tuple(images.shape)}")
    if size is not None and tuple(images.shape[-2:]) != tuple(size):
        _fail(ValueError, name, f"height and width {tuple(size)}",
              f"shape {tuple(images.shape)}")
    if images.numel():
        lo, hi = images.min().item(), images.max().item()
        if not (0.0 <= lo and hi <= 1.0):
            _fail(ValueError, name, "values in [0, 1]", f"values in [{lo:.4g}, {hi:.4g}]")
    return images


def check_labels(labels: object, name: str = "labels", *, n: int | None = None,
                 num_classes: int | None = None) -> torch.Tensor:
    """Integer class labels ``(N,)``, matching ``n`` images and ``num_classes`` classes."""
    labels = check_tensor(labels, name)
    if labels.dim() != 1:
        _fail(ValueError, name, "shape (N,)", f"shape {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.dtype == torch.bool:
        _fail(TypeError, name, "an integer tensor", f"dtype {labels.dtype}")
    if n is not None and labels.shape[0] != n:
        _fail(ValueError, name, f"{n} labels, one per image", f"{labels.shape[0]}")
    if num_classes is not None and labels.numel():
        lo, hi = labels.min().item(), labels.max().item()
        if lo < 0 or hi >= num_classes:
            _fail(ValueError, name, f"labels in [0, {num_classes - 1}]", f"labels in [{lo}, {hi}]")
    return labels


def check_module(model: object, name: str = "model") -> torch.nn.Module:
    if not isinstance(model, torch.nn.Module):
        _fail(TypeError, name, "a torch.nn.Module", type(model).__name__)
    return model


def check_generator(value: object, name: str = "generator"):
    """``None`` or a ``torch.Generator`` (a seed is not one: ``repro.generator(seed)`` makes one)."""
    import torch

    if value is not None and not isinstance(value, torch.Generator):
        _fail(TypeError, name, "a torch.Generator or None", f"{type(value).__name__} {value!r}")
    return value
