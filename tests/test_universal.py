"""sedl.universal: budget, fooling better than noise, determinism, the paper's stopping rule, bad input.

torchattacks has no universal perturbation, so the tests check behaviour: the perturbation
stays in its ball, it fools more images than random noise of the same budget, a generator
fixes it, and the functions refuse bad arguments with messages that name them.
"""

import pytest
import torch
from torch import nn

from sedl import data, train, universal

pytest_plugins = ["tests.attack_fixtures"]  # the model (a small trained CNN) and batch fixtures


@pytest.fixture(scope="module")
def train_digits():
    x, _ = data.mnist("train")
    return x[::40]  # 100 training digits, every class (the split is sorted by class)


def signs(images, eps, seed=0):
    g = torch.Generator().manual_seed(seed)
    return eps * (torch.randint(0, 2, images.shape, generator=g) * 2 - 1).float()


# --- project ------------------------------------------------------------------------------

def test_project_clips_or_rescales_and_keeps_what_is_inside():
    project = universal.project
    v = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    assert project(v, eps=0.1).abs().max() <= 0.1
    assert torch.equal(project(v, eps=0.1), v.clamp(-0.1, 0.1))
    l2 = project(v, eps=0.5, norm="l2")
    assert torch.allclose(l2.flatten(1).norm(dim=1), torch.full((3,), 0.5))
    small = 0.01 * v / v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    assert torch.allclose(project(small, eps=0.5, norm="l2"), small)  # inside the ball: unchanged
    assert torch.equal(project(project(v, eps=0.1), eps=0.1), project(v, eps=0.1))  # idempotent


# --- fooling_rate -------------------------------------------------------------------------

def test_fooling_rate_of_nothing_is_zero_and_per_image_flags_agree(model, batch):
    x, _ = batch
    assert universal.fooling_rate(model, x, torch.zeros(1, 1, 28, 28)) == 0.0
    flags = universal.fooling_rate(model, x, signs(x, 0.5), per_image=True)
    assert flags.dtype == torch.bool and flags.shape == (len(x),)
    assert universal.fooling_rate(model, x, signs(x, 0.5)) == pytest.approx(flags.float().mean().item())
    assert universal.fooling_rate(model, x[:0], torch.zeros(1, 1, 28, 28)) == 0.0


def test_fooling_rate_counts_changes_of_prediction_not_errors(model, batch):
    x, _ = batch
    with torch.no_grad():
        before = model(x).argmax(1)
        after = model((x + signs(x, 0.3)).clamp(0, 1)).argmax(1)
    changed = (before != after).float().mean().item()
    assert universal.fooling_rate(model, x, signs(x, 0.3)) == pytest.approx(changed)


# --- universal_perturbation ---------------------------------------------------------------

@pytest.mark.parametrize("method", ["iterative", "sgd"])
@pytest.mark.parametrize("norm, eps", [("linf", 0.15), ("l2", 3.0)])
def test_the_perturbation_respects_its_budget(model, train_digits, method, norm, eps):
    v = universal.universal_perturbation(model, train_digits[:30], eps=eps, norm=norm, method=method,
                                         max_passes=1, alpha=eps)  # sgd: one step of eps reaches the edge
    assert v.shape == (1, 1, 28, 28)
    size = v.abs().max() if norm == "linf" else v.norm()
    assert size <= eps + 1e-5
    assert size > 0.5 * eps  # it moved: the budget is used, not ignored


@pytest.fixture(scope="module")
def linear_model():
    """A linear classifier on the pixels (a second before trained): the toy model of a UAP, whose
    gradient direction between two classes is the same for every image."""
    x, y = data.mnist("train")
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    train.fit(net, (x[::4], y[::4]), epochs=3, lr=3e-3, seed=0)
    return net.eval()


def test_the_papers_algorithm_fools_far_more_test_digits_than_noise(linear_model, train_digits):
    x_test, _ = data.mnist("test")  # digits the perturbation was not computed on
    v = universal.universal_perturbation(linear_model, train_digits[:60], eps=0.15, max_passes=2)
    uap = universal.fooling_rate(linear_model, x_test, v)
    noise = universal.fooling_rate(linear_model, x_test, signs(x_test, 0.15))
    shuffled = v.flatten()[torch.randperm(v.numel(), generator=torch.Generator().manual_seed(0))].view_as(v)
    assert uap > noise + 0.2, (uap, noise)
    assert uap > universal.fooling_rate(linear_model, x_test, shuffled) + 0.2  # the structure matters


def test_the_sgd_variant_fools_more_test_digits_than_noise(model):
    x, _ = data.mnist("train")
    x_test, _ = data.mnist("test")
    v = universal.universal_perturbation(model, x[::20], eps=0.2, method="sgd", max_passes=3)
    uap = universal.fooling_rate(model, x_test, v)
    noise = universal.fooling_rate(model, x_test, signs(x_test, 0.2))
    assert uap > 1.5 * noise and uap > noise + 0.04, (uap, noise)  # seen: 0.128 against 0.06


@pytest.mark.parametrize("method", ["iterative", "sgd"])
def test_same_generator_same_perturbation_other_order_other_perturbation(model, train_digits, method):
    def run(generator):
        return universal.universal_perturbation(model, train_digits[:16], eps=0.1, method=method,
                                                batch_size=4, max_passes=1, generator=generator)
    first = run(torch.Generator().manual_seed(0))
    assert torch.equal(first, run(torch.Generator().manual_seed(0)))
    assert not torch.equal(first, run(torch.Generator().manual_seed(1)))
    assert torch.equal(first, run(None))  # None: a fresh generator seeded with 0


def test_target_rate_stops_after_the_first_pass_that_reaches_it(model, train_digits):
    args = {"eps": 0.1, "method": "sgd", "generator": None}
    once = universal.universal_perturbation(model, train_digits, max_passes=1, **args)
    reached = universal.universal_perturbation(model, train_digits, max_passes=4, target_rate=0.0, **args)
    assert torch.equal(once, reached)


def test_zero_budget_gives_zero_and_the_model_mode_is_restored(model, train_digits):
    model.train()
    try:
        v = universal.universal_perturbation(model, train_digits[:10], eps=0.0, max_passes=1)
        assert model.training
    finally:
        model.eval()
    assert torch.equal(v, torch.zeros(1, 1, 28, 28))


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, match", [
    ({"eps": -0.1}, ValueError, r"eps: expected a number >= 0.0, got -0.1"),
    ({"eps": 1.5}, ValueError, r"eps: expected a number <= 1.0, got 1.5"),
    ({"eps": float("nan")}, ValueError, r"eps: expected a number, got nan"),
    ({"norm": "l1"}, ValueError, r"norm: expected one of \['l2', 'linf'\], got 'l1'"),
    ({"perturbation": "v"}, TypeError, r"perturbation: expected a torch.Tensor, got str"),
    ({"perturbation": torch.zeros(28, 28)}, ValueError,
     r"perturbation: expected a float tensor of shape \(N, C, H, W\), got torch.float32 of shape \(28, 28\)"),
    ({"perturbation": torch.zeros(1, 1, 2, 2, dtype=torch.int64)}, ValueError,
     r"perturbation: expected a float tensor of shape \(N, C, H, W\), got torch.int64"),
    ({"perturbation": torch.full((1, 1, 2, 2), float("inf"))}, ValueError,
     r"perturbation: expected finite values, got nan or inf"),
])
def test_project_bad_input(kwargs, error, match):
    args = {"perturbation": torch.zeros(1, 1, 2, 2), "eps": 0.1} | kwargs
    with pytest.raises(error, match=match):
        universal.project(args.pop("perturbation"), **args)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"model": "cnn"}, TypeError, r"model: expected a torch.nn.Module, got str"),
    ({"images": torch.rand(4, 28, 28)}, ValueError, r"images: expected shape \(N, C, H, W\)"),
    ({"images": torch.full((4, 1, 28, 28), 2.0)}, ValueError, r"images: expected values in \[0, 1\]"),
    ({"perturbation": torch.zeros(1, 1, 14, 14)}, ValueError,
     r"perturbation: expected shape \(1, 1, 28, 28\) or the images' shape \(64, 1, 28, 28\), "
     r"got shape \(1, 1, 14, 14\)"),
    ({"perturbation": torch.zeros(3, 1, 28, 28)}, ValueError,
     r"perturbation: expected shape \(1, 1, 28, 28\)"),
    ({"perturbation": torch.full((1, 1, 28, 28), float("nan"))}, ValueError,
     r"perturbation: expected finite values"),
    ({"perturbation": [0.1]}, TypeError, r"perturbation: expected a torch.Tensor, got list"),
    ({"batch_size": 0}, ValueError, r"batch_size: expected an int >= 1, got 0"),
    ({"per_image": "yes"}, TypeError, r"per_image: expected a bool, got str 'yes'"),
])
def test_fooling_rate_bad_input(model, batch, kwargs, error, match):
    args = {"model": model, "images": batch[0], "perturbation": torch.zeros(1, 1, 28, 28)} | kwargs
    with pytest.raises(error, match=match):
        universal.fooling_rate(args.pop("model"), args.pop("images"), args.pop("perturbation"), **args)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"model": None}, TypeError, r"model: expected a torch.nn.Module, got NoneType"),
    ({"images": torch.zeros(0, 1, 28, 28)}, ValueError, r"images: expected at least one image, got 0"),
    ({"images": torch.zeros(2, 1, 28, 28, dtype=torch.uint8)}, TypeError,
     r"images: expected a floating-point tensor"),
    ({"eps": -1.0}, ValueError, r"eps: expected a number >= 0.0, got -1.0"),
    ({"eps": 2.0}, ValueError, r"eps: expected a number <= 1.0, got 2.0"),
    ({"eps": float("inf"), "norm": "l2"}, ValueError, r"eps: expected a finite number, got inf"),
    ({"norm": "linfinity"}, ValueError, r"norm: expected one of \['l2', 'linf'\], got 'linfinity'"),
    ({"method": "deepfool"}, ValueError, r"method: expected one of \['iterative', 'sgd'\], got 'deepfool'"),
    ({"target_rate": 1.2}, ValueError, r"target_rate: expected a number <= 1.0, got 1.2"),
    ({"max_passes": 0}, ValueError, r"max_passes: expected an int >= 1, got 0"),
    ({"max_passes": 2.0}, TypeError, r"max_passes: expected an int, got float 2.0"),
    ({"steps": 0}, ValueError, r"steps: expected an int >= 1, got 0"),
    ({"overshoot": -0.5}, ValueError, r"overshoot: expected a number >= 0.0, got -0.5"),
    ({"alpha": 0.0}, ValueError, r"alpha: expected a number > 0.0, got 0.0"),
    ({"batch_size": -3}, ValueError, r"batch_size: expected an int >= 1, got -3"),
    ({"generator": 0}, TypeError, r"generator: expected a torch.Generator or None, got int 0"),
])
def test_universal_perturbation_bad_input(model, train_digits, kwargs, error, match):
    args = {"model": model, "images": train_digits[:4], "max_passes": 1} | kwargs
    with pytest.raises(error, match=match):
        universal.universal_perturbation(args.pop("model"), args.pop("images"), **args)
