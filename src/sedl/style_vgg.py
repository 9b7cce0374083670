"""The ImageNet VGG-19 of Gatys et al., downloaded only where allowed and verified by full SHA-256.

torchvision's file ``vgg19-dcbb9e9d.pth`` (548 MB) is used when it is in the torch hub
cache or may be downloaded (``SEDL_ALLOW_DOWNLOAD=1``, or Colab), and only when the
full SHA-256 of the file is given (:data:`VGG19_SHA256`, or the environment variable
``SEDL_VGG19_SHA256``): torchvision's file name carries only its first 8 hex digits,
which do not protect against a crafted file. A download goes to a temporary name, is
checked, and only then renamed into place; the file is loaded with
``weights_only=True``, so it can run no code. :mod:`sedl.style_nets` builds the
network from these weights.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import socket
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import torch
from torch import nn

__all__ = ["vgg19_status", "VGG19_URL", "VGG19_SHA256"]

# torchvision's VGG19_Weights.IMAGENET1K_V1: the file name ends with the first hex digits of its SHA-256.
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
# The file's full SHA-256, which torchvision does not publish. It could not be computed where
# this was written (no network, no copy of the file). The deploy workflow passes it as
# SEDL_VGG19_SHA256; once known it belongs here, and every load and download checks all 64 digits.
VGG19_SHA256: str | None = None
_VGG19_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512)
# Gatys et al. (2016): style from the first layer of each block, content from conv4_2 (after its ReLU).
VGG_STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
VGG_CONTENT = ("relu4_2",)


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


def _expected_sha256() -> str | None:
    """The full SHA-256 the file must have: :data:`VGG19_SHA256`, else ``$SEDL_VGG19_SHA256``."""
    digest = VGG19_SHA256 or os.environ.get("SEDL_VGG19_SHA256") or None
    if digest is not None and not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError(f"SEDL_VGG19_SHA256: expected 64 lower-case hexadecimal digits, got {digest!r}")
    if digest is not None and not digest.startswith(_name_prefix()):
        raise ValueError(f"SEDL_VGG19_SHA256: expected a digest starting with {_name_prefix()} (the digits "
                         f"in the file's name {VGG19_URL.rsplit('/', 1)[1]}), got {digest}")
    return digest


_NO_DIGEST = ("no full SHA-256 of the VGG-19 weights is known here (torchvision's file name gives only "
              "8 digits): set SEDL_VGG19_SHA256 to the file's 64-digit digest to use them")


def _digest_ok(path: Path) -> bool:
    """Whether the file has the full SHA-256 given (never true while none is given)."""
    expected = _expected_sha256()
    return expected is not None and _sha256(path) == expected


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
    allowed = _downloads_allowed(allow_download)  # checks the argument first
    path = _vgg19_file()
    if _expected_sha256() is None:
        return False, _NO_DIGEST
    bad = path.is_file() and not _digest_ok(path)
    if path.is_file() and not bad:
        return True, f"the ImageNet VGG-19 weights are in the torch hub cache ({path})"
    if allowed:
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
