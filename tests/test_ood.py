import re

import numpy as np
import pytest
import torch
from scipy.spatial.distance import mahalanobis as scipy_mahalanobis
from sklearn.covariance import EmpiricalCovariance
from sklearn.metrics import roc_auc_score, roc_curve

from sedl import foreign, guard, models, ood


def digit_like(n, seed=0):
    """Bright 8x12 strokes on a black 28x28 background, jittered by a pixel or two."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 28, 28)
    for i, (dy, dx) in enumerate(torch.randint(-2, 3, (n, 2), generator=g).tolist()):
        x[i, 0, 8 + dy:20 + dy, 10 + dx:18 + dx] = 0.9
    return (x + 0.05 * torch.rand(x.shape, generator=g)).clamp(0, 1)


@pytest.fixture(scope="module")
def bounds():
    return guard.fit_guard(digit_like(200), quantile=0.0)


def test_guard_accepts_images_like_its_training_data(bounds):
    assert guard.input_problems(digit_like(20, seed=1), bounds) == [""] * 20


@pytest.mark.parametrize("make, reason", [
    (lambda x: torch.zeros_like(x), r"blank \(max - min = 0\)"),
    (lambda x: torch.full_like(x, 0.7), "blank"),
    (lambda x: (x * 0.5 + 0.5).clamp(0, 1), r"ink 1.000 outside \[0.122, 0.122\]"),
    (lambda x: 1 - x, r"border 0\.9\d+ outside"),
    (lambda x: x * 255, r"values in \[0.0\d+, 2\d\d\], expected \[0, 1\]"),
    (lambda x: (x * 255).to(torch.uint8), r"dtype torch.uint8, expected floating point"),
    (lambda x: x - 0.5, r"values in \[-0.5, 0.4\d+\], expected \[0, 1\]"),
    (lambda x: x.masked_fill(x > 0.5, float("nan")), "contains NaN or infinity"),
    (lambda x: x.repeat(1, 3, 1, 1), "3 channels, expected 1"),
    (lambda x: torch.nn.functional.interpolate(x, size=(32, 32)), "size 32x32, expected 28x28"),
])
def test_guard_rejects_bad_inputs_with_a_reason(bounds, make, reason):
    problems = guard.input_problems(make(digit_like(3, seed=2)), bounds)
    assert len(problems) == 3
    for problem in problems:
        assert problem and re.search(reason, problem), problem


def test_input_problems_bad_input(bounds):
    with pytest.raises(TypeError, match="images: expected a torch.Tensor"):
        guard.input_problems(np.zeros((1, 1, 28, 28)), bounds)
    with pytest.raises(ValueError, match=r"images: expected shape \(N, C, H, W\)"):
        guard.input_problems(torch.zeros(28, 28), bounds)
    with pytest.raises(ValueError, match="bounds: expected the dict fit_guard"):
        guard.input_problems(torch.zeros(1, 1, 28, 28), {"brightness": (0, 1)})
    with pytest.raises(ValueError, match=r"quantile: expected a number <= 0.5"):
        guard.fit_guard(digit_like(5), quantile=0.7)
    with pytest.raises(ValueError, match=r"images: expected values in \[0, 1\]"):
        guard.fit_guard(digit_like(5) * 2)
    with pytest.raises(TypeError, match=r"size: expected a pair \(height, width\) of positive ints, got 28"):
        guard.input_problems(digit_like(2), bounds, size=28)
    with pytest.raises(TypeError, match="size: expected a pair"):
        guard.input_problems(digit_like(2), bounds, size=(28, 0))
    with pytest.raises(TypeError, match="channels: expected an int"):
        guard.input_problems(digit_like(2), bounds, channels="1")
    with pytest.raises(ValueError, match="bounds: expected the dict fit_guard"):
        guard.input_problems(digit_like(2), {"mean": (0.3, 0.1)})


@pytest.mark.parametrize("images, kind, message", [
    (np.zeros((2, 1, 28, 28)), TypeError, "images: expected a torch.Tensor"),
    (torch.zeros(0, 1, 28, 28), ValueError, "images: expected at least one training image"),
    (torch.zeros(2, 28, 28), ValueError, r"images: expected shape \(N, C, H, W\)"),
    (torch.zeros(2, 1, 4, 4), ValueError, "images: expected height and width of at least 5"),
])
def test_fit_guard_bad_input(images, kind, message):
    with pytest.raises(kind, match=message):
        guard.fit_guard(images)


def test_image_features_bad_input():
    with pytest.raises(TypeError, match="images: expected a floating-point tensor"):
        guard.image_features(torch.zeros(1, 1, 28, 28, dtype=torch.uint8))


def test_msp_and_energy_match_their_definitions():
    logits = torch.randn(50, 10, generator=torch.Generator().manual_seed(0)) * 3
    torch.testing.assert_close(ood.msp(logits), logits.double().softmax(1).max(1).values)
    energy = np.log(np.exp(logits.double().numpy()).sum(1))
    np.testing.assert_allclose(ood.energy(logits).numpy(), energy, rtol=1e-12)
    np.testing.assert_allclose(ood.energy(logits, temperature=2.0).numpy(),
                               2 * np.log(np.exp(logits.double().numpy() / 2).sum(1)), rtol=1e-12)
    # float64 keeps confident logits apart where float32 softmax would give 1.0 for both.
    assert ood.msp(torch.tensor([[40.0, 0.0], [30.0, 0.0]])).unique().numel() == 2


def test_detection_metrics_match_sklearn():
    g = np.random.default_rng(0)
    a = torch.from_numpy(np.round(g.normal(1, 1, 400), 1))  # rounding makes ties
    b = torch.from_numpy(np.round(g.normal(0, 1, 300), 1))
    metrics = ood.detection_metrics(a, b)
    y = np.r_[np.ones(400), np.zeros(300)]
    s = np.r_[a.numpy(), b.numpy()]
    assert metrics["auroc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    assert metrics["fpr_at_95_tpr"] == pytest.approx(fpr[np.argmax(tpr >= 0.95)], abs=1e-12)


def test_detection_metrics_extremes():
    assert ood.detection_metrics(torch.ones(5) * 2, torch.zeros(5)) == {"auroc": 1.0, "fpr_at_95_tpr": 0.0}
    same = ood.detection_metrics(torch.ones(5), torch.ones(5))
    assert same == {"auroc": 0.5, "fpr_at_95_tpr": 1.0}


def test_mahalanobis_matches_sklearn_and_scipy():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(300) % 3
    feats = torch.randn(300, 4, generator=g, dtype=torch.float64) @ torch.randn(4, 4, generator=g,
                                                                                  dtype=torch.float64)
    feats = feats + 3 * labels[:, None]
    fit = ood.fit_gaussians(feats, labels)
    centred = feats - fit.means[labels]
    reference = EmpiricalCovariance(assume_centered=True).fit(centred.numpy())
    np.testing.assert_allclose(fit.precision.numpy(), reference.precision_, rtol=1e-8)
    queries = torch.randn(5, 4, generator=g, dtype=torch.float64) * 4
    expected = [-min(scipy_mahalanobis(q, m, reference.precision_) ** 2 for m in fit.means.numpy())
                for q in queries.numpy()]
    np.testing.assert_allclose(ood.mahalanobis(queries, fit).numpy(), expected, rtol=1e-8)
    assert ood.mahalanobis(fit.means, fit).abs().max() < 1e-9  # a class mean is as typical as it gets


def test_features_have_the_embedding_size():
    model = models.build(seed=0, width=4, hidden=16)
    x = torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    feats = ood.features(model, x, batch_size=3)
    assert feats.shape == (7, 16)
    assert model.training  # the model's mode is restored
    with torch.no_grad():
        torch.testing.assert_close(feats, model.eval().embed(x))


@pytest.mark.parametrize("logits, message", [
    (torch.zeros(3), r"logits: expected a floating-point tensor \(N, K\)"),
    (torch.zeros(3, 1), r"with K >= 2"),
    (torch.zeros(3, 2, dtype=torch.long), "logits: expected a floating-point tensor"),
    (torch.tensor([[float("inf"), 0.0]]), "logits: expected finite values, got NaN or infinity"),
    (torch.tensor([[float("nan"), 0.0]]), "logits: expected finite values"),
])
@pytest.mark.parametrize("score", [ood.msp, ood.energy])
def test_msp_bad_input(score, logits, message):
    with pytest.raises(ValueError, match=message):
        score(logits)


test_energy_bad_input = test_msp_bad_input


def test_energy_temperature_bad_input():
    with pytest.raises(ValueError, match="temperature: expected a number > 0.0"):
        ood.energy(torch.zeros(2, 2), temperature=0)
    with pytest.raises(ValueError, match="temperature: expected a finite number"):
        ood.energy(torch.zeros(2, 2), temperature=float("inf"))


def test_features_bad_input():
    model = models.build(seed=0, width=4, hidden=16)
    with pytest.raises(ValueError, match=r"images: expected 1 channel\(s\), as the model's first"):
        ood.features(model, torch.zeros(2, 3, 28, 28))
    with pytest.raises(ValueError, match="images: expected at least one image"):
        ood.features(model, torch.zeros(0, 1, 28, 28))
    with pytest.raises(TypeError, match="batch_size: expected an int"):
        ood.features(model, torch.zeros(1, 1, 28, 28), batch_size=2.5)
    assert model.training  # a refused call leaves the mode alone


def test_fit_gaussians_bad_input():
    with pytest.raises(ValueError, match="feats: expected finite values"):
        ood.fit_gaussians(torch.tensor([[float("inf")], [0.0]]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="labels: expected 2 labels"):
        ood.fit_gaussians(torch.zeros(2, 1), torch.tensor([0]))


def test_detection_metrics_bad_input():
    with pytest.raises(TypeError, match="scores_in: expected a torch.Tensor"):
        ood.detection_metrics([1.0], torch.ones(3))


def test_mahalanobis_bad_input():
    with pytest.raises(ValueError, match="scores_out: expected a non-empty 1-d tensor"):
        ood.detection_metrics(torch.ones(3), torch.ones(0))
    with pytest.raises(ValueError, match="scores_in: expected finite values"):
        ood.detection_metrics(torch.tensor([float("nan")]), torch.ones(3))
    with pytest.raises(TypeError, match="model: expected a model with an embed"):
        ood.features(torch.nn.Linear(2, 2), torch.zeros(1, 1, 28, 28))
    with pytest.raises(ValueError, match=r"feats: expected a non-empty floating-point tensor of shape"):
        ood.fit_gaussians(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    fit = ood.fit_gaussians(torch.rand(6, 2), torch.tensor([0, 0, 0, 1, 1, 1]))
    with pytest.raises(ValueError, match=r"feats: expected shape \(N, 2\)"):
        ood.mahalanobis(torch.zeros(3, 5), fit)
    with pytest.raises(TypeError, match="gaussians: expected a Gaussians"):
        ood.mahalanobis(torch.zeros(3, 2), (fit.means, fit.precision))


@pytest.mark.parametrize("kind", foreign.FOREIGN_KINDS)
def test_foreign_images_follow_the_contract_and_are_deterministic(kind):
    x = foreign.foreign_images(kind, n=6, seed=1)
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and x.std() > 0.05
    assert torch.equal(x, foreign.foreign_images(kind, n=6, seed=1))
    assert not torch.equal(x, foreign.foreign_images(kind, n=6, seed=2))


def test_letters_are_centred_like_mnist():
    x = foreign.foreign_images("letters", n=20)[:, 0]
    rows = (x.sum(2) * torch.arange(28)).sum(1) / x.sum((1, 2))
    assert (rows - 13.5).abs().max() < 1.5
    ink = x > 0
    heights = [int(r.nonzero().max() - r.nonzero().min() + 1) for r in ink.any(2)]
    widths = [int(c.nonzero().max() - c.nonzero().min() + 1) for c in ink.any(1)]
    assert max(max(heights), max(widths)) == 20  # fitted into a 20x20 box, as MNIST digits are


def test_foreign_images_bad_input():
    with pytest.raises(ValueError, match="kind: expected one of"):
        foreign.foreign_images("fashion")
    with pytest.raises(ValueError, match="n: expected an int >= 1"):
        foreign.foreign_images("noise", n=0)
    with pytest.raises(ValueError, match="seed: expected an int >= 0"):
        foreign.foreign_images("noise", seed=-1)
