
import numpy as np
import pytest
import torch
from scipy.spatial.distance import mahalanobis as scipy_mahalanobis
from sklearn.covariance import EmpiricalCovariance
from sklearn.metrics import roc_auc_score, roc_curve

from sedl import models, ood


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


@pytest.mark.parametrize("kwargs, kind, message", [
    ({"logits": [[0.0, 1.0]]}, TypeError, "logits: expected a torch.Tensor, got list"),
    ({"logits": torch.zeros(3)}, ValueError, r"logits: expected a floating-point tensor \(N, K\)"),
    ({"logits": torch.tensor([[float("nan"), 0.0]])}, ValueError, "logits: expected finite values"),
    ({"temperature": 0}, ValueError, "temperature: expected a number > 0.0, got 0.0"),
    ({"temperature": -1.0}, ValueError, "temperature: expected a number > 0.0"),
    ({"temperature": float("inf")}, ValueError, "temperature: expected a finite number, got inf"),
    ({"temperature": float("nan")}, ValueError, "temperature: expected a number, got nan"),
    ({"temperature": "2"}, TypeError, "temperature: expected a number, got str"),
    ({"temperature": True}, TypeError, "temperature: expected a number, got bool"),
])
def test_energy_bad_input(kwargs, kind, message):
    args = {"logits": torch.zeros(2, 2), "temperature": 1.0} | kwargs
    with pytest.raises(kind, match=message):
        ood.energy(args["logits"], temperature=args["temperature"])


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
