import pandas as pd
import pytest
import torch

from sedl import data, models, train


@pytest.fixture(scope="module")
def small_digits():
    return data.digits("train"), data.digits("val")


def test_same_seed_gives_bit_identical_weights(small_digits):
    tr, va = small_digits
    weights = []
    for _ in range(2):
        model = models.build(seed=0, image_size=8, width=4)
        train.fit(model, tr, va, epochs=2, seed=11, augment=train.random_shift(1))
        weights.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights, strict=True))


def test_weights_do_not_depend_on_the_machines_thread_count(small_digits):
    """fit trains with one thread by default: the ambient count (the machine's cores) is restored
    afterwards and does not change the weights."""
    tr, _ = small_digits
    weights, before = [], torch.get_num_threads()
    for ambient in (1, 2):
        torch.set_num_threads(ambient)
        model = models.build(seed=0, image_size=8, width=8)
        train.fit(model, tr, epochs=1, seed=3)
        assert torch.get_num_threads() == ambient
        weights.append(model.head.fc.weight.detach().clone())
    torch.set_num_threads(before)
    assert torch.equal(*weights)


def test_other_seed_gives_other_weights(small_digits):
    tr, _ = small_digits
    a, b = models.build(seed=0, image_size=8, width=4), models.build(seed=0, image_size=8, width=4)
    train.fit(a, tr, epochs=1, seed=1)
    train.fit(b, tr, epochs=1, seed=2)
    assert not torch.equal(a.head.fc.weight, b.head.fc.weight)


def test_fit_learns_and_reports_history(small_digits):
    tr, va = small_digits
    model = models.build(seed=0, image_size=8, width=8)
    before = train.evaluate(model, *va)["accuracy"]
    history = train.fit(model, tr, va, epochs=4, lr=3e-3, seed=0)
    assert isinstance(history, pd.DataFrame)
    assert list(history.columns) == ["epoch", "train_loss", "train_accuracy", "val_loss",
                                     "val_accuracy", "seconds"]
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    assert history["train_loss"].iloc[-1] < history["train_loss"].iloc[0]
    assert history["val_accuracy"].iloc[-1] > max(before, 0.8)
    assert not model.training


def test_evaluate_matches_a_hand_computation(small_digits):
    _, (x, y) = small_digits
    model = models.build(seed=0, image_size=8, width=4)
    logits = train.predict(model, x, batch_size=7)
    expected = (logits.argmax(1) == y).float().mean().item()
    assert train.evaluate(model, x, y)["accuracy"] == pytest.approx(expected)
    loss = torch.nn.functional.cross_entropy(logits, y).item()
    assert train.evaluate(model, x, y)["loss"] == pytest.approx(loss, rel=1e-5)


def test_random_shift_moves_pixels_within_bounds():
    x = torch.zeros(50, 1, 9, 9)
    x[:, :, 4, 4] = 1.0
    out = train.random_shift(2)(x, torch.Generator().manual_seed(0))
    rows, cols = torch.nonzero(out[:, 0], as_tuple=True)[1:]
    assert out.sum().item() == 50  # every bright pixel survives a 2-pixel shift
    assert rows.min() >= 2 and rows.max() <= 6 and cols.min() >= 2 and cols.max() <= 6
    assert len(set(zip(rows.tolist(), cols.tolist(), strict=True))) > 5
    assert torch.equal(train.random_shift(0)(x, torch.Generator()), x)


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"epochs": 0}, ValueError, "epochs: expected an int >= 1, got 0"),
    ({"lr": 0.0}, ValueError, "lr: expected a number > 0.0"),
    ({"batch_size": 2.0}, TypeError, "batch_size: expected an int"),
    ({"augment": "shift"}, TypeError, "augment: expected a callable"),
    ({"seed": -1}, ValueError, "seed: expected an int >= 0"),
    ({"threads": 0}, ValueError, "threads: expected a positive int or None, got 0"),
    ({"threads": "1"}, ValueError, "threads: expected a positive int or None, got '1'"),
])
def test_fit_rejects_bad_hyperparameters(small_digits, kwargs, error, fragment):
    model = models.build(seed=0, image_size=8, width=2)
    with pytest.raises(error, match=fragment):
        train.fit(model, small_digits[0], **kwargs)


def test_fit_and_evaluate_reject_bad_data():
    model = models.build(seed=0, image_size=8, width=2)
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    with pytest.raises(TypeError, match="train: expected a pair"):
        train.fit(model, x)
    with pytest.raises(ValueError, match=r"train\[0\]: expected values in \[0, 1\]"):
        train.fit(model, (x * 255, y))
    with pytest.raises(ValueError, match=r"train\[1\]: expected 4 labels, one per image, got 3"):
        train.fit(model, (x, y[:3]))
    with pytest.raises(TypeError, match=r"train\[1\]: expected an integer tensor"):
        train.fit(model, (x, y.float()))
    with pytest.raises(ValueError, match=r"labels: expected labels in \[0, 9\], got labels in \[0, 12\]"):
        train.evaluate(model, x, torch.tensor([0, 1, 2, 12]))
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module, got str"):
        train.predict("model", x)
    with pytest.raises(ValueError, match=r"images: expected shape \(N, C, H, W\), got shape \(8, 8\)"):
        train.predict(model, torch.rand(8, 8))
