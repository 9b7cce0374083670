"""Training for the distribution a model will meet: importance weights, label-shift weights, weighted loss.

When the training data do not represent the deployment distribution, the loss can be
changed so that it does. :func:`weighted_fit` trains with a per-example weighted
cross-entropy. The weights come from what is known about the shift:

- *covariate shift* (the inputs' distribution changes, the labelling rule does not):
  :func:`domain_weights` estimates the density ratio ``p_target(x) / p_source(x)`` with a
  classifier that tells source from target inputs;
- *label shift* (the class frequencies change, each class looks the same):
  :func:`bbse_class_weights` estimates ``q(y) / p(y)`` from the model's predictions on
  unlabelled target data (black-box shift estimation), and :func:`reweight_probabilities`
  corrects the model's outputs with it, without retraining;
- *imbalanced training data*: :func:`class_balanced_weights` gives every class the same
  total weight.

The chapter :ref:`sec_correcting_shift` teaches all four.

References
----------
Shimodaira (2000), "Improving predictive inference under covariate shift by weighting the
log-likelihood function", J. Statistical Planning and Inference 90(2).
https://doi.org/10.1016/S0378-3758(00)00115-4
Bickel, Brückner and Scheffer (2007), "Discriminative learning for differing training and
test distributions", ICML. https://doi.org/10.1145/1273496.1273507
Lipton, Wang and Smola (2018), "Detecting and correcting for label shift with black box
predictors", ICML. https://arxiv.org/abs/1802.03916
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from sedl import repro
from sedl._checks import check_float, check_images, check_int, check_labels, check_module, check_seed

__all__ = ["weighted_fit", "domain_weights", "bbse_class_weights", "reweight_probabilities",
           "class_balanced_weights"]


def _weights(weights: object, name: str, n: int) -> torch.Tensor:
    if not isinstance(weights, torch.Tensor | np.ndarray):
        raise TypeError(f"{name}: expected a tensor or array of {n} weights, got {type(weights).__name__}")
    weights = torch.as_tensor(weights, dtype=torch.float32)
    if weights.shape != (n,) or not torch.isfinite(weights).all() or (weights < 0).any() \
            or weights.sum() <= 0:
        raise ValueError(f"{name}: expected {n} finite, non-negative weights, not all zero, got "
                         f"shape {tuple(weights.shape)} with values in "
                         f"[{weights.min().item() if weights.numel() else 'none'}, "
                         f"{weights.max().item() if weights.numel() else 'none'}]")
    return weights


def weighted_fit(model: torch.nn.Module, train: tuple[torch.Tensor, torch.Tensor], weights, *,
                 epochs: int = 10, lr: float = 3e-3, batch_size: int = 64, seed: int = 0,
                 threads: int | None = 1) -> pd.DataFrame:
    """Train ``model`` in place on ``sum_i w_i * CE_i / N`` (weights scaled to mean 1).

    The loop is :func:`sedl.train.fit`'s (Adam, a one-cycle schedule, every random draw from
    ``seed``, one thread by default) with the loss changed: example ``i`` counts ``w_i``
    times. Equal weights give plain training. Returns one row per epoch: ``epoch``,
    ``train_loss`` (the weighted loss) and ``seconds``.
    """
    check_module(model)
    if not (isinstance(train, tuple | list) and len(train) == 2):
        raise TypeError(f"train: expected a pair (images, labels), got {type(train).__name__}")
    x = check_images(train[0], "train[0]")
    y = check_labels(train[1], "train[1]", n=x.shape[0])
    w = _weights(weights, "weights", len(x))
    w = w * len(w) / w.sum()  # mean 1: the learning rate means what it means for plain training
    check_int(epochs, "epochs", minimum=1)
    check_float(lr, "lr", minimum=0.0, strict_min=True)
    check_int(batch_size, "batch_size", minimum=1)
    check_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr,
                                                   total_steps=epochs * -(-len(x) // batch_size))
    rows, start = [], time.perf_counter()
    with repro.num_threads(threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout
        for epoch in range(1, epochs + 1):
            model.train()
            total = 0.0
            for idx in torch.randperm(len(x), generator=generator).split(batch_size):
                per_example = F.cross_entropy(model(x[idx]), y[idx], reduction="none")  # (B,)
                loss = (w[idx] * per_example).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total += loss.item() * len(idx)
            rows.append({"epoch": epoch, "train_loss": total / len(x),
                         "seconds": time.perf_counter() - start})
    model.eval()
    return pd.DataFrame(rows)


def _features(values: object, name: str) -> np.ndarray:
    if not isinstance(values, torch.Tensor | np.ndarray):
        raise TypeError(f"{name}: expected a tensor or array (N, D), got {type(values).__name__}")
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or len(array) < 2 or not np.isfinite(array).all():
        raise ValueError(f"{name}: expected finite features of shape (N >= 2, D), got shape {array.shape}")
    return array


def domain_weights(source: object, target: object, *, clip: float = 10.0) -> np.ndarray:
    """Importance weights ``p_target(x) / p_source(x)`` of the source examples, from a domain classifier.

    A logistic regression learns to tell source features ``(N, D)`` from target features
    ``(M, D)``; by Bayes' rule its odds ``P(target | x) / P(source | x)``, times ``N / M``,
    estimate the density ratio. Weights are clipped at ``clip`` (a few examples with huge
    weights would make training as noisy as a tiny data set) and scaled to mean 1.
    """
    s, t = _features(source, "source"), _features(target, "target")
    if s.shape[1] != t.shape[1]:
        raise ValueError(f"target: expected {s.shape[1]} features like source, got {t.shape[1]}")
    check_float(clip, "clip", minimum=1.0)
    from sklearn.linear_model import LogisticRegression

    scale = s.std(0).clip(min=1e-8)  # standardised features: the regression's penalty treats each alike
    z = np.concatenate([s, t]) / scale
    domain = np.r_[np.zeros(len(s)), np.ones(len(t))]
    classifier = LogisticRegression(C=1.0, max_iter=1000).fit(z, domain)
    p_target = classifier.predict_proba(s / scale)[:, 1]
    ratio = p_target / (1 - p_target).clip(min=1e-12) * len(s) / len(t)
    ratio = ratio.clip(max=clip)
    return ratio / ratio.mean()


def bbse_class_weights(heldout_predictions: object, heldout_labels: object, target_predictions: object,
                       *, num_classes: int) -> np.ndarray:
    """Black-box shift estimation: the class weights ``q(y) / p(y)`` of a target sample.

    Under label shift the distribution of the model's predictions on the target,
    ``mu[i] = q(yhat = i)``, equals ``C w`` where ``C[i, j] = p(yhat = i, y = j)`` is the joint
    confusion matrix on labelled held-out source data. Solving ``C w = mu`` gives ``w``;
    negative entries (from noise) are set to 0.
    """
    k = check_int(num_classes, "num_classes", minimum=2)
    labels = check_labels(torch.as_tensor(heldout_labels), "heldout_labels", num_classes=k)
    predicted = check_labels(torch.as_tensor(heldout_predictions), "heldout_predictions",
                             n=len(labels), num_classes=k)
    target = check_labels(torch.as_tensor(target_predictions), "target_predictions", num_classes=k)
    if len(labels) == 0 or len(target) == 0:
        raise ValueError(f"heldout_labels, target_predictions: expected non-empty samples, "
                         f"got {len(labels)} and {len(target)}")
    joint = np.zeros((k, k))
    np.add.at(joint, (predicted.numpy(), labels.numpy()), 1.0)
    joint /= len(labels)  # C[i, j] = p(yhat = i, y = j)
    mu = np.bincount(target.numpy(), minlength=k) / len(target)
    w, *_ = np.linalg.lstsq(joint, mu, rcond=None)  # least squares: C may be close to singular
    return w.clip(min=0.0)


def reweight_probabilities(probabilities: object, class_weights: object) -> torch.Tensor:
    """``p_target(y | x) ∝ w_y p_source(y | x)``: a classifier's outputs under new class priors."""
    p = _check_probabilities(probabilities)
    w = _weights(torch.as_tensor(np.asarray(class_weights, dtype=np.float32)), "class_weights", p.shape[1])
    scaled = p * w  # (N, K)
    return scaled / scaled.sum(1, keepdim=True).clamp_min(1e-12)


def _check_probabilities(probabilities: object) -> torch.Tensor:
    if not isinstance(probabilities, torch.Tensor):
        raise TypeError(f"probabilities: expected a tensor (N, K), got {type(probabilities).__name__}")
    if probabilities.dim() != 2 or not probabilities.is_floating_point() or (probabilities < 0).any():
        raise ValueError(f"probabilities: expected non-negative floats of shape (N, K), got "
                         f"{probabilities.dtype} of shape {tuple(probabilities.shape)}")
    return probabilities


def class_balanced_weights(labels: object, *, num_classes: int) -> torch.Tensor:
    """Per-example weights ``N / (K n_y)``: every class carries the same total weight."""
    k = check_int(num_classes, "num_classes", minimum=2)
    labels = check_labels(labels, "labels", num_classes=k)
    counts = torch.bincount(labels, minlength=k).float()
    if (counts == 0).any():
        raise ValueError(f"labels: expected every one of the {k} classes, "
                         f"got counts {counts.long().tolist()}")
    return (len(labels) / (k * counts))[labels]
