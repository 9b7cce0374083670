"""The PDF of the whole book (`make pdf-test`, after `make pdf`): it was built, every chapter and
section is in it, and so is every figure of the HTML book.

Not collected by `make site-tests` (its name does not start with test_): the PDF needs TeX,
which `make test` does not install. CI runs it weekly and before each deploy. It reads the PDF
with poppler's pdftotext and pdfimages (Debian's poppler-utils).
"""

import re
import subprocess

import pytest
from bs4 import BeautifulSoup
from conftest import HTML, ROOT, book_toc

BUILT = ROOT / "_build" / "pdf" / "_build" / "latex" / "book.pdf"
PUBLISHED = HTML / "science-ethics-deep-learning.pdf"  # where the front page links it


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def text() -> str:
    if not BUILT.exists():
        pytest.fail(f"{BUILT} is missing: run `make pdf` first")
    # Words only, spaced once: headings may break across lines and ligatures vary.
    return " ".join(re.findall(r"\w+", _run("pdftotext", "-enc", "UTF-8", str(BUILT), "-")))


def _title(docname: str) -> str:
    source = (ROOT / f"{docname}.md").read_text(encoding="utf-8")
    return re.search(r"^# (.+)$", source, flags=re.MULTILINE).group(1)


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", re.sub(r"\{[a-z]+\}`([^`<]*)[^`]*`", r"\1", text)))


def test_the_pdf_is_published_beside_the_site():
    assert BUILT.exists() and PUBLISHED.exists(), "run `make pdf`"
    assert PUBLISHED.read_bytes() == BUILT.read_bytes()
    info = _run("pdfinfo", str(BUILT))
    pages = int(re.search(r"^Pages:\s+(\d+)", info, flags=re.MULTILINE).group(1))
    assert pages > 100, f"the whole book in {pages} pages?"


@pytest.mark.parametrize("docname", [page for chapter, sections in book_toc.chapters(ROOT).items()
                                     for page in [chapter, *sections]])
def test_every_chapter_and_section_is_in_the_pdf(text, docname):
    title = _words(_title(docname))
    # Once in the table of contents, once as the heading of the chapter or section itself.
    assert text.count(title) >= 2, f"{docname}: its title {title!r} is not in the PDF twice"


def _html_figures() -> set[str]:
    """The raster images the pages of the HTML book show (their files in _images)."""
    images = set()
    for docname in book_toc.pages(ROOT):
        page = BeautifulSoup((HTML / f"{docname}.html").read_text(encoding="utf-8"), "html.parser")
        for img in (page.find("article") or page).find_all("img", src=True):
            if re.search(r"\.(png|jpe?g)$", img["src"], flags=re.IGNORECASE):
                images.add(img["src"].rsplit("/", 1)[-1])
    return images


def test_every_figure_is_in_the_pdf():
    if not BUILT.exists():
        pytest.fail(f"{BUILT} is missing: run `make pdf` first")
    listing = _run("pdfimages", "-list", str(BUILT)).splitlines()[2:]
    # pdfimages lists each alpha channel as an "smask" of its image: count the images themselves.
    in_pdf = sum(1 for line in listing if line.split()[2] == "image")
    in_html = _html_figures()
    assert len(in_html) > 50, f"only {len(in_html)} figures in the HTML book"
    assert in_pdf >= len(in_html), f"{in_pdf} images in the PDF, {len(in_html)} figures in the HTML book"
