"""``python -m mia_lib book``: execute the chapters of ``_toc.yml`` that are stale, then build the Jupyter Book
strictly (``jupyter-book build ROOT -W -n --keep-going --all``; ``execute_notebooks: "off"``, the book only renders);
``python -m mia_lib html``: only the build.

**Only what is stale runs.**  :func:`book` runs a chapter when :func:`mia_lib.book.stale.chapter_status` says it is
stale (never executed or failed last time, its source or ``mia_lib`` changed, another quick mode, a ``-p`` value it
did not have, or, for the results overview, the chapters it reads changed).  Every other executed notebook is kept,
also one that the reader re-ran with ``python -m mia_lib run ... -p``; ``fresh=True`` (``book --fresh``, ``make book
FRESH=1``) runs them all with their defaults.  :func:`html` runs nothing and fails when a chapter was never executed.

**book runs every stale notebook, then fails.**  :func:`book` executes them in toc order even if one fails
(with ``fail_fast=True`` it stops at the first failure), prints a summary of the failures and returns 1 *without*
building.  The build itself always starts from a fresh environment (``--all``): with an incremental build, a warning
in an unchanged page would not be re-emitted and ``-W`` would let it through on the second run.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from .errors import NotebookFailed, RunnerError
from .execute import run_notebook
from .layout import EXECUTED_DIR, executed_path, toc_notebooks
from .params import notebook_parameters
from .stale import chapter_status, library_sha256

__all__ = ["build_book", "finish_book", "book", "html"]


def _jupyter_book_exe() -> str:
    candidate = Path(sys.executable).parent / "jupyter-book"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("jupyter-book")
    if found:
        return found
    raise RunnerError(f"jupyter-book not found next to {sys.executable} or on PATH; run `make book` to install it")


def build_book(root: str | os.PathLike = ".", stream: TextIO | None = None) -> int:
    """Run ``jupyter-book build ROOT -W -n --keep-going --all`` and return its exit status (``int``).

    The command line is echoed to ``stream`` (default stdout); the build's own output goes to this process's
    stdout/stderr.  Raises :class:`RunnerError` when ``jupyter-book`` is not installed.
    """
    stream = stream or sys.stdout
    root = Path(root).resolve()
    cmd = [_jupyter_book_exe(), "build", str(root), "-W", "-n", "--keep-going", "--all"]
    print("$ " + " ".join(shlex.quote(c) for c in cmd), file=stream, flush=True)
    return subprocess.call(cmd, cwd=str(root))


def finish_book(root: str | os.PathLike = ".", *, started: float | None = None, stream: TextIO | None = None) -> int:
    """The end of :func:`book`, once every notebook ran: :func:`build_book`, then its timing (and the total since
    ``started``, a ``time.perf_counter()`` value; default: now) on ``stream``, and on success the absolute path of
    ``ROOT/_build/html/index.html`` (``book: <path>``) or else an error line on stderr.  Returns the exit status.
    """
    stream = stream or sys.stdout
    root = Path(root).resolve()
    t1 = time.perf_counter()
    t0 = t1 if started is None else started
    status = build_book(root, stream=stream)
    t_build = time.perf_counter() - t1
    print(f"build: {t_build:.1f} s (exit status {status}); total {time.perf_counter() - t0:.1f} s", file=stream)
    if status != 0:
        print(
            f"error: jupyter-book build -W -n failed with exit status {status}: every Sphinx warning is an error; "
            "see the WARNING lines above.",
            file=sys.stderr,
            flush=True,
        )
        return status
    print(f"book: {root / '_build' / 'html' / 'index.html'}", file=stream, flush=True)
    return 0


def _chapter_defaults(notebooks: list[Path]) -> dict[Path, dict[str, Any]]:
    """``{source: parameters cell defaults}`` of every chapter (``{}`` for one that cannot be read; its run says
    why)."""
    import jupytext

    defaults: dict[Path, dict[str, Any]] = {}
    for nb_path in notebooks:
        try:
            defaults[nb_path] = notebook_parameters(jupytext.read(nb_path))
        except Exception:
            defaults[nb_path] = {}
    return defaults


def book(
    root: str | os.PathLike = ".",
    *,
    parameters: dict[str, Any] | None = None,
    quick: bool = False,
    fresh: bool = False,
    fail_fast: bool = False,
    progress_bar: bool = True,
    stream: TextIO | None = None,
    library: str | os.PathLike | None = None,
) -> int:
    """Execute the notebooks named in ``ROOT/_toc.yml`` that are stale (toc order), then build the book strictly.

    A chapter runs when :func:`mia_lib.book.stale.chapter_status` finds it stale (never run or failed last time,
    its source or the library ``library`` changed, another quick mode, a ``parameters`` value it did not have, or
    the chapters it reads changed); otherwise its executed notebook is kept as it is, including one re-run with
    ``-p``.  ``fresh`` runs every chapter.  Each chapter runs with the ``parameters`` that its parameters cell has
    (a name no chapter has is a :class:`RunnerError` before anything runs) and ``quick``.  One line per chapter
    says ``ran``, ``up to date``, ``kept (run with -p ... on <date>)`` or ``FAILED``.

    All stale notebooks run even if one fails (``fail_fast`` stops at the first failure); if any failed, the build
    is skipped and 1 is returned.  Otherwise the exit status of ``jupyter-book build -W -n --keep-going --all`` is
    returned, and on success the absolute path of ``ROOT/_build/html/index.html`` is printed (:func:`finish_book`).
    """
    stream = stream or sys.stdout
    root = Path(root).resolve()
    notebooks = toc_notebooks(root)
    parameters = dict(parameters or {})
    defaults = _chapter_defaults(notebooks)
    known = {k for d in defaults.values() for k in d}
    unknown = [k for k in parameters if k not in known]
    if unknown:
        import difflib

        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise RunnerError(
            f"unknown parameter(s) {', '.join(hints)}: no chapter of {root / '_toc.yml'} has "
            f"{'it' if len(unknown) == 1 else 'them'} in its parameters cell (they have: {', '.join(sorted(known))}). "
            "Nothing was run."
        )
    want_quick = bool(quick or parameters.get("quick") is True)
    lib_hash = library_sha256(library)
    t0 = time.perf_counter()
    failed: list[str] = []
    counts = {"ran": 0, "up to date": 0, "kept": 0}
    n = len(notebooks)
    width = max((len(p.stem) for p in notebooks), default=0)
    for i, nb_path in enumerate(notebooks, 1):
        own = {k: v for k, v in parameters.items() if k in defaults[nb_path]}
        if fresh:
            why = "--fresh"
        else:
            status = chapter_status(
                nb_path, root, defaults=defaults[nb_path], parameters=own, quick=want_quick, library_hash=lib_hash
            )
            if not status.stale:
                text = status.describe()
                counts["kept" if status.changed else "up to date"] += 1
                print(f"[{i}/{n}] {nb_path.stem:<{width}}  {text}", file=stream, flush=True)
                continue
            why = status.reason
        print(f"[{i}/{n}] running notebooks/{nb_path.name}: {why}", file=stream, flush=True)
        try:
            result = run_notebook(
                nb_path, root=root, parameters=own, quick=quick, progress_bar=progress_bar, library=library
            )
            counts["ran"] += 1
            print(f"[{i}/{n}] {nb_path.stem:<{width}}  ran  {result.seconds:8.1f} s", file=stream, flush=True)
        except NotebookFailed:
            failed.append(nb_path.name)
            print(f"[{i}/{n}] {nb_path.stem:<{width}}  FAILED", file=stream, flush=True)
            if fail_fast:
                break
    t_nb = time.perf_counter() - t0
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    print(f"notebooks: {summary}, {len(failed)} failed, {t_nb:.1f} s", file=stream, flush=True)
    if failed:
        print(
            f"error: {len(failed)} notebook(s) failed ({', '.join(failed)}); the book was not built. "
            "See the error paragraphs above.",
            file=sys.stderr,
            flush=True,
        )
        return 1
    return finish_book(root, started=t0, stream=stream)


def html(
    root: str | os.PathLike = ".",
    *,
    stream: TextIO | None = None,
    library: str | os.PathLike | None = None,
) -> int:
    """``python -m mia_lib html``: build the book from the executed notebooks as they are, running nothing.

    Raises :class:`RunnerError` naming the chapters that have no executed notebook (never run, or failed last
    time).  Prints each chapter's state (``up to date``, ``kept (...)``, or ``stale: <reason>; built as it is``),
    then returns :func:`finish_book`'s exit status.
    """
    stream = stream or sys.stdout
    root = Path(root).resolve()
    notebooks = toc_notebooks(root)
    missing = [nb for nb in notebooks if not executed_path(nb, root).is_file()]
    if missing:
        names = ", ".join(nb.stem for nb in missing)
        commands = "; ".join(f"`python -m mia_lib run notebooks/{nb.name}`" for nb in missing[:3])
        raise RunnerError(
            f"cannot build the HTML: {len(missing)} chapter(s) of {root / '_toc.yml'} have no executed notebook in "
            f"{EXECUTED_DIR}/ (never run, or their last run failed): {names}. `html` runs nothing; run them first "
            f"({commands}{'; ...' if len(missing) > 3 else ''}), or use `python -m mia_lib book`, which runs what "
            "is stale."
        )
    lib_hash = library_sha256(library)
    t0 = time.perf_counter()
    n = len(notebooks)
    width = max((len(p.stem) for p in notebooks), default=0)
    for i, nb_path in enumerate(notebooks, 1):
        status = chapter_status(nb_path, root, quick=None, library_hash=lib_hash)
        text = status.describe() + ("; built as it is (`book` would run it)" if status.stale else "")
        print(f"[{i}/{n}] {nb_path.stem:<{width}}  {text}", file=stream, flush=True)
    return finish_book(root, started=t0, stream=stream)
