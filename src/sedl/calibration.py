"""Calibration and selective prediction: does a model's confidence mean what it says?

A classifier is *calibrated* when, of all the inputs it labels with confidence
0.8, about 80% are right. :func:`reliability_bins` bins predictions by
confidence (the data of a reliability diagram), :func:`expected_calibration_error`
summarises the gaps in one number, and :func:`fit_temperature` learns the one
parameter of temperature scaling on held-out data. :func:`risk_coverage` and
:func:`accuracy_at_coverage` describe *selective prediction*: the model answers
only when it is confident enough and defers the rest to a person.

The page that teaches all of this is :ref:`sec_rel_preventing` (calibration)
and :ref:`sec_rel_monitoring` (selective prediction).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from sedl._checks import check_float, check_int, check_labels, check_tensor
from sedl._logits import check_logits

__all__ = ["reliability_bins", "expected_calibration_error", "fit_temperature",
           "reliability_diagram", "risk_coverage", "accuracy_at_coverage"]


def _check_confidences(confidences: object, correct: object) -> tuple[np.ndarray, np.ndarray]:
    """Confidences ``(N,)`` in [0, 1] and a matching boolean (or 0/1) ``correct`` ``(N,)``."""
    confidences = check_tensor(confidences, "confidences")
    correct = check_tensor(correct, "correct")
    if confidences.dim() != 1 or not confidences.is_floating_point():
        raise ValueError("confidences: expected a 1-d floating-point tensor, got "
                         f"shape {tuple(confidences.shape)} and dtype {confidences.dtype}")
    if confidences.numel() == 0:
        raise ValueError("confidences: expected at least one value, got 0")
    conf = confidences.detach().cpu().double().numpy()
    if not np.all((conf >= 0) & (conf <= 1)):  # also rejects NaN
        raise ValueError(f"confidences: expected values in [0, 1], got values in "
                         f"[{np.nanmin(conf):.4g}, {np.nanmax(conf):.4g}]")
    if correct.shape != confidences.shape:
        raise ValueError(f"correct: expected shape {tuple(confidences.shape)} like confidences, "
                         f"got shape {tuple(correct.shape)}")
    if correct.is_floating_point() or not set(correct.unique().tolist()) <= {0, 1}:
        raise TypeError(f"correct: expected a bool (or 0/1 integer) tensor, got dtype {correct.dtype}")
    return conf, correct.detach().cpu().numpy().astype(bool)


def reliability_bins(confidences: torch.Tensor, *, correct: torch.Tensor,
                      n_bins: int = 15) -> pd.DataFrame:
    """Accuracy and mean confidence in equal-width confidence bins.

    Bin ``m`` holds the confidences in ``((m - 1) / M, m / M]`` (the first also
    holds 0), as in Guo et al. (2017) and ``sklearn.calibration.calibration_curve``.

    Parameters
    ----------
    confidences : torch.Tensor
        ``(N,)`` confidence of each prediction (e.g. the maximum softmax probability).
    correct : torch.Tensor
        ``(N,)`` bool: was the prediction right?
    n_bins : int, default 15
        Number of equal-width bins ``M``.

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``lower, upper, count, confidence, accuracy, gap``
        (``accuracy - confidence``; NaN for an empty bin).

    References
    ----------
    Guo, Pleiss, Sun and Weinberger (2017), "On calibration of modern neural
    networks", ICML. https://proceedings.mlr.press/v70/guo17a.html
    """
    conf, hit = _check_confidences(confidences, correct)
    n_bins = check_int(n_bins, "n_bins", minimum=1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # searchsorted(side="left") on the inner edges puts a value equal to an edge in the lower bin.
    bin_of = np.searchsorted(edges[1:-1], conf, side="left")
    count = np.bincount(bin_of, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bin_of, weights=conf, minlength=n_bins) / count
        accuracy = np.bincount(bin_of, weights=hit, minlength=n_bins) / count
    return pd.DataFrame({"lower": edges[:-1], "upper": edges[1:], "count": count,
                         "confidence": mean_conf, "accuracy": accuracy,
                         "gap": accuracy - mean_conf})


def expected_calibration_error(confidences: torch.Tensor, *, correct: torch.Tensor,
                               n_bins: int = 15) -> float:
    """ECE: the average gap between accuracy and confidence, weighted by bin size.

    ``ECE = sum_m |B_m| / N * |acc(B_m) - conf(B_m)|`` over the bins of
    :func:`reliability_bins`. It is 0 for a perfectly calibrated predictor
    (up to binning) and at most 1.

    References
    ----------
    Naeini, Cooper and Hauskrecht (2015), "Obtaining well calibrated probabilities
    using Bayesian binning", AAAI. https://doi.org/10.1609/aaai.v29i1.9602

    Examples
    --------
    >>> conf = torch.tensor([0.9, 0.9, 0.6, 0.6])
    >>> correct = torch.tensor([True, True, True, False])
    >>> round(expected_calibration_error(conf, correct=correct, n_bins=10), 3)  # 0.5*0.1 + 0.5*0.1
    0.1
    """
    table = reliability_bins(confidences, correct=correct, n_bins=n_bins)
    filled = table[table["count"] > 0]
    return float((filled["count"] * filled["gap"].abs()).sum() / filled["count"].sum())


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, *, max_iter: int = 100) -> float:
    """The temperature ``T > 0`` that minimises the NLL of ``softmax(logits / T)``.

    Fit it on held-out (validation) data, never on the test set. Dividing by
    one positive number does not change any prediction, only the confidences:
    ``T > 1`` softens an overconfident model, ``T < 1`` sharpens an
    underconfident one.

    Parameters
    ----------
    logits : torch.Tensor
        ``(N, K)`` logits of held-out inputs.
    labels : torch.Tensor
        ``(N,)`` their true classes.
    max_iter : int, default 100
        Iterations of L-BFGS on ``log T`` (optimising the log keeps ``T`` positive).

    Returns
    -------
    float
        The fitted temperature.

    References
    ----------
    Guo, Pleiss, Sun and Weinberger (2017), "On calibration of modern neural
    networks", ICML. https://proceedings.mlr.press/v70/guo17a.html

    Examples
    --------
    >>> logits = torch.tensor([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0], [4.0, 0.0]])
    >>> labels = torch.tensor([0, 1, 0, 1])  # 3 of 4 right, but 98% confident
    >>> fit_temperature(logits, labels) > 1
    True
    """
    logits = check_logits(logits)
    labels = check_labels(labels, n=logits.shape[0], num_classes=logits.shape[1])
    max_iter = check_int(max_iter, "max_iter", minimum=1)
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.exp().item())


def reliability_diagram(tables: dict[str, pd.DataFrame]) -> Figure:
    """One reliability diagram per :func:`reliability_bins`, side by side.

    Bars show each bin's accuracy and, hatched, the gap to the bin's mean
    confidence; the diagonal is perfect calibration. Bars below the diagonal
    mean overconfidence, above it underconfidence. The number written at the foot
    of each bar is the bin's count of predictions: a bar over a handful of them
    says little.
    """
    if not isinstance(tables, dict) or not tables:
        raise TypeError(f"tables: expected a non-empty dict of name -> DataFrame, got {tables!r:.60}")
    columns = {"lower", "upper", "count", "confidence", "accuracy"}
    for name, table in tables.items():
        if not isinstance(table, pd.DataFrame) or not columns <= set(table.columns):
            raise ValueError(f"tables: expected DataFrames made by reliability_bins(), got "
                             f"{type(table).__name__} for {name!r}")
    fig, axes = plt.subplots(1, len(tables), figsize=(3.2 * len(tables), 3.2), squeeze=False,
                             layout="constrained")
    axes = axes[0]
    for ax, (name, table) in zip(axes, tables.items(), strict=True):
        width = table["upper"] - table["lower"]
        filled = table["count"] > 0
        ax.bar(table["lower"][filled], table["accuracy"][filled], width=width[filled], align="edge",
               edgecolor="black", linewidth=0.5, label="accuracy")
        # The gap runs from the accuracy to the mean confidence, up (overconfident) or down.
        ax.bar(table["lower"][filled], table["confidence"][filled] - table["accuracy"][filled],
               bottom=table["accuracy"][filled], width=width[filled], align="edge", fill=False,
               hatch="///", edgecolor="tab:red", linewidth=0.5, label="gap to confidence", zorder=3)
        for lower, w, count in zip(table["lower"][filled], width[filled], table["count"][filled],
                                   strict=True):
            ax.text(lower + w / 2, 0.02, f"{int(count)}", rotation=90, ha="center", va="bottom",
                    fontsize=6, bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5})
        ax.plot([0, 1], [0, 1], "k--", linewidth=1)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", title=name)
        ax.set_aspect("equal")
    axes[0].set_ylabel("accuracy")
    axes[0].legend(loc="upper left", fontsize=8)
    plt.close(fig)  # the caller displays it; keep pyplot's list of open figures empty
    return fig


def risk_coverage(confidences: torch.Tensor, *, correct: torch.Tensor) -> pd.DataFrame:
    """The risk-coverage curve of answering only above a confidence threshold.

    For each threshold that a rule ``confidence >= t`` can realise (one per
    distinct confidence), the *coverage* is the share of inputs answered and
    the *risk* the error rate among them.

    Returns
    -------
    pandas.DataFrame
        ``threshold, coverage, risk, accuracy``, by increasing coverage.

    References
    ----------
    El-Yaniv and Wiener (2010), "On the foundations of noise-free selective
    classification", JMLR 11. https://jmlr.org/papers/v11/el-yaniv10a.html
    Geifman and El-Yaniv (2017), "Selective classification for deep neural
    networks", NeurIPS. https://arxiv.org/abs/1705.08500

    Examples
    --------
    >>> rc = risk_coverage(torch.tensor([0.9, 0.8, 0.7, 0.6]), correct=torch.tensor([1, 1, 0, 1]))
    >>> rc["risk"].round(3).tolist()
    [0.0, 0.0, 0.333, 0.25]
    """
    conf, hit = _check_confidences(confidences, correct)
    order = np.argsort(-conf, kind="stable")
    conf, hit = conf[order], hit[order]
    answered = np.arange(1, len(conf) + 1)
    right = np.cumsum(hit)
    # Inputs with equal confidence are answered together: keep the last of each run.
    last = np.append(conf[1:] != conf[:-1], True)
    accuracy = right[last] / answered[last]
    return pd.DataFrame({"threshold": conf[last], "coverage": answered[last] / len(conf),
                         "risk": 1 - accuracy, "accuracy": accuracy})


def accuracy_at_coverage(confidences: torch.Tensor, *, correct: torch.Tensor,
                         coverage: float = 0.9) -> float:
    """Accuracy on the most confident inputs that make up at least ``coverage`` of all.

    The answered set is the smallest one a threshold can realise with coverage
    ``>= coverage``; the rest would be deferred to an expert.

    >>> accuracy_at_coverage(torch.tensor([0.9, 0.8, 0.7, 0.6]), correct=torch.tensor([1, 1, 0, 1]),
    ...                      coverage=0.5)
    1.0
    """
    coverage = check_float(coverage, "coverage", minimum=0.0, maximum=1.0, strict_min=True)
    table = risk_coverage(confidences, correct=correct)
    # A tiny tolerance, so that coverage=0.9 with 450 of 500 answered counts as reached.
    reached = table[table["coverage"] >= coverage - 1e-12]
    return float(reached["accuracy"].iloc[0])
