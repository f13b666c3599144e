# GNU make. `make book` / `make test` bootstrap .venv idempotently (needs only Python 3.11 on the machine).
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BOOK_ARGS ?=
PYTEST_ARGS ?=

.PHONY: all book test bench clean venv

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

bench: $(STAMP)
	$(VPY) benchmarks/pool_throughput.py

clean:
	rm -rf _build results .cache
