"""The reader's environments agree with the book: Colab's simulated stack and Binder's
configuration pin what requirements.txt pins, Binder holds the package's declared runtime and
nothing of the test or build tools, and every page's first cell installs this version."""

import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
TOOLS = {"pytest", "nbval", "ruff", "playwright", "jupyter-book", "myst-nb", "sphinx", "captum",
         "grad-cam", "torchattacks", "jupytext", "beautifulsoup4"}


def pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.-]+)==([^\s#]+)", line.strip())
        if match:
            found[match[1].lower().replace("_", "-")] = match[2]
    return found


BOOK = pins(ROOT / "requirements.txt") | pins(ROOT / "constraints.txt")
BINDER = pins(ROOT / "binder" / "requirements.txt")
COLAB = pins(ROOT / "tests" / "launch" / "colab-preinstalled.txt")


@pytest.mark.parametrize("name, pinned", [("binder", BINDER), ("colab", COLAB)])
def test_reader_environments_pin_the_books_versions(name, pinned):
    differ = {k: (v, BOOK.get(k)) for k, v in pinned.items() if BOOK.get(k) != v}
    assert not differ, f"{name} pins differ from requirements.txt/constraints.txt: {differ}"


def test_binder_holds_the_declared_runtime_and_no_tools():
    declared = {re.match(r"[A-Za-z0-9_.-]+", d)[0].lower() for d in PROJECT["dependencies"]}
    assert set(BINDER) == declared | {"ipykernel"}
    assert not TOOLS & set(BINDER)
    assert "." in (ROOT / "binder" / "requirements.txt").read_text().splitlines()


def test_colab_stack_has_no_book_tooling():
    assert not TOOLS & set(COLAB)


def test_every_first_cell_installs_this_version_quietly():
    url = "https://github.com/sedl-book/science-ethics-deep-learning"
    spec = f"sedl @ git+{url}@v{PROJECT['version']}"
    for nb in sorted((ROOT / "book").rglob("*.ipynb")):
        first = next(c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code")
        source = "".join(first["source"])
        assert spec in source, f"{nb.name}: the first cell must install {spec}"
        assert 'if "google.colab" in sys.modules:' in source and "capture_output=True" in source


def test_the_readme_installs_the_version_the_pages_install():
    readme = (ROOT / "README.md").read_text()
    pinned = set(re.findall(r"science-ethics-deep-learning@(v[\w.]+)", readme))
    version = f"v{PROJECT['version']}"
    assert pinned == {version}, f"README.md installs {pinned}, the pages {version}"
