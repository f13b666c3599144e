"""Shared fixtures: the real book in quick mode in a tmp root, each chapter run at most once per test session.

``quick_book`` is that root (the project's _config.yml, _toc.yml, book/ and notebooks/ copied there).  Nothing runs
until a test asks: ``quick_book.chapter(stem)`` runs one chapter with ``python -m mia_lib run notebooks/<stem>.py
--quick`` the first time it is asked for (``tests/test_book.py::test_chapter_runs_quick[<stem>]``, so ``-k 06``
runs chapter 06 alone), and ``quick_book.build()`` runs every chapter not run yet, in toc order, then builds the
HTML strictly once (``mia_lib.book.build.finish_book``, the end of ``python -m mia_lib book``).  ``test_book.py``
checks that build; ``test_offline_html.py``, ``test_browser.py`` and the notebook tests of ``test_theory.py`` and
``test_efficiency.py`` read it.  So the whole suite runs every chapter once and builds the book once.

Order: a chapter in :data:`NEEDS_EARLIER_CHAPTERS` reads the results of every chapter before it, so those run first.
Chapters 04 and 05 reuse chapter 01's shadow pool through the root's ``.cache/`` when it is there (the full suite
runs the chapters in toc order), and train it themselves when it is not (``-k 04`` alone).

Cold cache: the tmp root starts with no ``.cache/`` (checked when the fixture is made) and every run gets
``MIA_CACHE_DIR=<root>/.cache/mia_lib``, so a cache exported in the caller's environment is never used: the pools
train during the build, as in a cold ``make book`` (issue 12: progress bars that only showed on a cold cache).
Each :class:`ChapterRun` records the pools it trained (``trained``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BOOK_SOURCES = ["_config.yml", "_toc.yml", "book", "notebooks"]
#: Chapters that read the ``results/*.json`` of every chapter before them in the toc (the results overview).
NEEDS_EARLIER_CHAPTERS = {"90_course_path", "98_claims", "99_results_overview"}
CHAPTER_TIMEOUT_S = 40 * 60
BUILD_TIMEOUT_S = 30 * 60
_FINISH_BOOK = "import sys; from mia_lib.book.build import finish_book; sys.exit(finish_book(sys.argv[1]))"


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


def cache_dir(root: Path) -> Path:
    """The pool cache of a tmp root, ``<root>/.cache/mia_lib`` (``MIA_CACHE_DIR`` of every run there)."""
    return root / ".cache" / "mia_lib"


def cached_pools(root: Path) -> set[str]:
    """Names (config hashes) of the complete cache entries (``manifest.json`` written) under :func:`cache_dir`."""
    store = cache_dir(root)
    return {d.name for d in store.iterdir() if (d / "manifest.json").is_file()} if store.is_dir() else set()


def _run(cmd: list[str], root: Path, timeout: float) -> subprocess.CompletedProcess:
    """``cmd`` in ``root`` with stdout and stderr merged, its pool cache pinned to the root's own (:func:`cache_dir`);
    a timeout is a failed process (exit -9), not an error."""
    env = dict(os.environ, MIA_CACHE_DIR=str(cache_dir(root)))
    try:
        return subprocess.run(
            cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        return subprocess.CompletedProcess(cmd, -9, out + f"\n[timed out after {timeout:.0f} s]\n")


def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.splitlines()[-n:])


@dataclass
class ChapterRun:
    """One chapter run by ``python -m mia_lib run notebooks/<stem>.py --quick --root ROOT``."""

    stem: str
    proc: subprocess.CompletedProcess  #: the finished process, stdout and stderr merged in ``proc.stdout``
    seconds: float
    trained: list[str] = field(default_factory=list)  #: pools (cache entries) that appeared during this run

    @property
    def ok(self) -> bool:
        return self.proc.returncode == 0

    @property
    def output(self) -> str:
        return self.proc.stdout


@dataclass
class QuickBook:
    """The project's book in a tmp root; chapters run (``--quick``) and the HTML built on demand, each once."""

    root: Path
    stems: list[str]  #: the chapters (notebook stems) in toc order
    runs: dict[str, ChapterRun] = field(default_factory=dict)
    build_proc: subprocess.CompletedProcess | None = None  #: the strict build, once :meth:`build` ran it

    @property
    def html(self) -> Path:
        return self.root / "_build" / "html"

    def chapter(self, stem: str) -> ChapterRun:
        """Run chapter ``stem`` (after the chapters it needs) unless it ran already this session; its run."""
        if stem not in self.stems:
            raise KeyError(f"{stem} is not a chapter of {self.root / '_toc.yml'}: {self.stems}")
        if stem not in self.runs:
            if stem in NEEDS_EARLIER_CHAPTERS:
                for earlier in self.stems[: self.stems.index(stem)]:
                    self.chapter(earlier)
            cmd = [
                sys.executable,
                "-m",
                "mia_lib",
                "run",
                f"notebooks/{stem}.py",
                "--root",
                str(self.root),
                "--no-progress",
                "--quick",
            ]
            before = cached_pools(self.root)
            t0 = time.perf_counter()
            proc = _run(cmd, self.root, CHAPTER_TIMEOUT_S)
            trained = sorted(cached_pools(self.root) - before)
            self.runs[stem] = ChapterRun(stem, proc, time.perf_counter() - t0, trained)
        return self.runs[stem]

    def pools(self) -> set[str]:
        """The complete pools in the root's cache now (:func:`cached_pools`)."""
        return cached_pools(self.root)

    def failed_chapters(self) -> dict[str, str]:
        """``{stem: last lines of its output}`` of the chapters that ran and failed."""
        return {s: _tail(r.output) for s, r in self.runs.items() if not r.ok}

    def build(self) -> subprocess.CompletedProcess | None:
        """Run every chapter not run yet (toc order), then, if all of them succeeded, build the HTML strictly once
        (``finish_book``: ``jupyter-book build -W -n --keep-going --all``, then ``book: <index.html>``).  Returns the
        build's process (output merged), or None when a chapter failed (then nothing is built, as with
        ``python -m mia_lib book``)."""
        for stem in self.stems:
            self.chapter(stem)
        if self.build_proc is None and not self.failed_chapters():
            self.build_proc = _run([sys.executable, "-c", _FINISH_BOOK, str(self.root)], self.root, BUILD_TIMEOUT_S)
        return self.build_proc

    def require_success(self) -> None:
        """Build the book (:meth:`build`) and fail the calling test (not error it) unless every chapter ran and the
        build succeeded."""
        proc = self.build()
        failed = self.failed_chapters()
        if failed:
            pytest.fail(f"chapters of the quick book failed, so it was not built (see test_book.py): {failed}")
        assert proc is not None
        if proc.returncode != 0:
            pytest.fail(
                f"the quick book did not build (exit {proc.returncode}); see test_book.py:\n{_tail(proc.stdout)}"
            )


@pytest.fixture(scope="session")
def quick_book(tmp_path_factory) -> QuickBook:
    """The project's book (its _config.yml, _toc.yml, book/ and notebooks/ copied to a tmp root), its chapters run
    with ``--quick`` and built strictly on demand, each once per session, whatever the outcome."""
    from mia_lib.book.layout import toc_notebooks

    root = copy_book_sources(tmp_path_factory.mktemp("quick_book"))
    assert not (root / ".cache").exists(), f"the quick book must start from an empty cache: {root / '.cache'} exists"
    return QuickBook(root, [p.stem for p in toc_notebooks(root)])
