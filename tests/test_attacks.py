"""sedl.attacks: reference tests against torchattacks, properties, determinism, bad input."""

import pytest
import torch
import torchattacks

from sedl import attacks, models, train

pytest_plugins = ["tests.attack_fixtures"]  # the model and batch fixtures


def accuracy(net, x, y):
    return train.evaluate(net, x, y)["accuracy"]


# --- reference: the same numbers as torchattacks ------------------------------------------

@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_is_identical_to_torchattacks(model, batch, targeted):
    x, y = batch
    labels = (y + 1) % 10 if targeted else y
    theirs = torchattacks.FGSM(model, eps=0.1)
    if targeted:
        theirs.set_mode_targeted_by_label(quiet=True)
    assert torch.equal(attacks.fgsm(model, x, labels, eps=0.1, targeted=targeted), theirs(x, labels))


@pytest.mark.parametrize("random_start", [False, True])
@pytest.mark.parametrize("targeted", [False, True])
def test_pgd_linf_matches_torchattacks_from_the_same_start(model, batch, random_start, targeted):
    x, y = batch
    labels = (y + 3) % 10 if targeted else y
    theirs = torchattacks.PGD(model, eps=0.2, alpha=0.02, steps=7, random_start=random_start)
    if targeted:
        theirs.set_mode_targeted_by_label(quiet=True)
    torch.manual_seed(5)  # torchattacks draws its start from the global generator
    expected = theirs(x, labels)
    ours = attacks.pgd(model, x, labels, eps=0.2, alpha=0.02, steps=7, targeted=targeted,
                       random_start=random_start, generator=torch.Generator().manual_seed(5))
    assert torch.equal(ours, expected)


@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_l2_matches_torchattacks_from_the_same_start(model, batch, random_start):
    x, y = batch
    torch.manual_seed(7)
    expected = torchattacks.PGDL2(model, eps=1.5, alpha=0.3, steps=6, random_start=random_start)(x, y)
    ours = attacks.pgd(model, x, y, eps=1.5, alpha=0.3, steps=6, norm="l2", random_start=random_start,
                       generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)


# --- properties ---------------------------------------------------------------------------

@pytest.mark.parametrize("attack, norm, eps", [("fgsm", "linf", 0.1), ("pgd", "linf", 0.1),
                                               ("pgd", "linf", 0.3), ("pgd", "l2", 1.0)])
def test_perturbation_stays_in_the_ball_and_images_in_range(model, batch, attack, norm, eps):
    x, y = batch
    x_adv = (attacks.fgsm(model, x, y, eps=eps) if attack == "fgsm"
             else attacks.pgd(model, x, y, eps=eps, alpha=eps / 4, steps=5, norm=norm))
    delta = (x_adv - x).flatten(1)
    size = delta.abs().max(1).values if norm == "linf" else delta.norm(dim=1)
    assert size.max() <= eps + 1e-5
    assert x_adv.min() >= 0 and x_adv.max() <= 1 and x_adv.shape == x.shape
    assert not torch.equal(x_adv, x)


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.2])
def test_attacks_never_raise_accuracy_and_pgd_beats_fgsm(model, batch, eps):
    x, y = batch
    clean = attacks.robust_accuracy(model, x, y, attack="none")
    after_fgsm = attacks.robust_accuracy(model, x, y, attack="fgsm", eps=eps)
    after_pgd = attacks.robust_accuracy(model, x, y, eps=eps, alpha=eps / 4, steps=10)
    assert clean == pytest.approx(accuracy(model, x, y))
    assert after_pgd <= after_fgsm <= clean
    assert after_pgd < clean


def test_zero_eps_changes_nothing(model, batch):
    x, y = batch
    assert torch.equal(attacks.fgsm(model, x, y, eps=0.0), x)
    assert torch.equal(attacks.pgd(model, x, y, eps=0.0, steps=3), x)


def test_early_stop_and_restarts_only_make_the_attack_stronger(model, batch):
    x, y = batch
    args = {"eps": 0.1, "alpha": 0.02, "steps": 8}
    plain = attacks.robust_accuracy(model, x, y, **args)
    early = attacks.robust_accuracy(model, x, y, early_stop=True, **args)
    restarts = attacks.robust_accuracy(model, x, y, restarts=3, generator=torch.Generator().manual_seed(1),
                                       **args)
    assert early <= plain and restarts <= plain


def test_targeted_pgd_reaches_the_target(model, batch):
    x, y = batch
    target = (y + 1) % 10
    x_adv = attacks.pgd(model, x, target, eps=0.3, targeted=True, steps=20, alpha=0.03)
    hit = (train.predict(model, x_adv).argmax(1) == target).float().mean()
    assert hit > 0.8


def test_model_mode_is_restored(batch):
    net = models.build(seed=0, width=4).train()
    x, y = batch
    attacks.pgd(net, x, y, steps=1)
    attacks.fgsm(net, x, y)
    assert net.training


def test_accuracy_curve_rows_and_clean_point(model, batch):
    x, y = batch
    curve = attacks.accuracy_curve(model, x, y, eps_values=[0.0, 0.1], seeds=(0, 1), steps=3)
    assert list(curve.columns) == ["attack", "eps", "seed", "accuracy"] and len(curve) == 4
    assert curve.accuracy.iloc[0] == pytest.approx(accuracy(model, x, y))
    fgsm_curve = attacks.accuracy_curve(model, x, y, eps_values=[0.1], attack="fgsm", seeds=(0, 1))
    assert len(fgsm_curve) == 1


# --- determinism --------------------------------------------------------------------------

def test_same_generator_seed_same_images(model, batch):
    x, y = batch

    def run(seed):
        return attacks.pgd(model, x, y, steps=2, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(0), run(0)) and not torch.equal(run(0), run(1))
    assert torch.equal(attacks.pgd(model, x, y, steps=2), run(0))  # None means seed 0


# --- restarts restart ------------------------------------------------------------------

def test_restarts_draw_new_starts(model, batch, monkeypatch):
    """Each restart continues the generator's stream: the second start differs from the first."""
    x, y = batch
    starts = []

    def recording_pgd(model, images, labels, **kwargs):
        x_adv = attacks.pgd(model, images, labels, **kwargs)
        starts.append((x_adv - images)[0].clone())
        return x_adv

    monkeypatch.setitem(attacks._ATTACKS, "pgd", recording_pgd)
    attacks.robust_accuracy(model, x[:1], y[:1], eps=0.01, steps=0, restarts=2)  # steps=0: the start
    assert len(starts) == 2 and not torch.equal(starts[0], starts[1])


@pytest.mark.parametrize("attack, args", [("pgd", {"eps": 0.1, "alpha": 0.025, "steps": 2}),
                                          ("signs", {"eps": 0.3}), ("uniform", {"eps": 0.5})])
def test_more_restarts_only_lower_robustness_image_by_image(model, batch, attack, args):
    x, y = batch
    survivors = [attacks.robust_accuracy(model, x, y, attack=attack, restarts=r, per_image=True,
                                         batch_size=20, **args) for r in (1, 2, 4)]
    for fewer, more in zip(survivors, survivors[1:], strict=False):
        assert not (more & ~fewer).any()  # nothing that fell comes back
    assert survivors[-1].sum() < survivors[0].sum()  # and the extra restarts do find new images
    assert survivors[0].float().mean().item() == attacks.robust_accuracy(model, x, y, attack=attack, **args)


def test_noise_has_the_budget_and_is_reproducible(batch):
    x, _ = batch
    signs = attacks.noise(x, eps=0.2, kind="signs", generator=torch.Generator().manual_seed(1))
    uniform = attacks.noise(x, eps=0.2, kind="uniform", generator=torch.Generator().manual_seed(1))
    inside = (x > 0.2) & (x < 0.8)  # where clipping cannot shorten the step
    assert torch.allclose((signs - x).abs()[inside], torch.tensor(0.2), atol=1e-6)
    assert (uniform - x).abs().max() <= 0.2 + 1e-6 and (uniform - x).abs()[inside].min() < 0.05
    assert torch.equal(signs, attacks.noise(x, eps=0.2, generator=torch.Generator().manual_seed(1)))


# --- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, match", [
    ({"eps": -0.1}, ValueError, r"eps: expected a number >= 0.0, got -0.1"),
    ({"eps": float("inf")}, ValueError, r"eps: expected a finite number, got inf"),
    ({"eps": float("nan")}, ValueError, r"eps: expected a number, got nan"),
    ({"targeted": "no"}, TypeError, r"targeted: expected a bool, got str 'no'"),
    ({"images": "x"}, TypeError, r"images: expected a torch.Tensor"),
    ({"labels": "y"}, TypeError, r"labels: expected a torch.Tensor"),
    ({"model": "resnet"}, TypeError, r"model: expected a torch.nn.Module"),
])
def test_fgsm_bad_input(model, batch, kwargs, error, match):
    x, y = batch
    args = {"model": model, "images": x, "labels": y} | kwargs
    with pytest.raises(error, match=match):
        attacks.fgsm(args.pop("model"), args.pop("images"), args.pop("labels"), **args)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"eps": -1}, ValueError, r"eps: expected a number >= 0.0"),
    ({"eps": float("inf"), "norm": "l2"}, ValueError, r"eps: expected a finite number, got inf"),
    ({"alpha": float("nan")}, ValueError, r"alpha: expected a number, got nan"),
    ({"random_start": "no"}, TypeError, r"random_start: expected a bool, got str 'no'"),
    ({"early_stop": 1}, TypeError, r"early_stop: expected a bool, got int 1"),
    ({"targeted": None}, TypeError, r"targeted: expected a bool"),
    ({"norm": "l1"}, ValueError, r"norm: expected one of \['l2', 'linf'\], got 'l1'"),
    ({"steps": -2}, ValueError, r"steps: expected an int >= 0, got -2"),
    ({"generator": 0}, TypeError, r"generator: expected a torch.Generator or None, got int"),
    ({"labels": "short"}, ValueError, r"labels: expected 64 labels, one per image, got 10"),
    ({"labels": "float"}, TypeError, r"labels: expected an integer tensor"),
    ({"images": "255"}, ValueError, r"images: expected values in \[0, 1\]"),
])
def test_pgd_bad_input(model, batch, kwargs, error, match):
    x, y = batch
    images = {"255": x * 255}.get(kwargs.pop("images", None), x)
    labels = {"short": y[:10], "float": y.float()}.get(kwargs.pop("labels", None), y)
    with pytest.raises(error, match=match):
        attacks.pgd(model, images, labels, **kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"eps": 1.5}, ValueError, r"eps: expected a number <= 1.0, got 1.5"),
    ({"kind": "gauss"}, ValueError, r"kind: expected one of \['signs', 'uniform'\], got 'gauss'"),
    ({"generator": 3}, TypeError, r"generator: expected a torch.Generator or None, got int"),
    ({"images": torch.rand(3, 28, 28)}, ValueError, r"images: expected shape \(N, C, H, W\)"),
])
def test_noise_bad_input(batch, kwargs, error, match):
    args = {"images": batch[0]} | kwargs
    with pytest.raises(error, match=match):
        attacks.noise(args.pop("images"), **args)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"attack": "cw"}, ValueError, r"attack: expected one of \['apgd-ce', 'apgd-t', 'fgsm', 'none', 'pgd',"),
    ({"targeted": True}, ValueError, r"attack_args: expected an untargeted attack"),
    ({"restarts": 0}, ValueError, r"restarts: expected an int >= 1, got 0"),
    ({"batch_size": 0}, ValueError, r"batch_size: expected an int >= 1, got 0"),
    ({"per_image": "yes"}, TypeError, r"per_image: expected a bool, got str 'yes'"),
])
def test_robust_accuracy_bad_input(model, batch, kwargs, error, match):
    x, y = batch
    with pytest.raises(error, match=match):
        attacks.robust_accuracy(model, x, y, **kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"eps_values": [0.1, -0.1]}, ValueError, r"eps_values\[...\]: expected a number >= 0.0"),
    ({"attack": "apgd-ce"}, ValueError, r"attack: expected one of \['fgsm', 'pgd', 'signs', 'uniform'\]"),
    ({"steps": 0}, ValueError, r"steps: expected an int >= 1, got 0"),
    ({"alpha_factor": 0}, ValueError, r"alpha_factor: expected a number > 0.0"),
    ({"early_stop": "no"}, TypeError, r"early_stop: expected a bool"),
    ({"seeds": [-1]}, ValueError, r"seeds\[...\]: expected an int >= 0"),
])
def test_accuracy_curve_bad_input(model, batch, kwargs, error, match):
    x, y = batch
    args = {"eps_values": [0.1]} | kwargs
    with pytest.raises(error, match=match):
        attacks.accuracy_curve(model, x, y, **args)
