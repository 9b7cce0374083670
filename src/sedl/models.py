"""The book's small CNNs and a train-once cache for them.

:func:`build` makes a fresh :class:`SmallCNN`; :func:`pretrained` returns one
trained by a named recipe, training it the first time and loading it from the
on-disk cache afterwards. :func:`cached` is the cache itself, for chapters
that train models of their own (an adversarially trained CNN, say).

The cache lives in ``$SEDL_CACHE`` (default ``~/.cache/sedl``). A file's name
holds a hash of the full training configuration, the code that trains and
builds the model (:func:`_code_fingerprint`) and the torch version, so a change
to any of them trains a new model instead of loading a stale one. Files are
written atomically and carry a digest of their weights: a truncated or
corrupted file, or one whose weights do not fit the architecture, is reported
with a warning and retrained.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import io
import json
import os
import site
import sys
import sysconfig
import tempfile
import time
import types
import warnings
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sedl import data, repro, train
from sedl._checks import check_choice, check_float, check_int, check_seed

__all__ = ["SmallCNN", "build", "pretrained", "cached", "cache_dir", "RECIPES",
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
        if not isinstance(batch_norm, bool):
            raise TypeError(f"batch_norm: expected a bool, got {type(batch_norm).__name__}")
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
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build(*, seed: int = 0, **config) -> SmallCNN:
    """A freshly initialised :class:`SmallCNN`, its initial weights fixed by ``seed``.

    ``config`` is passed to :class:`SmallCNN` (``width=``, ``batch_norm=``, ...).
    The global random state is left untouched.

    >>> a, b = build(seed=3), build(seed=3)
    >>> torch.equal(a.features.conv1.weight, b.features.conv1.weight)
    True
    """
    check_seed(seed)
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


def cache_dir() -> Path:
    """Where trained weights are kept: ``$SEDL_CACHE`` or ``~/.cache/sedl``."""
    return Path(os.environ.get("SEDL_CACHE") or Path.home() / ".cache" / "sedl")


def _weights_digest(state_dict: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(state_dict):
        h.update(key.encode())
        h.update(state_dict[key].detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _atomic_save(payload: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getvalue())
        os.replace(tmp, path)  # atomic on POSIX: readers see the old file or the new one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- What produced a model: the fingerprint of its code --------------------------------------

# Modules that shape every cached model whether or not a trainer names them: the training
# loop, the architectures and this cache, the argument checks, the seeding, and the data
# loaders, whose source records the SHA-256 of every data file, so that a change of data
# changes the fingerprint as a change of code does.
_ALWAYS = ("sedl.train", "sedl.models", "sedl.data", "sedl._checks", "sedl.repro")
# Constants whose repr holds no memory address and no set order, so it is the same in every process.
_SCALARS = (bool, int, float, complex, str, bytes, type(None))
_LIBRARY_DIRS = tuple(sorted({os.path.join(os.path.abspath(d), "") for d in (
    *(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")),
    *site.getsitepackages(), site.getusersitepackages())}))


def _is_sedl(module: object) -> bool:
    return isinstance(module, str) and (module == "sedl" or module.startswith("sedl."))


def _is_library(obj: types.FunctionType | type) -> bool:
    """Whether ``obj`` comes from the standard library or an installed package other than sedl."""
    if isinstance(obj, types.FunctionType):
        file = obj.__code__.co_filename  # a notebook cell's function has a file of its own
        if file.startswith("<"):  # frozen modules are the standard library; exec'd code is not
            return file.startswith("<frozen")
    elif obj.__module__ == "__main__":  # a class defined in a notebook or a script
        return False
    else:
        file = getattr(sys.modules.get(obj.__module__), "__file__", None)
        if file is None:  # builtins and extension types
            return True
    return os.path.abspath(file).startswith(_LIBRARY_DIRS)


def _source(obj: types.FunctionType | type) -> str | None:
    """The source of ``obj`` (IPython keeps a cell's source where inspect finds it), or None."""
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return None


def _code_text(code: types.CodeType) -> str:
    """A process-independent text of a code object, for functions whose source is not at hand."""
    def const(c: object) -> str:
        if isinstance(c, types.CodeType):
            return _code_text(c)
        if isinstance(c, tuple | frozenset):  # a frozenset's order changes with the hash seed
            items = [const(item) for item in c]
            return f"{type(c).__name__}({sorted(items) if isinstance(c, frozenset) else items})"
        return repr(c)  # code constants are numbers, strings, bytes, None and Ellipsis
    return (f"code {code.co_name} {code.co_code.hex()} names={code.co_names} "
            f"vars={code.co_varnames} consts=[{', '.join(const(c) for c in code.co_consts)}]")


def _names(code: types.CodeType) -> list[str]:
    """The global and attribute names that ``code`` and the code nested in it use, in order."""
    nested = [n for c in code.co_consts if isinstance(c, types.CodeType) for n in _names(c)]
    return list(dict.fromkeys([*code.co_names, *nested]))


def _walk_function(fn: types.FunctionType, walk: Callable[[object, str], None]) -> list[str]:
    """The text of a page's function, after walking what it names, closes over and defaults to."""
    names = _names(fn.__code__)
    for name in names:
        value = fn.__globals__.get(name)
        if isinstance(value, types.ModuleType) and _is_sedl(value.__name__):
            for attr in names:  # `sedl.attacks.pgd` names sedl, attacks and pgd: reach attacks
                if isinstance(getattr(value, attr, None), types.ModuleType):
                    walk(getattr(value, attr), attr)
        if name in fn.__globals__:
            walk(value, name)
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or (), strict=True):
        try:
            walk(cell.cell_contents, name)
        except ValueError:  # an empty cell: a name the enclosing function had not yet bound
            pass
    for value in (*(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).values()):
        walk(value, "default")
    return [_source(fn) or _code_text(fn.__code__)]


def _walk_class(cls: type, walk: Callable[[object, str], None]) -> list[str]:
    """The text of a page's class, after walking its bases and everything defined in it."""
    for base in cls.__bases__:
        walk(base, "base")
    for name, value in sorted(vars(cls).items(), key=lambda item: item[0]):
        if isinstance(value, property):
            for accessor in (value.fget, value.fset, value.fdel):
                walk(accessor, name)
        else:  # staticmethod and classmethod wrap their function in __func__
            walk(getattr(value, "__func__", value), name)
    return [_source(cls) or f"class {cls.__qualname__}"]


def _with_imports(modules: set[str]) -> list[str]:
    """``modules`` and every sedl module that they import, sorted."""
    done: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        for value in vars(importlib.import_module(name)).values():
            if isinstance(value, types.ModuleType):
                # A package gains each submodule as an attribute once it is imported anywhere:
                # following those would make the digest depend on the order of imports.
                other = None if value.__name__.startswith(f"{name}.") else value.__name__
            else:
                other = getattr(value, "__module__", None)
            if _is_sedl(other) and other not in done:
                todo.append(other)
    return sorted(done)


def _code_fingerprint(*objects: object) -> str:
    """SHA-256 (hex) of the code behind ``objects``: what a cached model was produced by.

    A page's own functions and classes count by their source (by their byte code where
    the source cannot be found), and so does everything they name, followed through their
    globals, closures and defaults; the plain constants they name (numbers, strings) count
    by value. A :mod:`sedl` module, or a sedl function or class, counts by the whole file
    of its module, together with the sedl modules it imports and those in ``_ALWAYS``.
    Other libraries count only through the torch version kept beside the fingerprint.
    Nothing that differs between processes (ids, addresses, the file names of notebook
    cells, the order of sets) enters the hash, so the same code gives the same digest.
    """
    texts: list[str] = []
    modules, seen = set(_ALWAYS), set()  # ids only stop cycles in this call; never hashed

    def walk(obj: object, label: str) -> None:
        if isinstance(obj, _SCALARS):
            texts.append(f"{label}={obj!r}")
            return
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, functools.partial):
            for item in (obj.func, *obj.args, *obj.keywords.values()):
                walk(item, label)
        elif isinstance(obj, types.MethodType):
            walk(obj.__func__, label)
        elif isinstance(obj, types.ModuleType):
            modules.update([obj.__name__] if _is_sedl(obj.__name__) else [])
        elif isinstance(obj, dict | list | tuple):  # a table of functions, say; not its data
            for item in obj.values() if isinstance(obj, dict) else obj:
                if callable(item) or isinstance(item, dict | list | tuple | types.ModuleType):
                    walk(item, label)
        elif not isinstance(obj, types.FunctionType | type):
            walk(type(obj), label)  # an instance counts by its class: data are config's job
        elif _is_sedl(obj.__module__):
            modules.add(obj.__module__)
        elif not _is_library(obj):
            texts.extend((_walk_class if isinstance(obj, type) else _walk_function)(obj, walk))

    for obj in objects:
        walk(obj, "")
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode() + b"\0")
    for name in _with_imports(modules):
        digest.update(name.encode() + b"\0" + Path(sys.modules[name].__file__).read_bytes() + b"\0")
    return digest.hexdigest()


# --- Values stored beside the weights --------------------------------------------------------

def _plain(value: object, argument: str, path: str = "") -> object:
    """``value`` in plain JSON types: dict with str keys, list, str, int, float, bool, None.

    ``torch.load(weights_only=True)`` refuses NumPy objects, and JSON has no tuples, so
    NumPy scalars and arrays, tuples and 0-d tensors are converted; anything else is a
    TypeError that names the argument and where in it the value sits.
    """
    if value is None or isinstance(value, bool):
        return value
    for kind in (int, float, str):  # also normalises subclasses: np.float64, IntEnum, ...
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, np.generic | np.ndarray) or (
            isinstance(value, torch.Tensor) and value.ndim == 0):
        return _plain(value.tolist(), argument, path)
    if isinstance(value, list | tuple):
        return [_plain(item, argument, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"{argument}: expected str keys (as in JSON), got the "
                                f"{type(key).__name__} key {key!r} in {argument}{path}")
        return {key: _plain(item, argument, f"{path}[{key!r}]") for key, item in value.items()}
    raise TypeError(f"{argument}: expected JSON values (dict, list, str, int, float, bool, None; "
                    f"NumPy values, tuples and 0-d tensors are converted), got "
                    f"{type(value).__name__} at {argument}{path}")


def _canonical(key: dict) -> str:
    # Compared as JSON text rather than with ==, so that a NaN in a configuration equals itself.
    return json.dumps(key, sort_keys=True)


# --- The cache ---------------------------------------------------------------------------------

def _load_valid(path: Path, key: dict) -> dict | None:
    """The cached payload at ``path``, or None (with a warning) if it is unusable."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        problem = None
        if _canonical(payload.get("key")) != _canonical(key):
            problem = "its configuration or code does not match"
        elif payload.get("digest") != _weights_digest(payload["state_dict"]):
            problem = "its weights do not match their recorded digest"
        elif not isinstance(payload.get("record"), dict):
            problem = "it has no training record"
    except Exception as exc:  # a truncated, garbled or foreign file fails in many ways
        problem = f"it cannot be read ({type(exc).__name__}: {exc})"
    if problem is None:
        return payload
    warnings.warn(f"cached model {path} is unusable: {problem}; retraining it", stacklevel=3)
    return None


def _load_weights(model: nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """Load ``state`` into ``model``; None if it fits, else what does not, on one line."""
    try:
        model.load_state_dict(state)
    except RuntimeError as error:  # missing or unexpected keys, or a shape that differs
        return " ".join(str(error).split())
    return None


def _train(key: dict, train_fn: Callable[[], tuple[nn.Module, dict]]) -> dict:
    """Run ``train_fn`` and return the payload to cache: key, weights, their digest, record."""
    with repro.preserved_rng():  # a page draws the same numbers after a hit as after a miss
        result = train_fn()
    if not (isinstance(result, tuple | list) and len(result) == 2
            and isinstance(result[0], nn.Module) and isinstance(result[1], dict)):
        raise TypeError(f"train_fn: expected it to return (model, record) with a dict record, "
                        f"got {type(result).__name__} {result!r:.80}")
    state = {k: v.detach().cpu() for k, v in result[0].state_dict().items()}
    return {"key": key, "state_dict": state, "digest": _weights_digest(state),
            "record": _plain(result[1], "record")}


def cached(name: str, config: dict, train_fn: Callable[[], tuple[nn.Module, dict]],
           make_model: Callable[[], nn.Module]) -> tuple[nn.Module, dict]:
    """Train once with ``train_fn`` and cache the weights under ``name``, ``config`` and the code.

    The cache key holds ``name``, ``config``, the torch version and a fingerprint of the
    code of ``train_fn`` and ``make_model`` and of what they call (:func:`_code_fingerprint`),
    so that editing a trainer, a helper it calls, a sedl module or the data trains anew.

    Parameters
    ----------
    name : str
        A file-name-safe label (letters, digits, ``_`` and ``-``).
    config : dict
        Everything else that determines the trained weights, in JSON values (NumPy values
        and tuples are converted; anything else is a TypeError).
    train_fn : callable
        ``train_fn() -> (model, record)``; ``record`` is a dict of JSON values (accuracy,
        training time, ...) stored beside the weights, converted as ``config`` is.
    make_model : callable
        ``make_model() -> model`` with the right architecture, to load weights into. Cached
        weights that do not fit it are reported with a warning and trained again.

    Returns
    -------
    (model, record)
        The model in eval mode, on the CPU, and its training record (in JSON values).
    """
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"name: expected letters, digits, '_' or '-', got {name!r}")
    if not isinstance(config, dict):
        raise TypeError(f"config: expected a dict, got {type(config).__name__}")
    key = {"name": name, "config": _plain(config, "config"), "torch": str(torch.__version__),
           "code": _code_fingerprint(train_fn, make_model)}
    path = cache_dir() / f"{name}-{hashlib.sha256(_canonical(key).encode()).hexdigest()[:16]}.pt"
    payload = _load_valid(path, key) if path.exists() else None
    model = None
    if payload is not None:
        model = make_model()
        problem = _load_weights(model, payload["state_dict"])
        if problem is not None:
            warnings.warn(f"cached model {path} does not fit the architecture of make_model() "
                          f"({problem}); retraining it", stacklevel=2)
            payload = None
    if payload is None:
        payload = _train(key, train_fn)
        model = make_model() if model is None else model  # one make_model() call either way
        problem = _load_weights(model, payload["state_dict"])
        if problem is not None:
            raise ValueError(f"make_model: expected the architecture of the model that train_fn "
                             f"returns, got one its weights do not fit ({problem})")
        _atomic_save(payload, path)
    return model.eval(), dict(payload["record"])


def _train_recipe(recipe: dict, seed: int) -> tuple[nn.Module, dict]:
    load = _DATASETS[recipe["dataset"]]
    fit_args = dict(recipe["fit"])
    shift = fit_args.pop("shift")
    model = build(seed=seed, **recipe["model"])
    start = time.perf_counter()
    history = train.fit(model, load("train"), load("val"), seed=seed,
                        augment=train.random_shift(shift) if shift else None, **fit_args)
    seconds = time.perf_counter() - start
    test = train.evaluate(model, *load("test"))
    return model, {"train_seconds": seconds, "test_accuracy": test["accuracy"],
                   "test_loss": test["loss"], "history": history.to_dict(orient="list"),
                   "threads": torch.get_num_threads()}


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
    recipe = RECIPES[name]
    model, record = cached(f"{name}-seed{seed}", recipe,
                           lambda: _train_recipe(recipe, seed),
                           lambda: SmallCNN(**recipe["model"]))
    return (model, record) if with_record else model
