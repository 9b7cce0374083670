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
    with pytest.raises(ValueError, match=r"attributions: expected shape \(N, C, H, W\), got \(3, 5, 5\)"):
        attribution.heatmap(attr[0])


@pytest.mark.parametrize("call, error, fragment", [
    (lambda m, x: attribution.gradient(m, x, 10), ValueError,
     r"target: expected labels in \[0, 9\], got labels in \[10, 10\]"),
    (lambda m, x: attribution.gradient(m, x, torch.tensor([1, 2])), ValueError,
     "target: expected 4 labels, one per image, got 2"),
    (lambda m, x: attribution.gradient(m, x, 1.5), TypeError, "target: expected a torch.Tensor, got float"),
    (lambda m, x: attribution.gradient(m, x[0], 1), ValueError,
     r"images: expected shape \(N, C, H, W\), got shape \(1, 28, 28\)"),
    (lambda m, x: attribution.gradient(m, x * 2, 1), ValueError, r"images: expected values in \[0, 1\]"),
    (lambda m, x: attribution.gradient("m", x, 1), TypeError, "model: expected a torch.nn.Module"),
    (lambda m, x: attribution.grad_cam(m, x, 1, layer="features.conv9"), ValueError,
     r"layer: expected one of \[.*got 'features.conv9'"),
    (lambda m, x: attribution.grad_cam(m, x, 1, layer="embedding.fc"), ValueError,
     r"layer: expected a layer with \(N, C, h, w\) outputs, got 'embedding.fc' with shape \(4, 32\)"),
    (lambda m, x: attribution.integrated_gradients(m, x, 1, baseline=torch.zeros(1, 1, 8, 8)), ValueError,
     r"baseline: expected shape \(1 or 4, 1, 28, 28\), got \(1, 1, 8, 8\)"),
    (lambda m, x: attribution.integrated_gradients(m, x, 1, steps=0), ValueError,
     "steps: expected an int >= 1, got 0"),
    (lambda m, x: attribution.smoothgrad(m, x, 1, noise=-1.0), ValueError, "noise: expected a number >= 0.0"),
    (lambda m, x: attribution.occlusion(m, x, 1, patch=29), ValueError,
     "patch: expected an int <= 28, got 29"),
    (lambda m, x: attribution.occlusion(m, x, 1, fill=2.0), ValueError, "fill: expected a number <= 1.0"),
])
def test_bad_inputs_get_clear_errors(call, error, fragment):
    model = gray_model()
    with pytest.raises(error, match=fragment):
        call(model, inputs())
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0
