"""Tests of sedl.models: the small CNNs, their seeded construction and the named recipes."""

import pytest
import torch

from sedl import cache, models


def test_small_cnn_shapes_and_named_layers():
    model = models.build(seed=0)
    x = torch.rand(5, 1, 28, 28)
    assert model(x).shape == (5, 10)
    assert model.embed(x).shape == (5, 128)
    names = dict(model.named_modules())
    assert {"features.conv1", "features.conv4", "embedding.fc", "head.fc"} <= set(names)


def test_small_cnn_variants():
    no_bn = models.SmallCNN(batch_norm=False, width=4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in no_bn.modules())
    rgb = models.SmallCNN(in_channels=3, image_size=32, num_classes=4)
    assert rgb(torch.rand(2, 3, 32, 32)).shape == (2, 4)


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"width": 0}, ValueError, "width: expected an int >= 1, got 0"),
    ({"dropout": 1.5}, ValueError, "dropout: expected a number <= 0.99"),
    ({"batch_norm": "yes"}, TypeError, "batch_norm: expected a bool, got str"),
    ({"num_classes": 1}, ValueError, "num_classes: expected an int >= 2"),
    ({"image_size": 28.0}, TypeError, "image_size: expected an int, got float"),
    ({"std": 0.0}, ValueError, "std: expected a number > 0.0, got 0.0"),
    ({"mean": float("nan")}, ValueError, "mean: expected a number, got nan"),
    ({"dropout": float("inf")}, ValueError, "dropout: expected a finite number, got inf"),
])
def test_small_cnn_rejects_bad_config(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        models.SmallCNN(**kwargs)


def test_build_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(1)
    expected = torch.rand(1)
    torch.manual_seed(1)
    a = models.build(seed=5)
    assert torch.equal(torch.rand(1), expected)
    b, c = models.build(seed=5), models.build(seed=6)
    assert torch.equal(a.head.fc.weight, b.head.fc.weight)
    assert not torch.equal(a.head.fc.weight, c.head.fc.weight)


def test_pretrained_digits_model_is_accurate_and_cached():
    model, record = models.pretrained("digits_cnn", with_record=True)
    assert record["test_accuracy"] > 0.9
    again = models.pretrained("digits_cnn")
    assert torch.equal(model.head.fc.weight, again.head.fc.weight)


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"name": "resnet"}, ValueError, "name: expected one of .*'mnist_cnn'.*got 'resnet'"),
    ({"seed": -1}, ValueError, "seed: expected an int >= 0"),
    ({"seed": "0"}, TypeError, "seed: expected an int, got str"),
    ({"with_record": "yes"}, TypeError, "with_record: expected a bool, got str 'yes'"),
])
def test_pretrained_bad_input(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        models.pretrained(**({"name": "digits_cnn"} | kwargs))


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"seed": 1.5}, TypeError, "seed: expected an int, got float"),
    ({"seed": 2**32}, ValueError, "seed: expected an int <= 4294967295"),
    ({"widht": 4}, TypeError, r"config: expected options of SmallCNN \(.*width.*\), got 'widht'"),
    ({"width": -1}, ValueError, "width: expected an int >= 1, got -1"),
    ({"batch_norm": 1}, TypeError, "batch_norm: expected a bool, got int 1"),
])
def test_build_bad_input(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        models.build(**kwargs)


@pytest.mark.parametrize("model, error, fragment", [
    ("cnn", TypeError, "model: expected a torch.nn.Module, got str"),
    ([torch.nn.Linear(2, 2)], TypeError, "model: expected a torch.nn.Module, got list"),
])
def test_count_parameters_bad_input(model, error, fragment):
    with pytest.raises(error, match=fragment):
        models.count_parameters(model)


def test_count_parameters_counts_only_trainable_ones():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    model[0].requires_grad_(False)
    assert models.count_parameters(model) == 3


def test_reference_model_meets_its_target():
    # The recipe every chapter relies on: >= 97 % test accuracy on MNIST-5k (about 12 s).
    _, record = models.pretrained("mnist_cnn", seed=0, with_record=True)
    assert record["test_accuracy"] >= 0.97
    assert record["history"]["epoch"][-1] == models.RECIPES["mnist_cnn"]["fit"]["epochs"]


def test_pages_reach_the_cache_through_models():
    # Pages call models.cached(...) and models.cache_dir(): the names of sedl.cache, re-exported.
    assert models.cached is cache.cached and models.cache_dir is cache.cache_dir
    assert {"cached", "cache_dir"} <= set(models.__all__)
