"""sedl.square: the Square attack against torchattacks.Square; its schedule; properties; bad input."""

import pytest
import torch
import torchattacks

from sedl import models, square

pytest_plugins = ["tests.attack_fixtures"]  # the model and batch fixtures


def gen(seed):
    return torch.Generator().manual_seed(seed)


# --- reference: the same images as torchattacks from the same seed --------------------------

@pytest.mark.parametrize("eps, queries", [(0.1, 60), (0.2, 30)])
def test_square_is_identical_to_torchattacks(model, batch, eps, queries):
    x, y = batch  # torchattacks seeds torch's global generator with `seed` before its draws
    theirs = torchattacks.Square(model, eps=eps, n_queries=queries, seed=3)(x, y)
    ours = square.square(model, x, y, eps=eps, queries=queries, generator=gen(3))
    assert torch.equal(ours, theirs) and (model(ours).argmax(1) != y).any()


def test_p_schedule_halves_at_the_rescaled_breakpoints():
    assert square.p_schedule(0, 5000) == 0.8 and square.p_schedule(5, 5000) == 0.8
    assert square.p_schedule(6, 5000) == 0.4  # 6 of 5000 is 12 of 10,000: past the first breakpoint
    assert square.p_schedule(4999, 5000) == pytest.approx(0.8 / 512)
    values = [square.p_schedule(i, 1000, 0.5) for i in range(1000)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False)) and values[-1] == 0.5 / 512


# --- properties ---------------------------------------------------------------------------

def test_square_stays_in_the_ball_and_only_changes_fooled_images(model, batch):
    x, y = batch
    x_adv = square.square(model, x, y, eps=0.15, queries=40, generator=gen(0))
    assert (x_adv - x).abs().max() <= 0.15 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    changed = (x_adv != x).flatten(1).any(1)
    assert torch.equal(changed, (model(x_adv).argmax(1) != y) & (model(x).argmax(1) == y))


def test_more_queries_fool_more(model, batch):
    x, y = batch  # one seed (the schedule rescales with the budget, so the searches differ)
    runs = [square.square(model, x, y, eps=0.1, queries=q, generator=gen(1)) for q in (1, 80)]
    fooled = [int((model(x_adv).argmax(1) != y).sum()) for x_adv in runs]
    assert fooled[0] < fooled[1]


def test_same_generator_same_images(model, batch):
    x, y = batch
    runs = [square.square(model, x, y, eps=0.1, queries=20, generator=gen(s)) for s in (0, 0, 1)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_model_mode_is_restored(batch):
    net = models.build(seed=0, width=4).train()
    square.square(net, *batch, queries=2)
    assert net.training


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, match", [
    ({"eps": -0.1}, ValueError, r"eps: expected a number >= 0.0, got -0.1"),
    ({"eps": "0.3"}, TypeError, r"eps: expected a number, got str '0.3'"),
    ({"queries": 0}, ValueError, r"queries: expected an int >= 1, got 0"),
    ({"p_init": 0.0}, ValueError, r"p_init: expected a number > 0.0, got 0.0"),
    ({"p_init": 1.2}, ValueError, r"p_init: expected a number <= 1.0, got 1.2"),
    ({"generator": 3}, TypeError, r"generator: expected a torch.Generator or None, got int 3"),
    ({"images": torch.zeros(2, 28, 28)}, ValueError,
     r"images: expected shape \(N, C, H, W\), got shape \(2, 28, 28\)"),
])
def test_square_bad_input(model, batch, kwargs, error, match):
    args = {"images": batch[0], "labels": batch[1], **kwargs}
    with pytest.raises(error, match=match):
        square.square(model, args.pop("images"), args.pop("labels"), **args)


@pytest.mark.parametrize("args, error, match", [
    ((-1, 100), ValueError, r"i: expected an int >= 0, got -1"),
    ((0, 0), ValueError, r"queries: expected an int >= 1, got 0"),
    ((0, 100, 2.0), ValueError, r"p_init: expected a number <= 1.0, got 2.0"),
    ((0.5, 100), TypeError, r"i: expected an int, got float 0.5"),
])
def test_p_schedule_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        square.p_schedule(*args)
