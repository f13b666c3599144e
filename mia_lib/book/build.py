"""``python -m mia_lib book``: execute every chapter that ``_toc.yml`` lists, then build the Jupyter Book
strictly (``jupyter-book build ROOT -W -n --keep-going --all``; ``execute_notebooks: "off"``, the book only renders).

**book runs every notebook, then fails.**  :func:`book` executes all notebooks in toc order even if one fails
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
from .layout import toc_notebooks

__all__ = ["build_book", "finish_book", "book"]


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


def book(
    root: str | os.PathLike = ".",
    *,
    parameters: dict[str, Any] | None = None,
    quick: bool = False,
    fail_fast: bool = False,
    progress_bar: bool = True,
    stream: TextIO | None = None,
) -> int:
    """Execute every notebook named in ``ROOT/_toc.yml`` (toc order), then build the book strictly.

    All notebooks run even if one fails (``fail_fast`` stops at the first failure); if any failed, the build is
    skipped and 1 is returned.  Otherwise the exit status of ``jupyter-book build -W -n --keep-going --all`` is
    returned, and on success the absolute path of ``ROOT/_build/html/index.html`` is printed (:func:`finish_book`).
    """
    stream = stream or sys.stdout
    root = Path(root).resolve()
    notebooks = toc_notebooks(root)
    t0 = time.perf_counter()
    failed: list[str] = []
    width = max((len(p.stem) for p in notebooks), default=0)
    for i, nb_path in enumerate(notebooks, 1):
        print(f"[{i}/{len(notebooks)}] running notebooks/{nb_path.name}", file=stream, flush=True)
        try:
            result = run_notebook(nb_path, root=root, parameters=parameters, quick=quick, progress_bar=progress_bar)
            print(
                f"[{i}/{len(notebooks)}] {nb_path.stem:<{width}}  ok      {result.seconds:8.1f} s",
                file=stream,
                flush=True,
            )
        except NotebookFailed:
            failed.append(nb_path.name)
            print(f"[{i}/{len(notebooks)}] {nb_path.stem:<{width}}  FAILED", file=stream, flush=True)
            if fail_fast:
                break
    t_nb = time.perf_counter() - t0
    print(f"notebooks: {len(notebooks) - len(failed)} ok, {len(failed)} failed, {t_nb:.1f} s", file=stream, flush=True)
    if failed:
        print(
            f"error: {len(failed)} notebook(s) failed ({', '.join(failed)}); the book was not built. "
            "See the error paragraphs above.",
            file=sys.stderr,
            flush=True,
        )
        return 1
    return finish_book(root, started=t0, stream=stream)
