"""One style, checked: `ruff format` and `ruff check` over the code (config in pyproject.toml, 76 columns for
notebooks in notebooks/ruff.toml), and notebook code lines that fit the book's code column without scrolling."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

REPO = Path(__file__).resolve().parents[1]
TREES = ["mia_lib", "tests", "benchmarks", "notebooks"]
CODE_COLUMNS = 76  # a code cell shows 77 characters at 1280 px (the browser check measures it)


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args, *TREES], cwd=REPO, capture_output=True, text=True)


def test_code_is_formatted():
    proc = _ruff("format", "--check")
    assert proc.returncode == 0, f"run `ruff format {' '.join(TREES)}`:\n{proc.stdout}{proc.stderr}"


def test_code_passes_the_linter():
    proc = _ruff("check")
    assert proc.returncode == 0, f"`ruff check` found problems:\n{proc.stdout}{proc.stderr}"


def long_code_lines(path: Path, limit: int = CODE_COLUMNS) -> list[tuple[int, int]]:
    """(cell number, length) of every line of a code cell of ``path`` longer than ``limit``."""
    nb = jupytext.read(path)
    return [
        (i, len(line))
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for line in cell.source.splitlines()
        if len(line) > limit
    ]


@pytest.mark.parametrize("path", sorted((REPO / "notebooks").glob("[0-9]*.py")), ids=lambda p: p.stem)
def test_notebook_code_fits_the_column(path):
    assert long_code_lines(path) == []


def test_the_column_check_sees_a_long_line(tmp_path):
    nb = tmp_path / "planted.py"
    nb.write_text("# %% [markdown]\n# " + "prose " * 30 + "\n\n# %%\nx = 1\ny = '" + "a" * 90 + "'\n")
    assert long_code_lines(nb) == [(1, 96)]
