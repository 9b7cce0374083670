import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients, Occlusion, Saliency
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from sedl import attribution, models


def scaled(model):
    """An untrained model with its logits scaled up: its attributions are then far above the
    1e-7 that pytorch-grad-cam adds when it normalises a map (untrained logits are ~0.01)."""
    with torch.no_grad():
        model.head.fc.weight.mul_(1000)
    return model.eval()


def gray_model():
    return scaled(models.build(seed=0, width=8, hidden=32))


def rgb_model():
    return scaled(models.build(seed=1, width=8, hidden=32, in_channels=3, image_size=32, num_classes=5))


def inputs(n=4, c=1, size=28, seed=0):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed))


TARGET = torch.tensor([0, 3, 7, 9])


@pytest.mark.parametrize("make, c, size, target", [
    (gray_model, 1, 28, TARGET), (rgb_model, 3, 32, 2), (rgb_model, 3, 32, torch.tensor([4, 0, 1, 2]))])
def test_integrated_gradients_matches_captum(make, c, size, target):
    model, x = make(), inputs(c=c, size=size)
    ours = attribution.integrated_gradients(model, x, target, steps=20)
    theirs = IntegratedGradients(model).attribute(x, target=target, n_steps=20, method="riemann_right")
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("make, c, size, layer", [
    (gray_model, 1, 28, "features.relu4"), (gray_model, 1, 28, "features.relu2"),
    (rgb_model, 3, 32, "features.pool2")])
def test_grad_cam_matches_pytorch_grad_cam(make, c, size, layer):
    model, x = make(), inputs(c=c, size=size)
    target = TARGET % 5
    ours = attribution.grad_cam(model, x, target, layer=layer)
    module = dict(model.named_modules())[layer]
    with GradCAM(model=model, target_layers=[module]) as cam:
        theirs = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(k)) for k in target])
    assert ours.shape == (4, 1, size, size)
    np.testing.assert_allclose(ours[:, 0].numpy(), theirs, atol=1e-5)


def test_occlusion_and_gradient_match_captum():
    model, x = gray_model(), inputs()
    ours = attribution.occlusion(model, x, TARGET, patch=5, stride=3, fill=0.5)
    theirs = Occlusion(model).attribute(x, target=TARGET, sliding_window_shapes=(1, 5, 5),
                                        strides=(1, 3, 3), baselines=0.5)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
    saliency = Saliency(model).attribute(x.clone().requires_grad_(True), target=TARGET, abs=False)
    torch.testing.assert_close(attribution.gradient(model, x, TARGET), saliency)


def test_integrated_gradients_is_complete():
    model, x = gray_model(), inputs()
    baseline = torch.full((1, 1, 28, 28), 0.5)
    attr = attribution.integrated_gradients(model, x, TARGET, baseline=baseline, steps=300)
    with torch.no_grad():
        gap = (model(x) - model(baseline)).gather(1, TARGET[:, None])[:, 0]
    assert gap.abs().min() > 0.05  # a non-trivial difference to explain
    torch.testing.assert_close(attr.sum((1, 2, 3)), gap, atol=0.01 * gap.abs().max().item(), rtol=0)


def test_smoothgrad_is_seeded_and_reduces_to_the_gradient_without_noise():
    model, x = gray_model(), inputs()
    a = attribution.smoothgrad(model, x, 3, samples=4, generator=torch.Generator().manual_seed(0))
    b = attribution.smoothgrad(model, x, 3, samples=4, generator=torch.Generator().manual_seed(0))
    c = attribution.smoothgrad(model, x, 3, samples=4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.testing.assert_close(attribution.smoothgrad(model, x, 3, samples=2, noise=0.0),
                               attribution.gradient(model, x, 3))


def test_batching_does_not_change_the_result():
    model, x = gray_model(), inputs()
    # Another batch size sums the same float32 terms in another order (oneDNN picks its kernel by
    # batch shape), so results agree to float32 rounding of the sums, not bit for bit.
    close = {"rtol": 1e-4, "atol": 1e-4}
    kwargs = {"samples": 5, "noise": 0.2}
    torch.testing.assert_close(
        attribution.smoothgrad(model, x, TARGET, generator=torch.Generator().manual_seed(3), **kwargs),
        attribution.smoothgrad(model, x, TARGET, generator=torch.Generator().manual_seed(3), batch_size=3,
                               **kwargs), **close)
    torch.testing.assert_close(attribution.occlusion(model, x, TARGET, patch=6, stride=5),
                               attribution.occlusion(model, x, TARGET, patch=6, stride=5, batch_size=1),
                               **close)
    torch.testing.assert_close(attribution.integrated_gradients(model, x, TARGET, steps=7),
                               attribution.integrated_gradients(model, x, TARGET, steps=7, batch_size=5),
                               **close)


def test_methods_leave_the_model_as_they_found_it():
    model = models.build(seed=0, width=8, hidden=32).train()
    x = inputs()
    for maps in (attribution.gradient(model, x, 1), attribution.smoothgrad(model, x, 1, samples=2),
                 attribution.integrated_gradients(model, x, 1, steps=4),
                 attribution.grad_cam(model, x, 1, layer="features.relu4"),
                 attribution.occlusion(model, x, 1, patch=14, stride=14)):
        assert maps.shape[0] == 4 and maps.shape[-2:] == (28, 28)
        assert torch.isfinite(maps).all()
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0


def test_grad_cam_is_in_unit_range_and_occlusion_sees_the_covered_pixels():
    model, x = gray_model(), inputs()
    cam = attribution.grad_cam(model, x, TARGET, layer="features.relu4")
    assert cam.min() >= 0 and cam.amax(dim=(1, 2, 3)).allclose(torch.ones(4))
    # A model that only reads the top-left pixel: occlusion must put all its weight there.
    reader = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 2))
    with torch.no_grad():
        reader[1].weight.zero_()
        reader[1].weight[1, 0] = 1.0
    occ = attribution.occlusion(reader, torch.ones(1, 1, 28, 28), 1, patch=2, stride=2)
    assert occ[0, 0, :2, :2].eq(1).all() and occ[0, 0].sum() == 4


def test_occlusion_of_pixels_already_at_the_fill_value_is_exactly_zero():
    """Covering black background with black changes nothing, so its drop is 0, whatever the
    batch size or thread count (float noise of ~1e-6 used to survive there)."""
    model, x = gray_model(), inputs()
    x[:, :, :, :14] = 0.0  # the left half is background
    for batch_size in (4, 1000):
        occ = attribution.occlusion(model, x, TARGET, patch=4, stride=4, batch_size=batch_size)
        assert occ[:, :, :, :12].eq(0).all()  # windows wholly inside the background


def test_heatmap_reduces_channels():
    attr = torch.randn(2, 3, 5, 5)
    assert torch.equal(attribution.heatmap(attr), attr.abs().sum(1))


def _no_hooks_left(model):
    return sum(len(m._forward_hooks) for m in model.modules()) == 0


COMMON = [  # what every method checks through _prepare: (arguments, error, message)
    (dict(target=10), ValueError, r"target: expected labels in \[0, 9\], got labels in \[10, 10\]"),
    (dict(target=torch.tensor([1, 2])), ValueError, "target: expected 4 labels, one per image, got 2"),
    (dict(target=1.5), TypeError, "target: expected a torch.Tensor, got float"),
    (dict(target=True), TypeError, "target: expected a torch.Tensor, got bool"),
    (dict(images=torch.rand(1, 28, 28)), ValueError,
     r"images: expected shape \(N, C, H, W\), got shape \(1, 28, 28\)"),
    (dict(images=torch.rand(4, 1, 28, 28) * 2), ValueError, r"images: expected values in \[0, 1\]"),
    (dict(images=torch.rand(0, 1, 28, 28), target=torch.tensor([], dtype=torch.long)), ValueError,
     "images: expected at least one image"),
    (dict(images=[[0.0]]), TypeError, "images: expected a torch.Tensor, got list"),
    (dict(model="m"), TypeError, "model: expected a torch.nn.Module"),
    (dict(model=torch.nn.Flatten(0)), ValueError,
     r"model: expected a classifier with logits of shape \(N, num_classes\), got \(784,\)"),
]


def _call(method, change, **extra):
    arguments = {"model": gray_model(), "images": inputs(), "target": 1} | change
    return method(arguments.pop("model"), arguments.pop("images"), arguments.pop("target"), **extra)


@pytest.mark.parametrize("change, error, fragment", COMMON)
def test_gradient_bad_input(change, error, fragment):
    with pytest.raises(error, match=fragment):
        _call(attribution.gradient, change)


@pytest.mark.parametrize("change, error, fragment", COMMON[:2] + [
    (dict(samples=0), ValueError, "samples: expected an int >= 1, got 0"),
    (dict(samples=2.0), TypeError, "samples: expected an int, got float"),
    (dict(noise=-1.0), ValueError, "noise: expected a number >= 0.0"),
    (dict(noise=float("inf")), ValueError, "noise: expected a finite number, got inf"),
    (dict(noise="0.1"), TypeError, "noise: expected a number, got str"),
    (dict(generator=5), TypeError, "generator: expected a torch.Generator or None, got int 5"),
    (dict(batch_size=0), ValueError, "batch_size: expected an int >= 1, got 0"),
])
def test_smoothgrad_bad_input(change, error, fragment):
    keywords = {k: change.pop(k) for k in list(change) if k not in ("model", "images", "target")}
    with pytest.raises(error, match=fragment):
        _call(attribution.smoothgrad, change, **keywords)


@pytest.mark.parametrize("change, error, fragment", COMMON[:2] + [
    (dict(baseline=torch.zeros(1, 1, 8, 8)), ValueError,
     r"baseline: expected shape \(1 or 4, 1, 28, 28\), got \(1, 1, 8, 8\)"),
    (dict(baseline=torch.full((1, 1, 28, 28), 2.0)), ValueError, r"baseline: expected values in \[0, 1\]"),
    (dict(baseline=0.0), TypeError, "baseline: expected a torch.Tensor, got float"),
    (dict(steps=0), ValueError, "steps: expected an int >= 1, got 0"),
    (dict(batch_size=-3), ValueError, "batch_size: expected an int >= 1, got -3"),
])
def test_integrated_gradients_bad_input(change, error, fragment):
    keywords = {k: change.pop(k) for k in list(change) if k not in ("model", "images", "target")}
    with pytest.raises(error, match=fragment):
        _call(attribution.integrated_gradients, change, **keywords)


@pytest.mark.parametrize("change, error, fragment", COMMON[:2] + [
    (dict(layer="features.conv9"), ValueError, r"layer: expected one of \[.*got 'features.conv9'"),
    (dict(layer="embedding.fc"), ValueError,
     r"layer: expected a layer with \(N, C, h, w\) outputs, got 'embedding.fc' with shape \(4, 32\)"),
    (dict(layer=3), TypeError, "layer: expected a layer name"),
])
def test_grad_cam_bad_input(change, error, fragment):
    model = gray_model()
    keywords = {"layer": "features.relu4"} | {k: change.pop(k) for k in list(change) if k == "layer"}
    with pytest.raises(error, match=fragment):
        _call(attribution.grad_cam, change | {"model": model}, **keywords)
    assert _no_hooks_left(model)


@pytest.mark.parametrize("change, error, fragment", COMMON[:2] + [
    (dict(patch=29), ValueError, "patch: expected an int <= 28, got 29"),
    (dict(patch=0), ValueError, "patch: expected an int >= 1, got 0"),
    (dict(stride=0), ValueError, "stride: expected an int >= 1, got 0"),
    (dict(fill=2.0), ValueError, "fill: expected a number <= 1.0"),
    (dict(fill=None), TypeError, "fill: expected a number, got NoneType"),
    (dict(batch_size=0), ValueError, "batch_size: expected an int >= 1, got 0"),
])
def test_occlusion_bad_input(change, error, fragment):
    keywords = {k: change.pop(k) for k in list(change) if k not in ("model", "images", "target")}
    with pytest.raises(error, match=fragment):
        _call(attribution.occlusion, change, **keywords)


@pytest.mark.parametrize("arguments, error, fragment", [
    ((torch.randn(3, 5, 5),), ValueError, r"attributions: expected shape \(N, C, H, W\), got \(3, 5, 5\)"),
    (([[1.0]],), TypeError, "attributions: expected a torch.Tensor, got list"),
    ((torch.randn(1, 1, 2, 2), "yes"), TypeError, "absolute: expected a bool, got str"),
])
def test_heatmap_bad_input(arguments, error, fragment):
    attributions, *absolute = arguments
    with pytest.raises(error, match=fragment):
        attribution.heatmap(attributions, **({"absolute": absolute[0]} if absolute else {}))
