"""The requirement sets: the reader's runtime, the book build and the tests, each pinned.

requirements/runtime.txt is what a reader installs; book.txt and test.txt add the book build
and the tests on top; requirements.txt names all three for development and constraints.txt
pins every transitive dependency. These tests keep the sets apart and in step.
"""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETS = ROOT / "requirements"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
REQUIREMENT = re.compile(r"([A-Za-z0-9_.-]+)\s*(==\s*([^\s#;]+))?")
# What only builds the book, and what only tests it: neither belongs in a reader's runtime.
BOOK_TOOLS = {"jupyter-book", "sphinx-book-theme", "myst-nb", "sphinx-design", "sphinx-mathjax-offline",
              "sphinx-exercise", "sphinxcontrib-bibtex", "jupytext"}
TEST_TOOLS = {"pytest", "nbval", "ruff", "captum", "grad-cam", "playwright", "beautifulsoup4",
              "torchattacks", "opencv-python-headless", "onnxruntime", "pytest-xdist"}


def _name(text: str) -> str:
    return text.lower().replace("_", "-")


def read(path: Path) -> tuple[dict[str, str | None], list[str]]:
    """(name -> pinned version or None, the files it includes with -r) of a requirements file."""
    pins, includes = {}, []
    for raw in path.read_text().splitlines():
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r"):
            includes.append(line[2:].strip())
        elif not line.startswith("-"):
            match = REQUIREMENT.match(line)
            pins[_name(match[1])] = match[3]
    return pins, includes


def own(name: str) -> dict[str, str | None]:
    return read(SETS / name)[0]


CONSTRAINTS = own("../constraints.txt")
FILES = ["runtime.txt", "book.txt", "test.txt", "test-nodeps.txt"]


@pytest.mark.parametrize("name", FILES)
def test_every_set_is_pinned_as_the_constraints_pin_it(name):
    pins = own(name)
    assert pins, f"{name} names no package"
    unpinned = sorted(k for k, v in pins.items() if v is None)
    assert not unpinned, f"{name}: not pinned with ==: {unpinned}"
    if name != "test-nodeps.txt":  # installed with --no-deps, so not in pip freeze's constraints
        differ = {k: (v, CONSTRAINTS.get(k)) for k, v in pins.items() if CONSTRAINTS.get(k) != v}
        assert not differ, f"{name} pins differ from constraints.txt: {differ}"


def test_the_runtime_is_what_the_package_declares_and_a_kernel():
    declared = {_name(REQUIREMENT.match(d)[1]) for d in PROJECT["dependencies"]}
    assert set(own("runtime.txt")) == declared | {"ipykernel"}
    assert not (BOOK_TOOLS | TEST_TOOLS) & set(own("runtime.txt"))


def test_binder_installs_the_runtime_set():
    binder = read(ROOT / "binder" / "requirements.txt")[0]
    binder.pop(".", None)
    assert binder == own("runtime.txt")


def test_the_sets_build_on_each_other_and_keep_apart():
    assert read(SETS / "book.txt")[1] == ["runtime.txt"]
    assert read(SETS / "test.txt")[1] == ["book.txt"]
    assert set(own("book.txt")) == BOOK_TOOLS
    assert not TEST_TOOLS & set(own("book.txt"))
    assert set(own("test.txt")) | set(own("test-nodeps.txt")) <= TEST_TOOLS


def test_requirements_txt_names_the_three_sets_and_the_package():
    pins, includes = read(ROOT / "requirements.txt")
    assert includes == ["requirements/runtime.txt", "requirements/book.txt", "requirements/test.txt"]
    assert not pins  # every pin lives in one set, once
    assert "-e ." in (ROOT / "requirements.txt").read_text().splitlines()


def test_make_setup_reruns_when_any_set_changes():
    makefile = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    listed = set(re.search(r"^REQUIREMENTS\s*:=(.*)$", makefile, re.M)[1].split())
    assert re.search(r"^\$\(STAMP\):\s*\$\(REQUIREMENTS\)", makefile, re.M)
    wanted = {"requirements.txt", "constraints.txt", "pyproject.toml"} | {f"requirements/{f}" for f in FILES}
    assert wanted <= listed
    assert all((ROOT / path).is_file() for path in listed)
