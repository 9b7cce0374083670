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


class _Frozen(torch.nn.Module):
    """A model with a part that stays in eval mode: its mode must survive predict and evaluating."""

    def __init__(self):
        super().__init__()
        self.body, self.frozen = torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(3).eval()


def test_evaluating_restores_each_submodules_mode_also_on_error():
    model = _Frozen()
    with train.evaluating(model) as inside:
        assert inside is model and not any(m.training for m in model.modules())
    assert [m.training for m in model.modules()] == [True, True, False]
    with pytest.raises(RuntimeError, match="inside the block"), train.evaluating(model):
        raise RuntimeError("inside the block")
    assert [m.training for m in model.modules()] == [True, True, False]
    model.eval()
    with train.evaluating(model):
        pass
    assert not any(m.training for m in model.modules())


@pytest.mark.parametrize("model, error, fragment", [
    ("model", TypeError, "model: expected a torch.nn.Module, got str"),
    (None, TypeError, "model: expected a torch.nn.Module, got NoneType"),
])
def test_evaluating_bad_input(model, error, fragment):
    with pytest.raises(error, match=fragment), train.evaluating(model):
        pass


def test_predict_handles_a_model_without_parameters_and_an_empty_batch():
    flat = torch.nn.Flatten()  # no parameters, no buffers: computes on the CPU
    assert train.predict(flat, torch.rand(3, 1, 2, 2)).shape == (3, 4)
    model = models.build(seed=0, image_size=8, width=2).train()
    assert train.predict(model, torch.rand(0, 1, 8, 8)).shape == (0, 10)
    assert model.training  # the mode it had


_X, _Y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])


def test_model_device_of_parameters_buffers_or_none():
    assert train.model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert train.model_device(torch.nn.BatchNorm1d(2, affine=False)) == torch.device("cpu")  # buffers only
    assert train.model_device(torch.nn.ReLU()) == torch.device("cpu")


@pytest.mark.parametrize("model, error, fragment", [
    ("cnn", TypeError, "model: expected a torch.nn.Module, got str"),
    (torch.nn.Linear, TypeError, "model: expected a torch.nn.Module, got type"),
])
def test_model_device_bad_input(model, error, fragment):
    with pytest.raises(error, match=fragment):
        train.model_device(model)


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"model": "model"}, TypeError, "model: expected a torch.nn.Module, got str"),
    ({"images": _X[0, 0]}, ValueError, r"images: expected shape \(N, C, H, W\), got shape \(8, 8\)"),
    ({"images": _X * 255}, ValueError, r"images: expected values in \[0, 1\]"),
    ({"images": [[0.5]]}, TypeError, "images: expected a torch.Tensor, got list"),
    ({"batch_size": 0}, ValueError, "batch_size: expected an int >= 1, got 0"),
    ({"batch_size": 2.5}, TypeError, "batch_size: expected an int, got float"),
    ({"model": torch.nn.Identity()}, ValueError,
     r"model: expected logits of shape \(N, num_classes\), got shape \(4, 1, 8, 8\)"),
])
def test_predict_bad_input(kwargs, error, fragment):
    args = {"model": models.build(seed=0, image_size=8, width=2), "images": _X} | kwargs
    with pytest.raises(error, match=fragment):
        train.predict(args.pop("model"), args.pop("images"), **args)


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"model": 3}, TypeError, "model: expected a torch.nn.Module, got int"),
    ({"images": _X[:0], "labels": _Y[:0]}, ValueError, "images: expected at least one image"),
    ({"labels": _Y[:3]}, ValueError, "labels: expected 4 labels, one per image, got 3"),
    ({"labels": _Y.float()}, TypeError, "labels: expected an integer tensor"),
    ({"labels": torch.tensor([0, 1, 2, 12])}, ValueError,
     r"labels: expected labels in \[0, 9\], got labels in \[0, 12\]"),
    ({"images": _X - 1}, ValueError, r"images: expected values in \[0, 1\]"),
    ({"batch_size": -1}, ValueError, "batch_size: expected an int >= 1"),
])
def test_evaluate_bad_input(kwargs, error, fragment):
    args = {"model": models.build(seed=0, image_size=8, width=2), "images": _X, "labels": _Y} | kwargs
    with pytest.raises(error, match=fragment):
        train.evaluate(args.pop("model"), args.pop("images"), args.pop("labels"), **args)


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"epochs": 0}, ValueError, "epochs: expected an int >= 1, got 0"),
    ({"lr": 0.0}, ValueError, "lr: expected a number > 0.0"),
    ({"lr": float("inf")}, ValueError, "lr: expected a finite number, got inf"),
    ({"lr": float("nan")}, ValueError, "lr: expected a number, got nan"),
    ({"lr": "1e-3"}, TypeError, "lr: expected a number, got str"),
    ({"weight_decay": float("inf")}, ValueError, "weight_decay: expected a finite number, got inf"),
    ({"weight_decay": -0.1}, ValueError, "weight_decay: expected a number >= 0.0"),
    ({"batch_size": 2.0}, TypeError, "batch_size: expected an int"),
    ({"augment": "shift"}, TypeError, "augment: expected a callable"),
    ({"seed": -1}, ValueError, "seed: expected an int >= 0"),
    ({"threads": 0}, ValueError, "threads: expected an int >= 1, got 0"),
    ({"threads": "1"}, TypeError, "threads: expected an int, got str '1'"),
    ({"model": "cnn"}, TypeError, "model: expected a torch.nn.Module, got str"),
    ({"model": torch.nn.Flatten()}, ValueError, "model: expected a model with trainable parameters"),
    ({"train": _X}, TypeError, "train: expected a pair \\(images, labels\\), got Tensor"),
    ({"train": (_X, _Y, _Y)}, TypeError, "train: expected a pair .*, got tuple of length 3"),
    ({"train": (_X[:0], _Y[:0])}, ValueError, r"train\[0\]: expected at least one image, got 0"),
    ({"train": (_X * 255, _Y)}, ValueError, r"train\[0\]: expected values in \[0, 1\]"),
    ({"train": (_X, _Y[:3])}, ValueError, r"train\[1\]: expected 4 labels, one per image, got 3"),
    ({"train": (_X, _Y.float())}, TypeError, r"train\[1\]: expected an integer tensor"),
    ({"train": (_X, _Y + 8)}, ValueError,
     r"train\[1\]: expected labels in \[0, 9\], got labels in \[8, 11\]"),
    ({"val": (_X, _Y + 8)}, ValueError, r"val\[1\]: expected labels in \[0, 9\]"),
    ({"val": (_X[:0], _Y[:0])}, ValueError, r"val\[0\]: expected at least one image, got 0"),
    ({"val": "val"}, TypeError, "val: expected a pair"),
])
def test_fit_bad_input(kwargs, error, fragment):
    model = models.build(seed=0, image_size=8, width=2)
    before = [p.detach().clone() for p in model.parameters()]
    args = {"model": model, "train": (_X, _Y)} | kwargs
    with pytest.raises(error, match=fragment):
        train.fit(args.pop("model"), args.pop("train"), **args)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("bad, error, fragment", [
    (-1, ValueError, "max_pixels: expected an int >= 0, got -1"),
    (1.5, TypeError, "max_pixels: expected an int, got float"),
    (True, TypeError, "max_pixels: expected an int, got bool"),
])
def test_random_shift_bad_input(bad, error, fragment):
    with pytest.raises(error, match=fragment):
        train.random_shift(bad)
