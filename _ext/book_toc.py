"""The book's table of contents, read once for the site tooling: the Sphinx extension
(book_site.py), the browser tests (tests/site) and the PDF test import it from here.

>>> pages(Path(__file__).resolve().parents[1])[0]
'book/intro'
"""

from __future__ import annotations

from pathlib import Path

import yaml

# Pages that are the book's front and back matter: no "Cite this page" block.
UNCITED = frozenset({"book/intro", "book/bibliography", "book/status", "book/glossary"})


def _files(node: object) -> list[str]:
    if isinstance(node, dict):
        return [f for key, value in node.items()
                for f in ([value] if key in ("file", "root") else _files(value))]
    if isinstance(node, list):
        return [f for item in node for f in _files(item)]
    return []


def _toc(root: Path) -> dict:
    return yaml.safe_load((Path(root) / "_toc.yml").read_text(encoding="utf-8"))


def pages(root: Path) -> list[str]:
    """Every page the table of contents lists (Sphinx docnames, in reading order)."""
    return _files(_toc(root))


def chapters(root: Path) -> dict[str, list[str]]:
    """Each chapter of a numbered part (its docname) with the docnames of its sections."""
    return {chapter["file"]: [s["file"] for s in chapter.get("sections", [])]
            for part in _toc(root)["parts"] if part.get("numbered")
            for chapter in part["chapters"]}
