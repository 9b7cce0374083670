"""The book's small CNNs and the named recipes that train them.

:func:`build` makes a fresh :class:`SmallCNN`; :func:`pretrained` returns one
trained by a named recipe (:data:`RECIPES`), training it the first time and
loading it from the on-disk cache afterwards. The cache itself, :func:`cached`
and :func:`cache_dir`, lives in :mod:`sedl.cache` and is importable from here
too, so that pages call ``models.cached(...)`` for models of their own.
"""

from __future__ import annotations

import inspect
import time
from collections import OrderedDict

import torch
from torch import nn

from sedl import data, train
from sedl._checks import check_bool, check_choice, check_float, check_int, check_module, check_seed
from sedl.cache import cache_dir, cached, weights_digest

__all__ = ["SmallCNN", "build", "pretrained", "cached", "cache_dir", "weights_digest", "RECIPES",
           "count_parameters"]

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


class Normalize(nn.Module):
    """Standardise inputs inside the model, so callers always pass images in [0, 1]."""

    def __init__(self, mean: float, std: float):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _block(index: int, c_in: int, c_out: int, batch_norm: bool) -> list[tuple[str, nn.Module]]:
    layers = [(f"conv{index}", nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm))]
    if batch_norm:
        layers.append((f"bn{index}", nn.BatchNorm2d(c_out)))
    layers.append((f"relu{index}", nn.ReLU()))
    return layers


class SmallCNN(nn.Module):
    """Two conv stages (conv-conv-pool each) and a two-layer classifier.

    Layer names are stable so that hooks and attribution methods can name
    them: ``features.conv1`` ... ``features.conv4``, ``embedding.fc``, ``head.fc``.
    :meth:`embed` returns the penultimate (``embedding``) activations.

    Parameters
    ----------
    in_channels, num_classes, image_size
        Input channels, number of classes, and input height (= width).
    width : int
        Channels of the first stage; the second stage has twice as many.
    batch_norm : bool
        Batch normalisation after every convolution.
    dropout : float
        Dropout probability before each fully connected layer.
    hidden : int
        Size of the penultimate embedding.
    """

    def __init__(self, *, in_channels: int = 1, num_classes: int = 10, image_size: int = 28,
                 width: int = 16, batch_norm: bool = True, dropout: float = 0.25,
                 hidden: int = 128, mean: float = MNIST_MEAN, std: float = MNIST_STD):
        super().__init__()
        for name, value, low in [("in_channels", in_channels, 1), ("num_classes", num_classes, 2),
                                 ("image_size", image_size, 4), ("width", width, 1),
                                 ("hidden", hidden, 1)]:
            check_int(value, name, minimum=low)
        check_float(dropout, "dropout", minimum=0.0, maximum=0.99)
        check_bool(batch_norm, "batch_norm")
        check_float(mean, "mean")
        check_float(std, "std", minimum=0.0, strict_min=True)
        w = width
        self.normalize = Normalize(mean, std)
        self.features = nn.Sequential(OrderedDict(
            _block(1, in_channels, w, batch_norm) + _block(2, w, w, batch_norm)
            + [("pool1", nn.MaxPool2d(2))]
            + _block(3, w, 2 * w, batch_norm) + _block(4, 2 * w, 2 * w, batch_norm)
            + [("pool2", nn.MaxPool2d(2))]))
        flat = 2 * w * (image_size // 4) ** 2
        self.embedding = nn.Sequential(OrderedDict([
            ("flatten", nn.Flatten()), ("dropout", nn.Dropout(dropout)),
            ("fc", nn.Linear(flat, hidden)), ("relu", nn.ReLU())]))
        self.head = nn.Sequential(OrderedDict([
            ("dropout", nn.Dropout(dropout)), ("fc", nn.Linear(hidden, num_classes))]))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations ``(N, hidden)`` for images ``(N, C, H, W)`` in [0, 1]."""
        return self.embedding(self.features(self.normalize(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters.

    >>> count_parameters(torch.nn.Linear(3, 2))
    8
    """
    check_module(model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


_SMALL_CNN_OPTIONS = frozenset(inspect.signature(SmallCNN).parameters)


def build(*, seed: int = 0, **config) -> SmallCNN:
    """A freshly initialised :class:`SmallCNN`, its initial weights fixed by ``seed``.

    ``config`` is passed to :class:`SmallCNN` (``width=``, ``batch_norm=``, ...).
    The global random state is left untouched.

    >>> a, b = build(seed=3), build(seed=3)
    >>> torch.equal(a.features.conv1.weight, b.features.conv1.weight)
    True
    """
    check_seed(seed)
    unknown = sorted(set(config) - _SMALL_CNN_OPTIONS)
    if unknown:
        raise TypeError(f"config: expected options of SmallCNN ({', '.join(sorted(_SMALL_CNN_OPTIONS))}), "
                        f"got {', '.join(map(repr, unknown))}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SmallCNN(**config)


# Named training recipes: the architecture, the data and the fit() hyperparameters.
RECIPES: dict[str, dict] = {
    # The reference model that every chapter shares.
    "mnist_cnn": {"dataset": "mnist", "model": {"width": 16},
                  "fit": {"epochs": 6, "lr": 3e-3, "batch_size": 64, "shift": 2}},
    "digits_cnn": {"dataset": "digits", "model": {"width": 16, "image_size": 8},
                   "fit": {"epochs": 15, "lr": 3e-3, "batch_size": 32, "shift": 0}},
}
_DATASETS = {"mnist": data.mnist, "digits": data.digits}


def _train_recipe(recipe: dict, seed: int) -> tuple[nn.Module, dict]:
    load = _DATASETS[recipe["dataset"]]
    fit_args = dict(recipe["fit"])
    fit_args.setdefault("threads", 1)  # train.fit's default: weights independent of the core count
    shift = fit_args.pop("shift")
    model = build(seed=seed, **recipe["model"])
    start = time.perf_counter()
    history = train.fit(model, load("train"), load("val"), seed=seed,
                        augment=train.random_shift(shift) if shift else None, **fit_args)
    seconds = time.perf_counter() - start
    test = train.evaluate(model, *load("test"))
    return model, {"train_seconds": seconds, "test_accuracy": test["accuracy"],
                   "test_loss": test["loss"], "history": history.to_dict(orient="list"),
                   "threads": fit_args["threads"]}


def pretrained(name: str = "mnist_cnn", *, seed: int = 0,
               with_record: bool = False) -> nn.Module | tuple[nn.Module, dict]:
    """A :class:`SmallCNN` trained by the recipe ``name``, from the cache when it is there.

    Parameters
    ----------
    name : str
        A key of :data:`RECIPES`; ``"mnist_cnn"`` is the book's reference model
        (MNIST-5k, 4,000 training images).
    seed : int
        Seed of initialisation and training; each seed is cached separately.
    with_record : bool
        Also return the training record: ``test_accuracy``, ``train_seconds``
        (time of the original training run), ``history`` per epoch.

    Examples
    --------
    >>> model = pretrained("digits_cnn")
    >>> model.training
    False
    """
    check_choice(name, "name", RECIPES)
    check_seed(seed)
    check_bool(with_record, "with_record")
    recipe = RECIPES[name]
    model, record = cached(f"{name}-seed{seed}", recipe,
                           lambda: _train_recipe(recipe, seed),
                           lambda: SmallCNN(**recipe["model"]))
    return (model, record) if with_record else model
