"""sedl.attacks: reference tests against torchattacks, properties, determinism, bad input."""

import pytest
import torch
import torchattacks

from sedl import attacks, data, models, train


@pytest.fixture(scope="module")
def model():
    """A small CNN trained for two epochs on 1,000 MNIST images (a few seconds)."""
    x, y = data.mnist("train")
    net = models.build(seed=0, width=8)
    train.fit(net, (x[::4], y[::4]), epochs=2, lr=3e-3, seed=0)  # every 4th: all classes
    return net.eval()


@pytest.fixture(scope="module")
def batch():
    x, y = data.mnist("test")
    return x[::7][:64], y[::7][:64]  # the split is sorted by class: take every 7th


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


def test_apply_patch_pastes_exactly_the_patch():
    images = torch.zeros(2, 1, 10, 10)
    patch = torch.rand(1, 3, 3, generator=torch.Generator().manual_seed(0))
    out = attacks.apply_patch(images, patch, torch.tensor([[0, 0], [7, 4]]))
    assert torch.equal(out[0, :, :3, :3], patch) and torch.equal(out[1, :, 7:, 4:7], patch)
    assert out[0].sum() == pytest.approx(patch.sum().item()) and out.shape == images.shape


def test_patch_training_lowers_the_target_loss_and_raises_success(model, batch):
    x, _ = data.mnist("val")
    xt, yt = batch

    def patch_after(steps):  # steps=0 returns the random initial patch
        return attacks.train_patch(model, x, target=8, size=12, steps=steps, lr=0.1,
                                   generator=torch.Generator().manual_seed(0))

    def target_loss(patch):
        where = attacks.random_locations(len(xt), image_size=28, patch_size=12)
        logits = train.predict(model, attacks.apply_patch(xt, patch, where))
        return torch.nn.functional.cross_entropy(logits, torch.full((len(xt),), 8)).item()

    initial, trained = patch_after(0), patch_after(25)
    assert trained.shape == (1, 12, 12) and 0 <= trained.min() and trained.max() <= 1
    assert target_loss(trained) < target_loss(initial) - 0.2
    assert (attacks.patch_success(model, xt, yt, trained, target=8)
            > attacks.patch_success(model, xt, yt, initial, target=8))


# --- determinism --------------------------------------------------------------------------

def test_same_generator_seed_same_images(model, batch):
    x, y = batch

    def run(seed):
        return attacks.pgd(model, x, y, steps=2, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(0), run(0)) and not torch.equal(run(0), run(1))
    assert torch.equal(attacks.pgd(model, x, y, steps=2), run(0))  # None means seed 0


def test_patch_training_is_deterministic(model, batch):
    x, _ = batch

    def run():
        return attacks.train_patch(model, x, target=1, size=4, steps=3,
                                   generator=torch.Generator().manual_seed(2))

    assert torch.equal(run(), run())


# --- bad input ----------------------------------------------------------------------------

def test_bad_inputs_get_clear_errors(model, batch):
    x, y = batch
    with pytest.raises(ValueError, match=r"eps: expected a number >= 0.0, got -0.1"):
        attacks.fgsm(model, x, y, eps=-0.1)
    with pytest.raises(ValueError, match=r"eps: expected a number >= 0.0"):
        attacks.pgd(model, x, y, eps=-1)
    with pytest.raises(ValueError, match=r"images: expected values in \[0, 1\]"):
        attacks.pgd(model, x * 255, y)
    with pytest.raises(ValueError, match=r"labels: expected 64 labels, one per image, got 10"):
        attacks.fgsm(model, x, y[:10])
    with pytest.raises(TypeError, match=r"labels: expected an integer tensor"):
        attacks.fgsm(model, x, y.float())
    with pytest.raises(TypeError, match=r"model: expected a torch.nn.Module"):
        attacks.fgsm("resnet", x, y)
    with pytest.raises(ValueError, match=r"norm: expected one of \['l2', 'linf'\], got 'l1'"):
        attacks.pgd(model, x, y, norm="l1")
    with pytest.raises(ValueError, match=r"steps: expected an int >= 0, got -2"):
        attacks.pgd(model, x, y, steps=-2)
    with pytest.raises(TypeError, match=r"generator: expected a torch.Generator or None, got int"):
        attacks.pgd(model, x, y, generator=0)


def test_bad_evaluation_and_patch_arguments(model, batch):
    x, y = batch
    with pytest.raises(ValueError, match=r"attack: expected one of \['fgsm', 'none', 'pgd'\]"):
        attacks.robust_accuracy(model, x, y, attack="cw")
    with pytest.raises(ValueError, match=r"attack_args: expected an untargeted attack"):
        attacks.robust_accuracy(model, x, y, targeted=True)
    with pytest.raises(ValueError, match=r"restarts: expected an int >= 1, got 0"):
        attacks.robust_accuracy(model, x, y, restarts=0)
    with pytest.raises(ValueError, match=r"eps_values\[...\]: expected a number >= 0.0"):
        attacks.accuracy_curve(model, x, y, eps_values=[0.1, -0.1])
    with pytest.raises(ValueError, match=r"patch: expected a square"):
        attacks.apply_patch(x, torch.rand(1, 3, 4), torch.zeros(64, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"patch: expected 1 channel"):
        attacks.apply_patch(x, torch.rand(3, 4, 4), torch.zeros(64, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"locations: expected a tensor of shape \(64, 2\)"):
        attacks.apply_patch(x, torch.rand(1, 4, 4), torch.zeros(3, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"size: expected an int <= 28, got 40"):
        attacks.train_patch(model, x, target=1, size=40)
