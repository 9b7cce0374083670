"""What a page needs from the book around it: glued values and their reproducibility tolerances.

A page states its numbers in the prose through :func:`glue`. In the book build, where
``myst-nb`` is installed, this is ``myst_nb.glue``: the value is recorded in the executed
notebook and the ``{glue}`` roles of the page show it. Where a reader runs the page
(Colab, Binder, a plain ``pip install sedl``) ``myst-nb`` is usually absent, and glueing
a value silently does nothing, so the page runs the same everywhere.

:func:`tolerate` declares how far a glued value may move when the page is executed a
second time from nothing (``make reproduce``: an empty model cache, another thread
count). Undeclared values must match exactly.

:func:`claim` guards a sentence of the prose that states a result in words ("more",
"close", "all", "none", a ranking): a hidden cell beside the computation states the
sentence and the condition that makes it true, and the page stops with the sentence
quoted when a later change makes the output contradict it. Numbers themselves are never
typed in the prose; they are glued.
"""

from __future__ import annotations

import fnmatch
import json
import math

from sedl._checks import check_float

__all__ = ["glue", "claim", "ClaimError", "tolerate", "rate_tolerance", "TOLERANCE_PREFIX", "TIMING",
           "MACHINE", "NOT_COMPARED", "within_tolerance"]

#: Glued names that carry a tolerance start with this prefix (the rest is the pattern).
TOLERANCE_PREFIX = "_tolerance:"
#: The tolerance of a wall-clock measurement: reported, never compared.
TIMING = "timing"
#: The tolerance of a description of the machine (thread count, versions): reported, never compared.
MACHINE = "machine"
NOT_COMPARED = (TIMING, MACHINE)


def _myst_glue():
    try:
        from myst_nb import glue
    except ImportError:  # a reader's environment: nothing to record the value for
        return None
    return glue


def glue(name: str, value, display: bool = True) -> None:
    """Record ``value`` under ``name`` for the page's ``{glue}`` roles (``myst_nb.glue``).

    Without ``myst-nb`` nothing is recorded, and ``value`` is shown only when
    ``display`` is true, as the last line of a cell would show it.

    >>> glue("answer", 42, display=False)
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected a non-empty string, got {name!r}")
    if not isinstance(display, bool):
        raise TypeError(f"display: expected a bool, got {type(display).__name__}")
    myst = _myst_glue()
    if myst is not None:
        myst(name, value, display=display)
    elif display:
        from IPython.display import display as show

        show(value)


class ClaimError(AssertionError):
    """A sentence of the page's prose is contradicted by the page's own output."""


def claim(holds: bool, sentence: str, **evidence) -> None:
    """Stop the page unless ``holds``: the output still supports the prose's ``sentence``.

    ``sentence`` is the sentence of the prose (or enough of it to find it) that the
    condition ``holds`` makes true; ``evidence`` names the values the condition is
    computed from, shown in the error so that the reader of a failed build sees at once
    what the output says instead. Put the call in a hidden cell (``tags: [remove-cell]``)
    right after the computation it checks; the book build stops on the error, naming
    the sentence.

    Write the condition with the margin the sentence promises: "FGSM does far worse than
    noise" is ``fgsm < noise - tolerance``, not ``fgsm < noise``, so that the claim
    survives the variation that ``tolerate`` declares and fails when the result does not.

    >>> claim(0.94 > 0.90, "Nine in ten are right.", accuracy=0.94)
    >>> claim(0.84 > 0.90, "Nine in ten are right.", accuracy=0.84)
    Traceback (most recent call last):
    ...
    sedl.book.ClaimError: the output contradicts the sentence "Nine in ten are right." (accuracy=0.84)
    """
    import numpy as np

    if not isinstance(holds, (bool, np.bool_)):
        raise TypeError(f"holds: expected a bool (the condition that makes the sentence true), "
                        f"got {type(holds).__name__}")
    if not isinstance(sentence, str) or not sentence.strip():
        raise ValueError(f"sentence: expected the sentence of the prose this checks, got {sentence!r}")
    if not holds:
        shown = ", ".join(f"{name}={_short(value)}" for name, value in evidence.items())
        raise ClaimError(f'the output contradicts the sentence "{sentence.strip()}"'
                         + (f" ({shown})" if shown else ""))


def _short(value) -> str:
    """A value as the error message shows it: numbers to 4 significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def tolerate(pattern: str, tolerance: float | str, *, reason: str) -> None:
    """Declare how much the glued values matching ``pattern`` may differ between executions.

    Parameters
    ----------
    pattern : str
        A glob over the page's glued names (``"adv_fgsm_*"``).
    tolerance : float, "timing" or "machine"
        The largest absolute difference ``make reproduce`` accepts, computed by the page
        from its own spread over seeds where it has one; or :data:`TIMING` for a
        wall-clock measurement, or :data:`MACHINE` for a description of the machine that
        ran the page: those are reported and never compared.
    reason : str
        Why the values move (shown in the reproducibility report).
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"pattern: expected a non-empty glob of glued names, got {pattern!r}")
    if tolerance not in NOT_COMPARED:
        check_float(tolerance, "tolerance", minimum=0.0)
        if not math.isfinite(tolerance):
            raise ValueError(f"tolerance: expected a finite number, got {tolerance!r}")
        tolerance = float(tolerance)
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"reason: expected a sentence saying why the values move, got {reason!r}")
    glue(TOLERANCE_PREFIX + pattern, json.dumps({"tolerance": tolerance, "reason": reason}),
         display=False)


def rate_tolerance(rate: float, n: int, *, k: float = 4.0) -> float:
    """``k`` standard errors of a rate (an accuracy, a success rate) measured on ``n`` items.

    A model retrained with another thread count is, for its test-set numbers, much like one
    trained with another seed: its accuracy on ``n`` images moves by about the sampling
    error of a rate on ``n`` items, ``sqrt(p (1 - p) / n)``. The ``1 / (4 n)`` added under the
    root keeps a rate of 0 or 1 from getting a tolerance of zero.

    >>> round(rate_tolerance(0.5, 500), 4)
    0.0895
    """
    check_float(rate, "rate", minimum=0.0, maximum=1.0)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected a positive int (the number of items), got {n!r}")
    check_float(k, "k", minimum=0.0)
    return k * math.sqrt((rate * (1 - rate) + 1 / (4 * n)) / n)


def within_tolerance(name: str, first: str, second: str, tolerances: dict[str, dict]) -> bool | None:
    """Whether two executions' texts of the glued value ``name`` agree.

    ``tolerances`` maps patterns to ``{"tolerance": ..., "reason": ...}`` as :func:`tolerate`
    records them; the first matching pattern applies. Returns None for a timing or a
    description of the machine, which are not compared.

    >>> within_tolerance("acc", "0.91", "0.93", {"acc*": {"tolerance": 0.05, "reason": "seed"}})
    True
    >>> within_tolerance("acc", "0.91", "0.93", {})
    False
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected a non-empty string, got {name!r}")
    for label, text in (("first", first), ("second", second)):
        if not isinstance(text, str):
            raise TypeError(f"{label}: expected the glued value's text (a str), got {type(text).__name__}")
    if not isinstance(tolerances, dict):
        raise TypeError(f"tolerances: expected a dict of patterns to rules, got {type(tolerances).__name__}")
    if not all(isinstance(r, dict) and "tolerance" in r for r in tolerances.values()):
        raise TypeError("tolerances: expected a dict of rules {'tolerance': ..., 'reason': ...} "
                        f"as tolerate records them, got {tolerances!r}")
    rule = next((r for p, r in tolerances.items() if fnmatch.fnmatchcase(name, p)), None)
    if rule is not None and rule["tolerance"] in NOT_COMPARED:
        return None
    if first == second:
        return True
    if rule is None:
        return False
    try:
        a, b = float(first), float(second)
    except ValueError:
        return False
    return abs(a - b) <= rule["tolerance"]
