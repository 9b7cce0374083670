"""Local Sphinx extension: what the book's readers see beyond the pages themselves.

- A "Cite this page" dropdown under every chapter and section, with a plain reference and
  BibTeX built from CITATION.cff (authors, version, year) and the page's own URL.
- Thebe is not used (launch_buttons.thebe is false), but sphinx-thebe still inserts its
  configuration script twice per page, which browsers report as a console error
  ("Identifier 'THEBE_JS_URL' has already been declared"); its scripts are dropped here.
- Two accessibility defects of the generated markup are repaired (WCAG 2.1 A; the browser tests
  run axe-core on every page): the sidebar's expand/collapse toggles are <summary> elements with
  only an icon, so each gets a visually hidden name ("Sections of <chapter>"); and docutils marks
  bibliography entries with the deprecated ARIA role doc-biblioentry inside a role="list", which
  is then a list without list items, so they become role="listitem"; and myst-nb names the
  summary of a hidden code cell "Toggle hidden content" while it shows "Show code cell source"
  (WCAG 2.5.3, Label in Name): the aria-label goes, and the visible text names it.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from book_toc import UNCITED
from bs4 import BeautifulSoup
from markupsafe import Markup


def _citation_metadata(srcdir: Path) -> dict:
    cff = yaml.safe_load((srcdir / "CITATION.cff").read_text(encoding="utf-8"))
    return {"authors": " and ".join(a.get("name") or f"{a['family-names']}, {a['given-names']}"
                                    for a in cff["authors"]),
            "version": str(cff["version"]), "year": str(cff["date-released"])[:4],
            "book": cff["title"], "url": cff["url"].rstrip("/") + "/"}


def _title(source: str) -> str:
    match = re.search(r"^# (.+)$", source, flags=re.MULTILINE)
    return match.group(1).strip() if match else "Untitled"


def cite_block(docname: str, source: str, meta: dict) -> str:
    """MyST text of the 'Cite this page' dropdown for one page."""
    title, url = _title(source), f"{meta['url']}{docname}.html"
    key = "sedl" + meta["year"] + re.sub(r"[^a-z0-9]", "", docname.split("/", 1)[-1].lower())
    return f"""

:::{{dropdown}} Cite this page
:icon: quote

{meta['authors']} ({meta['year']}). "{title}". In *{meta['book']}*, version {meta['version']}.
<{url}>

```bibtex
@incollection{{{key},
  author    = {{{{{meta['authors']}}}}},
  title     = {{{title}}},
  booktitle = {{{meta['book']}}},
  year      = {{{meta['year']}}},
  version   = {{{meta['version']}}},
  url       = {{{url}}}
}}
```
:::
"""


def _add_cite_block(app, docname: str, source: list[str]) -> None:
    if docname.startswith("book/") and docname not in UNCITED:
        source[0] += cite_block(docname, source[0], app.env.sedl_citation)


def _is_thebe(asset) -> bool:
    filename = str(getattr(asset, "filename", "") or "")
    body = str(getattr(asset, "attributes", {}).get("body", ""))
    return "thebe" in filename or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree) -> None:
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [asset for asset in context[key] if not _is_thebe(asset)]


def name_toctree_toggles(html: str) -> str:
    """Give every icon-only <summary> of a sidebar toctree the title of the entry it unfolds.

    >>> html = name_toctree_toggles('<li><a class="reference" href="v.html">Validity</a><details>'
    ...                             '<summary><span class="toctree-toggle"></span></summary></details></li>')
    >>> html[html.index("<summary>"):html.index("</summary>")]
    '<summary><span class="toctree-toggle"></span><span class="visually-hidden">Sections of Validity</span>'
    """
    soup = BeautifulSoup(html, "html.parser")
    for summary in soup.find_all("summary"):
        link = summary.find_parent("li")
        link = link.find("a", recursive=False) if link else None
        if summary.get_text(strip=True) or link is None:
            continue
        label = soup.new_tag("span", attrs={"class": "visually-hidden"})
        label.string = f"Sections of {link.get_text(' ', strip=True)}"
        summary.append(label)
    return str(soup)


def _name_sidebar_toggles(app, pagename, templatename, context, doctree) -> None:
    generate = context.get("generate_toctree_html")
    if generate is not None:
        context["generate_toctree_html"] = lambda *args, **kwargs: Markup(
            name_toctree_toggles(str(generate(*args, **kwargs))))


def _fix_body_markup(app, pagename, templatename, context, doctree) -> None:
    if "body" in context:
        context["body"] = (context["body"]
                           .replace('role="doc-biblioentry"', 'role="listitem"')
                           .replace('<summary aria-label="Toggle hidden content">', "<summary>"))


def _load_metadata(app) -> None:
    app.env.sedl_citation = _citation_metadata(Path(app.srcdir))


def setup(app):
    app.connect("builder-inited", _load_metadata)
    app.connect("source-read", _add_cite_block)
    app.connect("html-page-context", _drop_thebe)
    app.connect("html-page-context", _fix_body_markup)
    # After the theme has put its toctree function into the context (default priority 500).
    app.connect("html-page-context", _name_sidebar_toggles, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
