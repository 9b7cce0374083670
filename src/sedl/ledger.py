"""The book's compute ledger: FLOPs of its trained models, and energy.

The Green AI page (:ref:`sec_ethics_green_ai`) puts the book's own bill beside
the published ones. Three sources, none of which needs a change to any page:

- :func:`count_flops` counts the floating-point operations of a forward and a
  backward pass with ``torch.utils.flop_counter.FlopCounterMode``;
  :func:`training_flops` scales them to a whole training run, and
  :func:`cached_models` does so for every model in the book's model cache
  (:func:`sedl.models.cache_dir`) whose configuration names its training set-up.
- The wall time of every page comes from the book's build tooling,
  ``scripts/pagetimes.py``, which reads Jupyter Book's execution cache: it needs the
  repository and the build tools, which a reader's environment does not have.
- :func:`footprint` turns seconds into energy and CO2-equivalent under stated
  assumptions (power draw, data-centre overhead, carbon intensity).
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from sedl import models
from sedl._checks import check_float, check_int, check_module, check_tensor

__all__ = ["count_flops", "training_flops", "config_flops", "cached_models", "footprint",
           "DATASET_SIZES", "STRUBELL_PUE", "STRUBELL_KG_PER_KWH"]

#: Power usage effectiveness used by Strubell et al. (2019): the 2018 global data-centre average.
STRUBELL_PUE = 1.58
#: Their carbon intensity, 0.954 lb CO2e per kWh (US average, EPA), in kg per kWh.
STRUBELL_KG_PER_KWH = 0.954 * 0.45359237


def count_flops(model: torch.nn.Module, inputs: torch.Tensor, *,
                backward: bool = True) -> dict[str, int]:
    """FLOPs of one forward (and backward) pass of ``model`` on ``inputs``.

    Counted by ``FlopCounterMode``: matrix products and convolutions, two FLOPs
    per multiply-add; element-wise operations (activations, batch norm, the
    optimiser's update) are not counted. The backward pass is that of
    ``output.sum()`` with respect to the parameters, as in training (no
    gradient for the input). The model is copied, so its weights, gradients and
    batch-norm statistics are left untouched.

    Parameters
    ----------
    model : torch.nn.Module
    inputs : torch.Tensor
        A batch, e.g. ``(N, C, H, W)``.
    backward : bool, default True
        Also count the backward pass.

    Returns
    -------
    dict
        ``{"forward": int, "backward": int}`` (``backward`` is 0 when not counted).

    Examples
    --------
    >>> count_flops(torch.nn.Linear(3, 2, bias=False), torch.ones(4, 3))
    {'forward': 48, 'backward': 48}
    """
    check_module(model)
    check_tensor(inputs, "inputs")
    if not isinstance(backward, bool):
        raise TypeError(f"backward: expected a bool, got {type(backward).__name__}")
    clone = copy.deepcopy(model)
    params = [p for p in clone.parameters() if p.requires_grad]
    with FlopCounterMode(display=False) as forward_counter:
        output = clone(inputs)
    result = {"forward": int(forward_counter.get_total_flops()), "backward": 0}
    if backward and params:
        with FlopCounterMode(display=False) as backward_counter:
            torch.autograd.grad(output.sum(), params)
        result["backward"] = int(backward_counter.get_total_flops())
    return result


def training_flops(model: torch.nn.Module, input_shape: tuple[int, ...], *, n_train: int,
                   epochs: int, n_eval: int = 0) -> int:
    """FLOPs of training ``model`` for ``epochs`` on ``n_train`` samples, plus ``n_eval`` predictions.

    Both passes cost the same for every sample, so the count of a two-sample
    batch is scaled: ``(forward + backward) * n_train * epochs + forward * n_eval``.

    Parameters
    ----------
    model : torch.nn.Module
    input_shape : tuple of int
        The shape of one sample, e.g. ``(1, 28, 28)``.
    n_train, epochs : int
        Training samples per epoch, and epochs.
    n_eval : int, default 0
        Samples passed forward only (validation after each epoch, the test set).

    >>> training_flops(torch.nn.Linear(3, 2, bias=False), (3,), n_train=10, epochs=2, n_eval=5)
    540
    """
    check_module(model)
    if not (isinstance(input_shape, tuple) and input_shape
            and all(isinstance(d, int) and d > 0 for d in input_shape)):
        raise ValueError(f"input_shape: expected a tuple of positive ints, got {input_shape!r}")
    check_int(n_train, "n_train", minimum=0)
    check_int(epochs, "epochs", minimum=0)
    check_int(n_eval, "n_eval", minimum=0)
    per_pair = count_flops(model, torch.zeros(2, *input_shape))
    forward, backward = per_pair["forward"] // 2, per_pair["backward"] // 2
    return (forward + backward) * n_train * epochs + forward * n_eval


#: Sample shape and train/val/test sizes of the datasets named in :data:`sedl.models.RECIPES`
#: (the splits of :func:`sedl.data.mnist` and :func:`sedl.data.digits`; a test checks them),
#: kept here so that pricing a model does not mean loading its data.
DATASET_SIZES = {"mnist": ((1, 28, 28), 4000, 500, 500), "digits": ((1, 8, 8), 1438, 179, 180)}


@functools.lru_cache(maxsize=64)
def _per_sample(model_json: str, shape: tuple[int, ...]) -> tuple[int, int]:
    """Forward and backward FLOPs per sample of a SmallCNN, memoised by its configuration."""
    model = models.SmallCNN(**json.loads(model_json))
    per_pair = count_flops(model, torch.zeros(2, *shape))
    return per_pair["forward"] // 2, per_pair["backward"] // 2


def config_flops(config: object) -> int | None:
    """Training FLOPs of a :class:`sedl.models.SmallCNN` described by a cache configuration.

    Understood: the schema of :data:`sedl.models.RECIPES` (``{"dataset", "model",
    "fit"}``: ``fit()`` on the training split with a validation pass per epoch,
    then the test set), and the same with ``"n_train"``, ``"n_eval"`` and
    ``"input_shape"`` in place of ``"dataset"``. Anything else gives None.

    >>> config_flops({"model": {"width": 4}, "fit": {"epochs": 1}, "n_train": 0, "n_eval": 1,
    ...               "input_shape": [1, 28, 28]})  # one forward pass of a 28 x 28 image
    723840
    """
    if not (isinstance(config, dict) and isinstance(config.get("model"), dict)
            and isinstance(config.get("fit"), dict) and "epochs" in config["fit"]):
        return None
    epochs = config["fit"]["epochs"]
    if config.get("dataset") in DATASET_SIZES:
        shape, n_train, n_val, n_test = DATASET_SIZES[config["dataset"]]
        n_eval = n_val * epochs + n_test
    elif {"n_train", "n_eval", "input_shape"} <= set(config):
        shape, n_train, n_eval = tuple(config["input_shape"]), config["n_train"], config["n_eval"]
    else:
        return None
    forward, backward = _per_sample(json.dumps(config["model"], sort_keys=True), shape)
    return (forward + backward) * n_train * epochs + forward * n_eval


def cached_models(cache: str | Path | None = None) -> pd.DataFrame:
    """Every model in the book's model cache, with its recorded training time and its FLOPs.

    Parameters
    ----------
    cache : path, optional
        The cache folder; default :func:`sedl.models.cache_dir`.

    Returns
    -------
    pandas.DataFrame
        One row per cached model, sorted by name: ``model`` (its cache name),
        ``train_seconds`` (as recorded when it was trained; NaN if not recorded)
        and ``flops`` (:func:`config_flops`; NaN if its configuration is not understood).
    """
    if cache is not None and not isinstance(cache, (str, Path)):
        raise TypeError(f"cache: expected a path or None, got {type(cache).__name__}")
    folder = models.cache_dir() if cache is None else Path(cache)
    rows = []
    for path in sorted(folder.glob("*.pt")):
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            key, record = payload["key"], payload.get("record", {})
        except Exception:  # a half-written or foreign file is not part of the bill
            continue
        seconds = record.get("train_seconds") if isinstance(record, dict) else None
        flops = config_flops(key.get("config"))
        rows.append({"model": key.get("name", path.stem),
                     "train_seconds": float("nan") if seconds is None else float(seconds),
                     "flops": float("nan") if flops is None else float(flops)})
    table = pd.DataFrame(rows, columns=["model", "train_seconds", "flops"])
    return table.sort_values("model", ignore_index=True)


def footprint(seconds: float, *, watts: float, pue: float = STRUBELL_PUE,
              kg_per_kwh: float = STRUBELL_KG_PER_KWH) -> dict[str, float]:
    """Energy and CO2-equivalent of ``seconds`` of computing at an average draw of ``watts``.

    ``kwh = watts * seconds / 3.6e6 * pue`` and ``kg_co2e = kwh * kg_per_kwh``,
    the model of Strubell et al. (2019) with the power measured or assumed.

    Parameters
    ----------
    seconds : float
        Wall time.
    watts : float
        Average power drawn by the hardware while it ran (an assumption unless measured).
    pue : float, default 1.58
        Power usage effectiveness: the data centre's total draw per watt of computing.
    kg_per_kwh : float, default 0.433
        Carbon intensity of the electricity (kg CO2e per kWh).

    References
    ----------
    Strubell, Ganesh and McCallum (2019), "Energy and policy considerations for
    deep learning in NLP", ACL, https://doi.org/10.18653/v1/P19-1355

    >>> footprint(3600.0, watts=1000.0, pue=1.0, kg_per_kwh=0.5)
    {'kwh': 1.0, 'kg_co2e': 0.5}
    """
    check_float(seconds, "seconds", minimum=0.0)
    check_float(watts, "watts", minimum=0.0)
    check_float(pue, "pue", minimum=1.0)
    check_float(kg_per_kwh, "kg_per_kwh", minimum=0.0)
    kwh = watts * seconds / 3.6e6 * pue
    return {"kwh": kwh, "kg_co2e": kwh * kg_per_kwh}
