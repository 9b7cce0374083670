"""sedl.fab: FAB-T against torchattacks.FAB (multi_targeted); the projection; properties; bad input."""

import pytest
import torch
import torchattacks

from sedl import fab, models

pytest_plugins = ["tests.attack_fixtures"]  # the model and batch fixtures


# --- reference: the same images as torchattacks (FAB-T draws no random numbers) -------------

@pytest.mark.parametrize("eps", [0.05, 0.2])
def test_fab_targeted_is_identical_to_torchattacks(model, batch, eps):
    x, y = batch
    theirs = torchattacks.FAB(model, eps=eps, steps=6, multi_targeted=True, n_classes=10, n_restarts=1)(x, y)
    ours = fab.fab_targeted(model, x, y, eps=eps, steps=6)
    assert torch.equal(ours, theirs) and (model(ours).argmax(1) != y).any()


def test_projection_lands_on_the_hyperplane_inside_the_box_with_the_shortest_step():
    g = torch.Generator().manual_seed(0)
    points, w = torch.rand(50, 20, generator=g), torch.randn(50, 20, generator=g)
    b = (w * torch.rand(50, 20, generator=g)).sum(1)  # a hyperplane that meets the box
    d = fab._project_linf(points, w, b)
    assert torch.allclose(((points + d) * w).sum(1), b, atol=1e-4)
    assert (points + d).min() >= -1e-6 and (points + d).max() <= 1 + 1e-6
    # Optimal: with a step of 99 % of |d|_inf, even the best move (every coordinate as far as it
    # may go in the direction that helps) falls short of the plane.
    need = b - (w * points).sum(1)
    up = (w > 0) == (need > 0).unsqueeze(1)  # coordinates that help by going up
    room = torch.where(up, 1 - points, points)
    r = 0.99 * d.abs().amax(1, keepdim=True)
    assert ((w.abs() * torch.minimum(room, r)).sum(1) < need.abs()).all()


# --- properties ---------------------------------------------------------------------------

def test_fab_targeted_fools_only_within_eps_and_only_correct_images(model, batch):
    x, y = batch
    x_adv = fab.fab_targeted(model, x, y, eps=0.1, steps=5, targets=3)
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    changed = (x_adv != x).flatten(1).any(1)
    assert torch.equal(changed, (model(x_adv).argmax(1) != y) & (model(x).argmax(1) == y))


def test_more_targets_and_a_larger_eps_fool_more(model, batch):
    x, y = batch
    fooled = {}
    for t, e in [(1, 0.1), (4, 0.1), (4, 0.2)]:
        x_adv = fab.fab_targeted(model, x, y, eps=e, steps=5, targets=t)
        fooled[t, e] = int((model(x_adv).argmax(1) != y).sum())
    assert fooled[1, 0.1] <= fooled[4, 0.1] <= fooled[4, 0.2] and fooled[1, 0.1] < fooled[4, 0.2]


def test_model_mode_is_restored(batch):
    net = models.build(seed=0, width=4).train()
    fab.fab_targeted(net, *batch, steps=1, targets=1)
    assert net.training


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, match", [
    ({"eps": float("nan")}, ValueError, r"eps: expected a number, got nan"),
    ({"eps": 1.5}, ValueError, r"eps: expected a number <= 1.0, got 1.5"),
    ({"steps": 0}, ValueError, r"steps: expected an int >= 1, got 0"),
    ({"steps": 2.0}, TypeError, r"steps: expected an int, got float 2.0"),
    ({"targets": 10}, ValueError, r"targets: expected at most 9 \(the number of classes minus one\), got 10"),
    ({"targets": 0}, ValueError, r"targets: expected an int >= 1, got 0"),
    ({"alpha_max": 1.5}, ValueError, r"alpha_max: expected a number <= 1.0, got 1.5"),
    ({"eta": 0.5}, ValueError, r"eta: expected a number >= 1.0, got 0.5"),
    ({"beta": -0.1}, ValueError, r"beta: expected a number >= 0.0, got -0.1"),
    ({"labels": torch.zeros(3, dtype=torch.long)}, ValueError,
     r"labels: expected 64 labels, one per image, got 3"),
    ({"model": "net"}, TypeError, r"model: expected a torch.nn.Module, got str"),
])
def test_fab_targeted_bad_input(model, batch, kwargs, error, match):
    args = {"model": model, "images": batch[0], "labels": batch[1], **kwargs}
    with pytest.raises(error, match=match):
        fab.fab_targeted(args.pop("model"), args.pop("images"), args.pop("labels"), **args)
