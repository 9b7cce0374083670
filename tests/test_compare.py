import numpy as np
import pytest
from scipy import stats

from sedl import compare


def test_paired_difference_matches_scipy():
    rng = np.random.default_rng(0)
    a = rng.normal(0.9, 0.01, 7)
    b = a - rng.normal(0.005, 0.004, 7)
    result = compare.paired_difference(a, b, confidence=0.9)
    reference = stats.ttest_rel(a, b)
    interval = reference.confidence_interval(confidence_level=0.9)
    assert result["p"] == pytest.approx(reference.pvalue)
    assert (result["low"], result["high"]) == pytest.approx((interval.low, interval.high))
    assert result["mean"] == pytest.approx(np.mean(a - b)) and result["n"] == 7


def test_paired_beats_unpaired_when_pairs_share_noise():
    rng = np.random.default_rng(1)
    shared = rng.normal(0, 0.02, 10)  # the seed's effect, common to both configurations
    a, b = 0.9 + shared + 0.004, 0.9 + shared + rng.normal(0, 0.001, 10)
    assert compare.paired_difference(a, b)["p"] < stats.ttest_ind(a, b, equal_var=False).pvalue


def test_paired_difference_without_spread():
    same = compare.paired_difference([1.0, 2.0], [1.0, 2.0])
    shifted = compare.paired_difference([1.5, 2.5], [1.0, 2.0])
    assert (same["p"], same["low"], same["high"]) == (1.0, 0.0, 0.0)
    assert (shifted["p"], shifted["mean"]) == (0.0, 0.5)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"a": "abc", "b": [1, 2]}, TypeError, "a: expected a sequence"),
    ({"a": [1.0], "b": [1.0]}, ValueError, "a: expected at least two"),
    ({"a": [1.0, float("nan")], "b": [1.0, 2.0]}, ValueError, "a: expected at least two finite"),
    ({"a": [1.0, 2.0], "b": [1.0, 2.0, 3.0]}, ValueError, "b: expected as many values as a"),
    ({"a": [1.0, 2.0], "b": 3}, TypeError, "b: expected a sequence"),
    ({"a": [1.0, 2.0], "b": [1.0, 3.0], "confidence": 1.0}, ValueError, "confidence"),
    ({"a": [1.0, 2.0], "b": [1.0, 3.0], "confidence": 0.0}, ValueError, "confidence"),
    ({"a": [1.0, 2.0], "b": [1.0, 3.0], "confidence": "95%"}, TypeError, "confidence"),
])
def test_paired_difference_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        compare.paired_difference(**kwargs)


@pytest.mark.parametrize("k, n", [(0, 20), (7, 20), (20, 20), (480, 500)])
def test_clopper_pearson_matches_scipy(k, n):
    reference = stats.binomtest(k, n).proportion_ci(confidence_level=0.9, method="exact")
    assert compare.clopper_pearson(k, n, confidence=0.9) == pytest.approx((reference.low, reference.high))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"successes": 5, "n": 0}, ValueError, "n: expected an int >= 1"),
    ({"successes": 6, "n": 5}, ValueError, "successes: expected an int <= 5"),
    ({"successes": -1, "n": 5}, ValueError, "successes: expected an int >= 0"),
    ({"successes": 2.0, "n": 5}, TypeError, "successes: expected an int"),
    ({"successes": 2, "n": 5, "confidence": 1.5}, ValueError, "confidence"),
    ({"successes": 2, "n": 5, "confidence": 1.0}, ValueError, "confidence"),
])
def test_clopper_pearson_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        compare.clopper_pearson(**kwargs)
