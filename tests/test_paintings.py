"""Tests of sedl.paintings: the bundled public-domain paintings, verified by SHA-256."""

import hashlib
import shutil

import pytest
import torch

from sedl import data, paintings


@pytest.mark.parametrize("name", paintings.NAMES)
def test_each_painting_loads_in_the_image_contract_with_its_recorded_digest(name):
    image = paintings.load(name)
    assert image.dtype == torch.float32 and image.shape[:2] == (1, 3)
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0 and float(image.std()) > 0.05
    digest = hashlib.sha256(paintings._path(name).read_bytes()).hexdigest()
    assert digest == paintings.PAINTINGS[name].sha256


def test_size_sets_the_shorter_side():
    image = paintings.load("the_scream", size=50)  # a portrait: the width is the shorter side
    assert image.shape[-1] == 50 and image.shape[-2] > 50


@pytest.mark.parametrize("name", paintings.NAMES)
def test_the_credit_names_title_artist_year_and_source(name):
    p, line = paintings.PAINTINGS[name], paintings.credit(name)
    assert p.title in line and p.artist in line and str(p.year) in line
    assert "public domain" in line and "neural-style" in line


def test_a_changed_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "starry_night.jpg"
    shutil.copy(paintings._path("starry_night"), copy)
    copy.write_bytes(copy.read_bytes()[:-10])
    monkeypatch.setattr(paintings, "_path", lambda name: copy)
    with pytest.raises(data.ChecksumError, match="starry_night.jpg: expected SHA-256"):
        paintings.load("starry_night")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"name": "mona_lisa"}, ValueError, "name"), ({"name": 3}, (TypeError, ValueError), "name"),
    ({"name": "shipwreck", "size": 0}, ValueError, "size"),
    ({"name": "shipwreck", "size": 2.5}, TypeError, "size")])
def test_load_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        paintings.load(**kwargs)


@pytest.mark.parametrize("name", ["mona_lisa", None])
def test_credit_bad_input(name):
    with pytest.raises((TypeError, ValueError), match="name"):
        paintings.credit(name)
