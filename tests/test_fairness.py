"""sedl.fairness: group rates and their intervals, AUC by group, calibration by group."""

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
)
from scipy.stats import binomtest
from sklearn.metrics import accuracy_score, confusion_matrix, precision_score, roc_auc_score

from sedl import compas, fairness
from tests.wheel_fixtures import offline_wheels

# The COMPAS wheel comes from <sys.prefix>/wheels (make setup): no test downloads it.
_no_downloads = pytest.fixture(scope="module", autouse=True)(offline_wheels)


@pytest.fixture(scope="module")
def two():
    """ProPublica's two largest groups, with the "medium or high" label."""
    table = compas.load_compas()
    return table[table["race"].isin(["African-American", "Caucasian"])].reset_index(drop=True)


def random_decisions(seed, n=600):
    rng = np.random.default_rng(seed)
    groups = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    y_true = (rng.random(n) < np.where(groups == "a", 0.6, 0.3)).astype(int)
    y_pred = np.where(rng.random(n) < 0.7, y_true, 1 - y_true)
    return y_true, y_pred, groups


# --- group rates --------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_rates_match_sklearn_per_group_by_hand(seed):
    y_true, y_pred, groups = random_decisions(seed)
    rates = fairness.group_rates(y_true=y_true, y_pred=y_pred, groups=groups)
    for group in ["a", "b", "c", "all"]:
        mask = np.ones(len(groups), bool) if group == "all" else groups == group
        tn, fp, fn, tp = confusion_matrix(y_true[mask], y_pred[mask], labels=[0, 1]).ravel()
        row = rates.loc[group]
        assert row["n"] == mask.sum()
        assert row["fpr"] == pytest.approx(fp / (fp + tn))
        assert row["fnr"] == pytest.approx(fn / (fn + tp))
        assert row["ppv"] == pytest.approx(precision_score(y_true[mask], y_pred[mask]))
        # NPV is the precision of the "not flagged" decision for the outcome 0.
        assert row["npv"] == pytest.approx(precision_score(1 - y_true[mask], 1 - y_pred[mask]))
        assert row["accuracy"] == pytest.approx(accuracy_score(y_true[mask], y_pred[mask]))
        assert row["base_rate"] == pytest.approx(y_true[mask].mean())
        assert row["selection_rate"] == pytest.approx(y_pred[mask].mean())


def _fairlearn_frame(y_true, y_pred, groups):
    return MetricFrame(metrics={"fpr": false_positive_rate, "fnr": false_negative_rate,
                                "selection_rate": selection_rate, "accuracy": accuracy_score},
                       y_true=y_true, y_pred=y_pred, sensitive_features=groups)


@pytest.mark.parametrize("seed", [0, 1])
def test_group_rates_match_fairlearn(seed):
    y_true, y_pred, groups = random_decisions(seed)
    rates = fairness.group_rates(y_true=y_true, y_pred=y_pred, groups=groups)
    frame = _fairlearn_frame(y_true, y_pred, groups)
    columns = list(frame.by_group.columns)
    np.testing.assert_allclose(rates.loc[frame.by_group.index, columns], frame.by_group)
    np.testing.assert_allclose(rates.loc["all", columns].to_numpy(dtype=float),
                               frame.overall[columns].to_numpy(dtype=float))


def test_compas_rates_match_fairlearn_and_propublica(two):
    flagged = (two["score_text"] != "Low").astype(int).to_numpy()
    outcome = two["two_year_recid"].to_numpy()
    rates = fairness.group_rates(y_true=outcome, y_pred=flagged, groups=two["race"].to_numpy())
    frame = _fairlearn_frame(outcome, flagged, two["race"].to_numpy())
    np.testing.assert_allclose(rates.loc[frame.by_group.index, ["fpr", "fnr"]],
                               frame.by_group[["fpr", "fnr"]])
    black, white = rates.loc["African-American"], rates.loc["Caucasian"]
    # ProPublica's finding: Black defendants' FPR almost twice white defendants'; FNR the reverse.
    assert 1.7 < black["fpr"] / white["fpr"] < 2.1
    assert white["fnr"] > black["fnr"] + 0.15
    assert abs(black["ppv"] - white["ppv"]) < 0.1


def test_rates_satisfy_chouldechovas_identity():
    y_true, y_pred, groups = random_decisions(4)
    rates = fairness.group_rates(y_true=y_true, y_pred=y_pred, groups=groups)
    p, ppv, fnr = rates["base_rate"], rates["ppv"], rates["fnr"]
    np.testing.assert_allclose(rates["fpr"], p / (1 - p) * (1 - ppv) / ppv * (1 - fnr))


def test_perfect_predictions_have_no_errors_and_empty_cells_are_nan():
    y = np.array([0, 1, 1, 0, 1])
    rates = fairness.group_rates(y_true=y, y_pred=y, groups=["x"] * 5)
    assert rates.loc["x", "fpr"] == 0 and rates.loc["x", "fnr"] == 0 and rates.loc["x", "accuracy"] == 1
    no_negatives = fairness.group_rates(y_true=[1, 1], y_pred=[1, 0], groups=["g", "g"])
    assert np.isnan(no_negatives.loc["g", "fpr"])
    assert fairness.group_rates(y_true=[True, False], y_pred=[True, True], groups=[0, 0]).loc[0, "fpr"] == 1.0


def test_group_rates_are_keyword_only():
    with pytest.raises(TypeError, match="positional"):
        fairness.group_rates([0, 1], [1, 0], ["a", "b"])


BAD_DECISIONS = [
    ({"y_true": [0, 2], "y_pred": [0, 1], "groups": ["a", "b"]},
     ValueError, "y_true: expected binary values 0/1"),
    ({"y_true": [0, 1], "y_pred": ["no", "yes"], "groups": ["a", "b"]}, ValueError,
     "y_pred: expected binary values 0/1"),
    ({"y_true": [0, 1], "y_pred": [0, 1, 1], "groups": ["a", "b"]}, ValueError,
     "y_pred: expected 2 values, one per person, got 3"),
    ({"y_true": [[0, 1]], "y_pred": [0, 1], "groups": ["a", "b"]}, ValueError,
     r"y_true: expected a 1-d array, got shape \(1, 2\)"),
    ({"y_true": [0, 1], "y_pred": [0, 1], "groups": ["a"]},
     ValueError, "groups: expected a 1-d array of 2 values"),
    # A group named like the overall row would overwrite it (or be overwritten) without a word.
    ({"y_true": [0, 1], "y_pred": [0, 1], "groups": ["all", "b"]},
     ValueError, "groups: expected no group named 'all'"),
]


@pytest.mark.parametrize("kwargs, error, match", BAD_DECISIONS)
def test_group_rates_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        fairness.group_rates(**kwargs)


# --- intervals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 3])
def test_rate_intervals_match_scipys_exact_interval(seed):
    y_true, y_pred, groups = random_decisions(seed, n=300)
    table = fairness.rate_intervals(y_true=y_true, y_pred=y_pred, groups=groups, confidence=0.9)
    rates = fairness.group_rates(y_true=y_true, y_pred=y_pred, groups=groups)
    assert len(table) == 4 * 4  # three groups and the overall row, four rates each
    for row in table.itertuples():
        ci = binomtest(row.k, row.n).proportion_ci(confidence_level=0.9, method="exact")
        assert (row.low, row.high) == pytest.approx((ci.low, ci.high), abs=1e-9)
        assert row.value == pytest.approx(rates.loc[row.group, row.rate])
        assert row.low <= row.value <= row.high


def test_rate_intervals_narrow_with_more_people():
    small = fairness.rate_intervals(y_true=[0] * 10 + [1] * 10, y_pred=[1, 0] * 10, groups=["g"] * 20)
    large = fairness.rate_intervals(y_true=[0] * 1000 + [1] * 1000, y_pred=[1, 0] * 1000, groups=["g"] * 2000)
    width = lambda t: (t["high"] - t["low"]).to_numpy()  # noqa: E731
    assert (width(large) < width(small) / 5).all()


def test_rate_intervals_of_an_empty_cell_are_nan():
    table = fairness.rate_intervals(y_true=[1, 1], y_pred=[1, 1], groups=["g", "g"])
    fpr = table.query("group == 'g' and rate == 'fpr'").iloc[0]
    assert fpr["n"] == 0 and np.isnan(fpr["low"]) and np.isnan(fpr["high"])


@pytest.mark.parametrize("kwargs, error, match", [
    *BAD_DECISIONS,
    ({"y_true": [0, 1], "y_pred": [0, 1], "groups": ["a", "b"], "confidence": 1.0}, ValueError, "confidence"),
    ({"y_true": [0, 1], "y_pred": [0, 1], "groups": ["a", "b"], "confidence": 0.0}, ValueError, "confidence"),
    ({"y_true": [0, 1], "y_pred": [0, 1], "groups": ["a", "b"], "confidence": "95%"},
     TypeError, "confidence"),
])
def test_rate_intervals_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        fairness.rate_intervals(**kwargs)


# --- AUC ---------------------------------------------------------------------------------------

def test_auc_by_group_matches_sklearn(two):
    y, s, g = two["two_year_recid"].to_numpy(), two["decile_score"].to_numpy(), two["race"].to_numpy()
    table = fairness.auc_by_group(y_true=y, scores=s, groups=g, n_boot=50, seed=0)
    for group in ("African-American", "Caucasian"):
        assert table.loc[group, "auc"] == pytest.approx(roc_auc_score(y[g == group], s[g == group]))
        assert table.loc[group, "low"] < table.loc[group, "auc"] < table.loc[group, "high"]
    assert table.loc["all", "auc"] == pytest.approx(roc_auc_score(y, s))
    assert table.loc["all", "n"] == len(y)


def test_auc_by_group_is_deterministic_and_seeded():
    y_true, _, groups = random_decisions(5, n=200)
    scores = y_true + np.random.default_rng(0).normal(size=200)
    first = fairness.auc_by_group(y_true=y_true, scores=scores, groups=groups, n_boot=40, seed=1)
    again = fairness.auc_by_group(y_true=y_true, scores=scores, groups=groups, n_boot=40, seed=1)
    other = fairness.auc_by_group(y_true=y_true, scores=scores, groups=groups, n_boot=40, seed=2)
    assert first.equals(again)
    assert (first["auc"] == other["auc"]).all() and not first["low"].equals(other["low"])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"y_true": [0, 2], "scores": [1, 2], "groups": ["a", "a"]}, ValueError, "y_true: expected binary"),
    ({"y_true": [0, 1], "scores": [1, 2, 3], "groups": ["a", "a"]}, ValueError, "scores: expected 2 finite"),
    ({"y_true": [0, 1], "scores": ["lo", "hi"], "groups": ["a", "a"]},
     ValueError, "scores: expected 2 finite"),
    ({"y_true": [0, 1], "scores": [1.0, np.nan], "groups": ["a", "a"]},
     ValueError, "scores: expected 2 finite"),
    ({"y_true": [0, 1], "scores": [1, 2], "groups": ["all", "a"]}, ValueError, "groups: expected no group"),
    ({"y_true": [0, 1], "scores": [1, 2], "groups": ["a", "a"], "n_boot": 0}, ValueError, "n_boot"),
    ({"y_true": [0, 1], "scores": [1, 2], "groups": ["a", "a"], "seed": -1}, ValueError, "seed"),
    ({"y_true": [0, 1], "scores": [1, 2], "groups": ["a", "a"], "confidence": 2.0}, ValueError, "confidence"),
])
def test_auc_by_group_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        fairness.auc_by_group(**kwargs)


# --- calibration ---------------------------------------------------------------------------------

def test_calibration_by_group_matches_groupby():
    table = compas.load_compas()
    calibration = fairness.calibration_by_group(scores=table["decile_score"].to_numpy(),
                                                y_true=table["two_year_recid"], groups=table["race"])
    expected = table.groupby(["decile_score", "race"])["two_year_recid"].mean().unstack()
    np.testing.assert_allclose(calibration["rate"].to_numpy(), expected.to_numpy())
    assert calibration["n"].sum().sum() == len(table)
    assert list(calibration.index) == list(range(1, 11))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"scores": [0.5, 0.7], "y_true": [0, 1], "groups": ["a", "b"]},
     ValueError, "scores: expected 2 integer scores"),
    ({"scores": [1, 2, 3], "y_true": [0, 1], "groups": ["a", "b"]},
     ValueError, "scores: expected 2 integer scores"),
    ({"scores": [1, 2], "y_true": [0, 5], "groups": ["a", "b"]}, ValueError, "y_true: expected binary"),
    ({"scores": [1, 2], "y_true": [0, 1], "groups": ["a"]}, ValueError, "groups: expected a 1-d array"),
])
def test_calibration_by_group_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        fairness.calibration_by_group(**kwargs)
