"""Checks of executed notebooks (``_build/executed/*.ipynb``) before they become pages.

:func:`stray_stderr` finds stderr text that a chapter did not ask for: every ``stream`` output named ``stderr``
(warnings, progress bars, logging) in a code cell, except in cells tagged ``allow-stderr``
(:data:`ALLOW_STDERR_TAG`).  Such output lands in the page as a block of its own; a progress bar left on in the
kernel makes one block per update (issue 12: 514 of them in chapter 1 of a cold build).  A chapter that means to
show stderr (say, a warning it explains) tags that cell::

    # %% tags=["allow-stderr"]

``tests/test_book.py::test_chapter_runs_quick`` runs it on every chapter of the quick book, built from an empty
cache so that the pools train during the build.  Command line (exit 1 when a notebook has stray stderr)::

    python -m mia_lib.book.checks [EXECUTED_DIR_OR_NOTEBOOK ...]   # default: _build/executed
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

__all__ = ["ALLOW_STDERR_TAG", "StrayOutput", "stray_stderr", "scan_executed", "main"]

#: Cell tag that allows stderr output in that cell (a warning the chapter shows on purpose).
ALLOW_STDERR_TAG = "allow-stderr"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


@dataclass(frozen=True)
class StrayOutput:
    """One stderr output of an executed notebook that no ``allow-stderr`` tag allows."""

    cell: int  #: index of the cell in ``nb.cells`` (0-based, markdown cells counted)
    execution_count: int | None  #: the cell's ``In [n]``
    first_line: str  #: the first non-empty line of the stderr text (ANSI codes and carriage returns removed)
    source: str  #: the first non-empty line of the cell's source
    chars: int  #: length of the stderr text

    def __str__(self) -> str:
        return (
            f"cell {self.cell} (In [{self.execution_count}], {self.source!r}) wrote {self.chars} character(s) "
            f"to stderr: {self.first_line!r}"
        )


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _first_line(text: str, limit: int = 160) -> str:
    for line in re.split(r"[\r\n]+", _ANSI.sub("", text)):
        if line.strip():
            return line.strip()[:limit]
    return ""


def stray_stderr(nb: Any) -> list[StrayOutput]:
    """The stderr ``stream`` outputs of notebook ``nb`` outside cells tagged ``allow-stderr``, in cell order.

    Args:
        nb: an ``nbformat`` notebook (or its dict), or the path of an ``.ipynb`` file.
    Returns:
        ``[StrayOutput]``, one per stderr output (a cell with several has several); ``[]`` when the notebook is clean.
        ``stdout`` streams, display data and error outputs are not stray stderr.
    """
    if isinstance(nb, (str, os.PathLike)):
        import nbformat

        nb = nbformat.read(str(nb), as_version=4)
    found: list[StrayOutput] = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if ALLOW_STDERR_TAG in (cell.get("metadata", {}).get("tags") or ()):
            continue
        for out in cell.get("outputs") or ():
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = _text(out.get("text"))
                found.append(
                    StrayOutput(
                        index,
                        cell.get("execution_count"),
                        _first_line(text),
                        _first_line(_text(cell.get("source")), 80),
                        len(text),
                    )
                )
    return found


def scan_executed(paths: Sequence[str | os.PathLike]) -> dict[str, list[StrayOutput]]:
    """``{notebook path: stray stderr}`` for every ``.ipynb`` in ``paths`` (files, or folders scanned for
    ``*.ipynb`` not starting with a dot, i.e. not a runner's temp file); clean notebooks map to ``[]``."""
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(f for f in p.glob("*.ipynb") if not f.name.startswith(".")) if p.is_dir() else [p]
    return {str(f): stray_stderr(f) for f in files}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mia_lib.book.checks [PATH ...]``: 0 when no executed notebook has stray stderr, 1 otherwise,
    2 when a path does not exist or there is no notebook to check."""
    args = list(sys.argv[1:] if argv is None else argv) or ["_build/executed"]
    missing = [a for a in args if not Path(a).exists()]
    if missing:
        print(f"error: not found: {' '.join(missing)} (build the book first: make book)", file=sys.stderr)
        return 2
    found = scan_executed(args)
    if not found:
        print(f"error: no executed notebook in {' '.join(args)}", file=sys.stderr)
        return 2
    bad = 0
    for path, stray in found.items():
        print(f"{'ok  ' if not stray else 'FAIL'} {path}: {len(stray)} stray stderr output(s)")
        for s in stray[:20]:
            print(f"     - {s}")
        bad += bool(stray)
    print(f"{len(found) - bad} clean, {bad} with stderr output outside cells tagged {ALLOW_STDERR_TAG!r}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
