"""Fixtures of the browser tests: the built site served on 127.0.0.1, and headless Chromium.

These tests read `_build/html`, so they run after `make book` (`make site`). Chromium is
Debian's (`/usr/bin/chromium`), driven by Playwright; no browser is ever downloaded.
"""

import functools
import hashlib
import http.server
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
# The table of contents and the uncited pages have one definition, beside the Sphinx extension.
sys.path.insert(0, str(ROOT / "_ext"))
import book_toc  # noqa: E402, F401  (imported from here by the tests)
import visits  # noqa: E402  (one visit of a page, shared by the checks)

# axe-core, vendored (tests/site/axe/README.md says where it came from and how to upgrade it).
AXE = Path(__file__).resolve().parent / "axe" / "axe.min.js"
AXE_VERSION = "4.14.1"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
CHROMIUM = "/usr/bin/chromium"
# Flags that keep Chromium from phoning home at start-up (its own update and sync services).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def site_url():
    if not (HTML / "index.html").exists():
        pytest.fail(f"{HTML} has no index.html: run `make book` first")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y --no-install-recommends chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """The vendored axe-core, refused unless it is exactly the recorded release."""
    data = AXE.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != AXE_SHA256:
        pytest.fail(f"{AXE} has SHA-256 {digest}, not axe-core {AXE_VERSION}'s {AXE_SHA256}")
    return data.decode("utf-8")


@pytest.fixture(scope="session")
def visited(browser, site_url, axe_source):
    """`visited(page, mode)`: the one visit of `page` in colour `mode` (visits.Visit), made
    the first time a test asks for it and shared by every later check of that page."""
    seen: dict[tuple[str, str], visits.Visit] = {}

    def visited(page: str, mode: str) -> visits.Visit:
        if (page, mode) not in seen:
            seen[page, mode] = visits.visit(browser, site_url, axe_source, page, mode,
                                            screenshot=photographed(page))
        return seen[page, mode]
    return visited


def photographed(page: str) -> bool:
    """Pages photographed in both modes for a reviewer (into _build/screenshots): the front
    page, the models page and every chapter's opening page."""
    return page in {"book/intro.html", "book/models.html"} or (
        page.count("/") == 2 and page.startswith("book/") and page.endswith("/index.html"))
