"""sedl.patches: the pasted patch is exact, training raises success, determinism, bad input."""

import pytest
import torch

from sedl import data, eot, patches, train

pytest_plugins = ["tests.attack_fixtures"]  # the model and batch fixtures


def test_apply_patch_pastes_exactly_the_patch():
    images = torch.zeros(2, 1, 10, 10)
    patch = torch.rand(1, 3, 3, generator=torch.Generator().manual_seed(0))
    out = patches.apply_patch(images, patch, torch.tensor([[0, 0], [7, 4]]))
    assert torch.equal(out[0, :, :3, :3], patch) and torch.equal(out[1, :, 7:, 4:7], patch)
    assert out[0].sum() == pytest.approx(patch.sum().item()) and out.shape == images.shape


def test_patch_training_lowers_the_target_loss_and_raises_success(model, batch):
    x, _ = data.mnist("val")
    xt, yt = batch

    def patch_after(steps):  # steps=0 returns the random initial patch
        return patches.train_patch(model, x, target=8, size=12, steps=steps, lr=0.1,
                                   generator=torch.Generator().manual_seed(0))

    def target_loss(patch):
        where = patches.random_locations(len(xt), image_size=28, patch_size=12)
        logits = train.predict(model, patches.apply_patch(xt, patch, where))
        return torch.nn.functional.cross_entropy(logits, torch.full((len(xt),), 8)).item()

    initial, trained = patch_after(0), patch_after(25)
    assert trained.shape == (1, 12, 12) and 0 <= trained.min() and trained.max() <= 1
    assert target_loss(trained) < target_loss(initial) - 0.2
    assert (patches.patch_success(model, xt, yt, trained, target=8)
            > patches.patch_success(model, xt, yt, initial, target=8))


def test_patch_training_is_deterministic(model, batch):
    x, _ = batch

    def run():
        return patches.train_patch(model, x, target=1, size=4, steps=3,
                                   generator=torch.Generator().manual_seed(2))

    assert torch.equal(run(), run())


def test_translation_only_is_the_default(model, batch):
    x, y = batch

    def run(**kwargs):
        return patches.train_patch(model, x, target=3, size=6, steps=4,
                                   generator=torch.Generator().manual_seed(1), **kwargs)

    plain = run()
    assert torch.equal(plain, run(max_angle=0.0, scale=(1.0, 1.0)))
    turned = run(max_angle=30.0, scale=(0.8, 1.2))
    assert not torch.equal(plain, turned) and torch.equal(turned, run(max_angle=30.0, scale=(0.8, 1.2)))
    rates = [patches.patch_success(model, x, y, plain, target=3, generator=torch.Generator().manual_seed(4),
                                   **kw) for kw in ({}, {"max_angle": 0, "scale": 1.0})]
    assert rates[0] == rates[1]


def test_eot_training_lowers_the_target_loss_under_rotation_and_scale(model):
    x, _ = data.mnist("val")
    eot_kwargs = {"max_angle": 30.0, "scale": (0.8, 1.2)}

    def patch_after(steps):
        return patches.train_patch(model, x, target=8, size=10, steps=steps, lr=0.1,
                                   generator=torch.Generator().manual_seed(0), **eot_kwargs)

    def target_loss(patch):  # under fresh transformations, the same for both patches
        generator = torch.Generator().manual_seed(7)
        transforms = eot.random_transforms(256, generator=generator, **eot_kwargs)
        where = eot.random_corners(transforms, image_size=28, patch_size=10, generator=generator)
        logits = train.predict(model, eot.paste_transformed(x[:256], patch, transforms, where))
        return torch.nn.functional.cross_entropy(logits, torch.full((256,), 8)).item()

    initial, trained = patch_after(0), patch_after(20)
    assert trained.shape == (1, 10, 10) and 0 <= trained.min() and trained.max() <= 1
    assert target_loss(trained) < target_loss(initial) - 0.2


def test_patch_success_per_image_is_paired(model, batch):
    x, y = batch
    first, second = torch.rand(1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.zeros(1, 8, 8)
    kwargs = {"target": 8, "max_angle": 30.0, "scale": (0.8, 1.2)}
    hits = patches.patch_success(model, x, y, first, per_image=True,
                                 generator=torch.Generator().manual_seed(3), **kwargs)
    assert hits.dtype == torch.bool and hits.shape == ((y != 8).sum(),)
    assert hits.float().mean().item() == patches.patch_success(
        model, x, y, first, generator=torch.Generator().manual_seed(3), **kwargs)
    # The same seed places a second patch of the same size at the same places, turns and scales:
    # an all-black patch drawn the same way leaves exactly the pixels outside those footprints.
    generator = torch.Generator().manual_seed(3)
    transforms = eot.random_transforms(len(hits), max_angle=30.0, scale=(0.8, 1.2), generator=generator)
    where = eot.random_corners(transforms, image_size=28, patch_size=8, generator=generator)
    pasted = eot.paste_transformed(x[y != 8], second, transforms, where)
    expected = train.predict(model, pasted).argmax(1) == 8
    assert torch.equal(patches.patch_success(model, x, y, second, per_image=True,
                                             generator=torch.Generator().manual_seed(3), **kwargs), expected)


@pytest.mark.parametrize("patch, locations, error, match", [
    (torch.rand(1, 1, 4, 4), None, ValueError, r"patch: expected a square \(C, s, s\)"),
    (torch.rand(1, 3, 4), None, ValueError, r"patch: expected a square"),
    (torch.rand(3, 4, 4), None, ValueError, r"patch: expected 1 channel"),
    ("p", None, TypeError, r"patch: expected a torch.Tensor, got str"),
    (None, torch.zeros(64, 2), TypeError, r"locations: expected an integer tensor, got dtype torch.float32"),
    (None, torch.zeros(3, 2, dtype=torch.long), ValueError,
     r"locations: expected a tensor of shape \(64, 2\)"),
    (None, torch.full((64, 2), 30), ValueError, r"locations: expected \(top, left\) corners in \[0, 24\]"),
    (None, [[0, 0]], TypeError, r"locations: expected a torch.Tensor, got list"),
])
def test_apply_patch_bad_input(batch, patch, locations, error, match):
    x, _ = batch
    patch = torch.rand(1, 4, 4) if patch is None else patch
    locations = torch.zeros(64, 2, dtype=torch.long) if locations is None else locations
    with pytest.raises(error, match=match):
        patches.apply_patch(x, patch, locations)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n": -1}, ValueError, r"n: expected an int >= 0"),
    ({"patch_size": 40}, ValueError, r"patch_size: expected an int <= 28, got 40"),
    ({"generator": "g"}, TypeError, r"generator: expected a torch.Generator or None, got str"),
])
def test_random_locations_bad_input(kwargs, error, match):
    args = {"n": 3, "image_size": 28, "patch_size": 4} | kwargs
    with pytest.raises(error, match=match):
        patches.random_locations(args.pop("n"), **args)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"size": 40}, ValueError, r"size: expected an int <= 28, got 40"),
    ({"target": -1}, ValueError, r"target: expected an int >= 0"),
    ({"lr": 0.0}, ValueError, r"lr: expected a number > 0.0"),
    ({"steps": 1.5}, TypeError, r"steps: expected an int"),
    ({"max_angle": -1.0}, ValueError, r"max_angle: expected a number >= 0.0, got -1.0"),
    ({"max_angle": 200}, ValueError, r"max_angle: expected a number <= 180.0, got 200"),
    ({"scale": (1.2, 0.8)}, ValueError, r"scale\[1\]: expected a number >= 1.2, got 0.8"),
    ({"scale": "big"}, TypeError, r"scale: expected a number, got str"),
    ({"size": 20, "max_angle": 30.0, "scale": 1.2}, ValueError,
     r"scale: expected a patch of side 20 to fit an image of side 28 when turned by up to 30 degrees and "
     r"scaled by up to 1.2, got a footprint of side 34"),
])
def test_train_patch_bad_input(model, batch, kwargs, error, match):
    args = {"target": 1} | kwargs
    with pytest.raises(error, match=match):
        patches.train_patch(model, batch[0], **args)


@pytest.mark.parametrize("patch, error, match", [
    ("p", TypeError, r"patch: expected a torch.Tensor, got str"),
    (torch.rand(1, 1, 4, 4), ValueError, r"patch: expected a square"),
    (torch.rand(1, 4, 4) * 2, ValueError, r"patch: expected values in \[0, 1\]"),
    ({"max_angle": float("nan")}, ValueError, r"max_angle: expected a number, got nan"),
    ({"scale": 0}, ValueError, r"scale: expected a number > 0.0, got 0"),
    ({"scale": 3.5}, ValueError, r"scale: expected a patch of side 8 to fit an image of side 28"),
    ({"per_image": 1}, TypeError, r"per_image: expected a bool, got int 1"),
    ({"generator": 5}, TypeError, r"generator: expected a torch.Generator or None, got int"),
])
def test_patch_success_bad_input(model, batch, patch, error, match):
    x, y = batch
    kwargs = patch if isinstance(patch, dict) else {}
    patch = torch.rand(1, 8, 8) if isinstance(patch, dict) else patch
    with pytest.raises(error, match=match):
        patches.patch_success(model, x, y, patch, target=8, **kwargs)
