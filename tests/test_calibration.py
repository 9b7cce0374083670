import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from scipy.optimize import minimize_scalar
from sklearn.calibration import calibration_curve

from sedl import calibration


def ece(confidences, correct, **options):
    return calibration.expected_calibration_error(confidences, correct=correct, **options)


def synthetic(n, seed, *, power=1.0):
    """Confidences in [0.1, 1] and outcomes drawn with P(correct) = confidence ** power."""
    g = torch.Generator().manual_seed(seed)
    conf = 0.1 + 0.9 * torch.rand(n, generator=g, dtype=torch.float64)
    correct = torch.rand(n, generator=g, dtype=torch.float64) < conf ** power
    return conf, correct


def test_ece_is_zero_for_an_exactly_calibrated_predictor():
    # In each bin, the share of right answers equals the confidence exactly.
    conf = torch.tensor([0.25] * 4 + [0.5] * 2 + [0.75] * 4 + [1.0] * 3, dtype=torch.float64)
    correct = torch.tensor([1, 0, 0, 0] + [1, 0] + [1, 1, 1, 0] + [1, 1, 1], dtype=torch.bool)
    assert ece(conf, correct, n_bins=10) == pytest.approx(0, abs=1e-12)


def test_ece_matches_a_hand_computation():
    conf = torch.tensor([0.2, 0.3, 0.55, 0.6, 0.9, 0.95])
    correct = torch.tensor([0, 1, 1, 1, 1, 0])
    # Bins of width 1/3: {0.2, 0.3}: conf 0.25, acc 0.5; {0.55, 0.6}: 0.575 vs 1; {0.9, 0.95}: 0.925 vs 0.5
    expected = (2 * 0.25 + 2 * 0.425 + 2 * 0.425) / 6
    assert calibration.expected_calibration_error(conf, correct=correct, n_bins=3) == pytest.approx(expected)


def test_ece_is_small_when_calibrated_and_large_when_overconfident():
    assert ece(*synthetic(200_000, 0)) < 0.01
    assert ece(*synthetic(200_000, 0, power=3)) > 0.15


def test_reliability_bins_matches_sklearn_calibration_curve():
    conf, correct = synthetic(5000, 1, power=2)
    table = calibration.reliability_bins(conf, correct=correct, n_bins=12)
    prob_true, prob_pred = calibration_curve(correct.numpy(), conf.numpy(), n_bins=12, strategy="uniform")
    filled = table[table["count"] > 0]
    np.testing.assert_allclose(filled["accuracy"], prob_true, atol=1e-12)
    np.testing.assert_allclose(filled["confidence"], prob_pred, atol=1e-12)
    assert table["count"].sum() == 5000 and len(table) == 12


def test_reliability_bins_puts_an_edge_value_in_the_lower_bin():
    table = calibration.reliability_bins(torch.tensor([0.0, 0.5, 1.0]), correct=torch.tensor([1, 1, 1]),
                                         n_bins=2)
    assert table["count"].tolist() == [2, 1]


def overconfident_logits(n, seed, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    true_logits = 2 * torch.randn(n, 5, generator=g, dtype=torch.float64)
    labels = torch.multinomial(true_logits.softmax(1), 1, generator=g)[:, 0]
    return scale * true_logits, labels


def test_temperature_scaling_recovers_the_overconfidence_and_lowers_nll():
    logits, labels = overconfident_logits(4_000, 0)
    t = calibration.fit_temperature(logits, labels)
    assert t == pytest.approx(3.0, rel=0.1)
    val_logits, val_labels = overconfident_logits(2_000, 1)
    assert F.cross_entropy(val_logits / t, val_labels) < F.cross_entropy(val_logits, val_labels) - 0.1


def test_temperature_matches_a_scipy_minimisation():
    logits, labels = overconfident_logits(3_000, 2, scale=0.5)  # underconfident: T < 1
    nll = lambda t: F.cross_entropy(logits / t, labels).item()  # noqa: E731
    reference = minimize_scalar(nll, bounds=(0.05, 20), method="bounded", options={"xatol": 1e-8}).x
    t = calibration.fit_temperature(logits, labels)
    assert t < 1
    assert t == pytest.approx(reference, rel=1e-3)
    assert calibration.fit_temperature(logits, labels) == t  # deterministic


def test_risk_coverage_on_a_toy_case_with_ties():
    rc = calibration.risk_coverage(torch.tensor([0.5, 0.9, 0.9, 0.7], dtype=torch.float64),
                                   correct=torch.tensor([1, 1, 0, 0]))
    assert rc["threshold"].tolist() == [0.9, 0.7, 0.5]
    np.testing.assert_allclose(rc["coverage"], [0.5, 0.75, 1.0])
    np.testing.assert_allclose(rc["risk"], [0.5, 2 / 3, 0.5])
    np.testing.assert_allclose(rc["accuracy"] + rc["risk"], 1.0)


def test_risk_is_zero_up_to_the_accuracy_when_confidence_ranks_errors_last():
    conf, correct = torch.linspace(1, 0, 100, dtype=torch.float64), torch.arange(100) < 80
    rc = calibration.risk_coverage(conf, correct=correct)
    assert (rc.loc[rc["coverage"] <= 0.8, "risk"] == 0).all()
    assert rc["risk"].iloc[-1] == pytest.approx(0.2)
    assert calibration.accuracy_at_coverage(conf, correct=correct, coverage=0.9) == pytest.approx(80 / 90)


def test_accuracy_at_full_coverage_is_the_plain_accuracy():
    conf, correct = synthetic(1000, 3)
    assert calibration.accuracy_at_coverage(conf, correct=correct, coverage=1.0) == pytest.approx(
        correct.double().mean().item())


def test_reliability_diagram_has_one_panel_per_table():
    conf, correct = synthetic(500, 4)
    table = calibration.reliability_bins(conf, correct=correct)
    fig = calibration.reliability_diagram({"before": table, "after": table})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert isinstance(table, pd.DataFrame)


BAD_CONFIDENCES = [
    (([0.5], torch.tensor([True])), TypeError, "confidences: expected a torch.Tensor"),
    ((torch.tensor([[0.5]]), torch.tensor([True])), ValueError, "confidences: expected a 1-d floating"),
    ((torch.tensor([1, 0]), torch.tensor([True, True])), ValueError, "confidences: expected a 1-d floating"),
    ((torch.tensor([]), torch.tensor([], dtype=torch.bool)), ValueError, "expected at least one"),
    ((torch.tensor([0.5, 1.5]), torch.tensor([1, 1])), ValueError, r"confidences: expected values in \["),
    ((torch.tensor([0.5, float("nan")]), torch.tensor([1, 1])), ValueError, r"expected values in \[0, 1\]"),
    ((torch.tensor([0.5]), torch.tensor([True, False])), ValueError, "correct: expected shape"),
    ((torch.tensor([0.5]), torch.tensor([0.5])), TypeError, "correct: expected a bool"),
    ((torch.tensor([0.5]), torch.tensor([2])), TypeError, "correct: expected a bool"),
    ((torch.tensor([0.5]), [True]), TypeError, "correct: expected a torch.Tensor, got list"),
]


@pytest.mark.parametrize("args, kind, message", BAD_CONFIDENCES)
def test_expected_calibration_error_bad_input(args, kind, message):
    with pytest.raises(kind, match=message):
        calibration.expected_calibration_error(args[0], correct=args[1])


GOOD = (torch.tensor([0.9, 0.6]), torch.tensor([True, False]))


@pytest.mark.parametrize("args, kind, message", BAD_CONFIDENCES + [
    ((*GOOD, 0), ValueError, "n_bins: expected an int >= 1, got 0"),
    ((*GOOD, 2.5), TypeError, "n_bins: expected an int, got float"),
    ((*GOOD, True), TypeError, "n_bins: expected an int, got bool"),
])
def test_reliability_bins_bad_input(args, kind, message):
    options = {"n_bins": args[2]} if len(args) > 2 else {}
    with pytest.raises(kind, match=message):
        calibration.reliability_bins(args[0], correct=args[1], **options)


@pytest.mark.parametrize("args, kind, message", BAD_CONFIDENCES)
def test_risk_coverage_bad_input(args, kind, message):
    with pytest.raises(kind, match=message):
        calibration.risk_coverage(args[0], correct=args[1])


@pytest.mark.parametrize("args, kind, message", BAD_CONFIDENCES + [
    ((*GOOD, 0), ValueError, "coverage: expected a number > 0.0, got 0.0"),
    ((*GOOD, 1.5), ValueError, "coverage: expected a number <= 1.0, got 1.5"),
    ((*GOOD, float("nan")), ValueError, "coverage: expected a number, got nan"),
    ((*GOOD, "0.9"), TypeError, "coverage: expected a number, got str"),
])
def test_accuracy_at_coverage_bad_input(args, kind, message):
    options = {"coverage": args[2]} if len(args) > 2 else {}
    with pytest.raises(kind, match=message):
        calibration.accuracy_at_coverage(args[0], correct=args[1], **options)


@pytest.mark.parametrize("function", [calibration.expected_calibration_error, calibration.risk_coverage,
                                      calibration.reliability_bins, calibration.accuracy_at_coverage])
def test_correct_is_keyword_only_so_a_swap_cannot_pass_silently(function):
    with pytest.raises(TypeError, match="positional"):
        function(torch.tensor([0.9, 0.6]), torch.tensor([True, False]))


def test_bad_options_get_clear_errors():
    conf, correct = torch.tensor([0.5]), torch.tensor([True])
    with pytest.raises(ValueError, match="n_bins: expected an int >= 1"):
        calibration.reliability_bins(conf, correct=correct, n_bins=0)
    with pytest.raises(ValueError, match="coverage: expected a number > 0.0"):
        calibration.accuracy_at_coverage(conf, correct=correct, coverage=0)
    with pytest.raises(ValueError, match="coverage: expected a number <= 1.0"):
        calibration.accuracy_at_coverage(conf, correct=correct, coverage=1.5)
    with pytest.raises(TypeError, match="tables: expected a non-empty dict"):
        calibration.reliability_diagram([])


ZEROS = torch.zeros(3, dtype=torch.long)


@pytest.mark.parametrize("logits, labels, kind, message", [
    (torch.zeros(3), ZEROS, ValueError, r"logits: expected a floating-point tensor \(N, K\)"),
    (torch.zeros(3, 2, dtype=torch.long), ZEROS, ValueError, "logits: expected a floating"),
    (torch.zeros(3, 1), ZEROS, ValueError, r"with K >= 2"),
    ([[0.0, 1.0]], ZEROS[:1], TypeError, "logits: expected a torch.Tensor"),
    (torch.full((3, 2), float("inf")), ZEROS, ValueError, "logits: expected finite"),
    (torch.zeros(3, 2), ZEROS[:2], ValueError, "labels: expected 3 labels"),
    (torch.zeros(3, 2), torch.full((3,), 2), ValueError, r"labels: expected labels in \[0, 1\]"),
    (torch.zeros(3, 2), torch.zeros(3), TypeError, "labels: expected an integer tensor"),
])
def test_fit_temperature_bad_input(logits, labels, kind, message):
    with pytest.raises(kind, match=message):
        calibration.fit_temperature(logits, labels)


def test_bad_max_iter_gets_a_clear_error():
    with pytest.raises(ValueError, match="max_iter: expected an int >= 1"):
        calibration.fit_temperature(torch.zeros(2, 2), torch.tensor([0, 1]), max_iter=0)


def test_reliability_diagram_bad_input():
    with pytest.raises(ValueError, match="tables: expected DataFrames made by reliability_bins"):
        calibration.reliability_diagram({"a": pd.DataFrame({"x": [1]})})


def test_reliability_diagram_writes_each_filled_bin_count():
    conf, correct = synthetic(300, 5)
    table = calibration.reliability_bins(conf, correct=correct, n_bins=5)
    fig = calibration.reliability_diagram({"one": table})
    written = sorted(int(t.get_text()) for t in fig.axes[0].texts)
    assert written == sorted(table.loc[table["count"] > 0, "count"].tolist())
