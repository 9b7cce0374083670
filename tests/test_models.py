import warnings

import pytest
import torch

from sedl import models, repro


def tiny_training(calls):
    """A cached 'training' that is fast and counts how often it really ran."""
    def train_fn():
        calls.append(1)
        model = models.build(seed=len(calls), width=2, hidden=4)
        return model, {"runs": len(calls)}
    return train_fn


def make():
    return models.SmallCNN(width=2, hidden=4)


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


def test_cached_trains_once_then_loads(tmp_path):
    calls = []
    m1, r1 = models.cached("toy", {"a": 1}, tiny_training(calls), make)
    m2, r2 = models.cached("toy", {"a": 1}, tiny_training(calls), make)
    assert len(calls) == 1 and r1 == r2 == {"runs": 1}
    assert not m2.training
    for p, q in zip(m1.parameters(), m2.parameters(), strict=True):
        assert torch.equal(p, q)
    models.cached("toy", {"a": 2}, tiny_training(calls), make)  # new config -> new training
    assert len(calls) == 2
    assert len(list(models.cache_dir().glob("toy-*.pt"))) == 2
    assert not list(models.cache_dir().glob("*.tmp"))


def test_cached_leaves_the_global_random_state_alike_on_a_hit_and_a_miss():
    import random

    import numpy as np

    def draws_globally():
        torch.rand(100), np.random.rand(100), random.random()  # noqa: NPY002 (global draws)
        return make(), {}

    def after_cached():
        repro.set_seed(0)
        models.cached("toy", {"a": 3}, draws_globally, make)
        return torch.rand(1).item(), np.random.rand(), random.random()  # noqa: NPY002

    miss = after_cached()
    hit = after_cached()
    assert miss == hit


@pytest.mark.parametrize("damage", ["truncate", "garble", "flip_weights"])
def test_a_damaged_cache_file_is_reported_and_retrained(damage):
    calls = []
    models.cached("toy", {"a": 1}, tiny_training(calls), make)
    (path,) = models.cache_dir().glob("toy-*.pt")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "garble":
        path.write_bytes(b"not a checkpoint at all")
    else:
        payload = torch.load(path, weights_only=True)
        payload["state_dict"]["head.fc.bias"] += 1.0
        torch.save(payload, path)
    with pytest.warns(UserWarning, match="(?s)unusable.*retraining"):
        _, record = models.cached("toy", {"a": 1}, tiny_training(calls), make)
    assert len(calls) == 2 and record == {"runs": 2}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten file is good again
        models.cached("toy", {"a": 1}, tiny_training(calls), make)
    assert len(calls) == 2


def test_a_failed_training_leaves_nothing_on_disk():
    def broken():
        raise RuntimeError("interrupted")
    with pytest.raises(RuntimeError, match="interrupted"):
        models.cached("toy", {"a": 1}, broken, make)
    assert not models.cache_dir().exists() or not list(models.cache_dir().iterdir())


def test_cached_rejects_unsafe_names():
    with pytest.raises(ValueError, match="name: expected letters, digits"):
        models.cached("../evil", {}, lambda: None, make)


def test_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SEDL_CACHE", str(tmp_path / "x"))
    assert models.cache_dir() == tmp_path / "x"


def test_pretrained_digits_model_is_accurate_and_cached():
    model, record = models.pretrained("digits_cnn", with_record=True)
    assert record["test_accuracy"] > 0.9
    again = models.pretrained("digits_cnn")
    assert torch.equal(model.head.fc.weight, again.head.fc.weight)


def test_pretrained_rejects_unknown_names_and_seeds():
    with pytest.raises(ValueError, match="name: expected one of .*'mnist_cnn'.*got 'resnet'"):
        models.pretrained("resnet")
    with pytest.raises(ValueError, match="seed: expected an int >= 0"):
        models.pretrained("mnist_cnn", seed=-1)


def test_reference_model_meets_its_target():
    # The recipe every chapter relies on: >= 97 % test accuracy on MNIST-5k (about 12 s).
    _, record = models.pretrained("mnist_cnn", seed=0, with_record=True)
    assert record["test_accuracy"] >= 0.97
    assert record["history"]["epoch"][-1] == models.RECIPES["mnist_cnn"]["fit"]["epochs"]
