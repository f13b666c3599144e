"""Whether a chapter's executed notebook is up to date, so that ``python -m mia_lib book`` runs only what is stale
and keeps the rest, including a chapter that the reader re-ran with ``-p``.

Every run records a fingerprint in the executed notebook's ``metadata["mia_lib"]["fingerprint"]``
(:func:`fingerprint`, written by :func:`mia_lib.book.execute.run_notebook`):

``source_sha256``
    SHA-256 of the chapter's source ``notebooks/<stem>.py``;
``library_sha256``
    SHA-256 over every ``*.py`` file of the library (``mia_lib/**/*.py``, relative path and content, in path
    order; :func:`library_sha256`): any change to the library makes every chapter stale;
``inputs_sha256``
    only for a chapter that reads other chapters' results (its source calls one of :data:`READS_RESULTS`, i.e. the
    results overview): SHA-256 of the other chapters' ``results/<stem>.json`` and executed notebooks at its run.

:func:`chapter_status` compares a chapter with its executed notebook.  It is stale (first reason wins) when

1. there is no executed notebook: never run, or the last run failed (a failed run leaves none);
2. the executed notebook has no fingerprint (written by an older runner) or cannot be read;
3. its source changed; 4. the library changed;
5. its quick mode differs from the one asked for (a ``--quick`` run is stale for a full ``book`` and vice versa);
6. a ``book -p KEY VALUE`` asks for a value that the run did not have (the run's value, else the default);
7. (results readers) the chapters it reads changed since it ran.

Otherwise it is up to date, and *kept* when it was run with values other than its defaults (its page and the
results overview say so).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .layout import executed_path, toc_notebooks
from .page_note import finished_text
from .params import changed_parameters, flags, same_value

__all__ = [
    "READS_RESULTS",
    "library_root",
    "library_sha256",
    "source_sha256",
    "reads_results",
    "inputs_sha256",
    "fingerprint",
    "read_run",
    "ChapterStatus",
    "chapter_status",
]

#: A chapter whose source contains one of these reads other chapters' results (``results/*.json``, executed
#: notebooks), so it is also stale when they change (the results overview, ``notebooks/99_results_overview.py``).
READS_RESULTS = ("results_overview(", "load_results(", "ledger.collect(", "course.chapters(")


def library_root() -> Path:
    """The folder of the ``mia_lib`` package (absolute), whose ``*.py`` files :func:`library_sha256` hashes."""
    return Path(__file__).resolve().parents[1]


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def library_sha256(library: str | os.PathLike | None = None) -> str:
    """SHA-256 (hex) over every ``*.py`` file under ``library`` (default :func:`library_root`), skipping
    ``__pycache__`` and hidden folders: each file's POSIX path relative to ``library`` and its bytes, in path order.
    Any edit, added, removed or renamed file changes it."""
    root = Path(library).resolve() if library is not None else library_root()
    files = sorted(
        p
        for p in root.rglob("*.py")
        if p.is_file() and not any(part == "__pycache__" or part.startswith(".") for part in p.relative_to(root).parts)
    )
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def source_sha256(notebook: str | os.PathLike) -> str:
    """SHA-256 (hex) of a notebook source's bytes."""
    return _sha256_file(Path(notebook))


def reads_results(notebook: str | os.PathLike) -> bool:
    """Whether a notebook source reads other chapters' results (it contains one of :data:`READS_RESULTS`)."""
    try:
        text = Path(notebook).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(marker in text for marker in READS_RESULTS)


def inputs_sha256(notebook: str | os.PathLike, root: str | os.PathLike = ".") -> str | None:
    """SHA-256 (hex) of what a results-reading chapter reads: for every other chapter of ``ROOT/_toc.yml`` that does
    not read results itself, its ``results/<stem>.json`` and ``_build/executed/<stem>.ipynb`` (bytes, or "missing").
    None when ``ROOT/_toc.yml`` cannot be read (a notebook run outside a book)."""
    from .errors import RunnerError

    root = Path(root).resolve()
    stem = Path(notebook).stem
    try:
        chapters = toc_notebooks(root)
    except RunnerError:
        return None
    digest = hashlib.sha256()
    for other in chapters:
        if other.stem == stem or reads_results(other):
            continue
        digest.update(other.stem.encode() + b"\0")
        for path in (root / "results" / f"{other.stem}.json", executed_path(other, root)):
            digest.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"missing")
    return digest.hexdigest()


def fingerprint(
    notebook: str | os.PathLike,
    root: str | os.PathLike = ".",
    *,
    library: str | os.PathLike | None = None,
    library_hash: str | None = None,
) -> dict[str, str]:
    """``{"source_sha256", "library_sha256"[, "inputs_sha256"]}`` of a chapter now (module docstring); pass
    ``library_hash`` to reuse a :func:`library_sha256` already computed for ``library``."""
    fp = {
        "source_sha256": source_sha256(notebook),
        "library_sha256": library_hash or library_sha256(library),
    }
    if reads_results(notebook):
        inputs = inputs_sha256(notebook, root)
        if inputs is not None:
            fp["inputs_sha256"] = inputs
    return fp


def read_run(executed: str | os.PathLike) -> dict[str, Any] | None:
    """The ``metadata["mia_lib"]`` of an executed notebook (``{}`` when it has none or cannot be read), None when
    the file is missing."""
    path = Path(executed)
    if not path.is_file():
        return None
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    meta = nb.get("metadata", {}).get("mia_lib") if isinstance(nb, dict) else None
    return meta if isinstance(meta, dict) else {}


@dataclass
class ChapterStatus:
    """How a chapter stands against its executed notebook (:func:`chapter_status`)."""

    notebook: Path  #: the source ``ROOT/notebooks/<stem>.py``
    stale: bool
    reason: str  #: why it is stale (e.g. ``notebooks/01_x.py changed since its last run``), or "" when it is not
    run: dict[str, Any] | None = None  #: the executed notebook's ``metadata["mia_lib"]``, None without one
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)  #: the run's non-default values

    @property
    def stem(self) -> str:
        return self.notebook.stem

    def describe(self) -> str:
        """``up to date``, ``kept (run with -p n_shadow 256 on 2026-01-02 03:04 UTC)`` or ``stale: <reason>``."""
        if self.stale:
            return f"stale: {self.reason}"
        if self.changed:
            quick = "--quick " if (self.run or {}).get("quick") else ""
            values = {k: v for k, (v, _) in self.changed.items()}
            return f"kept (run with {quick}{flags(values)} on {finished_text(self.run or {})})"
        return "up to date"


def chapter_status(
    notebook: str | os.PathLike,
    root: str | os.PathLike = ".",
    *,
    defaults: dict[str, Any] | None = None,
    parameters: dict[str, Any] | None = None,
    quick: bool | None = False,
    library: str | os.PathLike | None = None,
    library_hash: str | None = None,
) -> ChapterStatus:
    """Whether chapter ``notebook`` (``ROOT/notebooks/<stem>.py``) must run again (module docstring, reasons 1-7).

    ``defaults``: the notebook's parameter defaults (:func:`mia_lib.book.params.notebook_parameters`; read from
    the source when None).  ``parameters``: the values a ``book -p`` asks for (only names the notebook has).
    ``quick``: the mode asked for (None: either).  ``library`` / ``library_hash``: the library folder to hash
    (default :func:`library_root`) or its hash already computed.
    """
    root = Path(root).resolve()
    nb_path = Path(notebook).resolve()
    source = f"notebooks/{nb_path.name}"
    meta = read_run(executed_path(nb_path, root))

    def stale(reason: str) -> ChapterStatus:
        return ChapterStatus(nb_path, True, reason, meta)

    if meta is None:
        return stale("no executed notebook (never run, or its last run failed)")
    recorded = meta.get("fingerprint")
    if not isinstance(recorded, dict):
        return stale("its executed notebook records no fingerprint (unreadable, or run by an older runner)")
    if recorded.get("source_sha256") != source_sha256(nb_path):
        return stale(f"{source} changed since its last run")
    if recorded.get("library_sha256") != (library_hash or library_sha256(library)):
        return stale("mia_lib changed since its last run")
    params = dict(meta.get("parameters") or {})
    was_quick = bool(meta.get("quick", params.get("quick", False)))
    if quick is not None and was_quick != bool(quick):
        return stale(
            "its last run was in quick mode; this is a full run"
            if was_quick
            else "its last run was a full run; this is a quick run (--quick)"
        )
    if defaults is None:
        from .params import notebook_parameters

        try:
            import jupytext

            defaults = notebook_parameters(jupytext.read(nb_path))
        except Exception:  # an unreadable source: its run will say why
            defaults = {}
    for key, wanted in (parameters or {}).items():
        if key == "quick":
            continue
        had = params.get(key, defaults.get(key))
        if not same_value(had, wanted):
            return stale(f"its last run had {key} = {had!r}, this run asks for {wanted!r}")
    if "inputs_sha256" in recorded and recorded["inputs_sha256"] != inputs_sha256(nb_path, root):
        return stale("the chapters whose results it reads changed since its last run")
    return ChapterStatus(nb_path, False, "", meta, changed_parameters(params, defaults))
