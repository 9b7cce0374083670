import math

import numpy as np
import pytest
import torch

from sedl import conformal


def exchangeable(n, seed, k=5):
    """Logits and labels drawn from the model's own softmax: a calibrated, exchangeable toy."""
    g = torch.Generator().manual_seed(seed)
    logits = 2 * torch.randn(n, k, generator=g, dtype=torch.float64)
    labels = torch.multinomial(logits.softmax(1), 1, generator=g)[:, 0]
    return logits, labels


def test_threshold_is_the_order_statistic_of_the_true_class_scores():
    logits, labels = exchangeable(99, 0)
    scores = np.sort(1 - logits.softmax(1).numpy()[np.arange(99), labels.numpy()])
    rank = math.ceil(100 * 0.9)
    assert conformal.conformal_threshold(logits, labels, alpha=0.1) == pytest.approx(scores[rank - 1])


def test_coverage_is_at_least_one_minus_alpha_on_exchangeable_data():
    coverages = []
    for seed in range(200):
        logits, labels = exchangeable(200, seed)
        t = conformal.conformal_threshold(logits[:100], labels[:100], alpha=0.2)
        sets = conformal.prediction_sets(logits[100:], t)
        coverages.append(conformal.set_coverage(sets, labels[100:])["coverage"])
    # The guarantee holds on average over calibration sets: mean coverage in [0.8, 0.8 + 1 / 101].
    assert 0.8 - 0.01 <= np.mean(coverages) <= 0.8 + 1 / 101 + 0.01


def test_a_calibration_set_too_small_for_alpha_gives_full_sets():
    logits, labels = exchangeable(5, 1)
    assert conformal.conformal_threshold(logits, labels, alpha=0.1) == 1.0
    sets = conformal.prediction_sets(logits, 1.0)
    assert sets.all()


def test_set_coverage_by_hand():
    sets = torch.tensor([[True, False, True], [False, False, True]])
    assert conformal.set_coverage(sets, torch.tensor([2, 0])) == {"coverage": 0.5, "size": 1.5}


@pytest.mark.parametrize("kwargs, kind, message", [
    ({"logits": torch.zeros(3)}, ValueError, r"logits: expected a floating-point tensor \(N, K\)"),
    ({"logits": torch.full((3, 2), float("inf"))}, ValueError, "logits: expected finite values"),
    ({"labels": torch.tensor([0, 1])}, ValueError, "labels: expected 3 labels"),
    ({"labels": torch.tensor([0, 1, 5])}, ValueError, r"labels: expected labels in \[0, 1\]"),
    ({"alpha": 0.0}, ValueError, "alpha: expected a number > 0.0"),
    ({"alpha": 1.0}, ValueError, "alpha: expected a number < 1"),
    ({"alpha": "0.1"}, TypeError, "alpha: expected a number"),
])
def test_conformal_threshold_bad_input(kwargs, kind, message):
    args = {"logits": torch.zeros(3, 2), "labels": torch.tensor([0, 1, 1]), "alpha": 0.1} | kwargs
    with pytest.raises(kind, match=message):
        conformal.conformal_threshold(args["logits"], args["labels"], alpha=args["alpha"])


def test_prediction_sets_bad_input():
    with pytest.raises(ValueError, match="threshold: expected a number <= 1.0"):
        conformal.prediction_sets(torch.zeros(2, 2), 1.5)
    with pytest.raises(TypeError, match="logits: expected a torch.Tensor"):
        conformal.prediction_sets([[0.0, 1.0]], 0.5)


def test_set_coverage_bad_input():
    with pytest.raises(ValueError, match="sets: expected a non-empty bool tensor"):
        conformal.set_coverage(torch.zeros(2, 2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="labels: expected 2 labels"):
        conformal.set_coverage(torch.ones(2, 2, dtype=torch.bool), torch.tensor([0]))
