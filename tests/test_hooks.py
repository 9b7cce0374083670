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


@pytest.mark.parametrize("layers, error, fragment", [
    (["features.conv9"], ValueError, r"layer: expected one of \['normalize', .*got 'features.conv9'"),
    (["features.relu1", ""], ValueError, "layer: expected one of"),
    ("features.relu1", TypeError, "layers: expected a list of layer names, got str"),
    ([], ValueError, "layers: expected at least one layer name, got none"),
    (3, TypeError, "layers: expected a list of layer names, got int"),
])
def test_recorder_rejects_bad_layers(layers, error, fragment):
    with pytest.raises(error, match=fragment):
        hooks.Recorder(models.build(seed=0), layers)


def test_bad_arguments_get_clear_errors():
    model = models.build(seed=0)
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module, got str"):
        hooks.record("model", LAYERS)
    with pytest.raises(TypeError, match="detach: expected a bool, got int"):
        hooks.record(model, LAYERS, detach=1)
    with pytest.raises(ValueError, match=r"images: expected shape \(N, C, H, W\), got shape \(28, 28\)"):
        hooks.activations(model, torch.rand(28, 28), LAYERS)
    with pytest.raises(ValueError, match="batch_size: expected an int >= 1, got 0"):
        hooks.activations(model, torch.rand(1, 1, 28, 28), LAYERS, batch_size=0)
    assert hook_count(model) == 0
