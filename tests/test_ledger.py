"""sedl.ledger: FLOP counts against hand counts, the model-cache ledger, energy."""

import copy

import pytest
import torch
from torch import nn

from sedl import data, ledger, models


def small_conv_net(bias):
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, bias=bias), nn.ReLU(), nn.Flatten(),
                         nn.Linear(2 * 5 * 5, 3, bias=bias))


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("n", [1, 3])
def test_flops_match_a_hand_count_for_a_small_conv_net(bias, n):
    conv = 2 * (2 * 5 * 5) * (1 * 3 * 3)  # 2 FLOPs x output elements x multiply-adds per output
    linear = 2 * 50 * 3
    counted = ledger.count_flops(small_conv_net(bias), torch.ones(n, 1, 5, 5))
    assert counted["forward"] == n * (conv + linear)
    # Backward: the linear layer's input and weight gradients, the conv layer's weight gradient
    # (the images need no gradient).
    assert counted["backward"] == n * (2 * linear + conv)


def test_flops_match_a_hand_count_for_the_reference_cnn():
    model = models.build(seed=0, width=8)
    w = 8
    by_hand = 2 * (w * 784 * 9 + w * 784 * w * 9 + 2 * w * 196 * w * 9 + 2 * w * 196 * 2 * w * 9
                   + 2 * w * 49 * 128 + 128 * 10)
    assert ledger.count_flops(model, torch.zeros(2, 1, 28, 28), backward=False) == {
        "forward": 2 * by_hand, "backward": 0}


def test_count_flops_leaves_the_model_untouched():
    model = models.build(seed=0, width=4).train()
    before = copy.deepcopy(model.state_dict())
    ledger.count_flops(model, torch.rand(4, 1, 28, 28))
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key  # includes batch-norm running statistics
    assert all(p.grad is None for p in model.parameters())
    assert model.training


def test_count_flops_is_deterministic():
    model, x = small_conv_net(True), torch.rand(2, 1, 5, 5)
    assert ledger.count_flops(model, x) == ledger.count_flops(model, x)


def test_training_flops_scale_with_samples_and_epochs():
    model = small_conv_net(False)
    per = ledger.count_flops(model, torch.zeros(1, 1, 5, 5))
    total = ledger.training_flops(model, (1, 5, 5), n_train=10, epochs=3, n_eval=7)
    assert total == (per["forward"] + per["backward"]) * 30 + per["forward"] * 7
    assert ledger.training_flops(model, (1, 5, 5), n_train=0, epochs=3) == 0


@pytest.mark.parametrize("name", sorted(ledger.DATASET_SIZES))
def test_dataset_sizes_match_the_data_loaders(name):
    load = {"mnist": data.mnist, "digits": data.digits}[name]
    shape, *sizes = ledger.DATASET_SIZES[name]
    assert tuple(load("val")[0].shape[1:]) == shape
    assert [len(load(split)[1]) for split in ("train", "val", "test")] == sizes


def test_config_flops_of_a_recipe_and_of_unknown_configs():
    recipe = models.RECIPES["mnist_cnn"]
    epochs = recipe["fit"]["epochs"]
    expected = ledger.training_flops(models.SmallCNN(**recipe["model"]), (1, 28, 28),
                                     n_train=4000, epochs=epochs, n_eval=500 * epochs + 500)
    assert ledger.config_flops(recipe) == expected
    explicit = {"model": {"width": 4}, "fit": {"epochs": 2}, "n_train": 10, "n_eval": 5,
                "input_shape": [1, 28, 28]}
    assert ledger.config_flops(explicit) == ledger.training_flops(
        models.SmallCNN(width=4), (1, 28, 28), n_train=10, epochs=2, n_eval=5)
    for unknown in (None, {"eps": 0.3}, {"model": {}, "fit": {"epochs": 1}, "dataset": "cifar"}):
        assert ledger.config_flops(unknown) is None


def test_cached_models_lists_every_readable_model(tmp_path):
    config = {"model": {"width": 4}, "fit": {"epochs": 1}, "n_train": 8, "n_eval": 0,
              "input_shape": [1, 28, 28]}
    models.cached("tiny", config, lambda: (models.SmallCNN(width=4), {"train_seconds": 1.5}),
                  lambda: models.SmallCNN(width=4))
    models.cached("foreign", {"eps": 0.1}, lambda: (models.SmallCNN(width=4), {}),
                  lambda: models.SmallCNN(width=4))
    (models.cache_dir() / "broken-0.pt").write_bytes(b"not a checkpoint")
    table = ledger.cached_models().set_index("model")
    assert list(table.index) == ["foreign", "tiny"]
    assert table.loc["tiny", "train_seconds"] == 1.5
    assert table.loc["tiny", "flops"] == ledger.config_flops(config)
    assert table.loc["foreign"].isna().all()
    assert ledger.cached_models(tmp_path / "empty").empty


def test_footprint():
    one_hour = ledger.footprint(3600.0, watts=100.0)
    assert one_hour["kwh"] == pytest.approx(0.1 * 1.58)
    assert one_hour["kg_co2e"] == pytest.approx(0.1 * 1.58 * 0.954 * 0.45359237)
    assert ledger.footprint(0.0, watts=50.0) == {"kwh": 0.0, "kg_co2e": 0.0}


@pytest.mark.parametrize("args, kwargs, error, match", [
    (("net", torch.zeros(1)), {}, TypeError, "model: expected a torch.nn.Module"),
    ((small_conv_net(True), [1.0]), {}, TypeError, "inputs: expected a torch.Tensor"),
    ((small_conv_net(True), torch.zeros(1, 1, 5, 5)), {"backward": 1},
     TypeError, "backward: expected a bool"),
])
def test_count_flops_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        ledger.count_flops(*args, **kwargs)


@pytest.mark.parametrize("shape, kwargs, error, match", [
    ([1, 5, 5], {"n_train": 1, "epochs": 1}, ValueError, "input_shape: expected a tuple of positive ints"),
    ((0, 5, 5), {"n_train": 1, "epochs": 1}, ValueError, "input_shape: expected a tuple of positive ints"),
    ((1, 5, 5), {"n_train": -1, "epochs": 1}, ValueError, "n_train: expected an int >= 0"),
    ((1, 5, 5), {"n_train": 1, "epochs": 1.5}, TypeError, "epochs: expected an int"),
    ((1, 5, 5), {"n_train": 1, "epochs": 1, "n_eval": -2}, ValueError, "n_eval: expected an int >= 0"),
])
def test_training_flops_bad_input(shape, kwargs, error, match):
    with pytest.raises(error, match=match):
        ledger.training_flops(small_conv_net(True), shape, **kwargs)


@pytest.mark.parametrize("config", [None, "mnist_cnn", {"model": "SmallCNN", "fit": {"epochs": 1}},
                                    {"model": {}, "fit": {}}, {"model": {}, "fit": {"epochs": 1}}])
def test_config_flops_bad_input(config):
    # Documented contract: a configuration the ledger cannot price gives None, never a guess.
    assert ledger.config_flops(config) is None


@pytest.mark.parametrize("cache, error, match", [(3, TypeError, "cache: expected a path or None")])
def test_cached_models_bad_input(cache, error, match):
    with pytest.raises(error, match=match):
        ledger.cached_models(cache)


@pytest.mark.parametrize("args, kwargs, error, match", [
    ((1.0,), {"watts": -5}, ValueError, "watts: expected a number >= 0.0"),
    ((1.0,), {"watts": 5, "pue": 0.5}, ValueError, "pue: expected a number >= 1.0"),
    (("1",), {"watts": 5}, TypeError, "seconds: expected a number"),
    ((-1.0,), {"watts": 5}, ValueError, "seconds: expected a number >= 0.0"),
    ((1.0,), {"watts": 5, "kg_per_kwh": float("nan")}, ValueError, "kg_per_kwh: expected a number"),
])
def test_footprint_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        ledger.footprint(*args, **kwargs)
