"""Feature networks for style transfer: ImageNet VGG-19 when its weights can be had, else random ones.

:func:`feature_net` picks the extractor that :mod:`sedl.style` optimises through:
torchvision's ImageNet-trained VGG-19 when its weights are on disk or may be
downloaded (either way checked by SHA-256 and loaded with ``weights_only=True``,
so that the file can run no code), otherwise a network that needs no download, a
random multi-scale convolutional network. The book builds offline, so by default
nothing is downloaded; ``SEDL_ALLOW_DOWNLOAD=1`` (or Colab) allows it. The returned
network's ``name`` and ``reason`` say which one it is and why, so that a page can
tell its reader.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import sys
import tempfile
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import torch
import torch.nn.functional as F
from torch import nn

from sedl._checks import check_choice, check_images, check_int, check_seed

__all__ = ["Features", "feature_net", "random_multiscale", "vgg19_status", "as_rgb", "NETWORKS",
           "IMAGENET_MEAN", "IMAGENET_STD", "VGG19_URL", "VGG19_SHA256"]

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# torchvision's VGG19_Weights.IMAGENET1K_V1: the file name ends with the first hex digits of its SHA-256.
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
# The file's full SHA-256. torchvision records only the 8 hex digits in the file name, and the
# full digest could not be looked up where this was written (no network, no copy of the file):
# while it is None the check falls back to those 8 digits. Set it from a copy verified that
# way (`sha256sum vgg19-dcbb9e9d.pth`) and every load and download checks all 64 digits.
VGG19_SHA256: str | None = None
_VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512)
NETWORKS = ("auto", "vgg19", "random-multiscale", "random-vgg19")


def as_rgb(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """Repeat the channel of greyscale images ``(N, 1, H, W)`` to ``(N, 3, H, W)``."""
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


def _vgg19_stages() -> list[tuple[str, nn.Module]]:
    """VGG-19's convolutional part with Gatys et al.'s layer names (conv1_1, relu1_1, pool1, ...)
    and, as they recommend, average instead of max pooling."""
    stages, block, index, c_in = [], 1, 1, 3
    for item in _VGG19_CFG:
        if item == "M":
            stages.append((f"pool{block}", nn.AvgPool2d(2)))
            block, index = block + 1, 1
            continue
        stages += [(f"conv{block}_{index}", nn.Conv2d(c_in, item, 3, padding=1)),
                   (f"relu{block}_{index}", nn.ReLU(inplace=False))]
        c_in, index = item, index + 1
    return stages


def _vgg19_file() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_URL.rsplit("/", 1)[1]


_SHA256: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    """The SHA-256 of a file, computed once per file version (548 MB take a few seconds)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256:
        digest = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
        _SHA256[key] = digest.hexdigest()
    return _SHA256[key]


def _name_prefix() -> str:
    return VGG19_URL.rsplit("/", 1)[1].rsplit("-", 1)[1].split(".")[0]  # vgg19-dcbb9e9d.pth


def _expected_sha256() -> str:
    """What the file's SHA-256 must be, in words: all of it, or the prefix in its name."""
    if VGG19_SHA256 is not None:
        return VGG19_SHA256
    return f"one starting with {_name_prefix()} (the digits in its name)"


def _digest_ok(path: Path) -> bool:
    """Whether the file has the full SHA-256 recorded here (its name's prefix while none is)."""
    digest = _sha256(path)
    return digest == VGG19_SHA256 if VGG19_SHA256 is not None else digest.startswith(_name_prefix())


def _downloads_allowed(allow_download: bool | None) -> bool:
    if allow_download is None:  # the default: only where asked to, or on Colab
        return os.environ.get("SEDL_ALLOW_DOWNLOAD") == "1" or "google.colab" in sys.modules
    if not isinstance(allow_download, bool):
        raise TypeError(f"allow_download: expected a bool or None, got {type(allow_download).__name__}")
    return allow_download


def vgg19_status(*, allow_download: bool | None = None) -> tuple[bool, str]:
    """Whether the ImageNet VGG-19 weights can be used, and why, without touching the network.

    The weights count as available when torchvision's file is in the torch hub cache
    with the right SHA-256, or when downloads are allowed: ``allow_download=True``, or
    left at ``None`` with the environment variable ``SEDL_ALLOW_DOWNLOAD=1`` set, or on
    Colab. Nothing is downloaded here; :func:`feature_net` does that.

    Returns
    -------
    (bool, str)
        Availability and a sentence that says why.
    """
    path = _vgg19_file()
    bad = path.is_file() and not _digest_ok(path)
    if path.is_file() and not bad:
        return True, f"the ImageNet VGG-19 weights are in the torch hub cache ({path})"
    if _downloads_allowed(allow_download):
        return True, ("downloads are allowed, so the VGG-19 weights can be fetched"
                      + (f" again: the cached file at {path} fails the SHA-256 check" if bad else ""))
    if bad:
        return False, (f"the cached VGG-19 weights at {path} fail the SHA-256 check (expected "
                       f"{_expected_sha256()}, got {_sha256(path)})")
    return False, ("the ImageNet VGG-19 weights are not in the torch hub cache and downloads are "
                   "off (set SEDL_ALLOW_DOWNLOAD=1 to allow one)")


def _download_verified(url: str, path: Path) -> None:
    """Download ``url`` to ``path``, keeping the file only if its SHA-256 is the one expected.

    The file goes to a temporary name beside ``path`` and is renamed into place once
    checked, so a reader never sees a partial or unverified file, even with two downloads
    running at once.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".part")
    os.close(fd)
    try:
        torch.hub.download_url_to_file(url, tmp, hash_prefix=None, progress=False)
        if not _digest_ok(Path(tmp)):
            raise RuntimeError(f"the file downloaded from {url} has SHA-256 {_sha256(Path(tmp))}, "
                               f"expected {_expected_sha256()}; it was deleted")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _load_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors in a checkpoint, loaded without running any code the file might carry."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise RuntimeError(f"the VGG-19 weights at {path} are not a plain weights file ({error})") from error
    if not (isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())):
        raise RuntimeError(f"the VGG-19 weights at {path}: expected a dict of tensors, got "
                           f"{type(state).__name__}")
    return state


def _vgg19_state_dict(allow_download: bool | None) -> dict[str, torch.Tensor]:
    """The ``features.*`` weights of VGG-19, from the cache or downloaded; RuntimeError if neither."""
    available, reason = vgg19_status(allow_download=allow_download)
    if not available:
        raise RuntimeError(reason)
    path = _vgg19_file()
    if not (path.is_file() and _digest_ok(path)):
        url = urlsplit(VGG19_URL)
        try:  # fail in seconds, not after a long network timeout, where there is no network
            port = url.port or (443 if url.scheme == "https" else 80)
            socket.create_connection((url.hostname, port), timeout=5).close()
            _download_verified(VGG19_URL, path)
        except OSError as error:  # URLError and HTTPError are OSErrors
            raise RuntimeError(f"the VGG-19 weights could not be downloaded ({error})") from error
    state = _load_weights(path)
    return {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("features.")}


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


def feature_net(kind: str = "auto", *, allow_download: bool | None = None, seed: int = 0) -> Features:
    """The feature extractor for style transfer: ImageNet VGG-19 when available, else a fallback.

    Parameters
    ----------
    kind : {"auto", "vgg19", "random-multiscale", "random-vgg19"}
        ``"auto"`` takes VGG-19 with torchvision's ImageNet weights (IMAGENET1K_V1) when
        :func:`vgg19_status` says they can be had, and otherwise the random multi-scale
        network, without waiting on a network. ``"vgg19"`` insists on the trained weights
        (``RuntimeError`` if they cannot be had). ``"random-vgg19"`` is VGG-19 with random
        weights (He et al. 2016), as slow as the real one.
    allow_download : bool, optional
        May the weights be downloaded (548 MB, checked by SHA-256)? Default: only
        with ``SEDL_ALLOW_DOWNLOAD=1`` in the environment, or on Colab.
    seed : int
        Seed of the random networks' weights.

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
    check_seed(seed)
    _downloads_allowed(allow_download)  # validates the argument
    if kind == "random-multiscale":
        return random_multiscale(seed)
    if kind == "random-vgg19":
        g = torch.Generator().manual_seed(seed)
        stages = [(n, _seeded_conv(m.in_channels, m.out_channels, 3, g) if isinstance(m, nn.Conv2d)
                   else m) for n, m in _vgg19_stages()]
        return Features(stages, name="random-vgg19", reason="VGG-19 with random weights was asked for",
                        style_layers=_VGG_STYLE, content_layers=_VGG_CONTENT)
    try:
        state = _vgg19_state_dict(allow_download)
    except RuntimeError as error:
        if kind == "vgg19":
            raise
        return random_multiscale(seed, reason=f"{error}; the random multi-scale network runs instead")
    stages = _vgg19_stages()
    net = Features(stages, name="vgg19", reason=vgg19_status(allow_download=allow_download)[1],
                   style_layers=_VGG_STYLE, content_layers=_VGG_CONTENT)
    names = [name for name, _ in stages]
    net.stages.load_state_dict({f"{names[int(i)]}.{p}": v for i, p, v in
                                ((*k.split("."), v) for k, v in state.items())}, strict=True)
    return net.requires_grad_(False).eval()


# Gatys et al. (2016): style from the first layer of each block, content from conv4_2 (after its ReLU).
_VGG_STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
_VGG_CONTENT = ("relu4_2",)
