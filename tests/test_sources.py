"""The book's sources are consistent: TOC, page twins, launch cell, labels, seeding."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("twins", ROOT / "scripts" / "twins.py")
twins = importlib.util.module_from_spec(spec)
spec.loader.exec_module(twins)
sys.path.insert(0, str(ROOT / "_ext"))
import book_toc  # noqa: E402  (the one reading of _toc.yml)

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
PAGES = twins.executable_pages()


def test_every_toc_entry_exists():
    files = book_toc.pages(ROOT)
    assert "book/intro" in files and len(files) >= 9
    missing = [f for f in files if not (ROOT / f"{f}.md").exists()]
    assert not missing, f"TOC entries without a page: {missing}"


def test_there_are_executable_pages():
    assert {p.relative_to(ROOT).as_posix() for p in PAGES} >= {"book/models.md", "book/status.md"}


def test_every_twin_is_present_and_in_sync():
    assert twins.stale_twins() == [], "run `make twins`"


def test_stale_twin_is_detected(tmp_path, monkeypatch):
    book = tmp_path / "book"
    book.mkdir()
    page = book / "p.md"
    page.write_text((ROOT / "book" / "status.md").read_text())
    monkeypatch.setattr(twins, "ROOT", tmp_path)
    assert twins.stale_twins(book) == ["book/p.md: no twin p.ipynb"]
    page.with_suffix(".ipynb").write_text(twins.twin_text(page))
    assert twins.stale_twins(book) == []
    page.write_text(page.read_text() + "\n```{code-cell} ipython3\n1 + 1\n```\n")
    assert twins.stale_twins(book) == ["book/p.md: twin p.ipynb is out of sync"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_first_code_cell_installs_sedl_on_colab_only(page):
    """The cell readers never see in the book: what it installs is tests/launch's question."""
    cells = json.loads(page.with_suffix(".ipynb").read_text())["cells"]
    first = next(c for c in cells if c["cell_type"] == "code")
    assert f"sedl @ git+{CONFIG['repository']['url']}@v" in "".join(first["source"])
    assert "remove-cell" in first["metadata"].get("tags", [])


@pytest.mark.parametrize("page", sorted((ROOT / "book").rglob("*.md")),
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_page_has_a_stable_label(page):
    text = page.read_text()
    body = text.split("\n---\n", 1)[1] if text.startswith("---") else text
    first_line = body.lstrip().splitlines()[0]
    assert first_line.startswith("(sec_") and first_line.endswith(")="), (
        f"{page.name} must start with a label such as (sec_name)=")


SEEDLESS = {"book/status.md"}  # reports the environment; trains and samples nothing


@pytest.mark.parametrize("page", [p for p in PAGES if p.relative_to(ROOT).as_posix() not in SEEDLESS],
                         ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_page_seeds_through_sedl_repro(page):
    code = "\n".join("".join(c["source"]) for c in json.loads(page.with_suffix(".ipynb").read_text())["cells"]
                     if c["cell_type"] == "code")
    assert "repro.set_seed(" in code, f"{page.name} never calls repro.set_seed"
    for bypass in ("torch.manual_seed(", "np.random.seed(", "random.seed("):
        lines = [line for line in code.splitlines() if bypass in line and "repro." not in line]
        assert not lines, f"{page.name} seeds around sedl.repro: {lines}"
