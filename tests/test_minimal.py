"""sedl.minimal: C&W and DeepFool against torchattacks; properties of minimum-norm attacks; bad input."""

import pytest
import torch
import torchattacks

from sedl import attacks, minimal, models
from tests.torchattacks_compat import PositiveLogits

pytest_plugins = ["tests.attack_fixtures"]  # the model and batch fixtures


def norms(x, x_adv, net, y):
    return minimal.perturbation_norms(x, x_adv, model=net, labels=y)


@pytest.fixture(scope="module")
def right(model, batch):
    """The digits of the batch that the model classifies correctly: the ones with a distance to go."""
    x, y = batch
    keep = model(x).argmax(1) == y
    return x[keep], y[keep]


# --- reference: the same images as torchattacks -------------------------------------------

@pytest.mark.parametrize("c, lr", [(1.0, 0.05), (0.3, 0.1)])
def test_cw_is_identical_to_torchattacks(model, batch, c, lr):
    x, y = batch
    net = PositiveLogits(model).eval()
    theirs = torchattacks.CW(net, c=c, kappa=0, steps=30, lr=lr)(x, y)
    # squeeze=1: torchattacks' start, arctanh of the image itself
    assert torch.equal(minimal.cw(net, x, y, c=c, steps=30, lr=lr, squeeze=1.0), theirs)


def test_cw_margin_is_the_papers_f6_for_any_logits():
    logits = torch.tensor([[-3.0, -1.0, -2.0], [0.5, -4.0, 2.0]])
    # image 0: true class 0 at -3, best other -1; image 1: true class 2 at 2.0, best other 0.5
    assert torch.equal(minimal._margin(logits, torch.tensor([0, 2]), 0.0), torch.tensor([0.0, 1.5]))
    assert torch.equal(minimal._margin(logits, torch.tensor([0, 2]), 5.0), torch.tensor([-2.0, 1.5]))


@pytest.mark.parametrize("steps", [1, 3, 50])
def test_deepfool_matches_torchattacks_without_overshoot(model, batch, steps):
    x, y = (t[::4] for t in batch)  # torchattacks attacks one image at a time, we a batch: rounding differs
    theirs = torchattacks.DeepFool(model, steps=steps, overshoot=0.0)(x, y)
    torch.testing.assert_close(minimal.deepfool(model, x, y, steps=steps, overshoot=0.0), theirs,
                               rtol=0, atol=1e-5)


def test_deepfool_overshoot_crosses_the_boundary_where_torchattacks_stops_on_it(model, batch):
    x, y = (t[::4] for t in batch)
    correct = model(x).argmax(1) == y
    # torchattacks overshoots each step by 2 %, and the steps shrink to nothing on the boundary
    theirs = torchattacks.DeepFool(model, steps=50, overshoot=0.02)(x, y)
    ours = minimal.deepfool(model, x, y, steps=50, overshoot=0.02)
    assert (model(ours).argmax(1) != y).all()
    assert (model(theirs).argmax(1) == y)[correct].any()


# --- properties ---------------------------------------------------------------------------

def test_deepfool_fools_every_image_and_stays_in_range(model, batch):
    x, y = batch
    x_adv = minimal.deepfool(model, x, y)
    assert x_adv.shape == x.shape and x_adv.min() >= 0 and x_adv.max() <= 1
    assert norms(x, x_adv, model, y).isfinite().all()
    wrong = model(x).argmax(1) != y
    assert torch.equal(x_adv[wrong], x[wrong])  # nothing to do for a digit already misread


def test_cw_norms_shrink_with_c_and_the_search_only_improves(model, right):
    x, y = right
    small, large = (norms(x, minimal.cw(model, x, y, c=c, steps=60, lr=0.05), model, y) for c in (1.0, 30.0))
    both = small.isfinite() & large.isfinite()
    assert both.sum() >= 10 and small[both].median() < large[both].median()
    assert small.isinf().sum() >= large.isinf().sum()  # a smaller c gives up more often
    searched = norms(x, minimal.cw(model, x, y, c=1.0, steps=60, lr=0.05, binary_search_steps=3), model, y)
    assert (searched <= small).all()  # the first run is the one at c; later runs only replace it when closer
    assert searched.isinf().sum() < small.isinf().sum()


def test_cw_kappa_buys_a_margin_at_a_larger_distance(model, right):
    x, y = right
    x_adv = minimal.cw(model, x, y, c=10.0, kappa=2.0, steps=60, lr=0.05)
    found = norms(x, x_adv, model, y).isfinite()
    z = model(x_adv[found])
    true = z.gather(1, y[found, None]).squeeze(1)
    other = z.scatter(1, y[found, None], -torch.inf).max(1).values
    assert found.sum() >= 10 and (other - true >= 2.0 - 1e-4).all()
    plain = norms(x, minimal.cw(model, x, y, c=10.0, steps=60, lr=0.05), model, y)
    assert plain[found].median() < norms(x, x_adv, model, y)[found].median()


def test_cw_squeeze_lets_black_pixels_move(model, right):
    x, y = right
    black = x == 0
    moved = {squeeze: (minimal.cw(model, x, y, steps=20, lr=0.1, squeeze=squeeze) - x)[black].abs().max()
             for squeeze in (1.0, 1 - 1e-6, 1 - 1e-3)}
    assert moved[1.0] == 0  # arctanh(-1) = -inf: no gradient ever reaches a black pixel
    # The authors' squeeze starts it at arctanh(-0.999999) = -7.25, where tanh is flat: it creeps.
    assert 0 < moved[1 - 1e-6] < 1e-3 < moved[1 - 1e-3]


def test_pgd_minimal_norms_bracket_the_boundary(model, batch):
    x, y = batch
    found = minimal.pgd_minimal_norms(model, x, y, eps_max=4.0, bisection_steps=6, steps=10)
    wrong = model(x).argmax(1) != y
    assert (found[wrong] == 0).all() and found.isfinite().sum() > 0
    width = 4.0 / 2 ** 6  # the final bracket: PGD fools at its upper end, not at its lower end
    for i in (found.isfinite() & ~wrong).nonzero().flatten()[:8]:
        for radius, fools in ((float(found[i]), True), (float(found[i]) - width, False)):
            survives = attacks.robust_accuracy(model, x[i:i + 1], y[i:i + 1], eps=radius, norm="l2", steps=10,
                                               alpha=2.5 * radius / 10, early_stop=True, random_start=False)
            assert survives == (not fools)


def test_minimum_norm_attacks_agree_roughly_and_deepfool_is_not_below_cw(model, right):
    x, y = right
    deep = norms(x, minimal.deepfool(model, x, y), model, y)
    carlini = norms(x, minimal.cw(model, x, y, steps=100, lr=0.05, binary_search_steps=4), model, y)
    found = deep.isfinite() & carlini.isfinite()
    assert found.float().mean() > 0.9
    ratio = (deep[found] / carlini[found]).median()
    assert 0.9 < ratio < 2.0


def test_perturbation_norms_measure_and_mark_failures(model, batch):
    x, y = batch
    delta = torch.zeros_like(x)
    delta[:, 0, 0, :4] = 0.5  # four pixels of the first row
    x_shift = (x + delta).clamp(0, 1)
    sizes = minimal.perturbation_norms(x, x_shift)
    assert torch.allclose(sizes, (x_shift - x).flatten(1).norm(dim=1))
    largest = (x_shift - x).flatten(1).abs().amax(1)
    assert torch.allclose(minimal.perturbation_norms(x, x_shift, norm="linf"), largest)
    marked = minimal.perturbation_norms(x, x, model=model, labels=y)
    assert torch.equal(marked.isinf(), model(x).argmax(1) == y)
    assert (marked[marked.isfinite()] == 0).all()


def test_attacks_restore_the_models_mode(batch):
    x, y = batch
    net = models.build(seed=0, width=4).train()
    minimal.cw(net, x[:4], y[:4], steps=2)
    minimal.deepfool(net, x[:4], y[:4], steps=2)
    minimal.pgd_minimal_norms(net, x[:4], y[:4], bisection_steps=1, steps=2)
    assert all(m.training for m in net.modules())


# --- bad input ----------------------------------------------------------------------------

COMMON = [
    ({"labels": "short"}, ValueError, r"labels: expected 64 labels, one per image, got 10"),
    ({"labels": "float"}, TypeError, r"labels: expected an integer tensor"),
    ({"images": "255"}, ValueError, r"images: expected values in \[0, 1\]"),
    ({"model": "net"}, TypeError, r"model: expected a torch.nn.Module, got str"),
]


def call(function, model, batch, kwargs):
    x, y = batch
    kwargs = dict(kwargs)  # the parameters are shared between the functions' tests: leave them whole
    net = kwargs.pop("model", model)
    images = {"255": x * 255}.get(kwargs.pop("images", None), x)
    labels = {"short": y[:10], "float": y.float()}.get(kwargs.pop("labels", None), y)
    return function(net, images, labels, **kwargs)


@pytest.mark.parametrize("kwargs, error, match", COMMON + [
    ({"c": 0}, ValueError, r"c: expected a number > 0.0, got 0"),
    ({"c": float("inf")}, ValueError, r"c: expected a finite number, got inf"),
    ({"kappa": -1}, ValueError, r"kappa: expected a number >= 0.0, got -1"),
    ({"steps": 0}, ValueError, r"steps: expected an int >= 1, got 0"),
    ({"steps": 2.0}, TypeError, r"steps: expected an int, got float 2.0"),
    ({"lr": 0.0}, ValueError, r"lr: expected a number > 0.0, got 0.0"),
    ({"binary_search_steps": 0}, ValueError, r"binary_search_steps: expected an int >= 1, got 0"),
    ({"squeeze": 1.5}, ValueError, r"squeeze: expected a number <= 1.0, got 1.5"),
    ({"squeeze": 0}, ValueError, r"squeeze: expected a number > 0.0, got 0"),
    ({"abort_early": "yes"}, TypeError, r"abort_early: expected a bool, got str 'yes'"),
])
def test_cw_bad_input(model, batch, kwargs, error, match):
    with pytest.raises(error, match=match):
        call(minimal.cw, model, batch, kwargs)


@pytest.mark.parametrize("kwargs, error, match", COMMON + [
    ({"steps": 0}, ValueError, r"steps: expected an int >= 1, got 0"),
    ({"overshoot": -0.1}, ValueError, r"overshoot: expected a number >= 0.0, got -0.1"),
    ({"overshoot": "2%"}, TypeError, r"overshoot: expected a number, got str '2%'"),
])
def test_deepfool_bad_input(model, batch, kwargs, error, match):
    with pytest.raises(error, match=match):
        call(minimal.deepfool, model, batch, kwargs)


@pytest.mark.parametrize("kwargs, error, match", COMMON + [
    ({"eps_max": 0}, ValueError, r"eps_max: expected a number > 0.0, got 0"),
    ({"eps_max": float("nan")}, ValueError, r"eps_max: expected a number, got nan"),
    ({"bisection_steps": -1}, ValueError, r"bisection_steps: expected an int >= 0, got -1"),
    ({"steps": 0}, ValueError, r"steps: expected an int >= 1, got 0"),
    ({"alpha_factor": 0}, ValueError, r"alpha_factor: expected a number > 0.0, got 0"),
    ({"random_start": 1}, TypeError, r"random_start: expected a bool, got int 1"),
    ({"generator": 0}, TypeError, r"generator: expected a torch.Generator or None, got int"),
])
def test_pgd_minimal_norms_bad_input(model, batch, kwargs, error, match):
    with pytest.raises(error, match=match):
        call(minimal.pgd_minimal_norms, model, batch, kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"adversarial": torch.rand(64, 1, 28, 27)}, ValueError,
     r"adversarial: expected the shape of images \(64, 1, 28, 28\), got \(64, 1, 28, 27\)"),
    ({"adversarial": torch.rand(64, 28, 28)}, ValueError, r"adversarial: expected shape \(N, C, H, W\)"),
    ({"images": [0.5]}, TypeError, r"images: expected a torch.Tensor, got list"),
    ({"norm": "l1"}, ValueError, r"norm: expected one of \['l2', 'linf'\], got 'l1'"),
    ({"labels": torch.zeros(64, dtype=torch.long)}, ValueError,
     r"labels: expected both model and labels or neither, got labels alone"),
    ({"model": "net", "labels": torch.zeros(64, dtype=torch.long)}, TypeError,
     r"model: expected a torch.nn.Module, got str"),
    ({"model": "fixture", "labels": torch.zeros(3, dtype=torch.long)}, ValueError,
     r"labels: expected 64 labels, one per image, got 3"),
])
def test_perturbation_norms_bad_input(model, batch, kwargs, error, match):
    x, _ = batch
    args = {"images": x, "adversarial": x.clone()} | kwargs
    if args.get("model") == "fixture":
        args["model"] = model
    with pytest.raises(error, match=match):
        minimal.perturbation_norms(args.pop("images"), args.pop("adversarial"), **args)
