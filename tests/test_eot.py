"""sedl.eot: the identity paste is apply_patch's, a quarter turn is rot90, the patch stays inside
the image, draws are seeded, gradients reach the patch, bad input."""

import pytest
import torch

from sedl import eot, patches


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_identity_transform_is_the_plain_paste():
    images, patch = torch.rand(6, 1, 28, 28, generator=_gen(0)), torch.rand(1, 9, 9, generator=_gen(1))
    where = patches.random_locations(6, image_size=28, patch_size=9, generator=_gen(2))
    identity = torch.tensor([[0.0, 1.0]]).repeat(6, 1)
    pasted = eot.paste_transformed(images, patch, identity, where)
    torch.testing.assert_close(pasted, patches.apply_patch(images, patch, where), atol=1e-6, rtol=0)


def test_quarter_turn_is_rot90_counter_clockwise():
    images, patch = torch.zeros(2, 3, 20, 20), torch.rand(3, 8, 8, generator=_gen(0))
    out = eot.paste_transformed(images, patch, torch.tensor([[90.0, 1.0], [-90.0, 1.0]]),
                                torch.tensor([[4, 6], [10, 2]]))
    torch.testing.assert_close(out[0, :, 4:12, 6:14], torch.rot90(patch, 1, (1, 2)), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[1, :, 10:18, 2:10], torch.rot90(patch, -1, (1, 2)), atol=1e-5, rtol=0)
    assert out[0].sum() == pytest.approx(patch.sum().item(), abs=1e-3)  # nothing drawn elsewhere


def test_transformed_patch_stays_inside_the_image():
    # Pasted on a canvas with 6 pixels of border, the same patch draws nothing in the border:
    # random_corners never lets a turned, scaled patch be cut off by the image's edge.
    n, s = 300, 8
    transforms = eot.random_transforms(n, max_angle=45.0, scale=(0.8, 1.3), generator=_gen(0))
    where = eot.random_corners(transforms, image_size=28, patch_size=s, generator=_gen(1))
    ones = torch.ones(1, s, s)
    small = eot.paste_transformed(torch.zeros(n, 1, 28, 28), ones, transforms, where)
    big = eot.paste_transformed(torch.zeros(n, 1, 40, 40), ones, transforms, where + 6)
    border = torch.ones(40, 40, dtype=torch.bool)
    border[6:34, 6:34] = False
    assert big[..., border].max() < 1e-6
    torch.testing.assert_close(big[..., 6:34, 6:34], small, atol=1e-5, rtol=0)
    margin = eot.margins(transforms, s)[:, None]  # the places run from margin to 20 - margin
    assert (where == margin).any() and (where == 20 - margin).any() and (margin > 0).any()
    # A larger scale leaves fewer places: the corners of scale-1.3 patches stay off the edge.
    assert where[transforms[:, 1] > 1.2].min() >= 1


def test_paste_stays_in_range_and_differentiable():
    images = torch.rand(4, 1, 28, 28, generator=_gen(0))
    patch = torch.rand(1, 10, 10, generator=_gen(1)).requires_grad_(True)
    transforms = torch.tensor([[30.0, 1.2], [-30.0, 0.8], [12.5, 1.0], [0.0, 1.1]])
    where = eot.random_corners(transforms, image_size=28, patch_size=10, generator=_gen(2))
    out = eot.paste_transformed(images, patch, transforms, where)
    assert out.shape == images.shape and 0 <= out.min() and out.max() <= 1
    grad, = torch.autograd.grad(out.sum(), patch)
    assert grad.isfinite().all() and (grad > 0).float().mean() > 0.9  # every pixel is seen somewhere


def test_draws_follow_the_generator_and_the_ranges():
    def draw(seed):
        return eot.random_transforms(500, max_angle=30.0, scale=(0.8, 1.2), generator=_gen(seed))

    first = draw(5)
    assert torch.equal(first, draw(5)) and not torch.equal(first, draw(6))
    assert first[:, 0].abs().max() <= 30 and first[:, 0].abs().max() > 28
    assert 0.8 <= first[:, 1].min() and first[:, 1].max() <= 1.2
    corners = [eot.random_corners(first, image_size=28, patch_size=8, generator=_gen(1)) for _ in range(2)]
    assert torch.equal(*corners) and corners[0].dtype == torch.long
    assert torch.equal(eot.random_transforms(3, scale=1.5), torch.tensor([[0.0, 1.5]] * 3))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n": -1}, ValueError, r"n: expected an int >= 0, got -1"),
    ({"max_angle": -5.0}, ValueError, r"max_angle: expected a number >= 0.0, got -5.0"),
    ({"max_angle": "30"}, TypeError, r"max_angle: expected a number, got str"),
    ({"scale": 0.0}, ValueError, r"scale: expected a number > 0.0, got 0.0"),
    ({"scale": (1.2, 0.8)}, ValueError, r"scale\[1\]: expected a number >= 1.2, got 0.8"),
    ({"scale": (0.8, 1.0, 1.2)}, ValueError,
     r"scale: expected a number or a pair \(low, high\), got 3 values"),
    ({"generator": 0}, TypeError, r"generator: expected a torch.Generator or None, got int"),
])
def test_random_transforms_bad_input(kwargs, error, match):
    args = {"n": 3} | kwargs
    with pytest.raises(error, match=match):
        eot.random_transforms(args.pop("n"), **args)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"transforms": [[0.0, 1.0]]}, TypeError, r"transforms: expected a torch.Tensor, got list"),
    ({"transforms": torch.zeros(3)}, ValueError, r"transforms: expected a tensor of shape \(N, 2\)"),
    ({"transforms": torch.ones(3, 2, dtype=torch.long)}, TypeError,
     r"transforms: expected a floating-point tensor, got dtype torch.int64"),
    ({"transforms": torch.tensor([[0.0, -1.0]])}, ValueError,
     r"transforms: expected finite angles and scales > 0"),
    ({"transforms": torch.tensor([[45.0, 3.0]])}, ValueError,
     r"transforms: expected transforms whose patch of side 8 fits in an image of side 28"),
    ({"patch_size": 29}, ValueError, r"patch_size: expected an int <= 28, got 29"),
    ({"image_size": 0}, ValueError, r"image_size: expected an int >= 1, got 0"),
    ({"generator": "g"}, TypeError, r"generator: expected a torch.Generator or None, got str"),
])
def test_random_corners_bad_input(kwargs, error, match):
    args = {"transforms": torch.tensor([[0.0, 1.0]]), "image_size": 28, "patch_size": 8} | kwargs
    with pytest.raises(error, match=match):
        eot.random_corners(args.pop("transforms"), **args)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"images": torch.rand(2, 28, 28)}, ValueError, r"images: expected shape \(N, C, H, W\)"),
    ({"patch": torch.rand(1, 4, 5)}, ValueError, r"patch: expected a square \(C, s, s\)"),
    ({"patch": torch.rand(3, 8, 8)}, ValueError, r"patch: expected 1 channel"),
    ({"transforms": torch.zeros(3, 2)}, ValueError, r"transforms: expected a tensor of shape \(2, 2\)"),
    ({"transforms": torch.tensor([[0.0, 1.0], [float("nan"), 1.0]])}, ValueError,
     r"transforms: expected finite angles and scales > 0"),
    ({"locations": torch.zeros(2, 2)}, TypeError,
     r"locations: expected an integer tensor, got dtype torch.float32"),
    ({"locations": torch.zeros(3, 2, dtype=torch.long)}, ValueError,
     r"locations: expected a tensor of shape \(2, 2\)"),
    ({"locations": "here"}, TypeError, r"locations: expected a torch.Tensor, got str"),
    ({"locations": torch.tensor([[0, 0], [10, 10]])}, ValueError,
     r"locations: expected each \(top, left\) corner to keep the turned patch inside the image, got \[0, 0\] "
     r"in row 0, whose patch needs corners in \[3, 17\] x \[3, 17\]"),
])
def test_paste_transformed_bad_input(kwargs, error, match):
    args = {"images": torch.rand(2, 1, 28, 28), "patch": torch.rand(1, 8, 8),
            "transforms": torch.tensor([[30.0, 1.2], [0.0, 1.0]]),
            "locations": torch.tensor([[10, 10], [10, 10]])} | kwargs
    with pytest.raises(error, match=match):
        eot.paste_transformed(**args)
