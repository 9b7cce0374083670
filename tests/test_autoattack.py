"""sedl.autoattack: APGD-CE, APGD-DLR and APGD-T against torchattacks; the four-component run; bad input."""

import pytest
import torch
import torchattacks

from sedl import attacks, autoattack, fab, models, square

pytest_plugins = ["tests.attack_fixtures"]  # the model and batch fixtures


def gen(seed):
    return torch.Generator().manual_seed(seed)


# --- reference: the same images as torchattacks from the same start -----------------------

@pytest.mark.parametrize("loss", ["ce", "dlr"])
def test_apgd_is_identical_to_torchattacks(model, batch, loss):
    x, y = batch  # torchattacks seeds torch's global generator with `seed` before its start
    theirs = torchattacks.APGD(model, eps=0.1, steps=20, loss=loss, seed=3)(x, y)
    assert torch.equal(autoattack.apgd(model, x, y, eps=0.1, steps=20, loss=loss, generator=gen(3)), theirs)


def test_apgd_targeted_is_identical_to_torchattacks(model, batch):
    x, y = batch
    theirs = torchattacks.APGDT(model, eps=0.1, steps=12, seed=4, n_classes=10)(x, y)
    assert torch.equal(autoattack.apgd_targeted(model, x, y, eps=0.1, steps=12, generator=gen(4)), theirs)


def test_dlr_loss_matches_its_formula():
    logits = torch.tensor([[3.0, 1.0, 2.0, 0.0], [0.0, 5.0, 1.0, 2.0]])
    labels = torch.tensor([0, 2])
    # image 0: true class on top, runner-up 2.0; spread z1 - z3 = 3 - 1. image 1: 1 - 5 over 5 - 1.
    assert torch.allclose(autoattack.dlr_loss(logits, labels), torch.tensor([-0.5, 1.0]))
    # targeted towards class 3 / class 1: -(z_y - z_t) / (z1 - (z3 + z4) / 2)
    targeted = autoattack.dlr_loss(logits, labels, torch.tensor([3, 1]))
    assert torch.allclose(targeted, torch.tensor([-3.0 / 2.5, 4.0 / 4.5]))
    assert torch.allclose(autoattack.dlr_loss(7 * logits + 2, labels), autoattack.dlr_loss(logits, labels))


# --- properties ---------------------------------------------------------------------------

def test_apgd_stays_in_the_ball_and_only_changes_fooled_images(model, batch):
    x, y = batch
    x_adv = autoattack.apgd(model, x, y, eps=0.1, steps=10, generator=gen(0))
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    fooled = model(x_adv).argmax(1) != y
    changed = (x_adv != x).flatten(1).any(1)
    assert torch.equal(changed, fooled & (model(x).argmax(1) == y))


def test_apgd_is_at_least_as_strong_as_pgd_with_the_same_steps(model, batch):
    x, y = batch
    pgd = attacks.robust_accuracy(model, x, y, eps=0.08, alpha=0.02, steps=20)
    apgd = attacks.robust_accuracy(model, x, y, attack="apgd-ce", eps=0.08, steps=20)
    assert apgd <= pgd < attacks.robust_accuracy(model, x, y, attack="none")


def test_autoattack_columns_only_fall_and_match_the_components(model, batch):
    x, y = batch
    table = autoattack.autoattack(model, x, y, eps=0.08, steps=10, queries=30, generator=gen(2))
    assert list(table.columns) == ["clean", "apgd-ce", "apgd-t", "fab-t", "square"] and len(table) == len(x)
    for before, after in zip(table.columns, table.columns[1:], strict=False):
        assert not (table[after] & ~table[before]).any()
    first = attacks.robust_accuracy(model, x, y, attack="apgd-ce", eps=0.08, steps=10, generator=gen(2),
                                    per_image=True)
    assert torch.equal(torch.tensor(table["apgd-ce"].to_numpy().copy()), first)


def test_autoattack_runs_fab_t_and_square_on_the_survivors(model, batch):
    x, y = batch  # FAB-T first, then Square: each column is that attack run on the images left
    table = autoattack.autoattack(model, x, y, eps=0.1, steps=4, targets=3, queries=25,
                                  components=["fab-t", "square"], generator=gen(5))
    left = torch.tensor(table["clean"].to_numpy().copy()).nonzero().flatten()
    x_fab = fab.fab_targeted(model, x[left], y[left], eps=0.1, steps=4, targets=3)
    survives = model(x_fab).argmax(1) == y[left]
    assert torch.equal(torch.tensor(table["fab-t"].to_numpy()[left.numpy()].copy()), survives)
    left = left[survives]
    x_sq = square.square(model, x[left], y[left], eps=0.1, queries=25, generator=gen(5))
    assert torch.equal(torch.tensor(table["square"].to_numpy()[left.numpy()].copy()),
                       model(x_sq).argmax(1) == y[left])
    assert table["square"].sum() < table["clean"].sum()


def test_same_generator_same_images(model, batch):
    x, y = batch
    runs = [autoattack.apgd_targeted(model, x, y, eps=0.1, steps=5, targets=2, generator=gen(s))
            for s in (0, 0, 1)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_model_mode_is_restored(batch):
    net = models.build(seed=0, width=4).train()
    autoattack.apgd(net, *batch, steps=1)
    assert net.training


# --- bad input ----------------------------------------------------------------------------

COMMON = [
    ({"eps": float("inf")}, ValueError, r"eps: expected a finite number, got inf"),
    ({"eps": -0.1}, ValueError, r"eps: expected a number >= 0.0"),
    ({"steps": 0}, ValueError, r"steps: expected an int >= 1, got 0"),
    ({"rho": 2.0}, ValueError, r"rho: expected a number <= 1.0, got 2.0"),
    ({"generator": 1}, TypeError, r"generator: expected a torch.Generator or None, got int"),
]


@pytest.mark.parametrize("kwargs, error, match", COMMON + [
    ({"loss": "cw"}, ValueError, r"loss: expected one of \['ce', 'dlr'\], got 'cw'"),
])
def test_apgd_bad_input(model, batch, kwargs, error, match):
    with pytest.raises(error, match=match):
        autoattack.apgd(model, *batch, **kwargs)


@pytest.mark.parametrize("kwargs, error, match", COMMON + [
    ({"targets": 10}, ValueError, r"targets: expected at most 9"),
    ({"targets": 0}, ValueError, r"targets: expected an int >= 1, got 0"),
])
def test_apgd_targeted_bad_input(model, batch, kwargs, error, match):
    with pytest.raises(error, match=match):
        autoattack.apgd_targeted(model, *batch, **kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"components": "apgd-ce"}, ValueError, r"components: expected a non-empty sequence of names"),
    ({"components": ["cw"]}, ValueError,
     r"components\[...\]: expected one of \['apgd-ce', 'apgd-t', 'fab-t', 'square'\], got 'cw'"),
    ({"components": ["square", "square"]}, ValueError, r"components: expected each name at most once"),
    ({"components": {"square"}}, ValueError, r"components: expected a non-empty sequence of names"),
    ({"steps": 0}, ValueError, r"steps: expected an int >= 1, got 0"),
    ({"targets": 10}, ValueError, r"targets: expected at most 9 \(the number of classes minus one\), got 10"),
    ({"queries": -5}, ValueError, r"queries: expected an int >= 1, got -5"),
    ({"eps": 2.0}, ValueError, r"eps: expected a number <= 1.0"),
    ({"generator": "g"}, TypeError, r"generator: expected a torch.Generator or None, got str"),
])
def test_autoattack_bad_input(model, batch, kwargs, error, match):
    with pytest.raises(error, match=match):
        autoattack.autoattack(model, *batch, **kwargs)


def test_dlr_loss_bad_input():
    with pytest.raises(ValueError, match=r"logits: expected shape \(N, K\) with K >= 4"):
        autoattack.dlr_loss(torch.zeros(2, 3), torch.tensor([0, 1]))
