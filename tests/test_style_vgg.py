"""Bad input of sedl.style_vgg; the download and the checksum are tested in tests/test_style.py."""

import numpy as np
import pytest

from sedl import style_vgg


@pytest.fixture
def no_digest(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("SEDL_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.delenv("SEDL_VGG19_SHA256", raising=False)
    return monkeypatch


@pytest.mark.parametrize("allow_download, digest, kind, message", [
    ("yes", None, TypeError, "allow_download: expected a bool or None, got str"),
    (1, None, TypeError, "allow_download: expected a bool or None, got int"),
    (np.True_, None, TypeError, "allow_download: expected a bool or None, got bool"),
    (None, "dcbb9e9d", ValueError, "SEDL_VGG19_SHA256: expected 64 lower-case hexadecimal digits"),
    (None, "DCBB9E9D" + "0" * 56, ValueError, "SEDL_VGG19_SHA256: expected 64 lower-case hexadecimal"),
    (False, "0" * 64, ValueError, "SEDL_VGG19_SHA256: expected a digest starting with dcbb9e9d"),
])
def test_vgg19_status_bad_input(no_digest, allow_download, digest, kind, message):
    if digest is not None:
        no_digest.setenv("SEDL_VGG19_SHA256", digest)
    with pytest.raises(kind, match=message):
        style_vgg.vgg19_status(allow_download=allow_download)
