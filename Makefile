# GNU make. `make book` / `make test` bootstrap .venv idempotently (needs only Python 3.11 on the machine).
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BOOK_ARGS ?=
FRESH ?=
PYTEST_ARGS ?=
LAB_ARGS ?=

.PHONY: all book html test bench clean venv browser-check lab

all: book

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -r requirements.txt
	touch $@

# Execute the notebooks of _toc.yml that are stale (never run or failed last time, their source or mia_lib changed,
# or run in the other quick mode), keep the others (a chapter re-run with `-p` too), then
# jupyter-book build -W -n --keep-going. Every chapter again with its defaults: make book FRESH=1.
# Quick mode: make book BOOK_ARGS=--quick
book: $(STAMP)
	$(VPY) -m mia_lib book $(if $(filter-out 0 no false,$(FRESH)),--fresh) $(BOOK_ARGS)

# Only the HTML, from the executed notebooks as they are: runs nothing (fails if a chapter was never executed).
html: $(STAMP)
	$(VPY) -m mia_lib html

# The whole suite: unit tests, notebook smoke runs (quick=True) and the strict book build.
test: $(STAMP)
	$(VPY) -m pytest -q $(PYTEST_ARGS)

# Open the built default book (run `make book` first) in headless Chromium, from disk with the network off, and check
# the intro and every chapter: console errors, figures, math, glued numbers, page height, code that scrolls sideways.
# Screenshots at 1280 px go to _build/screenshots/, at 390 px (a phone) to _build/screenshots/390/.
# Needs Chromium: `apt-get install -y chromium` (Debian), or MIA_CHROMIUM=/path/to/chrome.
browser-check: $(STAMP)
	$(VPY) -m mia_lib.book.browser _build/html --width 1280 --width 390

# JupyterLab on the repository, to work through a chapter: notebooks/NN_*.py open as notebooks (Jupytext; its
# "Jupytext Notebook" viewer is made the default for .py files) and saving writes the .py back. Kernels start in
# _build/lab/ with the book's pool cache (.cache/mia_lib), so a chapter reuses its pools but leaves results/ alone.
# Listens on 127.0.0.1 only and prints a URL with its token. Configuration: jupyter_server_config.py, jupytext.toml,
# jupyterlab_overrides.json. More options: make lab LAB_ARGS="--port 8899 --no-browser".
lab: $(STAMP)
	mkdir -p $(VENV)/share/jupyter/lab/settings
	cp jupyterlab_overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	$(VPY) -m jupyterlab --config=jupyter_server_config.py $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

bench: $(STAMP)
	$(VPY) benchmarks/pool_throughput.py

clean:
	rm -rf _build results .cache
