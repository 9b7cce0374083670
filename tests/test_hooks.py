import pytest
import torch

from sedl import hooks, models

LAYERS = ["features.relu1", "features.pool2", "embedding.relu"]


def hook_count(model):
    return sum(len(m._forward_hooks) for m in model.modules())


def test_recorder_records_every_layer_and_removes_its_hooks():
    model = models.build(seed=0).eval()
    x = torch.rand(3, 1, 28, 28)
    with hooks.record(model, LAYERS) as acts:
        assert hook_count(model) == len(LAYERS)
        logits = model(x)
    assert hook_count(model) == 0
    assert {k: tuple(v.shape) for k, v in acts.items()} == {
        "features.relu1": (3, 16, 28, 28), "features.pool2": (3, 32, 7, 7), "embedding.relu": (3, 128)}
    assert not acts["features.relu1"].requires_grad
    # The recorded penultimate layer is exactly what embed() computes.
    torch.testing.assert_close(acts["embedding.relu"], model.embed(x))
    torch.testing.assert_close(model.head(acts["embedding.relu"]), logits)


def test_hooks_are_removed_when_the_block_raises():
    model = models.build(seed=0)
    with pytest.raises(RuntimeError), hooks.record(model, LAYERS):
        model(torch.rand(2, 3, 28, 28))  # three channels: the first conv raises
    assert hook_count(model) == 0
    with pytest.raises(KeyError), hooks.record(model, LAYERS):
        raise KeyError("any error at all")
    assert hook_count(model) == 0


def test_recorder_can_keep_the_graph_for_gradients():
    model = models.build(seed=0)
    x = torch.rand(2, 1, 28, 28)
    with hooks.record(model, ["features.relu4"], detach=False) as acts:
        score = model(x)[:, 3].sum()
    grad = torch.autograd.grad(score, acts["features.relu4"])[0]
    assert grad.shape == (2, 32, 14, 14) and grad.abs().sum() > 0


def test_recorder_is_reusable_but_not_reentrant():
    model = models.build(seed=0)
    recorder = hooks.Recorder(model, ["features.relu1"])
    for n in (1, 2):
        with recorder as acts:
            model(torch.rand(n, 1, 28, 28))
        assert acts["features.relu1"].shape[0] == n
    with recorder, pytest.raises(RuntimeError, match="already active"), recorder:
        pass
    assert hook_count(model) == 0


def test_activations_in_batches_equal_one_pass_and_restore_mode():
    model = models.build(seed=0).train()
    x = torch.rand(7, 1, 28, 28)
    batched = hooks.activations(model, x, LAYERS, batch_size=3)
    assert model.training and hook_count(model) == 0
    model.eval()
    with torch.no_grad(), hooks.record(model, LAYERS) as whole:
        model(x)
    for name in LAYERS:
        torch.testing.assert_close(batched[name], whole[name])


def test_layer_names_and_get_layer():
    model = models.build(seed=0)
    assert "features.conv4" in hooks.layer_names(model)
    assert hooks.get_layer(model, "head.fc") is model.head.fc


@pytest.mark.parametrize("model, error, fragment", [
    ("model", TypeError, "model: expected a torch.nn.Module, got str"),
    (None, TypeError, "model: expected a torch.nn.Module, got NoneType"),
])
def test_layer_names_bad_input(model, error, fragment):
    with pytest.raises(error, match=fragment):
        hooks.layer_names(model)


@pytest.mark.parametrize("model, name, error, fragment", [
    (None, "head.fc", TypeError, "model: expected a torch.nn.Module, got NoneType"),
    (models.build(seed=0), "head.fc9", ValueError, r"layer: expected one of \['normalize', .*got 'head.fc9'"),
    (models.build(seed=0), "", ValueError, "layer: expected one of"),
    (models.build(seed=0), 3, TypeError, "layer: expected a layer name"),
])
def test_get_layer_bad_input(model, name, error, fragment):
    with pytest.raises(error, match=fragment):
        hooks.get_layer(model, name)


BAD_LAYERS = [
    (dict(layers=["features.conv9"]), ValueError,
     r"layer: expected one of \['normalize', .*got 'features.conv9'"),
    (dict(layers=["features.relu1", ""]), ValueError, "layer: expected one of"),
    (dict(layers=["features.relu1", 1]), TypeError, "layer: expected a layer name"),
    (dict(layers="features.relu1"), TypeError, "layers: expected a list of layer names, got str"),
    (dict(layers=[]), ValueError, "layers: expected at least one layer name, got none"),
    (dict(layers=3), TypeError, "layers: expected a list of layer names, got int"),
    (dict(model="model"), TypeError, "model: expected a torch.nn.Module, got str"),
    (dict(detach=1), TypeError, "detach: expected a bool, got int"),
]


@pytest.mark.parametrize("arguments, error, fragment", BAD_LAYERS)
def test_recorder_bad_input(arguments, error, fragment):
    arguments = {"model": models.build(seed=0), "layers": LAYERS} | arguments
    with pytest.raises(error, match=fragment):
        hooks.Recorder(arguments.pop("model"), arguments.pop("layers"), **arguments)


@pytest.mark.parametrize("arguments, error, fragment", BAD_LAYERS)
def test_record_bad_input(arguments, error, fragment):
    model = models.build(seed=0)
    arguments = {"model": model, "layers": LAYERS} | arguments
    with pytest.raises(error, match=fragment):
        hooks.record(arguments.pop("model"), arguments.pop("layers"), **arguments)
    assert hook_count(model) == 0


@pytest.mark.parametrize("arguments, error, fragment", [
    (dict(images=torch.rand(28, 28)), ValueError,
     r"images: expected shape \(N, C, H, W\), got shape \(28, 28\)"),
    (dict(images=torch.rand(0, 1, 28, 28)), ValueError, "images: expected at least one image"),
    (dict(images=torch.rand(1, 1, 28, 28) + 1), ValueError, r"images: expected values in \[0, 1\]"),
    (dict(batch_size=0), ValueError, "batch_size: expected an int >= 1, got 0"),
    (dict(model="model"), TypeError, "model: expected a torch.nn.Module, got str"),
    (dict(layers=["nowhere"]), ValueError, "layer: expected one of"),
])
def test_activations_bad_input(arguments, error, fragment):
    model = models.build(seed=0)
    arguments = {"model": model, "images": torch.rand(2, 1, 28, 28), "layers": LAYERS} | arguments
    with pytest.raises(error, match=fragment):
        hooks.activations(arguments.pop("model"), arguments.pop("images"), arguments.pop("layers"),
                          **arguments)
    assert hook_count(model) == 0


def test_activations_of_a_model_without_parameters():
    pool = torch.nn.Sequential(torch.nn.MaxPool2d(2))
    acts = hooks.activations(pool, torch.rand(3, 1, 8, 8), ["0"])
    assert tuple(acts["0"].shape) == (3, 1, 4, 4)
