"""A cheap pool of candidate classifiers: k-nearest neighbours on PCA features.

:func:`knn_pool` scores a grid of kNN classifiers on held-out images in seconds,
the pool of candidates that :func:`sedl.experiments.select_best` chooses from in
:ref:`sec_test_discipline` and the chapter on overfitting. It is re-exported by
:mod:`sedl.experiments`, where the pages call it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from sedl import repro
from sedl._checks import check_images, check_int, check_labels

__all__ = ["knn_pool"]


def _pca_basis(x: torch.Tensor, dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    mean = x.mean(0)
    cov = (x - mean).T @ (x - mean) / (len(x) - 1)  # (D, D)
    # One thread: a small eigendecomposition gains nothing from more, and multithreaded
    # LAPACK was seen to stall for many seconds on a busy 2-core machine.
    with repro.num_threads(1):
        _, vectors = torch.linalg.eigh(cov)  # eigenvalues in ascending order
    return mean, vectors.flip(1)[:, :dims]  # (D,), (D, dims): the top components


def knn_pool(train: tuple[torch.Tensor, torch.Tensor], heldout: tuple[torch.Tensor, torch.Tensor], *,
             dims: Sequence[int] = (5, 10, 20, 40, 80), ks: Sequence[int] = (1, 3, 5, 9, 15, 25),
             weightings: Sequence[str] = ("uniform", "distance")) -> tuple[np.ndarray, pd.DataFrame]:
    """A grid of k-nearest-neighbour classifiers on PCA features, scored on held-out images.

    Every combination of PCA dimension, ``k`` and neighbour weighting is one
    candidate configuration; all share one eigendecomposition and one
    neighbour search per dimension, so a grid of a hundred costs seconds.
    The pool feeds :func:`sedl.experiments.select_best` in the chapter on test-set
    discipline.

    Parameters
    ----------
    train, heldout : (images, labels)
        Images ``(N, C, H, W)`` in [0, 1] with integer labels; neighbours come
        from ``train``, the scores from ``heldout``.
    dims, ks : sequences of int
        PCA dimensions and numbers of neighbours to try.
    weightings : sequence of {"uniform", "distance"}
        Equal votes, or votes weighted by inverse distance (as scikit-learn's
        ``KNeighborsClassifier(weights=...)``).

    Returns
    -------
    correct : numpy.ndarray
        Boolean ``(K, N_heldout)``: candidate ``k`` is right on held-out image ``n``.
    configs : pandas.DataFrame
        ``K`` rows: ``dims``, ``k``, ``weights`` and held-out ``accuracy``.
    """
    for name, pair in (("train", train), ("heldout", heldout)):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise TypeError(f"{name}: expected a pair (images, labels), got {type(pair).__name__} "
                            f"{pair!r:.60}")
    for name, values in (("dims", dims), ("ks", ks), ("weightings", weightings)):
        if not isinstance(values, tuple | list) or not values:
            raise TypeError(f"{name}: expected a non-empty list or tuple, got {type(values).__name__} "
                            f"{values!r:.60}")
    x_train = check_images(train[0], "train[0]").flatten(1).double()  # (N, C*H*W)
    y_train = check_labels(train[1], "train[1]", n=len(x_train))
    x_held = check_images(heldout[0], "heldout[0]").flatten(1).double()
    y_held = check_labels(heldout[1], "heldout[1]", n=len(x_held)).numpy()
    dims = [check_int(d, "dims", minimum=1, maximum=x_train.shape[1]) for d in dims]
    ks = [check_int(k, "ks", minimum=1, maximum=len(x_train)) for k in ks]
    for w in weightings:
        if w not in ("uniform", "distance"):
            raise ValueError(f"weightings: expected 'uniform' or 'distance', got {w!r}")
    mean, basis = _pca_basis(x_train, max(dims))
    z_train, z_held = (x_train - mean) @ basis, (x_held - mean) @ basis  # (N, max(dims))
    n_classes = int(max(y_train.max(), int(y_held.max()))) + 1
    correct, rows = [], []
    for d in dims:
        distances = torch.cdist(z_held[:, :d], z_train[:, :d])  # (N_held, N_train)
        nearest, index = distances.topk(max(ks), dim=1, largest=False)  # sorted, nearest first
        neighbour_labels = y_train[index]  # (N_held, max(ks))
        for k in ks:
            for w in weightings:
                votes = (torch.ones_like(nearest[:, :k]) if w == "uniform"
                         else 1 / nearest[:, :k].clamp_min(1e-12))
                tally = torch.zeros(len(z_held), n_classes, dtype=votes.dtype)
                tally.scatter_add_(1, neighbour_labels[:, :k], votes)  # (N_held, classes)
                right = tally.argmax(1).numpy() == y_held
                correct.append(right)
                rows.append({"dims": d, "k": k, "weights": w, "accuracy": right.mean()})
    return np.array(correct), pd.DataFrame(rows)
