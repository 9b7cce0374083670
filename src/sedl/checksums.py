"""SHA-256 checks of the files the book reads: one way to read a file and trust it.

:func:`read_verified` returns a file's bytes after checking their SHA-256, so that what is
checked is what is parsed; :func:`verify_file` checks a file that must be opened by name;
:func:`sha256_of` hashes bytes or a file (once per version of the file). A mismatch is a
:class:`ChecksumError` whose message names the file, both digests and what to do.
:mod:`sedl.data` reads every bundled file this way and :mod:`sedl.wheels` checks the
downloaded wheels and their members with the same functions.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sedl._checks import check_str

__all__ = ["ChecksumError", "sha256_of", "read_verified", "verify_file"]

_REINSTALL = ("The file differs from the one this book was written against; reinstall the pinned "
              "runtime requirements (pip install -r requirements/runtime.txt).")


class ChecksumError(ValueError):
    """A file (bundled, downloaded or in a wheel) lacks the SHA-256 the book was written against."""


# (path, size, mtime) -> SHA-256 of files already hashed: a wheel of 28 MB or a checkpoint of
# 548 MB is checked on every use, and hashing it each time would cost more than reading it.
_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}


def sha256_of(content: bytes | str | os.PathLike) -> str:
    """The SHA-256 (64 hexadecimal digits) of ``content``: bytes, or a file read in blocks.

    A file's digest is computed once per version of the file (its path, size and
    modification time), so that checking a large file on every use costs nothing after
    the first.

    >>> sha256_of(b"abc")[:16]
    'ba7816bf8f01cfea'
    """
    if isinstance(content, bytes | bytearray | memoryview):
        return hashlib.sha256(content).hexdigest()
    path = _existing_file(content, "content")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        digest = hashlib.sha256()
        with path.open("rb") as f:  # in blocks: a wheel can be larger than one wants in memory
            for block in iter(lambda: f.read(1 << 22), b""):
                digest.update(block)
        _FILE_DIGESTS[key] = digest.hexdigest()
    return _FILE_DIGESTS[key]


def _existing_file(path: object, argument: str) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise TypeError(f"{argument}: expected a path (str or pathlib.Path), got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{argument}: expected an existing data file, got {path} "
                                "(is the package that ships it installed?)")
    return path


def _check_digest_argument(sha256: object) -> str:
    if not (isinstance(sha256, str) and len(sha256) == 64
            and all(c in "0123456789abcdef" for c in sha256)):
        raise ValueError(f"sha256: expected 64 lower-case hexadecimal characters, got {sha256!r:.80}")
    return sha256


def _check_sha256(content: bytes | Path, sha256: str, *, name: str, remedy: str) -> None:
    """Raise :class:`ChecksumError` naming both digests and ``remedy`` unless they agree."""
    digest = sha256_of(content)
    if digest != sha256:
        raise ChecksumError(f"{name}: expected SHA-256 {sha256}, got {digest}. {remedy}")


def read_verified(path: str | os.PathLike, sha256: str, *, remedy: str = _REINSTALL) -> bytes:
    """The bytes of the file at ``path``, read once and checked to have the SHA-256 ``sha256``.

    What is checked is what is returned: nothing can change the file between the check
    and the read. Parse the bytes with ``io.BytesIO`` (``np.load``, ``imread``, ``torch.load``).

    Parameters
    ----------
    path : str or pathlib.Path
        The file.
    sha256 : str
        Its expected digest, 64 lower-case hexadecimal characters.
    remedy : str
        What the reader should do when the digest differs; ends the error message.

    Raises
    ------
    FileNotFoundError
        The file is missing (the package that ships it is not installed).
    ChecksumError
        The file's digest differs: the data are not the ones the book used.
    """
    path = _existing_file(path, "path")
    _check_digest_argument(sha256)
    check_str(remedy, "remedy")
    blob = path.read_bytes()
    _check_sha256(blob, sha256, name=path.name, remedy=remedy)
    return blob


def verify_file(path: str | os.PathLike, sha256: str) -> Path:
    """Return ``path`` after checking that its SHA-256 is ``sha256``.

    For a reader that must open the file by name; prefer :func:`read_verified`, which
    returns the very bytes it checked. Raises as :func:`read_verified` does.
    """
    path = _existing_file(path, "path")
    _check_digest_argument(sha256)
    _check_sha256(path, sha256, name=path.name, remedy=_REINSTALL)
    return path
