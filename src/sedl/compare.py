"""Intervals and tests for comparing results: paired differences over seeds, binomial rates.

A comparison of two configurations trained with the same seeds is *paired*: the runs
that share a seed share their data order and initialisation, so the difference of each
pair carries less noise than either run. :func:`paired_difference` analyses it that way
(the mean difference, its t interval and the paired t-test's p-value); analysing the same
numbers as two independent samples (Welch's test) throws that advantage away.
:func:`clopper_pearson` is the exact binomial interval of a rate measured on a few hundred
items, an accuracy on a test set. The chapter :ref:`sec_reproducibility` teaches both.

References
----------
Student (1908), "The probable error of a mean", Biometrika 6(1).
Clopper and Pearson (1934), "The use of confidence or fiducial limits illustrated in the
case of the binomial", Biometrika 26(4). https://doi.org/10.2307/2331986
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from sedl._checks import check_float, check_int

__all__ = ["paired_difference", "clopper_pearson"]


def _values(values: object, name: str) -> np.ndarray:
    if isinstance(values, str | bytes) or not hasattr(values, "__len__"):
        raise TypeError(f"{name}: expected a sequence of numbers, got {type(values).__name__}")
    array = np.asarray(values, dtype=float) if len(values) else np.zeros(0)
    if array.ndim != 1 or len(array) < 2 or not np.isfinite(array).all():
        raise ValueError(f"{name}: expected at least two finite numbers in one dimension, "
                         f"got {np.asarray(values).tolist()!r}"[:200])
    return array


def paired_difference(a, b, *, confidence: float = 0.95) -> dict[str, float]:
    """Mean of ``a - b`` over pairs, its Student-t interval and the paired t-test's p-value.

    Parameters
    ----------
    a, b : sequences of numbers
        Paired results: ``a[i]`` and ``b[i]`` come from the same seed (the same test
        set, the same split). At least two pairs.
    confidence : float, default 0.95
        Coverage of the interval, in (0, 1).

    Returns
    -------
    dict
        ``mean`` (the mean difference), ``low`` and ``high`` (the interval), ``p``
        (the two-sided p-value of "the mean difference is zero") and ``n`` (the
        number of pairs). Pairs that all differ by the same amount have no spread:
        the interval is that amount and ``p`` is 1 if it is zero, else 0.

    Examples
    --------
    >>> result = paired_difference([0.91, 0.93, 0.92, 0.95], [0.90, 0.91, 0.91, 0.93])
    >>> round(result["mean"], 4), result["low"] > 0, round(result["p"], 4)
    (0.015, True, 0.0138)
    """
    a, b = _values(a, "a"), _values(b, "b")
    if len(a) != len(b):
        raise ValueError(f"b: expected as many values as a ({len(a)}), got {len(b)}")
    check_float(confidence, "confidence", minimum=0.0, maximum=1.0, strict_min=True)
    if confidence == 1.0:
        raise ValueError(f"confidence: expected a number < 1, got {confidence}")
    d = a - b
    n = len(d)
    mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(n))
    if se == 0.0:  # every pair differs by the same amount: no spread to test against
        return {"mean": mean, "low": mean, "high": mean, "p": 1.0 if mean == 0 else 0.0, "n": n}
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * se
    p = float(2 * stats.t.sf(abs(mean) / se, n - 1))
    return {"mean": mean, "low": mean - half, "high": mean + half, "p": p, "n": n}


def clopper_pearson(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval of a rate: ``successes`` out of ``n`` items.

    >>> low, high = clopper_pearson(490, 500)
    >>> round(low, 4), round(high, 4)
    (0.9635, 0.9904)
    """
    n = check_int(n, "n", minimum=1)
    successes = check_int(successes, "successes", minimum=0, maximum=n)
    check_float(confidence, "confidence", minimum=0.0, maximum=1.0, strict_min=True)
    if confidence == 1.0:
        raise ValueError(f"confidence: expected a number < 1, got {confidence}")
    alpha = 1 - confidence
    low = 0.0 if successes == 0 else float(stats.beta.ppf(alpha / 2, successes, n - successes + 1))
    high = 1.0 if successes == n else float(stats.beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    return low, high
