import numpy as np
import pytest
import torch
from scipy import stats

from sedl import models, reweighting, train


@pytest.fixture
def tiny_set():
    g = torch.Generator().manual_seed(0)
    return torch.rand(40, 1, 28, 28, generator=g), torch.randint(0, 10, (40,), generator=g)


def test_weighted_fit_with_equal_weights_is_train_fit(tiny_set):
    plain, weighted = models.build(seed=0, width=4), models.build(seed=0, width=4)
    train.fit(plain, tiny_set, epochs=2, lr=3e-3, batch_size=16, seed=3)
    reweighting.weighted_fit(weighted, tiny_set, torch.ones(40), epochs=2, lr=3e-3, batch_size=16, seed=3)
    for a, b in zip(plain.parameters(), weighted.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_weighted_fit_ignores_the_scale_of_the_weights_and_is_deterministic(tiny_set):
    weights = torch.linspace(0.1, 2.0, 40)
    runs = []
    for scale in (1.0, 1.0, 7.0):
        model = models.build(seed=1, width=4)
        history = reweighting.weighted_fit(model, tiny_set, weights * scale, epochs=1, batch_size=8, seed=0)
        runs.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(runs[0], runs[1])
    torch.testing.assert_close(runs[0], runs[2], rtol=1e-4, atol=1e-6)
    assert list(history.columns) == ["epoch", "train_loss", "seconds"]


@pytest.mark.parametrize("kwargs, error, message", [
    ({"weights": [1.0] * 40}, TypeError, "weights: expected a tensor or array"),
    ({"weights": torch.ones(39)}, ValueError, "weights: expected 40 finite"),
    ({"weights": -torch.ones(40)}, ValueError, "weights: expected 40 finite, non-negative"),
    ({"weights": torch.zeros(40)}, ValueError, "not all zero"),
    ({"weights": torch.full((40,), float("nan"))}, ValueError, "weights: expected 40 finite"),
    ({"epochs": 0}, ValueError, "epochs: expected an int >= 1"),
    ({"lr": 0.0}, ValueError, "lr: expected a number > 0"),
    ({"batch_size": 0}, ValueError, "batch_size: expected an int >= 1"),
    ({"seed": -1}, ValueError, "seed: expected an int >= 0"),
    ({"model": "cnn"}, TypeError, "model: expected a torch.nn.Module"),
    ({"train": torch.zeros(3)}, TypeError, "train: expected a pair"),
])
def test_weighted_fit_bad_input(tiny_set, kwargs, error, message):
    args = {"model": models.build(width=4), "train": tiny_set, "weights": torch.ones(40)}
    args |= kwargs
    with pytest.raises(error, match=message):
        reweighting.weighted_fit(args.pop("model"), args.pop("train"), args.pop("weights"), **args)


def test_domain_weights_estimate_a_known_density_ratio():
    rng = np.random.default_rng(0)
    source, target = rng.normal(0, 1, (4000, 1)), rng.normal(1, 1, (4000, 1))
    weights = reweighting.domain_weights(source, target, clip=50.0)
    true_ratio = stats.norm.pdf(source[:, 0], 1) / stats.norm.pdf(source[:, 0], 0)
    assert stats.spearmanr(weights, true_ratio).statistic > 0.99
    assert weights.mean() == pytest.approx(1.0)


def test_domain_weights_are_flat_without_a_shift():
    rng = np.random.default_rng(1)
    weights = reweighting.domain_weights(rng.normal(size=(2000, 3)), rng.normal(size=(2000, 3)))
    assert weights.std() < 0.1 and weights.max() <= 10.0 / weights.mean() + 1e-9


@pytest.mark.parametrize("kwargs, error, message", [
    ({"source": [[1.0, 2.0]]}, TypeError, "source: expected a tensor or array"),
    ({"source": np.zeros(5)}, ValueError, "source: expected finite features"),
    ({"target": np.full((5, 2), np.inf)}, ValueError, "target: expected finite features"),
    ({"target": np.zeros((5, 3))}, ValueError, "target: expected 2 features like source"),
    ({"clip": 0.5}, ValueError, "clip: expected a number >= 1"),
])
def test_domain_weights_bad_input(kwargs, error, message):
    args = {"source": np.random.default_rng(0).normal(size=(6, 2)),
            "target": np.random.default_rng(1).normal(size=(6, 2))} | kwargs
    with pytest.raises(error, match=message):
        reweighting.domain_weights(args.pop("source"), args.pop("target"), **args)


def test_bbse_recovers_priors_from_a_known_confusion_matrix():
    rng = np.random.default_rng(0)
    confusion = np.array([[0.8, 0.3], [0.2, 0.7]])  # p(yhat | y), columns sum to one
    source_y = rng.integers(0, 2, 200_000)  # balanced source
    source_pred = (rng.random(200_000) > confusion[0, source_y]).astype(int)
    q = np.array([0.9, 0.1])
    target_y = rng.choice(2, 200_000, p=q)
    target_pred = (rng.random(200_000) > confusion[0, target_y]).astype(int)
    w = reweighting.bbse_class_weights(torch.from_numpy(source_pred), torch.from_numpy(source_y),
                                       torch.from_numpy(target_pred), num_classes=2)
    np.testing.assert_allclose(w * 0.5, q, atol=0.01)


def test_bbse_with_a_perfect_classifier_is_the_ratio_of_frequencies():
    labels = torch.tensor([0, 1, 2] * 10)
    target = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)
    w = reweighting.bbse_class_weights(labels, labels, target, num_classes=3)
    np.testing.assert_allclose(w, [1.8, 0.9, 0.3])


@pytest.mark.parametrize("kwargs, error, message", [
    ({"num_classes": 1}, ValueError, "num_classes: expected an int >= 2"),
    ({"heldout_predictions": torch.tensor([0, 1])}, ValueError, "heldout_predictions: expected 3 labels"),
    ({"heldout_labels": torch.tensor([0, 1, 5])}, ValueError, r"heldout_labels: expected labels in \[0, 2\]"),
    ({"target_predictions": torch.tensor([0.5])}, TypeError, "target_predictions: expected an integer"),
    ({"target_predictions": torch.tensor([], dtype=torch.long)}, ValueError, "expected non-empty samples"),
])
def test_bbse_class_weights_bad_input(kwargs, error, message):
    args = {"heldout_predictions": torch.tensor([0, 1, 2]), "heldout_labels": torch.tensor([0, 1, 2]),
            "target_predictions": torch.tensor([0, 0, 1]), "num_classes": 3} | kwargs
    with pytest.raises(error, match=message):
        reweighting.bbse_class_weights(args.pop("heldout_predictions"), args.pop("heldout_labels"),
                                       args.pop("target_predictions"), **args)


def test_reweight_probabilities_is_bayes_rule():
    p = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    q = reweighting.reweight_probabilities(p, [3.0, 1.0])
    torch.testing.assert_close(q, torch.tensor([[0.75, 0.25], [27 / 28, 1 / 28]]))
    torch.testing.assert_close(reweighting.reweight_probabilities(p, [2.0, 2.0]), p)


@pytest.mark.parametrize("probabilities, weights, error, message", [
    ([[0.5, 0.5]], [1.0, 1.0], TypeError, "probabilities: expected a tensor"),
    (torch.tensor([0.5, 0.5]), [1.0, 1.0], ValueError, r"probabilities: expected .* of shape \(N, K\)"),
    (torch.tensor([[-0.5, 1.5]]), [1.0, 1.0], ValueError, "probabilities: expected non-negative"),
    (torch.tensor([[0.5, 0.5]]), [1.0, 1.0, 1.0], ValueError, "class_weights: expected 2 finite"),
    (torch.tensor([[0.5, 0.5]]), [-1.0, 1.0], ValueError, "class_weights: expected 2 finite, non-negative"),
])
def test_reweight_probabilities_bad_input(probabilities, weights, error, message):
    with pytest.raises(error, match=message):
        reweighting.reweight_probabilities(probabilities, weights)


def test_class_balanced_weights_give_every_class_the_same_total():
    labels = torch.tensor([0] * 6 + [1] * 3 + [2] * 1)
    w = reweighting.class_balanced_weights(labels, num_classes=3)
    totals = torch.zeros(3).scatter_add_(0, labels, w)
    torch.testing.assert_close(totals, torch.full((3,), 10 / 3))


@pytest.mark.parametrize("labels, num_classes, error, message", [
    (torch.tensor([0, 1]), 1, ValueError, "num_classes: expected an int >= 2"),
    (torch.tensor([0, 0, 1]), 3, ValueError, "labels: expected every one of the 3 classes"),
    (torch.tensor([0.0, 1.0]), 2, TypeError, "labels: expected an integer tensor"),
    ([0, 1], 2, TypeError, "labels: expected a torch.Tensor"),
    (torch.tensor([0, 3]), 2, ValueError, r"labels: expected labels in \[0, 1\]"),
])
def test_class_balanced_weights_bad_input(labels, num_classes, error, message):
    with pytest.raises(error, match=message):
        reweighting.class_balanced_weights(labels, num_classes=num_classes)
