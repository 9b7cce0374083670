"""WCAG 2.1 AA on every built page, in both colour modes: axe-core's A and AA rules find no
violation; a keyboard alone reaches every control; figures keep a backdrop in dark mode.
(Whether each page loads without an error in both modes is test_site.py's check; both
read the one visit of each page per mode, tests/site/visits.py.)

Pages are checked with every dropdown open (solutions, "Cite this page", the sidebar's
sections), so that what a reader unfolds is checked too, not only what a page shows first.
"""

import json
import re

import pytest
from conftest import AXE_VERSION, ROOT
from test_site import PAGES
from visits import MODES, OPEN_EVERYTHING, open_tab


def open_page(browser, site_url, page, mode):
    """A tab on `page` in colour mode `mode`, with nothing allowed off the site."""
    tab = open_tab(browser, mode)
    response = tab.goto(f"{site_url}/{page}", wait_until="networkidle")
    assert response.status == 200, f"{page}: HTTP {response.status}"
    return tab


def test_dark_mode_is_offered():
    """The site follows the reader's system colour scheme and offers the switch."""
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["config"]["html_context"]["default_mode"] == "auto"


@pytest.mark.parametrize("mode", MODES)
def test_the_mode_the_reader_prefers_is_the_one_shown(browser, site_url, mode):
    tab = open_page(browser, site_url, "book/models.html", mode)
    shown = tab.evaluate("document.documentElement.dataset.theme")
    background = tab.evaluate("getComputedStyle(document.body).backgroundColor")
    tab.close()
    assert shown == mode
    level = sum(int(v) for v in re.findall(r"\d+", background)[:3]) / 3
    assert (level > 200) if mode == "light" else (level < 60), f"{mode} mode, background {background}"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("page", PAGES)
def test_no_wcag_violations(visited, page, mode):
    seen = visited(page, mode)
    assert seen.axe_version == AXE_VERSION
    found = {v["id"]: {"impact": v["impact"], "help": v["help"], "count": len(v["nodes"]),
                       "first": [n["target"] for n in v["nodes"][:3]],
                       "why": v["nodes"][0]["failureSummary"]} for v in seen.violations}
    assert not found, f"{page} ({mode} mode):\n{json.dumps(found, indent=1)}"


@pytest.mark.parametrize("page", PAGES)
def test_every_figure_has_a_backdrop_in_dark_mode(visited, page):
    """A figure with a transparent background would draw its black axes and labels on the
    dark page: every image of the text must sit on an opaque backdrop (the theme gives it one)."""
    seen = visited(page, "dark")
    assert not seen.see_through, f"figures without a backdrop in dark mode: {seen.see_through}"


# Everything a keyboard user must be able to reach: links, buttons, form fields, disclosure
# widgets and anything made focusable on purpose.
CONTROLS = ("a[href], button, input:not([type=hidden]), select, textarea, summary, "
            "[tabindex]:not([tabindex='-1'])")
MARK_CONTROLS = """selector => {
  const shown = el => el.checkVisibility({visibilityProperty: true, opacityProperty: true})
                      && !el.closest('[inert], [aria-hidden=true]') && !el.disabled;
  const controls = [...document.querySelectorAll(selector)].filter(shown);
  controls.forEach((el, i) => { el.dataset.kbd = String(i); });
  return controls.length;
}"""
DESCRIBE = """el => `${el.tagName.toLowerCase()} "${(el.getAttribute('aria-label') || el.textContent
  || el.getAttribute('href') || '').trim().slice(0, 60)}"`"""


@pytest.mark.parametrize("page", ["book/intro.html", "book/models.html",
                                  "book/adversarial/adversarial-examples.html", "book/glossary.html",
                                  "book/bibliography.html", "search.html"])
def test_the_keyboard_reaches_every_control(browser, site_url, page):
    """Tab from the top of the page to the end: every visible control receives the focus, in
    a cycle that comes back to the start (no trap), and shows where the focus is."""
    tab = open_page(browser, site_url, page, "light")
    tab.evaluate(OPEN_EVERYTHING)
    total = tab.evaluate(MARK_CONTROLS, CONTROLS)
    reached, unmarked_outline = set(), []
    for _ in range(4 * total + 20):
        tab.keyboard.press("Tab")
        focus = tab.evaluate("""() => { const el = document.activeElement;
            const style = getComputedStyle(el);
            return {kbd: el.dataset.kbd ?? null, body: el === document.body,
                    ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0
                          || style.boxShadow !== 'none'}; }""")
        if focus["kbd"] is None:
            if focus["body"] and reached:
                break  # back past the end of the page: the cycle is complete
            continue
        if focus["kbd"] in reached:
            break
        reached.add(focus["kbd"])
        if not focus["ring"]:
            unmarked_outline.append(focus["kbd"])
    missed = tab.eval_on_selector_all(
        "[data-kbd]", f"(els, reached) => els.filter(e => !reached.includes(e.dataset.kbd)).map({DESCRIBE})",
        sorted(reached))
    unringed = tab.eval_on_selector_all(
        "[data-kbd]", f"(els, bad) => els.filter(e => bad.includes(e.dataset.kbd)).map({DESCRIBE})",
        unmarked_outline)
    tab.close()
    assert total > 20, f"{page}: only {total} controls found"
    assert not missed, f"{page}: {len(missed)} of {total} controls never get the focus: {missed[:20]}"
    assert not unringed, f"{page}: the focus is invisible on {unringed[:20]}"
