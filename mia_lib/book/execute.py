"""Executing one Jupytext notebook with papermill into ``ROOT/_build/executed/<stem>.ipynb`` (``python -m mia_lib
run``), with its run recorded in ``metadata["mia_lib"]`` and the "Re-run this page" note added.

Pattern (DESIGN.md, "Notebooks")::

    notebooks/NN_topic.py --jupytext.read--> papermill (kernel python3, cwd=ROOT, parameters)
        --> ROOT/_build/executed/.NN_topic.<random>.ipynb  --os.replace on success-->
        ROOT/_build/executed/NN_topic.ipynb

**Stale outputs.**  A run that does not succeed (a cell raises, the kernel dies, Ctrl-C, ...) deletes its temp file
*and* any existing ``_build/executed/<stem>.ipynb`` from an earlier run.  So after a failure there is no executed
notebook for that chapter at all, and a later ``jupyter-book build`` fails (the toc names a missing document)
instead of quietly rendering an out-of-date or half-executed page.

**Bad input fails before anything runs.**  A ``-p`` name that is not in the notebook's ``parameters`` cell is a
:class:`RunnerError` (exit status 2) listing the notebook's parameters (:func:`~mia_lib.book.params.check_parameters`);
papermill alone would only warn and run with the defaults.  An earlier output is kept then.

**What a run records.**  ``metadata["mia_lib"]``: ``notebook``, ``parameters`` (what was injected, ``quick``
included), ``quick``, ``defaults`` (the parameters cell's values), ``command``, ``wall_time_s``, ``device``,
``hardware``, ``finished_utc`` and ``fingerprint`` (:func:`mia_lib.book.stale.fingerprint`: hashes of the source and
the library, taken before the run), from which ``python -m mia_lib book`` decides whether the chapter is stale.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, TextIO

from ..progress import ENV as PROGRESS_ENV
from .errors import NotebookFailed, RunnerError
from .hardware import _hardware
from .layout import display_path, executed_path, publish
from .page_note import add_run_info
from .params import _is_plain, check_parameters, command_line, notebook_parameters
from .stale import fingerprint

__all__ = ["KERNEL_NAME", "RunResult", "run_notebook"]

#: Jupyter kernel used for every notebook (a percent ``.py`` carries no kernelspec of its own).
KERNEL_NAME = "python3"
_KERNELSPEC = {"name": KERNEL_NAME, "display_name": "Python 3 (ipykernel)", "language": "python"}
_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


@dataclass
class RunResult:
    """Outcome of one :func:`run_notebook` call."""

    notebook: Path  #: the notebook source, absolute
    output: Path | None  #: ``ROOT/_build/executed/<stem>.ipynb``
    seconds: float  #: wall time of the execution
    ok: bool
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  #: the executed notebook's ``metadata["mia_lib"]``


@contextmanager
def _kernel_environment() -> Iterator[None]:
    """Environment of the notebook kernel, restored afterwards.

    * ``MPLBACKEND`` = inline even if the caller exported another backend (e.g. Agg in CI): ipykernel only
      selects inline when MPLBACKEND is unset, and with Agg no figure reaches the book.
    * ``MIA_PROGRESS=0`` (:data:`mia_lib.progress.ENV`, the library's one progress switch) and ``TQDM_DISABLE=1``
      (other libraries): progress bars would land in the page as stderr text, one block per update (papermill
      shows per-cell progress in the terminal instead); interactive use keeps them.
    """
    wanted = {"MPLBACKEND": _INLINE_BACKEND, PROGRESS_ENV: "0", "TQDM_DISABLE": "1"}
    old = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _describe_failure(exc: BaseException) -> tuple[str, str]:
    """(one-line description of the failing cell's exception, traceback text or '')."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        evalue = _ANSI.sub("", str(exc.evalue or "")).strip()
        first = (exc.source or "").strip().splitlines()
        where = f"cell In [{exc.exec_count}]" if exc.exec_count is not None else f"cell #{exc.cell_index}"
        if first:
            where += f" (starting {first[0][:60]!r})"
        tb = _ANSI.sub("", "\n".join(exc.traceback or []))
        return f"{where} raised {exc.ename}: {evalue}" if evalue else f"{where} raised {exc.ename}", tb
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return f"execution was interrupted ({type(exc).__name__})", ""
    msg = _ANSI.sub("", str(exc)).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0] if msg else ''}".rstrip(": "), ""


def run_notebook(
    notebook: str | os.PathLike,
    *,
    root: str | os.PathLike = ".",
    parameters: dict[str, Any] | None = None,
    quick: bool = False,
    progress_bar: bool = True,
    stream: TextIO | None = None,
    library: str | os.PathLike | None = None,
) -> RunResult:
    """Execute a Jupytext percent notebook and write ``ROOT/_build/executed/<stem>.ipynb`` on success only.

    The kernel (``python3``) runs with ``cwd=root``, so notebooks write ``results/`` and ``.cache/`` under the root.
    ``parameters`` (plus ``quick=True`` when ``quick``) are injected by papermill after the cell tagged
    ``parameters``.  The executed notebook's ``metadata["mia_lib"]`` records the parameters, the reproducing
    command, the wall time, the torch device and a hostname-free hardware description, and :func:`add_run_info`
    puts a "Re-run this page" admonition under the notebook's title (glued from that metadata).

    ``metadata["mia_lib"]["fingerprint"]`` hashes the source and the library folder ``library`` (default: the
    ``mia_lib`` package; :func:`mia_lib.book.stale.library_sha256`), for ``book``'s staleness check.

    A ``-p`` name that the notebook's parameters cell does not have raises :class:`RunnerError` before anything runs.
    On failure the temp file and any earlier output for this notebook are deleted, an error paragraph naming the
    notebook and the failing cell's exception is printed to ``stream`` (default stderr), and
    :class:`NotebookFailed` is raised.  A missing notebook raises :class:`RunnerError`.  On success returns a
    :class:`RunResult` (``ok=True``, ``output`` the executed notebook, ``metadata`` its ``metadata["mia_lib"]``).
    """
    stream = stream or sys.stderr
    root = Path(root).resolve()
    nb_path = Path(notebook)
    if not nb_path.is_absolute() and not nb_path.exists() and (root / nb_path).exists():
        nb_path = root / nb_path  # relative to the root when not relative to the cwd
    nb_path = nb_path.resolve()
    if not nb_path.is_file():
        raise RunnerError(f"notebook not found: {notebook} (looked in {Path.cwd()} and {root})")
    if nb_path.suffix != ".py":
        raise RunnerError(f"expected a Jupytext percent notebook NOTEBOOK.py, got {notebook}")
    if not root.is_dir():
        raise RunnerError(f"root directory not found: {root}")

    params = dict(parameters or {})
    rel_nb = display_path(nb_path, root)

    import jupytext
    import nbformat
    import papermill

    try:
        nb, read_error = jupytext.read(nb_path), None
    except Exception as exc:  # reported as a failed run below, like any other
        nb, read_error = None, exc
    defaults = notebook_parameters(nb) if nb is not None else {}
    if nb is not None:
        check_parameters(params, defaults, rel_nb)  # a typo fails here, before anything runs
    if quick:
        params["quick"] = True
    out = executed_path(nb_path, root)
    rel_out = display_path(out, root)
    command = command_line(rel_nb, params, quick)
    fp = fingerprint(nb_path, root, library=library)

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=".ipynb")
    os.close(fd)
    tmp = Path(tmp_name)
    start = time.perf_counter()
    try:
        if read_error is not None:
            exc = read_error
            raise ValueError(f"cannot read it as a Jupytext notebook ({type(exc).__name__}: {exc})") from exc
        nb.metadata["kernelspec"] = dict(_KERNELSPEC)
        with _kernel_environment():
            nb = papermill.execute_notebook(
                nb,
                str(tmp),
                parameters=params,
                kernel_name=KERNEL_NAME,
                cwd=str(root),
                progress_bar=progress_bar,
                log_output=False,
            )
        seconds = time.perf_counter() - start
        device, hardware = _hardware()
        nb.metadata["mia_lib"] = {
            "notebook": rel_nb,
            "parameters": params,
            "quick": bool(params.get("quick", defaults.get("quick", False))),
            "defaults": {k: v for k, v in defaults.items() if _is_plain(v)},
            "command": command,
            "wall_time_s": round(seconds, 3),
            "device": device,
            "hardware": hardware,
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "fingerprint": fp,
        }
        pm = nb.metadata.get("papermill", {})
        pm["input_path"], pm["output_path"] = rel_nb, rel_out
        add_run_info(nb, nb.metadata["mia_lib"], defaults, source=rel_nb if not Path(rel_nb).is_absolute() else None)
        nbformat.write(nb, str(tmp))
        publish(tmp, out)
    except BaseException as exc:
        seconds = time.perf_counter() - start
        tmp.unlink(missing_ok=True)
        removed = out.exists()
        out.unlink(missing_ok=True)
        what, tb = _describe_failure(exc)
        if tb:
            print(f"\n----- traceback from {rel_nb} -----\n{tb}\n-----", file=stream)
        stale = f" The earlier output {rel_out} was removed so that no stale page can be built." if removed else ""
        message = (
            f"error: notebook {rel_nb} failed after {seconds:.1f} s: {what}. "
            f"No executed notebook was written.{stale} Reproduce with: {command}"
        )
        print(message, file=stream, flush=True)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise  # Ctrl-C / SIGTERM: clean up (above), then stop everything
        raise NotebookFailed(message) from exc
    return RunResult(nb_path, out, seconds, True, None, nb.metadata["mia_lib"])
