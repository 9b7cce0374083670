"""Training and evaluation loops for the book's small classifiers.

:func:`fit` is a plain mini-batch loop with a validation pass after every
epoch. All randomness in it (shuffling, dropout, augmentation) flows from its
``seed`` argument, so two calls with the same arguments give identical weights.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pandas as pd
import torch
import torch.nn.functional as F

from sedl import repro
from sedl._checks import (
    check_float,
    check_images,
    check_int,
    check_labels,
    check_module,
    check_seed,
)

__all__ = ["fit", "evaluate", "predict", "random_shift", "evaluating", "model_device"]

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _check_data(data: object, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(data, tuple | list) and len(data) == 2):
        got = f"{type(data).__name__} of length {len(data)}" if isinstance(data, tuple | list) else \
            type(data).__name__
        raise TypeError(f"{name}: expected a pair (images, labels), got {got}")
    images = check_images(data[0], f"{name}[0]")
    if len(images) == 0:
        raise ValueError(f"{name}[0]: expected at least one image, got 0")
    labels = check_labels(data[1], f"{name}[1]", n=images.shape[0])
    return images, labels


def random_shift(max_pixels: int = 2) -> Augment:
    """An augmentation that translates each image by up to ``max_pixels`` (zero fill).

    >>> aug = random_shift(1)
    >>> aug(torch.ones(2, 1, 4, 4), torch.Generator().manual_seed(0)).shape
    torch.Size([2, 1, 4, 4])
    """
    check_int(max_pixels, "max_pixels", minimum=0)

    def shift(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        p = max_pixels
        padded = F.pad(x, (p, p, p, p))
        dy, dx = torch.randint(0, 2 * p + 1, (2, n), generator=generator).tolist()
        return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])

    return shift


@contextmanager
def evaluating(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Run a block with ``model`` in eval mode, then give every submodule its mode back.

    Dropout and batch normalisation behave differently in training: predictions,
    attributions and attacks are computed in eval mode. Afterwards each submodule gets the
    mode it had (a model with a frozen, eval-mode part keeps it so), also when the block
    raises.

    >>> net = torch.nn.Sequential(torch.nn.Dropout(), torch.nn.Dropout().eval())
    >>> with evaluating(net):
    ...     [m.training for m in net.modules()]
    [False, False, False]
    >>> [m.training for m in net.modules()]
    [True, True, False]
    """
    check_module(model)
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training  # per module: model.train(mode) would set them all alike


def model_device(model: torch.nn.Module) -> torch.device:
    """Where ``model`` computes: its first parameter's or buffer's device; the CPU if it has none.

    >>> model_device(torch.nn.Flatten())
    device(type='cpu')
    """
    check_module(model)
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, *, batch_size: int = 1000) -> torch.Tensor:
    """Logits ``(N, num_classes)`` of ``model`` in eval mode, computed in batches on its device.

    The model's modes are restored afterwards (:func:`evaluating`). An empty batch gives
    ``(0, num_classes)``: the model is called on it.
    """
    check_module(model)
    check_images(images)
    check_int(batch_size, "batch_size", minimum=1)
    device = model_device(model)
    with evaluating(model):
        out = [model(images[i:i + batch_size].to(device)) for i in range(0, max(len(images), 1), batch_size)]
    for logits in out:
        if not (isinstance(logits, torch.Tensor) and logits.dim() == 2):
            got = (f"shape {tuple(logits.shape)}" if isinstance(logits, torch.Tensor)
                   else type(logits).__name__)
            raise ValueError(f"model: expected logits of shape (N, num_classes), got {got}")
    return torch.cat([logits.cpu() for logits in out])


def evaluate(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, *,
             batch_size: int = 1000) -> dict[str, float]:
    """Mean cross-entropy ``loss`` and ``accuracy`` (in [0, 1]) of ``model`` on a labelled set."""
    check_module(model)
    check_images(images)
    if len(images) == 0:
        raise ValueError("images: expected at least one image (a mean over none is undefined), got 0")
    check_labels(labels, n=images.shape[0])
    logits = predict(model, images, batch_size=batch_size)
    check_labels(labels, num_classes=logits.shape[1])
    return {"loss": F.cross_entropy(logits, labels).item(),
            "accuracy": (logits.argmax(1) == labels).float().mean().item()}


def _train_epoch(model, x, y, optimizer, *, batch_size, augment, generator, device):
    model.train()
    order = torch.randperm(len(x), generator=generator)
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        idx = order[start:start + batch_size]
        xb, yb = x[idx], y[idx]
        if augment is not None:
            xb = augment(xb, generator)
        xb, yb = xb.to(device), yb.to(device)
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(idx)
        correct += (logits.argmax(1) == yb).sum().item()
    return total_loss / len(x), correct / len(x)


def fit(model: torch.nn.Module, train: tuple[torch.Tensor, torch.Tensor],
        val: tuple[torch.Tensor, torch.Tensor] | None = None, *, epochs: int = 10,
        lr: float = 1e-3, batch_size: int = 64, weight_decay: float = 0.0,
        augment: Augment | None = None, seed: int = 0, threads: int | None = 1) -> pd.DataFrame:
    """Train ``model`` in place with Adam and a one-cycle learning-rate schedule.

    Parameters
    ----------
    model : torch.nn.Module
        A classifier mapping images to logits; trained on the device it is on.
    train, val : (images, labels)
        Images on the book's contract ``(N, C, H, W)`` in [0, 1] with int64 labels.
        ``val`` is evaluated after every epoch when given.
    epochs, lr, batch_size, weight_decay
        The usual hyperparameters; ``lr`` is the peak of the one-cycle schedule.
    augment : callable, optional
        ``augment(images, generator) -> images``, applied to each training batch.
    seed : int
        Seeds shuffling, augmentation and dropout, so equal seeds give equal weights.
    threads : int or None, default 1
        CPU threads to train with. The thread count changes the order of the CPU's sums and
        so the weights; one thread makes them the same on every machine of the same kind,
        whatever its number of cores, at about 1.6 times the time of two threads. ``None``
        uses PyTorch's current setting.

    Returns
    -------
    pandas.DataFrame
        One row per epoch: ``epoch, train_loss, train_accuracy, val_loss,
        val_accuracy, seconds`` (cumulative wall time).

    References
    ----------
    Kingma and Ba (2015), "Adam: A method for stochastic optimization", ICLR.
    Smith and Topin (2019), "Super-convergence", SPIE 11006.
    """
    check_module(model)
    x, y = _check_data(train, "train")
    val_data = None if val is None else _check_data(val, "val")
    check_int(epochs, "epochs", minimum=1)
    check_float(lr, "lr", minimum=0.0, strict_min=True)  # finite: lr=inf trains NaN weights
    check_int(batch_size, "batch_size", minimum=1)
    check_float(weight_decay, "weight_decay", minimum=0.0)
    check_seed(seed)
    if augment is not None and not callable(augment):
        raise TypeError(f"augment: expected a callable or None, got {type(augment).__name__}")
    if threads is not None:
        check_int(threads, "threads", minimum=1)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model: expected a model with trainable parameters, got none to train")
    # One image through the model, in eval mode (no dropout draw, no batch-norm update), so
    # that labels the model cannot output are named here rather than deep in cross_entropy.
    num_classes = predict(model, x[:1]).shape[1]
    check_labels(y, "train[1]", num_classes=num_classes)
    if val_data is not None:
        check_labels(val_data[1], "val[1]", num_classes=num_classes)

    device = model_device(model)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * -(-len(x) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    rows, start = [], time.perf_counter()
    # Dropout draws from the global generator: fork it so fit() leaves no trace on it.
    with repro.num_threads(threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in range(1, epochs + 1):
            loss, acc = _train_epoch(model, x, y, _Stepper(optimizer, schedule),
                                     batch_size=batch_size, augment=augment,
                                     generator=generator, device=device)
            row = {"epoch": epoch, "train_loss": loss, "train_accuracy": acc}
            if val_data is not None:
                scores = evaluate(model, *val_data)
                row |= {"val_loss": scores["loss"], "val_accuracy": scores["accuracy"]}
            rows.append(row | {"seconds": time.perf_counter() - start})
    model.eval()
    return pd.DataFrame(rows)


class _Stepper:
    """An optimizer whose ``step`` also advances the learning-rate schedule."""

    def __init__(self, optimizer, schedule):
        self.optimizer, self.schedule = optimizer, schedule

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.optimizer.step()
        self.schedule.step()
