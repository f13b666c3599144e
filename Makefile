# GNU make. `make book` / `make test` bootstrap .venv idempotently (needs only Python 3.11 on the machine).
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BOOK_ARGS ?=
PYTEST_ARGS ?=

.PHONY: all book test bench clean venv browser-check

all: book

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -r requirements.txt
	touch $@

# Execute every notebook in _toc.yml (papermill), then jupyter-book build -W -n --keep-going.
# Quick mode: make book BOOK_ARGS=--quick
book: $(STAMP)
	$(VPY) -m mia_lib book $(BOOK_ARGS)

# The whole suite: unit tests, notebook smoke runs (quick=True) and the strict book build.
test: $(STAMP)
	$(VPY) -m pytest -q $(PYTEST_ARGS)

# Open the built default book (run `make book` first) in headless Chromium, from disk with the network off, and check
# the intro and every chapter: console errors, figures, math, glued numbers. Screenshots go to _build/screenshots/.
# Needs Chromium: `apt-get install -y chromium` (Debian), or MIA_CHROMIUM=/path/to/chrome.
browser-check: $(STAMP)
	$(VPY) -m mia_lib.book.browser _build/html

bench: $(STAMP)
	$(VPY) benchmarks/pool_throughput.py

clean:
	rm -rf _build results .cache
