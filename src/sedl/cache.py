"""The train-once model cache: :func:`cached` trains a model the first time, then loads it.

Chapters that train models of their own (an adversarially trained CNN, say) wrap
the training in :func:`cached`; :func:`sedl.models.pretrained` uses it for the
book's recipes. Pages reach both names through :mod:`sedl.models` as well.

The cache lives in :func:`cache_dir`: ``$SEDL_CACHE`` (default ``~/.cache/sedl``).
A file's name holds a hash of its key: the model's name, its full training
configuration, the torch version and a fingerprint of the code that trains and
builds the model (:func:`sedl._fingerprint._code_fingerprint`), so a change to any
of them trains a new model instead of loading a stale one. Files are written
atomically and carry a digest of their weights: a truncated or corrupted file, or
one whose weights do not fit the architecture, is reported with a warning and
retrained.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sedl import repro
from sedl._checks import check_module
from sedl._fingerprint import _code_fingerprint

__all__ = ["cached", "cache_dir", "weights_digest"]


def cache_dir() -> Path:
    """Where trained weights are kept: ``$SEDL_CACHE`` or ``~/.cache/sedl``."""
    return Path(os.environ.get("SEDL_CACHE") or Path.home() / ".cache" / "sedl")


def weights_digest(model: nn.Module) -> str:
    """The SHA-256 of ``model``'s weights (every tensor of its state dict, by name), in hex.

    Pages put it in the key of a cached result computed *on* a model (an attack's output, a
    universal perturbation), so that the result is recomputed whenever the weights change.
    """
    check_module(model, "model")
    return _weights_digest(model.state_dict())


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


def _made(make_model: Callable[[], nn.Module]) -> nn.Module:
    model = make_model()
    if not isinstance(model, nn.Module):
        raise TypeError(f"make_model: expected it to return a torch.nn.Module, got {type(model).__name__}")
    return model


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
    if not isinstance(name, str):
        raise TypeError(f"name: expected a str of letters, digits, '_' or '-', got {type(name).__name__}")
    if not name or not all(c.isascii() and (c.isalnum() or c in "_-") for c in name):
        raise ValueError(f"name: expected letters, digits, '_' or '-', got {name!r}")
    if not isinstance(config, dict):
        raise TypeError(f"config: expected a dict, got {type(config).__name__}")
    for argument, fn in (("train_fn", train_fn), ("make_model", make_model)):
        if not callable(fn):
            raise TypeError(f"{argument}: expected a callable, got {type(fn).__name__}")
    key = {"name": name, "config": _plain(config, "config"), "torch": str(torch.__version__),
           "code": _code_fingerprint(train_fn, make_model)}
    path = cache_dir() / f"{name}-{hashlib.sha256(_canonical(key).encode()).hexdigest()[:16]}.pt"
    payload = _load_valid(path, key) if path.exists() else None
    model = None
    if payload is not None:
        model = _made(make_model)
        problem = _load_weights(model, payload["state_dict"])
        if problem is not None:
            warnings.warn(f"cached model {path} does not fit the architecture of make_model() "
                          f"({problem}); retraining it", stacklevel=2)
            payload = None
    if payload is None:
        payload = _train(key, train_fn)
        model = _made(make_model) if model is None else model  # one make_model() call either way
        problem = _load_weights(model, payload["state_dict"])
        if problem is not None:
            raise ValueError(f"make_model: expected the architecture of the model that train_fn "
                             f"returns, got one its weights do not fit ({problem})")
        _atomic_save(payload, path)
    return model.eval(), dict(payload["record"])
