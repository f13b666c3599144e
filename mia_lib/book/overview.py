"""The results overview: the headline numbers of every chapter's ``results/<stem>.json``, in toc order, as one
MyST table, for ``notebooks/99_results_overview.py``, the book's last chapter."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .layout import EXECUTED_DIR, toc_documents
from .page_note import human_seconds
from .params import quote_value

__all__ = ["ChapterResults", "results_overview", "format_value", "results_markdown"]


@dataclass
class ChapterResults:
    """Headline numbers of one executed chapter, for :func:`results_markdown`."""

    stem: str  #: notebook stem, e.g. ``01_lira_and_memorization``
    doc: str  #: toc document, e.g. ``_build/executed/01_lira_and_memorization``
    numbers: list[tuple[str, Any]]  #: (key, value) of the first scalar entries of ``results/<stem>.json``
    n_more: int  #: scalar entries left out of ``numbers``
    has_results: bool  #: whether ``results/<stem>.json`` exists
    mode: str | None  #: ``default``, ``quick`` or ``custom: -p ...`` (from the executed notebook), None if unknown
    wall_time_s: float | None  #: the run's wall time, None if unknown


_BOOKKEEPING = {"config", "quick", "seed", "cwd"}


def _is_headline(key: str, value: Any) -> bool:
    if key in _BOOKKEEPING or "seconds" in key:
        return False
    if isinstance(value, str):
        return len(value) <= 80
    return isinstance(value, (bool, int, float))


def results_overview(
    root: str | os.PathLike = ".", *, exclude: Iterable[str] = (), max_per_chapter: int = 8
) -> list[ChapterResults]:
    """Headline numbers of every executed chapter of ``ROOT/_toc.yml``, in toc order.

    For each toc entry ``_build/executed/<stem>`` (except stems in ``exclude``), the first ``max_per_chapter``
    top-level entries of ``results/<stem>.json`` that are numbers, booleans or short strings, in the order the
    chapter saved them (bookkeeping such as ``config``, ``quick``, ``seed`` and ``*seconds*`` is left out), plus
    how the chapter was run, read from ``_build/executed/<stem>.ipynb``'s ``metadata["mia_lib"]``.
    """
    import json

    root = Path(root).resolve()
    prefix = EXECUTED_DIR.as_posix() + "/"
    skip = set(exclude)
    chapters: list[ChapterResults] = []
    for doc in toc_documents(root):
        if not doc.startswith(prefix) or doc[len(prefix) :] in skip:
            continue
        stem = doc[len(prefix) :]
        path = root / "results" / f"{stem}.json"
        results = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        scalars = [(k, v) for k, v in (results or {}).items() if _is_headline(k, v)]
        mode, wall = None, None
        executed = root / EXECUTED_DIR / f"{stem}.ipynb"
        if executed.is_file():
            meta = json.loads(executed.read_text(encoding="utf-8")).get("metadata", {}).get("mia_lib", {})
            params = dict(meta.get("parameters") or {})
            others = {k: v for k, v in params.items() if k != "quick"}
            mode = "quick" if params.get("quick") else "default"
            if others:
                mode += ", " + " ".join(f"-p {k} {quote_value(v)}" for k, v in others.items())
            wall = meta.get("wall_time_s")
        chapters.append(
            ChapterResults(
                stem,
                doc,
                scalars[:max_per_chapter],
                max(0, len(scalars) - max_per_chapter),
                results is not None,
                mode,
                wall,
            )
        )
    return chapters


def format_value(value: Any) -> str:
    """A results value for a table: ``yes``/``no``, ``1,797``, three significant digits (``0.59``,
    ``0.000974``, ``23``), thousands without decimals, ``n/a`` for NaN."""
    import math

    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def results_markdown(chapters: Sequence[ChapterResults]) -> str:
    """One MyST table of every chapter's headline numbers (:func:`results_overview`): columns chapter (a
    ``{doc}`` link, so a missing chapter fails the strict build), run (mode and wall time), result (the key in
    ``results/<stem>.json``) and value."""
    rows = ["| chapter | run | result | value |", "|:---|:---|:---|---:|"]
    for ch in chapters:
        link = f"{{doc}}`/{ch.doc}`"
        run = ch.mode or "not run"
        if ch.wall_time_s is not None:
            run += f", {human_seconds(float(ch.wall_time_s))}"
        entries = [(f"`{k}`" if "`" not in k else k, format_value(v)) for k, v in ch.numbers]
        if ch.n_more:
            entries.append((f"... {ch.n_more} more in `results/{ch.stem}.json`", ""))
        if not ch.has_results:
            entries = [(f"no `results/{ch.stem}.json`", "")]
        elif not entries:
            entries = [(f"no scalar entries in `results/{ch.stem}.json`", "")]
        for i, (key, value) in enumerate(entries):
            first = i == 0
            rows.append(f"| {link if first else ''} | {_cell(run) if first else ''} | {_cell(key)} | {_cell(value)} |")
    return "\n".join(rows)
