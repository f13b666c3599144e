"""Shared fixtures: the real book, built once per test session in quick mode in a tmp root.

``tests/test_book.py`` checks that build (every notebook ran, strict ``-W -n`` build); ``tests/test_offline_html.py``
and ``tests/test_browser.py`` read the same HTML (offline references, pages in headless Chromium).  Building it once
saves a full quick run of every chapter per test file.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BOOK_SOURCES = ["_config.yml", "_toc.yml", "book", "notebooks"]


def copy_book_sources(dst: Path) -> Path:
    """Copy the project's book sources into ``dst`` (a tmp root). A missing source fails the test (no skipping)."""
    missing = [name for name in BOOK_SOURCES if not (REPO / name).exists()]
    assert not missing, f"book sources missing from the repository: {missing}"
    for name in BOOK_SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        else:
            shutil.copy2(src, dst / name)
    return dst


@dataclass
class BuiltBook:
    """A book built by ``python -m mia_lib book --root ROOT``: its root and the finished process (output merged)."""

    root: Path
    proc: subprocess.CompletedProcess

    @property
    def html(self) -> Path:
        return self.root / "_build" / "html"

    def require_success(self) -> None:
        """Fail the calling test (not error it) when the build did not succeed."""
        if self.proc.returncode != 0:
            tail = "\n".join(self.proc.stdout.splitlines()[-40:])
            pytest.fail(f"the quick book did not build (exit {self.proc.returncode}); see test_book.py:\n{tail}")


@pytest.fixture(scope="session")
def quick_book(tmp_path_factory) -> BuiltBook:
    """The project's book (its _config.yml, _toc.yml, book/ and notebooks/ copied to a tmp root), every chapter
    run with ``--quick`` and built strictly; built once per session, whatever the outcome."""
    root = copy_book_sources(tmp_path_factory.mktemp("quick_book"))
    proc = subprocess.run(
        [sys.executable, "-m", "mia_lib", "book", "--root", str(root), "--no-progress", "--quick"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=80 * 60,
    )
    return BuiltBook(root, proc)
