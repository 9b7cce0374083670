"""Three public-domain paintings that ship with the package, verified by SHA-256 on load.

Photographic reproductions of two-dimensional paintings whose artists died more
than 70 years ago are in the public domain (the "PD-Art" rule of Wikimedia
Commons). These copies are the classic style images of the neural-style
literature, taken from the example inputs of Justin Johnson's ``neural-style``
repository (https://github.com/jcjohnson/neural-style). :func:`credit` gives the
line a page shows beside each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from sedl._checks import check_choice, check_int
from sedl.data import resize_shorter_side, verify_file

__all__ = ["Painting", "PAINTINGS", "NAMES", "load", "credit"]

_SOURCE = "photograph from the example inputs of github.com/jcjohnson/neural-style"


@dataclass(frozen=True)
class Painting:
    """One bundled painting: its file, what it is, and the SHA-256 of the file."""

    filename: str
    title: str
    artist: str
    year: int
    collection: str
    sha256: str


#: The bundled paintings, by short name.
PAINTINGS: dict[str, Painting] = {
    "starry_night": Painting("starry_night.jpg", "The Starry Night", "Vincent van Gogh", 1889,
                             "Museum of Modern Art, New York",
                             "0592ab0f7b51b3ce72608a95e53880bd93971e5b48f93a0ce8dfd3cbccf3d098"),
    "the_scream": Painting("the_scream.jpg", "The Scream", "Edvard Munch", 1893, "National Gallery, Oslo",
                           "f3075cddeb974a9ee1d6418f7f33fd05185a7ac7dcb4288bd2805d499a9dcaee"),
    "shipwreck": Painting("shipwreck.jpg", "The Shipwreck", "J. M. W. Turner", 1805, "Tate Britain, London",
                          "4f7cf34e3cd4a5daaf3f421f059ca9a01aaa2a3afd7243d6670c9c8bc001a213"),
}
NAMES: tuple[str, ...] = tuple(PAINTINGS)


def _path(name: str) -> Path:
    return Path(str(resources.files("sedl").joinpath("images", PAINTINGS[name].filename)))


def credit(name: str) -> str:
    """The credit line of a painting: title, artist, year, collection, licence and source.

    >>> credit("starry_night")[:40]
    'The Starry Night, Vincent van Gogh, 1889'
    """
    check_choice(name, "name", PAINTINGS)
    p = PAINTINGS[name]
    return f"{p.title}, {p.artist}, {p.year} ({p.collection}); public domain, {_SOURCE}"


def load(name: str, *, size: int | None = None) -> torch.Tensor:
    """A painting as a ``(1, 3, H, W)`` float tensor in [0, 1], after checking its SHA-256.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`: ``"starry_night"``, ``"the_scream"``, ``"shipwreck"``.
    size : int, optional
        Resize so that the shorter side is ``size`` pixels (antialiased).

    Raises
    ------
    sedl.data.ChecksumError
        The file is not the one the book was written against.

    >>> tuple(load("starry_night", size=64).shape)
    (1, 3, 64, 102)
    """
    from PIL import Image

    check_choice(name, "name", PAINTINGS)
    if size is not None:
        check_int(size, "size", minimum=8)
    path = verify_file(_path(name), PAINTINGS[name].sha256)
    with Image.open(path) as img:
        array = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    x = torch.from_numpy(array).permute(2, 0, 1)[None].contiguous()  # (H, W, 3) -> (1, 3, H, W)
    return x if size is None else resize_shorter_side(x, size)
