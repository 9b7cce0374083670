"""Local Sphinx extension: what the book's readers see beyond the pages themselves.

- A "Cite this page" dropdown under every chapter and section, with a plain reference and
  BibTeX built from CITATION.cff (authors, version, year) and the page's own URL.
- Thebe is not used (launch_buttons.thebe is false), but sphinx-thebe still inserts its
  configuration script twice per page, which browsers report as a console error
  ("Identifier 'THEBE_JS_URL' has already been declared"); its scripts are dropped here.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

UNCITED = {"book/intro", "book/bibliography", "book/status", "book/glossary"}


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


def _load_metadata(app) -> None:
    app.env.sedl_citation = _citation_metadata(Path(app.srcdir))


def setup(app):
    app.connect("builder-inited", _load_metadata)
    app.connect("source-read", _add_cite_block)
    app.connect("html-page-context", _drop_thebe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
