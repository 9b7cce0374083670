"""Tests of sedl.data: the bundled data sets, their splits and the SHA-256 check of every file."""

import numpy as np
import pytest
import torch

from sedl import data


@pytest.mark.parametrize("loader, shape, n_total", [
    (data.mnist, (1, 28, 28), 5000), (data.digits, (1, 8, 8), 1797)])
def test_loaders_follow_the_image_contract(loader, shape, n_total):
    parts = {s: loader(s) for s in ("train", "val", "test", "all")}
    for x, y in parts.values():
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert tuple(x.shape[1:]) == shape and len(x) == len(y)
        assert 0.0 <= x.min() and x.max() <= 1.0
    assert sum(len(parts[s][0]) for s in ("train", "val", "test")) == n_total
    assert len(parts["all"][0]) == n_total


def test_mnist_split_sizes_are_the_books():
    assert [len(data.mnist(s)[1]) for s in ("train", "val", "test")] == [4000, 500, 500]
    _, y = data.mnist("test")
    assert torch.bincount(y).tolist() == [50] * 10  # stratified


def test_splits_are_disjoint_and_deterministic():
    labels = np.repeat(np.arange(3), 20)
    parts = [data.stratified_split(labels, s, seed=4) for s in ("train", "val", "test")]
    assert len(np.intersect1d(parts[0], parts[1])) == 0
    assert len(np.intersect1d(parts[1], parts[2])) == 0
    assert sorted(np.concatenate(parts).tolist()) == list(range(60))
    assert np.array_equal(parts[0], data.stratified_split(labels, "train", seed=4))
    assert not np.array_equal(parts[0], data.stratified_split(labels, "train", seed=5))


def test_split_and_seed_are_checked():
    with pytest.raises(ValueError, match=r"split: expected one of \['all', 'test', 'train', 'val'\]"):
        data.mnist("validation")
    with pytest.raises(TypeError, match="seed: expected an int"):
        data.digits("train", seed=0.5)
    with pytest.raises(ValueError, match="labels: expected a 1-d array"):
        data.stratified_split(np.zeros((2, 2)), "train")


@pytest.mark.parametrize("name", data.IMAGE_NAMES)
def test_every_named_image_loads_on_the_contract(name):
    x = data.image(name)
    assert x.dim() == 4 and x.shape[0] == 1 and x.shape[1] in (1, 3)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_image_resize_keeps_aspect_and_range():
    x = data.image("rocket", size=50)
    assert x.shape[-2] == 50 and x.shape[-1] == 75
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_unknown_image_and_bad_size_are_named():
    with pytest.raises(ValueError, match="name: expected one of .*'chelsea'.*got 'cat'"):
        data.image("cat")
    with pytest.raises(ValueError, match="size: expected an int >= 1, got 0"):
        data.image("chelsea", size=0)


def test_faces():
    x = data.faces()
    assert tuple(x.shape) == (200, 1, 25, 25) and 0 <= x.min() and x.max() <= 1


def test_verify_file_accepts_the_right_digest(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # sha256("abc")
    assert data.verify_file(path, digest) == path


def test_verify_file_reports_a_checksum_failure(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abd")
    with pytest.raises(data.ChecksumError, match="f.bin: expected SHA-256 ba78.*got .*reinstall"):
        data.verify_file(path, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_verify_file_reports_missing_file_and_bad_digest(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected an existing data file"):
        data.verify_file(tmp_path / "missing", "0" * 64)
    with pytest.raises(ValueError, match="sha256: expected 64 hexadecimal characters"):
        data.verify_file(tmp_path, "abc")


def test_a_corrupted_bundled_file_is_refused(monkeypatch):
    # Pretend the book was written against other MNIST bytes: loading must refuse.
    data._mnist_arrays.cache_clear()
    monkeypatch.setattr(data, "MNIST_SHA256", "0" * 64)
    try:
        with pytest.raises(data.ChecksumError, match="mnist_5k.csv.gz"):
            data.mnist("train")
    finally:
        monkeypatch.undo()
        data._mnist_arrays.cache_clear()
