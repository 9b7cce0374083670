"""Generate (or check) the .ipynb twin of every executable MyST page in book/.

A page is executable when its front matter has a ``kernelspec``. Its twin is
the notebook that Colab and Binder open and that nbval runs: same cells, no
outputs, and cell ids derived from the page's path so that regenerating an
unchanged page gives an identical file.

    python scripts/twins.py           # write every twin
    python scripts/twins.py --check   # exit 1, naming each page, if a twin is missing or stale
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import jupytext

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"


def is_executable(md: Path) -> bool:
    """Whether the MyST page ``md`` declares a kernel in its front matter."""
    text = md.read_text(encoding="utf-8")
    return text.startswith("---") and "\nkernelspec:" in text.split("\n---", 1)[0]


def executable_pages(book: Path = BOOK) -> list[Path]:
    """The MyST pages under ``book`` whose front matter declares a kernel."""
    return [md for md in sorted(book.rglob("*.md")) if is_executable(md)]


def twin_text(md: Path) -> str:
    """The exact text the twin of ``md`` must have."""
    notebook = jupytext.read(md)
    stem = md.relative_to(ROOT).with_suffix("").as_posix()
    for index, cell in enumerate(notebook.cells):
        cell.id = hashlib.sha1(f"{stem}:{index}".encode()).hexdigest()[:8]
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return jupytext.writes(notebook, fmt="ipynb")


def stale_twins(book: Path = BOOK) -> list[str]:
    """Pages whose twin is missing or differs from what twin_text() gives."""
    problems = []
    for md in executable_pages(book):
        ipynb = md.with_suffix(".ipynb")
        if not ipynb.exists():
            problems.append(f"{md.relative_to(ROOT)}: no twin {ipynb.name}")
        elif ipynb.read_text(encoding="utf-8") != twin_text(md):
            problems.append(f"{md.relative_to(ROOT)}: twin {ipynb.name} is out of sync")
    return problems


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        problems = stale_twins()
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print("run `make twins` to regenerate them", file=sys.stderr)
        return 1 if problems else 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    for md in executable_pages():
        md.with_suffix(".ipynb").write_text(twin_text(md), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
