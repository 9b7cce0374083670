"""Out-of-distribution scores: how much does an input look like the training data?

The second line of defence taught on :ref:`sec_rel_preventing`, after the input guard
(:mod:`sedl.guard`). Each score is high for inputs like the training data: the maximum
softmax probability (:func:`msp`), the energy score (:func:`energy`) and the Mahalanobis
distance in feature space (:func:`fit_gaussians`, :func:`mahalanobis`, on the
penultimate :func:`features`); :func:`detection_metrics` measures how well a score
separates the two. The foreign inputs the page tests against are made by
:mod:`sedl.foreign`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from scipy.stats import rankdata

from sedl._checks import check_float, check_images, check_int, check_labels, check_module, check_tensor
from sedl._logits import check_logits
from sedl.train import evaluating

__all__ = ["msp", "energy", "features", "Gaussians", "fit_gaussians", "mahalanobis",
           "detection_metrics"]



def msp(logits: torch.Tensor) -> torch.Tensor:
    """Maximum softmax probability ``(N,)``: high for inputs like the training data.

    References
    ----------
    Hendrycks and Gimpel (2017), "A baseline for detecting misclassified and
    out-of-distribution examples in neural networks", ICLR. https://arxiv.org/abs/1610.02136

    >>> msp(torch.tensor([[0.0, 0.0], [5.0, 0.0]])).round(decimals=3)
    tensor([0.5000, 0.9930], dtype=torch.float64)
    """
    return check_logits(logits).softmax(dim=1).amax(dim=1)


def energy(logits: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    """Negative free energy ``T * logsumexp(logits / T)``, ``(N,)``: high for in-distribution.

    References
    ----------
    Liu, Wang, Owens and Li (2020), "Energy-based out-of-distribution
    detection", NeurIPS. https://arxiv.org/abs/2010.03759
    """
    t = check_float(temperature, "temperature", minimum=0.0, strict_min=True)
    if t == float("inf"):
        raise ValueError("temperature: expected a finite number > 0, got inf")
    return t * torch.logsumexp(check_logits(logits) / t, dim=1)


def _input_channels(model: torch.nn.Module) -> int | None:
    """The channel count the model's first convolution takes (None without one)."""
    first = next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    return None if first is None else first.in_channels


@torch.no_grad()
def features(model: torch.nn.Module, images: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """Penultimate features ``(N, D)`` from ``model.embed`` (e.g. a :class:`sedl.models.SmallCNN`)."""
    check_module(model)
    if not callable(getattr(model, "embed", None)):
        raise TypeError(f"model: expected a model with an embed() method, got {type(model).__name__}")
    check_images(images)
    check_int(batch_size, "batch_size", minimum=1)
    if len(images) == 0:
        raise ValueError("images: expected at least one image, got 0")
    expected = _input_channels(model)
    if expected is not None and images.shape[1] != expected:
        raise ValueError(f"images: expected {expected} channel(s), as the model's first convolution "
                         f"takes, got shape {tuple(images.shape)}")
    with evaluating(model):
        return torch.cat([model.embed(images[i:i + batch_size])
                          for i in range(0, len(images), batch_size)])


def _check_feats(feats: object) -> torch.Tensor:
    feats = check_tensor(feats, "feats")
    if feats.dim() != 2 or feats.shape[0] == 0 or not feats.is_floating_point():
        raise ValueError("feats: expected a non-empty floating-point tensor of shape (N, D), got "
                         f"shape {tuple(feats.shape)} and dtype {feats.dtype}")
    if not torch.isfinite(feats).all():
        raise ValueError("feats: expected finite values, got NaN or infinity")
    return feats


class Gaussians(NamedTuple):
    """Class-conditional Gaussians with a shared covariance: ``means (K, D)``, ``precision (D, D)``."""

    means: torch.Tensor
    precision: torch.Tensor


def fit_gaussians(feats: torch.Tensor, labels: torch.Tensor) -> Gaussians:
    """Fit one mean per class and a tied covariance to training features (Lee et al., 2018).

    References
    ----------
    Lee, Lee, Lee and Shin (2018), "A simple unified framework for detecting
    out-of-distribution samples and adversarial attacks", NeurIPS.
    https://arxiv.org/abs/1807.03888
    """
    feats = _check_feats(feats)
    labels = check_labels(labels, n=feats.shape[0])
    f = feats.detach().double()
    classes = labels.unique()
    means = torch.stack([f[labels == c].mean(0) for c in classes])  # (K, D)
    centred = f - means[torch.searchsorted(classes, labels)]  # (N, D)
    covariance = centred.T @ centred / len(f)  # (D, D)
    # pinv: dead ReLU units make the covariance singular.
    return Gaussians(means, torch.linalg.pinv(covariance, hermitian=True))


def mahalanobis(feats: torch.Tensor, gaussians: Gaussians) -> torch.Tensor:
    """Score ``(N,)``: minus the squared Mahalanobis distance to the closest class mean."""
    feats = _check_feats(feats)
    if not isinstance(gaussians, Gaussians):
        raise TypeError(f"gaussians: expected a Gaussians, got {type(gaussians).__name__}")
    if feats.dim() != 2 or feats.shape[1] != gaussians.means.shape[1]:
        raise ValueError(f"feats: expected shape (N, {gaussians.means.shape[1]}), "
                         f"got shape {tuple(feats.shape)}")
    diff = feats.detach().double()[:, None, :] - gaussians.means[None]  # (N, K, D)
    distances = torch.einsum("nkd,de,nke->nk", diff, gaussians.precision, diff)  # (N, K)
    return -distances.amin(dim=1)


def detection_metrics(scores_in: torch.Tensor, scores_out: torch.Tensor) -> dict[str, float]:
    """How well a score separates in-distribution (high) from foreign inputs (low).

    Returns ``auroc`` (the probability that a random in-distribution input
    scores above a random foreign one, ties counting half) and
    ``fpr_at_95_tpr`` (the share of foreign inputs still accepted by the
    threshold that accepts 95% of in-distribution inputs).

    >>> detection_metrics(torch.tensor([3.0, 4.0]), torch.tensor([1.0, 3.0]))
    {'auroc': 0.875, 'fpr_at_95_tpr': 0.5}
    """
    a = _check_scores(scores_in, "scores_in")
    b = _check_scores(scores_out, "scores_out")
    ranks = rankdata(np.concatenate([a, b]))  # average ranks: ties count half
    auroc = (ranks[:len(a)].sum() - len(a) * (len(a) + 1) / 2) / (len(a) * len(b))
    threshold = np.sort(a)[int(np.floor(0.05 * len(a)))]  # accepts >= 95% of ``a``
    return {"auroc": float(auroc), "fpr_at_95_tpr": float(np.mean(b >= threshold))}


def _check_scores(scores: object, name: str) -> np.ndarray:
    scores = check_tensor(scores, name)
    if scores.dim() != 1 or scores.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty 1-d tensor, got shape {tuple(scores.shape)}")
    values = scores.detach().cpu().double().numpy()
    if not np.isfinite(values).all():
        raise ValueError(f"{name}: expected finite values, got NaN or infinity")
    return values


