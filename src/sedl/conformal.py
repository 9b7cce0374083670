"""Split conformal prediction: sets of classes that contain the true one with a chosen probability.

A classifier's softmax is not a guarantee. Split conformal prediction turns it into one:
on held-out *calibration* data, score how unusual each true label looks to the model
(``1 - p_true``), and keep the score's ``ceil((n + 1)(1 - alpha)) / n`` quantile. On a new
input the prediction set holds every class whose score is at most that threshold. If the
calibration and test data are exchangeable, the set contains the true class with
probability at least ``1 - alpha``, whatever the model; if the data shift, the guarantee is
gone. :func:`conformal_threshold` fits the threshold, :func:`prediction_sets` applies it and
:func:`set_coverage` measures it. The page that uses it is :ref:`sec_rel_monitoring`.

References
----------
Vovk, Gammerman and Shafer (2005), *Algorithmic learning in a random world*, Springer.
Angelopoulos and Bates (2023), "Conformal prediction: a gentle introduction", Foundations
and Trends in Machine Learning 16(4). https://arxiv.org/abs/2107.07511
"""

from __future__ import annotations

import math

import torch

from sedl._checks import check_float, check_labels, check_tensor
from sedl._logits import check_logits

__all__ = ["conformal_threshold", "prediction_sets", "set_coverage"]


def conformal_threshold(logits: torch.Tensor, labels: torch.Tensor, *, alpha: float = 0.1) -> float:
    """The split conformal threshold on the score ``1 - softmax(logits)[true class]``.

    Parameters
    ----------
    logits : torch.Tensor
        ``(n, K)`` logits of the calibration inputs (held out from training).
    labels : torch.Tensor
        ``(n,)`` their true classes.
    alpha : float, default 0.1
        The miscoverage allowed: sets will miss the true class with probability at most
        ``alpha``.

    Returns
    -------
    float
        The ``ceil((n + 1)(1 - alpha))``-th smallest score; 1.0 (every class in every set)
        when ``n`` is too small for ``alpha``.

    Examples
    --------
    >>> logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 1.0]])
    >>> round(conformal_threshold(logits, torch.tensor([0, 1, 1, 1]), alpha=0.4), 3)
    0.269
    """
    logits = check_logits(logits)
    labels = check_labels(labels, n=logits.shape[0], num_classes=logits.shape[1])
    alpha = check_float(alpha, "alpha", minimum=0.0, maximum=1.0, strict_min=True)
    if alpha == 1.0:
        raise ValueError("alpha: expected a number < 1 (a miscoverage), got 1.0")
    n = len(labels)
    if n == 0:
        raise ValueError("labels: expected at least one calibration input, got 0")
    scores = 1 - logits.softmax(dim=1).gather(1, labels[:, None])[:, 0]  # (n,)
    rank = math.ceil((n + 1) * (1 - alpha))
    if rank > n:
        return 1.0
    return float(scores.sort().values[rank - 1])


def prediction_sets(logits: torch.Tensor, threshold: float) -> torch.Tensor:
    """Boolean ``(N, K)``: class ``k`` is in input ``i``'s set when ``1 - p_k <= threshold``.

    >>> prediction_sets(torch.tensor([[2.0, 0.0]]), 0.5).tolist()
    [[True, False]]
    """
    probabilities = check_logits(logits).softmax(dim=1)
    threshold = check_float(threshold, "threshold", minimum=0.0, maximum=1.0)
    return 1 - probabilities <= threshold


def set_coverage(sets: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """``coverage`` (share of sets holding the true class) and mean set ``size``.

    >>> set_coverage(torch.tensor([[True, True], [False, True]]), torch.tensor([0, 0]))
    {'coverage': 0.5, 'size': 1.5}
    """
    sets = check_tensor(sets, "sets")
    if sets.dim() != 2 or sets.dtype != torch.bool or sets.shape[0] == 0:
        raise ValueError(f"sets: expected a non-empty bool tensor (N, K) from prediction_sets, got "
                         f"shape {tuple(sets.shape)} and dtype {sets.dtype}")
    labels = check_labels(labels, n=sets.shape[0], num_classes=sets.shape[1])
    covered = sets.gather(1, labels[:, None])[:, 0]
    return {"coverage": covered.double().mean().item(), "size": sets.sum(dim=1).double().mean().item()}
