"""Recording what the layers of a network compute, with forward hooks.

A forward hook is a function PyTorch calls with a module's output every time
the module runs. :class:`Recorder` registers one per named layer, keeps the
latest output of each, and removes every hook when its ``with`` block ends,
also when the block raises: a forgotten hook would keep recording (and keep
tensors alive) in every later forward pass. The page
:ref:`sec_filters_activations` teaches it.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from sedl._checks import check_images, check_int, check_module
from sedl.train import evaluating

__all__ = ["layer_names", "get_layer", "Recorder", "record", "activations"]


def layer_names(model: nn.Module) -> list[str]:
    """The dotted names of every submodule of ``model`` (what hooks can attach to).

    >>> from sedl import models
    >>> layer_names(models.build())[:3]
    ['normalize', 'features', 'features.conv1']
    """
    check_module(model)
    return [name for name, _ in model.named_modules() if name]


def get_layer(model: nn.Module, name: str) -> nn.Module:
    """The submodule of ``model`` called ``name`` (e.g. ``"features.conv1"``).

    Raises
    ------
    ValueError
        ``name`` is not a layer of ``model``; the message lists the names it has.
    """
    check_module(model)
    if not isinstance(name, str):
        raise TypeError(f"layer: expected a layer name (str), got {type(name).__name__} {name!r}")
    modules = dict(model.named_modules())
    if not name or name not in modules:
        raise ValueError(f"layer: expected one of {layer_names(model)}, got {name!r}")
    return modules[name]


class Recorder:
    """Record the outputs of named layers while a ``with`` block runs.

    Parameters
    ----------
    model : torch.nn.Module
        The network to observe; it is not modified apart from the temporary hooks.
    layers : iterable of str
        Dotted layer names, as in :func:`layer_names`.
    detach : bool, default True
        Store detached outputs (no autograd graph, less memory). Pass ``False``
        to differentiate through a recorded output, as Grad-CAM does.

    Examples
    --------
    >>> from sedl import models
    >>> model = models.build()
    >>> with Recorder(model, ["features.relu1"]) as acts:
    ...     _ = model(torch.rand(2, 1, 28, 28))
    >>> tuple(acts["features.relu1"].shape)
    (2, 16, 28, 28)
    >>> len(model.features.relu1._forward_hooks)  # removed on exit
    0
    """

    def __init__(self, model: nn.Module, layers: Iterable[str], *, detach: bool = True):
        check_module(model)
        if isinstance(layers, str) or not isinstance(layers, Iterable):
            raise TypeError(f"layers: expected a list of layer names, got {type(layers).__name__}")
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("layers: expected at least one layer name, got none")
        self.modules = {name: get_layer(model, name) for name in self.layers}
        if not isinstance(detach, bool):
            raise TypeError(f"detach: expected a bool, got {type(detach).__name__}")
        self.detach = detach
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, name: str):
        def hook(module, inputs, output):
            self.outputs[name] = output.detach() if self.detach else output
        return hook

    def __enter__(self) -> dict[str, torch.Tensor]:
        if self._handles:
            raise RuntimeError("Recorder: this recorder is already active")
        self.outputs.clear()
        self._handles = [module.register_forward_hook(self._hook(name))
                         for name, module in self.modules.items()]
        return self.outputs

    def __exit__(self, *exc_info) -> None:
        for handle in self._handles:  # runs on success and on any exception alike
            handle.remove()
        self._handles = []


def record(model: nn.Module, layers: Iterable[str], *, detach: bool = True) -> Recorder:
    """Shorthand for :class:`Recorder`: ``with hooks.record(model, names) as acts: ...``."""
    return Recorder(model, layers, detach=detach)


@torch.no_grad()
def activations(model: nn.Module, images: torch.Tensor, layers: Iterable[str], *,
                batch_size: int = 500) -> dict[str, torch.Tensor]:
    """Outputs of ``layers`` for every image, computed in eval mode and in batches.

    Parameters
    ----------
    model : torch.nn.Module
    images : torch.Tensor
        ``(N, C, H, W)`` in [0, 1].
    layers : iterable of str
        Dotted layer names.
    batch_size : int, default 500

    Returns
    -------
    dict of str to torch.Tensor
        One ``(N, ...)`` tensor per layer, on the CPU.

    >>> from sedl import models
    >>> acts = activations(models.build(), torch.rand(3, 1, 28, 28), ["features.pool2"])
    >>> tuple(acts["features.pool2"].shape)
    (3, 32, 7, 7)
    """
    if not len(check_images(images)):
        raise ValueError(f"images: expected at least one image, got shape {tuple(images.shape)}")
    check_int(batch_size, "batch_size", minimum=1)
    recorder = Recorder(model, layers)
    # A model without parameters (a fixed filter bank) runs where the images are.
    device = next(model.parameters(), images).device
    chunks: dict[str, list[torch.Tensor]] = {name: [] for name in recorder.layers}
    with evaluating(model), recorder as outputs:
        for start in range(0, len(images), batch_size):
            model(images[start:start + batch_size].to(device))
            for name in recorder.layers:
                chunks[name].append(outputs[name].cpu())
    return {name: torch.cat(parts) for name, parts in chunks.items()}
