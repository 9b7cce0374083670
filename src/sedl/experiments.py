"""Run an experiment over several configurations and seeds; report mean ± std.

One training run is one draw from a distribution: another seed gives another
number. :func:`run` repeats a trial for every configuration and every seed
and returns one tidy row per run; :func:`summarize` collapses the runs to the
mean, the standard deviation and the seeds of each configuration, and
:func:`mean_std` formats such a summary as the ``mean ± std`` table the book
prints. The chapter pages :ref:`sec_reproducibility` and :ref:`sec_ablations`
use them. :func:`select_best` is the test-reuse experiment of
:ref:`sec_test_discipline` (choose the best candidate on one set, score it on
another); :func:`knn_pool`, a cheap pool of candidates for it, lives in
:mod:`sedl.candidates` and is re-exported here.

References
----------
Bouthillier et al. (2021), "Accounting for variance in machine learning
benchmarks", MLSys. https://arxiv.org/abs/2103.03098
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from numbers import Real

import numpy as np
import pandas as pd

from sedl._checks import check_float, check_int, check_seed, check_str, check_strings
from sedl.candidates import knn_pool

__all__ = ["run", "summarize", "mean_std", "select_best", "knn_pool"]

Trial = Callable[..., Mapping[str, float]]


def _check_configs(configs: object) -> dict[str, dict]:
    if not isinstance(configs, Mapping) or not configs:
        raise TypeError(f"configs: expected a non-empty mapping name -> dict of keyword arguments, "
                        f"got {type(configs).__name__} {configs!r}"[:200])
    for name, config in configs.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"configs: expected non-empty str names, got {name!r}")
        if not isinstance(config, Mapping):
            raise TypeError(f"configs[{name!r}]: expected a dict of keyword arguments, "
                            f"got {type(config).__name__}")
        if "seed" in config:
            raise ValueError(f"configs[{name!r}]: expected no 'seed' key (seeds come from seeds=), "
                             f"got {dict(config)!r}")
    return {name: dict(config) for name, config in configs.items()}


def _check_seeds(seeds: object) -> list[int]:
    if isinstance(seeds, str | bytes) or not isinstance(seeds, Sequence) or not seeds:
        raise TypeError(f"seeds: expected a non-empty sequence of ints, got {seeds!r}")
    seeds = [check_seed(s, "seeds") for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds: expected distinct seeds, got {seeds}")
    return seeds


def _check_result(result: object, name: str, seed: int) -> dict[str, float]:
    where = f"trial(config {name!r}, seed {seed})"
    if not isinstance(result, Mapping) or not result:
        raise TypeError(f"{where}: expected a non-empty dict of metric -> number, "
                        f"got {type(result).__name__}")
    for metric, value in result.items():
        if metric in ("config", "seed") or isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"{where}: expected metric names other than 'config'/'seed' with "
                            f"numeric values, got {metric!r}: {value!r}")
    return {metric: float(value) for metric, value in result.items()}


def run(trial: Trial, configs: Mapping[str, Mapping], *, seeds: Sequence[int]) -> pd.DataFrame:
    """Call ``trial(seed=s, **config)`` for every configuration and seed.

    Parameters
    ----------
    trial : callable
        ``trial(*, seed, **config) -> {metric: number}``; it must use ``seed``
        for all its randomness (initialisation, data order, augmentation).
        Wrap expensive training in :func:`sedl.models.cached` so that a rerun is fast.
    configs : mapping
        Configuration name -> keyword arguments of ``trial`` (without ``seed``).
    seeds : sequence of int
        Distinct seeds; every configuration runs with every seed, so that
        configurations are compared on equal terms.

    Returns
    -------
    pandas.DataFrame
        One row per run, in the order of ``configs`` then ``seeds``: columns
        ``config``, ``seed``, then one column per metric.

    Examples
    --------
    >>> def trial(*, seed, offset):
    ...     return {"score": offset + seed}
    >>> run(trial, {"a": {"offset": 0}, "b": {"offset": 10}}, seeds=[1, 2])
      config  seed  score
    0      a     1    1.0
    1      a     2    2.0
    2      b     1   11.0
    3      b     2   12.0
    """
    if not callable(trial):
        raise TypeError(f"trial: expected a callable, got {type(trial).__name__}")
    configs = _check_configs(configs)
    seeds = _check_seeds(seeds)
    rows = []
    for name, config in configs.items():
        for seed in seeds:
            result = _check_result(trial(seed=seed, **config), name, seed)
            rows.append({"config": name, "seed": seed, **result})
    metrics = list(rows[0])[2:]
    if any(list(row)[2:] != metrics for row in rows):
        raise ValueError(f"trial: expected the same metrics from every run, got {metrics} and others")
    return pd.DataFrame(rows)


def summarize(runs: pd.DataFrame, *, metrics: Sequence[str] | None = None, ddof: int = 1) -> pd.DataFrame:
    """Mean and standard deviation of each metric per configuration.

    Parameters
    ----------
    runs : pandas.DataFrame
        The output of :func:`run`: columns ``config``, ``seed`` and metrics.
    metrics : sequence of str, optional
        Metric columns to summarise (default: all of them).
    ddof : int, default 1
        Delta degrees of freedom of the standard deviation: 1 (the sample
        standard deviation, an estimate of the spread over seeds) or 0.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``config`` (in order of first appearance), with columns
        ``<metric>_mean`` and ``<metric>_std`` for each metric, ``n`` (runs)
        and ``seeds`` (the seeds, as a string such as ``"0, 1, 2"``).

    Examples
    --------
    >>> runs = pd.DataFrame({"config": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
    ...                      "acc": [0.8, 0.9, 0.5, 0.5]})
    >>> summarize(runs).round(4)  # doctest: +NORMALIZE_WHITESPACE
            acc_mean  acc_std  n seeds
    config
    a           0.85   0.0707  2  0, 1
    b           0.50   0.0000  2  0, 1
    """
    if not isinstance(runs, pd.DataFrame):
        raise TypeError(f"runs: expected a pandas.DataFrame, got {type(runs).__name__}")
    missing = {"config", "seed"} - set(runs.columns)
    if missing or runs.empty:
        raise ValueError(f"runs: expected a non-empty table with columns 'config' and 'seed', "
                         f"got columns {list(runs.columns)} and {len(runs)} rows")
    available = [c for c in runs.columns if c not in ("config", "seed")]
    metrics = available if metrics is None else check_strings(metrics, "metrics")
    unknown = [m for m in metrics if m not in available]
    if unknown or not metrics:
        raise ValueError(f"metrics: expected names among {available}, got {metrics}")
    check_int(ddof, "ddof", minimum=0, maximum=1)
    groups = runs.groupby("config", sort=False)
    table = {}
    for metric in metrics:
        table[f"{metric}_mean"] = groups[metric].mean()
        table[f"{metric}_std"] = groups[metric].std(ddof=ddof).fillna(0.0)
    table["n"] = groups.size()
    table["seeds"] = groups["seed"].agg(lambda s: ", ".join(str(v) for v in s))
    return pd.DataFrame(table)


def mean_std(summary: pd.DataFrame, metric: str, *, scale: float = 1.0, decimals: int = 1) -> pd.Series:
    """``"mean ± std"`` strings for one metric of a :func:`summarize` table.

    ``scale`` multiplies both numbers (100 turns accuracies into percentages).

    >>> s = pd.DataFrame({"acc_mean": [0.85], "acc_std": [0.0707]}, index=["a"])
    >>> mean_std(s, "acc", scale=100).tolist()
    ['85.0 ± 7.1']
    """
    if not isinstance(summary, pd.DataFrame):
        raise TypeError(f"summary: expected a pandas.DataFrame, got {type(summary).__name__}")
    check_str(metric, "metric")
    scale = check_float(scale, "scale")
    if f"{metric}_mean" not in summary or f"{metric}_std" not in summary:
        raise ValueError(f"metric: expected a metric with _mean and _std columns in summary, "
                         f"got {metric!r}")
    check_int(decimals, "decimals", minimum=0, maximum=17)  # float64 holds 17 significant digits
    mean, std = summary[f"{metric}_mean"] * scale, summary[f"{metric}_std"] * scale
    return pd.Series([f"{m:.{decimals}f} ± {s:.{decimals}f}" for m, s in zip(mean, std, strict=True)],
                     index=summary.index, name=metric)


def select_best(correct: np.ndarray, *, n_select: int, n_candidates: int | None = None,
                seed: int = 0) -> dict[str, float]:
    """Pick the best of several models on a random selection set; score it on the rest.

    This is what happens when a test (or validation) set is used to choose:
    the winner's score on the set that chose it is biased upwards, its score
    on examples that played no part in the choice is not.

    Parameters
    ----------
    correct : numpy.ndarray
        Boolean ``(K, N)``: whether candidate ``k`` classifies example ``n`` correctly.
    n_select : int
        Size of the selection set, drawn at random from the ``N`` examples; the
        other ``N - n_select`` examples are the fresh set.
    n_candidates : int, optional
        Choose among this many candidates drawn at random from the ``K``
        (default: all of them).
    seed : int
        Seeds both random draws.

    Returns
    -------
    dict
        ``selected`` (the winner's accuracy on the selection set), ``fresh``
        (its accuracy on the fresh set), ``gap`` (``selected - fresh``) and
        ``oracle`` (the best fresh accuracy among the candidates).

    References
    ----------
    Dwork et al. (2015), "The reusable holdout: Preserving validity in adaptive
    data analysis", Science 349(6248). https://doi.org/10.1126/science.aaa9375

    Examples
    --------
    Two hundred coin-flipping "classifiers", each right half of the time:

    >>> coins = np.random.default_rng(0).random((200, 1000)) < 0.5
    >>> result = select_best(coins, n_select=50, seed=1)
    >>> result["selected"] > 0.6, abs(result["fresh"] - 0.5) < 0.15
    (True, True)
    """
    correct = np.asarray(correct)
    if correct.ndim != 2 or correct.dtype != bool or 0 in correct.shape:
        raise ValueError(f"correct: expected a non-empty boolean array (K, N), "
                         f"got {correct.dtype} array of shape {correct.shape}")
    k, n = correct.shape
    check_int(n_select, "n_select", minimum=1, maximum=n - 1)
    n_candidates = k if n_candidates is None else check_int(n_candidates, "n_candidates",
                                                            minimum=1, maximum=k)
    rng = np.random.default_rng(check_seed(seed))
    candidates = rng.choice(k, size=n_candidates, replace=False)
    order = rng.permutation(n)
    chosen, fresh = order[:n_select], order[n_select:]
    scores = correct[np.ix_(candidates, chosen)].mean(axis=1)  # (n_candidates,)
    winner = candidates[np.argmax(scores)]  # ties go to the first in random order
    selected, fresh_score = float(scores.max()), float(correct[winner, fresh].mean())
    oracle = float(correct[np.ix_(candidates, fresh)].mean(axis=1).max())
    return {"selected": selected, "fresh": fresh_score, "gap": selected - fresh_score,
            "oracle": oracle}
