"""One visit of a built page in headless Chromium, in one colour mode, shared by the checks.

Loading a page and running axe-core on it are what the browser tests spend their time on, so
each page is opened once per colour mode: `visit` records everything the checks look at
(errors on the console, requests, images, and axe's verdict with every dropdown open), and
the tests of test_site.py and test_accessibility.py each assert on their part of the record.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "_build" / "screenshots"
MODES = ("light", "dark")

# WCAG 2.0 and 2.1, levels A and AA. Label in Name (2.5.3, level A) is an axe rule still tagged
# experimental, which axe leaves out unless asked: it is asked for by name.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": WCAG_TAGS},
               "rules": {"label-content-name-mismatch": {"enabled": True}},
               "resultTypes": ["violations"]}

# Unfold what a reader can unfold: <details> (sidebar sections, sphinx-design dropdowns) and
# sphinx-togglebutton's toggles (folded solutions).
OPEN_EVERYTHING = """async () => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  document.querySelectorAll('button.toggle-button').forEach(b => {
    if (b.getAttribute('aria-expanded') === 'false') b.click();
  });
  // Then wait for what unfolding sets off: two frames (resize observers run before the second
  // paint) and the end of every animation, instead of a fixed time.
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  await Promise.all(document.getAnimations().map(a => a.finished));
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
}"""

MISSING_ALT = "els => els.filter(e => !(e.getAttribute('alt') || '').trim()).map(e => e.src)"
# A figure with a transparent background would draw its black axes and labels on the dark
# page: every image of the text must sit on an opaque backdrop (the theme gives it one).
SEE_THROUGH = """els => els.filter(e => {
    const c = getComputedStyle(e).backgroundColor.match(/[\\d.]+/g).map(Number);
    return c.length === 4 && c[3] < 1; }).map(e => e.getAttribute('src'))"""


def is_local(url: str) -> bool:
    return urllib.parse.urlsplit(url).hostname in (None, "127.0.0.1")


@dataclass
class Visit:
    """What one load of a page showed."""

    status: int
    axe_version: str = ""
    problems: list[str] = field(default_factory=list)  # console errors, page errors, HTTP >= 400
    foreign: list[str] = field(default_factory=list)  # requests to other hosts (all refused)
    missing_alt: list[str] = field(default_factory=list)  # <img> without alt text
    see_through: list[str] = field(default_factory=list)  # figures without an opaque backdrop
    violations: list[dict] = field(default_factory=list)  # axe-core's, every dropdown open


def open_tab(browser, mode: str, foreign: list[str] | None = None):
    """A new tab in colour `mode` that lets nothing off the site (attempts are recorded in
    `foreign`)."""
    tab = browser.new_page(color_scheme=mode)

    def route(r):
        if is_local(r.request.url):
            r.continue_()
        else:  # never let a page reach out; record that it tried
            if foreign is not None:
                foreign.append(r.request.url)
            r.abort()

    tab.route("**/*", route)
    return tab


def visit(browser, site_url: str, axe_source: str, page: str, mode: str, *,
          screenshot: bool = False) -> Visit:
    """Load `page` in colour `mode`, record what went wrong, then open every dropdown and run
    axe-core's WCAG A and AA rules on it."""
    foreign: list[str] = []
    tab = open_tab(browser, mode, foreign)
    problems: list[str] = []
    tab.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
           if m.type == "error" else None)
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}")
           if r.status >= 400 else None)
    tab.on("requestfailed", lambda r: problems.append(f"failed {r.url}")
           if is_local(r.url) else None)
    response = tab.goto(f"{site_url}/{page}", wait_until="networkidle")
    record = Visit(status=response.status, problems=problems, foreign=foreign,
                   missing_alt=tab.eval_on_selector_all("img", MISSING_ALT),
                   see_through=tab.eval_on_selector_all("article img", SEE_THROUGH))
    if screenshot:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = page.replace("/", "_").removesuffix(".html") + ("-dark" if mode == "dark" else "")
        tab.screenshot(path=SCREENSHOTS / f"{name}.png")
    tab.evaluate(OPEN_EVERYTHING)
    tab.add_script_tag(content=axe_source)
    record.axe_version = tab.evaluate("axe.version")
    record.violations = tab.evaluate("options => axe.run(document, options).then(r => r.violations)",
                                     AXE_OPTIONS)
    tab.close()
    return record
