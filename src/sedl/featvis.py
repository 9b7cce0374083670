"""Feature visualisation: images that show what a unit of a network responds to.

Activation maximisation optimises an *input* to raise an *objective* (a class
logit, a channel's mean activation) while the network's weights stay fixed.
The pieces compose as in Olah et al. (2017) and the Lucent library:

- an objective maps ``(model, images)`` to one score per image
  (:func:`class_logit`, :func:`channel`);
- a parameterisation returns ``(params, image_fn)``, where ``image_fn()``
  turns the free parameters into images in [0, 1] (:func:`pixel_image`,
  :func:`fourier_image`);
- :func:`visualize` runs gradient ascent, optionally through random
  transformations (:func:`random_affine`) and with a total-variation penalty.

The module also reads real learned filters: the MTCNN face-detector weights
(:func:`mtcnn_state_dict`). Functions return tensors and never display. The
page :ref:`sec_learned_features` teaches the method.

References
----------
Olah, Mordvintsev and Schubert (2017), "Feature visualization", Distill.
https://doi.org/10.23915/distill.00007
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from sedl import hooks, wheels
from sedl._checks import (
    check_bool,
    check_choice,
    check_float,
    check_generator,
    check_images,
    check_int,
    check_module,
    check_seed,
)
from sedl.train import evaluating

__all__ = ["class_logit", "channel", "pixel_image", "fourier_image", "random_affine",
           "total_variation", "visualize", "filter_images", "mtcnn_state_dict", "MTCNN_WHEEL"]

Objective = Callable[[nn.Module, torch.Tensor], torch.Tensor]


def _indices(value: object, name: str) -> torch.Tensor:
    """One index for every image (an int) or one per image (a sequence of ints), as ``(M,)``."""
    values = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(values, str) or not isinstance(values, list | tuple | range) or not values:
        raise TypeError(f"{name}: expected an int or a non-empty list of ints, got {value!r}")
    return torch.tensor([check_int(v, name, minimum=0) for v in values])


def _select(values: torch.Tensor, index: torch.Tensor, name: str) -> torch.Tensor:
    """``values[i, index[i]]`` for ``values`` ``(N, K, ...)``; one shared index broadcasts."""
    check_int(int(index.max()), name, maximum=values.shape[1] - 1)
    if len(index) not in (1, len(values)):
        raise ValueError(f"{name}: expected 1 or {len(values)} indices (one per image), got {len(index)}")
    index = index.to(values.device).expand(len(values))
    return values[torch.arange(len(values), device=values.device), index]


def class_logit(k: int | list[int]) -> Objective:
    """Objective: the logit of class ``k``, one score per image ``(N,)``.

    ``k`` is one class for every image, or a list with one class per image
    (so that a batch visualises several classes at once).
    """
    k = _indices(k, "k")

    def objective(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        return _select(model(images), k, "k")
    return objective


def channel(layer: str, index: int | list[int]) -> Objective:
    """Objective: the mean activation of channel ``index`` of ``layer``, ``(N,)``.

    ``index`` is one channel or one per image. For a fully connected layer a
    "channel" is one unit.
    """
    if not isinstance(layer, str) or not layer:
        raise TypeError(f"layer: expected a layer name (a non-empty str), "
                        f"got {type(layer).__name__} {layer!r}")
    index = _indices(index, "index")

    def objective(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        with hooks.record(model, [layer], detach=False) as outputs:
            model(images)
        acts = outputs[layer]  # (N, K, h, w) or (N, K)
        selected = _select(acts, index, "index")  # (N, h, w) or (N,)
        return selected.reshape(len(selected), -1).mean(1)
    return objective


def _check_shape(shape: object) -> tuple[int, int, int]:
    if not (isinstance(shape, tuple | list) and len(shape) == 3):
        raise ValueError(f"shape: expected (C, H, W), got {shape!r}")
    return tuple(check_int(s, "shape", minimum=1) for s in shape)


def pixel_image(shape: tuple[int, int, int], *, batch: int = 1, sd: float = 0.01,
                generator: torch.Generator | None = None):
    """One free parameter per pixel; ``image_fn() = sigmoid(params)``, ``(batch, C, H, W)``."""
    shape = _check_shape(shape)
    check_int(batch, "batch", minimum=1)
    check_float(sd, "sd", minimum=0.0)
    check_generator(generator)
    params = (torch.randn((batch, *shape), generator=generator) * sd).requires_grad_(True)
    return params, lambda: torch.sigmoid(params)


def fourier_image(shape: tuple[int, int, int], *, batch: int = 1, sd: float = 0.01,
                  decay_power: float = 1.0, generator: torch.Generator | None = None):
    """Parameters are Fourier coefficients scaled by ``1 / frequency ** decay_power``.

    Gradient steps then change low frequencies as much as high ones, instead of
    mostly adding high-frequency noise: the "decorrelated" parameterisation
    of Olah et al. (2017), as in Lucent's ``fft_image``.
    """
    c, h, w = _check_shape(shape)
    check_int(batch, "batch", minimum=1)
    check_float(sd, "sd", minimum=0.0)
    check_float(decay_power, "decay_power", minimum=0.0)
    check_generator(generator)
    freqs = torch.sqrt(torch.fft.fftfreq(h)[:, None] ** 2 + torch.fft.rfftfreq(w)[None] ** 2)
    scale = 1.0 / freqs.clamp(min=1.0 / max(h, w)) ** decay_power  # (H, W // 2 + 1)
    params = (torch.randn((batch, c, *scale.shape, 2), generator=generator) * sd).requires_grad_(True)

    def image_fn() -> torch.Tensor:
        spectrum = torch.view_as_complex(params) * scale
        return torch.sigmoid(torch.fft.irfft2(spectrum, s=(h, w), norm="ortho") / 4)
    return params, image_fn


def random_affine(images: torch.Tensor, *, shift: int = 2, scales: tuple[float, float] = (0.9, 1.1),
                  degrees: float = 10.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift (pixels), scale and rotate each image at random: robustness to these
    transformations is what keeps feature visualisations from becoming noise."""
    n, _, h, w = check_images(images).shape
    check_int(shift, "shift", minimum=0)
    if not (isinstance(scales, tuple | list) and len(scales) == 2):
        raise TypeError(f"scales: expected a pair (low, high), got {scales!r}")
    low, high = (check_float(v, "scales", minimum=0.0, strict_min=True) for v in scales)
    if low > high:
        raise ValueError(f"scales: expected low <= high, got {tuple(scales)}")
    check_float(degrees, "degrees", minimum=0.0)
    check_generator(generator)
    u = torch.rand((4, n), generator=generator)
    angle = torch.deg2rad(torch.as_tensor(degrees) * (2 * u[0] - 1))
    zoom = low + (high - low) * u[1]
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    tx, ty = (2 * u[2] - 1) * shift * 2 / w, (2 * u[3] - 1) * shift * 2 / h
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="reflection", align_corners=False)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels, one value per image ``(N,)``."""
    check_images(images)
    dy = (images[:, :, 1:] - images[:, :, :-1]).abs().flatten(1).mean(1)
    dx = (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().flatten(1).mean(1)
    return dx + dy


_PARAMETERISATIONS = {"pixel": pixel_image, "fourier": fourier_image}


def visualize(model: nn.Module, objective: Objective, *, shape: tuple[int, int, int] = (1, 28, 28),
              batch: int = 1, param: str = "fourier", steps: int = 128, lr: float = 0.05,
              transform: bool = True, tv: float = 0.0, l1: float = 0.0,
              seed: int = 0) -> tuple[torch.Tensor, list[float]]:
    """Gradient ascent on an input image to maximise ``objective``.

    Parameters
    ----------
    model : torch.nn.Module
        Its weights are not changed and its mode is restored afterwards.
    objective : callable
        ``objective(model, images) -> (N,)`` scores, e.g. :func:`class_logit`.
    shape : (C, H, W)
        Size of the images; ``batch`` images are optimised together.
    param : {"fourier", "pixel"}
        The parameterisation (:func:`fourier_image` or :func:`pixel_image`).
    steps, lr
        Adam steps and learning rate.
    transform : bool
        Apply :func:`random_affine` before every step (transformation robustness).
    tv : float
        Weight of the :func:`total_variation` penalty (a penalty on high frequencies).
    l1 : float
        Weight of a penalty on the mean intensity: asks for a dark background
        with little ink, like the digits the model was trained on.
    seed : int
        Seeds the initial image and the random transformations.

    Returns
    -------
    images : torch.Tensor
        ``(batch, C, H, W)`` in [0, 1].
    history : list of float
        The mean objective at each step (before the update).
    """
    check_module(model)
    if not callable(objective):
        raise TypeError(f"objective: expected a callable, got {type(objective).__name__}")
    check_choice(param, "param", _PARAMETERISATIONS)
    check_int(steps, "steps", minimum=1)
    check_float(lr, "lr", minimum=0.0, strict_min=True)
    check_float(tv, "tv", minimum=0.0)
    check_float(l1, "l1", minimum=0.0)
    check_bool(transform, "transform")
    generator = torch.Generator().manual_seed(check_seed(seed))
    params, image_fn = _PARAMETERISATIONS[param](shape, batch=batch, generator=generator)
    optimizer = torch.optim.Adam([params], lr=lr)
    history = []
    with evaluating(model):
        for _ in range(steps):
            images = image_fn()
            seen = random_affine(images, generator=generator) if transform else images
            score = objective(model, seen)
            penalty = tv * total_variation(images) + l1 * images.flatten(1).mean(1)
            loss = (penalty - score).sum()
            params.grad = torch.autograd.grad(loss, params)[0]  # leaves the model's .grad alone
            optimizer.step()
            history.append(score.mean().item())
    return image_fn().detach(), history


def filter_images(weight: torch.Tensor) -> torch.Tensor:
    """Convolution filters ``(K, C, h, w)`` as images in [0, 1], each scaled on its own.

    Zero maps to 0.5 (grey); each filter is divided by twice its largest
    absolute weight, so its sign pattern is visible whatever its size.

    >>> filter_images(torch.tensor([[[[-2.0, 0.0, 1.0]]]]))
    tensor([[[[0.0000, 0.5000, 0.7500]]]])
    """
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight: expected a torch.Tensor, got {type(weight).__name__}")
    if weight.dim() != 4:
        raise ValueError(f"weight: expected a conv weight of shape (K, C, h, w), got {tuple(weight.shape)}")
    peak = weight.detach().abs().amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-12)
    return (0.5 + weight.detach() / (2 * peak)).cpu()


#: The wheel that ships the MTCNN weights (its members and their SHA-256: ``sedl.wheels.WHEELS``).
MTCNN_WHEEL = wheels.WHEELS["facenet-pytorch"].filename
_MTCNN_NETS = ("pnet", "rnet", "onet")


def mtcnn_state_dict(net: str = "onet", *, wheel: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The trained weights of one MTCNN stage, read from the ``facenet-pytorch`` wheel.

    The wheel is downloaded, never installed (its dependency pins clash with
    the book's): :func:`sedl.wheels.fetch_wheel` finds it, or downloads it on
    first use. The wheel and the file are checked against their SHA-256 and
    the file is loaded with ``weights_only=True``.

    Parameters
    ----------
    net : {"pnet", "rnet", "onet"}
        The proposal, refinement or output network of the cascade.
    wheel : path, optional
        Read this copy of the ``facenet-pytorch`` 2.6.0 wheel instead.

    Returns
    -------
    dict
        The state dict; ``"conv1.weight"`` holds the RGB filters of the first layer.

    References
    ----------
    Zhang, Zhang, Li and Qiao (2016), "Joint face detection and alignment using
    multitask cascaded convolutional networks", IEEE Signal Processing Letters
    23(10). https://doi.org/10.1109/LSP.2016.2603342
    """
    check_choice(net, "net", _MTCNN_NETS)
    blob = wheels.read_wheel_member("facenet-pytorch", f"facenet_pytorch/data/{net}.pt", wheel=wheel)
    return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
