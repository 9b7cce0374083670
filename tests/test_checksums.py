"""Tests of sedl.checksums: the one way the book reads a file and trusts it."""

import pytest

from sedl import checksums, data

ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # SHA-256 of b"abc"


@pytest.fixture
def abc(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    return path


def test_sha256_of_bytes_and_files(abc):
    assert checksums.sha256_of(b"abc") == ABC == checksums.sha256_of(abc) == checksums.sha256_of(str(abc))
    abc.write_bytes(b"abcd")  # another version of the file (size changes): hashed again
    assert checksums.sha256_of(abc) != ABC


def test_read_verified_returns_the_bytes_it_checked(abc):
    assert checksums.read_verified(abc, ABC) == b"abc"
    abc.write_bytes(b"abd")
    with pytest.raises(checksums.ChecksumError, match=f"f.bin: expected SHA-256 {ABC}, got .*fix it so"):
        checksums.read_verified(abc, ABC, remedy="fix it so")


def test_verify_file_accepts_the_right_digest_and_reports_another(abc):
    assert checksums.verify_file(abc, ABC) == abc
    assert data.verify_file is checksums.verify_file and data.ChecksumError is checksums.ChecksumError
    abc.write_bytes(b"abd")
    with pytest.raises(data.ChecksumError, match=f"f.bin: expected SHA-256 {ABC[:8]}.*got .*reinstall"):
        checksums.verify_file(abc, ABC)


def _bad_path_and_digest(tmp_path):
    return [
        ({"path": tmp_path / "missing"}, FileNotFoundError, "path: expected an existing data file"),
        ({"path": tmp_path}, FileNotFoundError, "path: expected an existing data file"),
        ({"path": 3}, TypeError, r"path: expected a path \(str or pathlib.Path\), got int"),
        ({"sha256": "abc"}, ValueError, "sha256: expected 64 lower-case hexadecimal characters, got 'abc'"),
        ({"sha256": ABC.upper()}, ValueError, "sha256: expected 64 lower-case hexadecimal"),
        ({"sha256": "g" * 64}, ValueError, "sha256: expected 64 lower-case hexadecimal"),
        ({"sha256": None}, ValueError, "sha256: expected 64 lower-case hexadecimal characters, got None"),
    ]


@pytest.mark.parametrize("case", range(7))
def test_verify_file_bad_input(abc, tmp_path, case):
    kwargs, error, fragment = _bad_path_and_digest(tmp_path)[case]
    with pytest.raises(error, match=fragment):
        checksums.verify_file(**({"path": abc, "sha256": ABC} | kwargs))


@pytest.mark.parametrize("case", range(8))
def test_read_verified_bad_input(abc, tmp_path, case):
    cases = [*_bad_path_and_digest(tmp_path), ({"remedy": 5}, TypeError, "remedy: expected a str, got int")]
    kwargs, error, fragment = cases[case]
    with pytest.raises(error, match=fragment):
        checksums.read_verified(**({"path": abc, "sha256": ABC} | kwargs))


@pytest.mark.parametrize("content, error, fragment", [
    (3, TypeError, "content: expected a path .*, got int"),
    (None, TypeError, "content: expected a path .*, got NoneType"),
    ("/nonexistent/file", FileNotFoundError, "content: expected an existing data file"),
])
def test_sha256_of_bad_input(content, error, fragment):
    with pytest.raises(error, match=fragment):
        checksums.sha256_of(content)
