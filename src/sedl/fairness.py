"""Group error rates with their intervals, accuracy equity, and calibration by group.

The chapter on algorithmic bias (:ref:`sec_ethics_compas`) reruns ProPublica's
analysis of the COMPAS recidivism score (the data: :mod:`sedl.compas`).
:func:`group_rates` and :func:`calibration_by_group`
compute the two sides of the debate: error rates by group, and the observed
outcome rate at each score by group. :func:`rate_intervals` puts an exact binomial
(Clopper-Pearson) interval on each group's rates, and :func:`auc_by_group` measures the
vendor's "accuracy equity": the area under the ROC curve of the score in each group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sedl._checks import check_float, check_int, check_seed

__all__ = ["OVERALL", "group_rates", "rate_intervals", "auc_by_group", "calibration_by_group"]

#: The index label of the row that pools every group.
OVERALL = "all"


def _binary(values: object, name: str, n: int | None = None) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array, got shape {array.shape}")
    if n is not None and len(array) != n:
        raise ValueError(f"{name}: expected {n} values, one per person, got {len(array)}")
    if array.dtype == bool:
        return array.astype(int)
    if not np.issubdtype(array.dtype, np.number) or not np.isin(array, (0, 1)).all():
        raise ValueError(f"{name}: expected binary values 0/1, got {np.unique(array)[:5]}")
    return array.astype(int)


def _groups(groups: object, n: int) -> np.ndarray:
    array = np.asarray(groups)
    if array.ndim != 1 or len(array) != n:
        raise ValueError(f"groups: expected a 1-d array of {n} values, got shape {array.shape}")
    if any(isinstance(label, str) and label == OVERALL for label in pd.unique(array)):
        raise ValueError(f"groups: expected no group named {OVERALL!r} (the name of the overall "
                         f"row), got one; rename it")
    return array


def _ratio(numerator: int, denominator: int) -> float:
    return float(numerator / denominator) if denominator else float("nan")


#: Each rate as (numerator, denominator) of confusion-matrix cells.
_RATES = {"fpr": ("fp", ("fp", "tn")), "fnr": ("fn", ("fn", "tp")), "ppv": ("tp", ("tp", "fp")),
          "npv": ("tn", ("tn", "fn"))}


def _cells(t: np.ndarray, p: np.ndarray, g: np.ndarray):
    """Confusion-matrix counts of each group, then of everyone (label :data:`OVERALL`)."""
    for label in [*pd.unique(g), OVERALL]:
        mask = np.ones(len(t), bool) if label is OVERALL else g == label
        tt, pp = t[mask] == 1, p[mask] == 1
        yield label, {"tp": int((tt & pp).sum()), "fp": int((~tt & pp).sum()),
                      "fn": int((tt & ~pp).sum()), "tn": int((~tt & ~pp).sum())}


def group_rates(*, y_true: object, y_pred: object, groups: object) -> pd.DataFrame:
    """Confusion-matrix rates of a binary decision, for each group and overall.

    The arguments are keyword-only, as in fairlearn's ``MetricFrame``: ``y_true`` and
    ``y_pred`` are both 0/1 arrays, and swapping them would silently swap the false
    positive and false negative rates.

    Parameters
    ----------
    y_true, y_pred : array-like of 0/1
        The outcome (1 = it happened, e.g. re-arrest) and the decision (1 = flagged).
    groups : array-like
        The group of each person (any hashable labels except ``"all"``).

    Returns
    -------
    pandas.DataFrame
        Index: the groups, then ``"all"``. Columns: ``n``, ``base_rate`` (share
        with outcome 1), ``selection_rate`` (share flagged), ``fpr`` (flagged
        among those without the outcome), ``fnr`` (not flagged among those with
        it), ``ppv`` (outcome among the flagged), ``npv`` (no outcome among the
        not flagged) and ``accuracy``.

    Examples
    --------
    >>> group_rates(y_true=[0, 1, 0, 1], y_pred=[1, 1, 0, 0], groups=["a", "a", "b", "b"])[["fpr", "fnr"]]
         fpr  fnr
    a    1.0  0.0
    b    0.0  1.0
    all  0.5  0.5
    """
    t = _binary(y_true, "y_true")
    p = _binary(y_pred, "y_pred", n=len(t))
    g = _groups(groups, len(t))
    rows = {}
    for label, c in _cells(t, p, g):
        n = sum(c.values())
        rows[label] = {"n": n, "base_rate": _ratio(c["tp"] + c["fn"], n),
                       "selection_rate": _ratio(c["tp"] + c["fp"], n)}
        rows[label] |= {name: _ratio(c[num], sum(c[d] for d in den))
                        for name, (num, den) in _RATES.items()}
        rows[label]["accuracy"] = _ratio(c["tp"] + c["tn"], n)
    return pd.DataFrame.from_dict(rows, orient="index")


def rate_intervals(*, y_true: object, y_pred: object, groups: object,
                   confidence: float = 0.95) -> pd.DataFrame:
    """Each group's FPR, FNR, PPV and NPV with its exact (Clopper-Pearson) binomial interval.

    A rate measured on a group of a few hundred people is an estimate; the interval says
    how far the group's true rate may lie from it, at the given confidence, counting only
    the sampling of the people (not any bias in how the outcome was measured).

    Returns
    -------
    pandas.DataFrame
        One row per (group, rate), groups in order of appearance then ``"all"``; columns
        ``group``, ``rate`` (``"fpr"``, ``"fnr"``, ``"ppv"``, ``"npv"``), ``k`` and ``n``
        (numerator and denominator counts), ``value`` (``k / n``), ``low`` and ``high``
        (NaN where ``n`` is 0).

    References
    ----------
    Clopper and Pearson (1934), "The use of confidence or fiducial limits illustrated in
    the case of the binomial", Biometrika 26(4), https://doi.org/10.1093/biomet/26.4.404

    >>> table = rate_intervals(y_true=[0, 0, 0, 1], y_pred=[1, 0, 0, 1], groups=["a"] * 4)
    >>> row = table.query("group == 'a' and rate == 'fpr'").iloc[0]
    >>> int(row.k), int(row.n), round(float(row.low), 4), round(float(row.high), 4)
    (1, 3, 0.0084, 0.9057)
    """
    from scipy.stats import beta

    t = _binary(y_true, "y_true")
    p = _binary(y_pred, "y_pred", n=len(t))
    g = _groups(groups, len(t))
    check_float(confidence, "confidence", minimum=0.0, maximum=1.0, strict_min=True)
    if confidence == 1.0:
        raise ValueError("confidence: expected a number in (0, 1), got 1.0")
    alpha = 1.0 - confidence
    rows = []
    for label, c in _cells(t, p, g):
        for name, (num, den) in _RATES.items():
            k, n = c[num], sum(c[d] for d in den)
            low = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
            high = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
            nan = float("nan")
            rows.append({"group": label, "rate": name, "k": k, "n": n, "value": _ratio(k, n),
                         "low": low if n else nan, "high": high if n else nan})
    return pd.DataFrame(rows)


def _auc(t: np.ndarray, s: np.ndarray) -> float:
    """Area under the ROC curve by the Mann-Whitney count (ties count one half)."""
    from scipy.stats import rankdata

    positives = t == 1
    n1, n0 = int(positives.sum()), int((~positives).sum())
    if not n1 or not n0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[positives].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auc_by_group(*, y_true: object, scores: object, groups: object, confidence: float = 0.95,
                 n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Area under the ROC curve of ``scores`` in each group and overall, with a bootstrap interval.

    The AUC is the probability that a randomly chosen person with the outcome has a higher
    score than one without (ties count one half). Equal AUCs across groups are what
    Northpointe called *accuracy equity* (Dieterich et al., 2016). The interval is the
    percentile interval of ``n_boot`` bootstrap resamples of each group's people, drawn
    from ``numpy.random.default_rng(seed)``.

    Returns
    -------
    pandas.DataFrame
        Index: the groups, then ``"all"``. Columns ``n``, ``auc``, ``low``, ``high``.

    >>> auc_by_group(y_true=[0, 0, 1, 1], scores=[1, 2, 3, 4], groups=["a"] * 4, n_boot=10)["auc"]
    a      1.0
    all    1.0
    Name: auc, dtype: float64
    """
    t = _binary(y_true, "y_true")
    s = np.asarray(scores)
    if s.ndim != 1 or len(s) != len(t) or not np.issubdtype(s.dtype, np.number) \
            or not np.isfinite(s).all():
        raise ValueError(f"scores: expected {len(t)} finite numbers, one per person, got shape "
                         f"{s.shape}, dtype {s.dtype}")
    g = _groups(groups, len(t))
    check_float(confidence, "confidence", minimum=0.0, maximum=1.0, strict_min=True)
    check_int(n_boot, "n_boot", minimum=1)
    check_seed(seed)
    rng = np.random.default_rng(seed)
    rows = {}
    for label in [*pd.unique(g), OVERALL]:
        tg, sg = (t, s) if label is OVERALL else (t[g == label], s[g == label])
        draws = rng.integers(0, len(tg), size=(n_boot, len(tg)))  # (n_boot, n) resampled rows
        boot = np.array([_auc(tg[d], sg[d]) for d in draws])
        low, high = np.nanquantile(boot, [(1 - confidence) / 2, (1 + confidence) / 2])
        rows[label] = {"n": len(tg), "auc": _auc(tg, sg), "low": float(low), "high": float(high)}
    return pd.DataFrame.from_dict(rows, orient="index")


def calibration_by_group(*, scores: object, y_true: object, groups: object) -> pd.DataFrame:
    """Observed outcome rate at each score value, for each group.

    A score is *calibrated within groups* when people with the same score have
    the same outcome rate whatever their group (Kleinberg et al., 2017).

    Parameters
    ----------
    scores : array-like of int
        A discrete score per person (COMPAS deciles 1..10).
    y_true : array-like of 0/1
        The outcome.
    groups : array-like
        The group of each person.

    Returns
    -------
    pandas.DataFrame
        Index: the score values. Columns: a MultiIndex ``(statistic, group)``
        with ``rate`` (outcome rate) and ``n`` (people at that score).

    Examples
    --------
    >>> table = calibration_by_group(scores=[1, 1, 2, 2], y_true=[0, 1, 1, 1], groups=["a", "b", "a", "b"])
    >>> table["rate"]  # doctest: +NORMALIZE_WHITESPACE
    group    a    b
    score
    1      0.0  1.0
    2      1.0  1.0
    """
    t = _binary(y_true, "y_true")
    s = np.asarray(scores)
    if s.ndim != 1 or len(s) != len(t) or not np.issubdtype(s.dtype, np.integer):
        raise ValueError(f"scores: expected {len(t)} integer scores, got shape {s.shape}, "
                         f"dtype {s.dtype}")
    g = _groups(groups, len(t))
    frame = pd.DataFrame({"score": s, "group": g, "y": t})
    table = frame.groupby(["score", "group"], sort=True)["y"].agg(rate="mean", n="size")
    return table.unstack("group")
