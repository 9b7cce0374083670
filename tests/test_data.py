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


_BAD_SPLITS = [
    ({"split": "validation"}, ValueError,
     r"split: expected one of \['all', 'test', 'train', 'val'\], got 'validation'"),
    ({"split": 1}, ValueError, "split: expected one of .*, got 1"),
    ({"seed": 0.5}, TypeError, "seed: expected an int, got float"),
    ({"seed": -1}, ValueError, "seed: expected an int >= 0"),
]


@pytest.mark.parametrize("kwargs, error, fragment", _BAD_SPLITS)
def test_mnist_bad_input(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        data.mnist(**kwargs)


@pytest.mark.parametrize("kwargs, error, fragment", _BAD_SPLITS)
def test_digits_bad_input(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        data.digits(**kwargs)


@pytest.mark.parametrize("kwargs, error, fragment", [
    *_BAD_SPLITS,
    ({"labels": np.zeros((2, 2))}, ValueError, r"labels: expected a 1-d array, got shape \(2, 2\)"),
    ({"labels": np.array(["a", "b"])}, TypeError, "labels: expected integer class labels, got dtype <U1"),
    ({"labels": [0.5, 1.0]}, TypeError, "labels: expected integer class labels, got dtype float64"),
    ({"labels": "0101"}, ValueError, r"labels: expected a 1-d array, got shape \(\)"),
])
def test_stratified_split_bad_input(kwargs, error, fragment):
    args = {"labels": np.arange(10) % 2, "split": "train"} | kwargs
    with pytest.raises(error, match=fragment):
        data.stratified_split(args.pop("labels"), args.pop("split"), **args)


@pytest.mark.parametrize("name", data.IMAGE_NAMES)
def test_every_named_image_loads_on_the_contract(name):
    x = data.image(name)
    assert x.dim() == 4 and x.shape[0] == 1 and x.shape[1] in (1, 3)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_image_resize_keeps_aspect_and_range():
    x = data.image("rocket", size=50)
    assert x.shape[-2] == 50 and x.shape[-1] == 75
    assert 0.0 <= x.min() and x.max() <= 1.0


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"name": "cat"}, ValueError, "name: expected one of .*'chelsea'.*got 'cat'"),
    ({"name": None}, ValueError, "name: expected one of .*got None"),
    ({"size": 0}, ValueError, "size: expected an int >= 1, got 0"),
    ({"size": 32.0}, TypeError, "size: expected an int, got float"),
    ({"size": "64"}, TypeError, "size: expected an int, got str"),
])
def test_image_bad_input(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        data.image(**({"name": "chelsea"} | kwargs))


def test_faces():
    x = data.faces()
    assert tuple(x.shape) == (200, 1, 25, 25) and 0 <= x.min() and x.max() <= 1


@pytest.mark.parametrize("loader, constant, filename", [
    (data.mnist, "MNIST_SHA256", "mnist_5k.csv.gz"), (data.digits, "DIGITS_SHA256", "digits.csv.gz")])
def test_a_corrupted_bundled_file_is_refused(monkeypatch, loader, constant, filename):
    # Pretend the book was written against other bytes: loading must refuse.
    cached = data._mnist_arrays if loader is data.mnist else data._digits_arrays
    cached.cache_clear()
    monkeypatch.setattr(data, constant, "0" * 64)
    try:
        with pytest.raises(data.ChecksumError, match=f"{filename}: expected SHA-256 0{{64}}"):
            loader("train")
    finally:
        monkeypatch.undo()
        cached.cache_clear()


def test_digits_are_scikit_learns():
    from sklearn.datasets import load_digits

    x, y = data.digits("all")
    bunch = load_digits()
    assert torch.equal(x, torch.from_numpy(bunch.images[:, None].astype(np.float32) / 16))
    assert torch.equal(y, torch.from_numpy(bunch.target.astype(np.int64)))


def test_a_corrupted_image_is_refused(monkeypatch):
    monkeypatch.setitem(data._IMAGE_FILES, "coins", ("coins.png", "1" * 64))
    with pytest.raises(data.ChecksumError, match="coins.png: expected SHA-256 1{64}"):
        data.image("coins")
