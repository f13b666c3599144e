"""The results overview: the headline numbers of every chapter's ``results/<stem>.json``, in toc order, as one
MyST table, for ``notebooks/99_results_overview.py``, the book's last chapter.  A chapter run with values other
than its defaults is marked in the table's *run* column (``custom:`` and the values, with their defaults).

Results files are strict JSON (:mod:`mia_lib.book.report`): a NaN is ``null`` and shows as ``n/a``, ±∞ are the
strings ``"inf"`` / ``"-inf"`` and show as ``∞`` / ``−∞``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from .layout import EXECUTED_DIR, toc_documents
from .page_note import human_seconds
from .params import changed_parameters, describe_changes, flags
from .report import NEG_INF, POS_INF, from_strict_json

__all__ = ["ChapterResults", "results_overview", "format_value", "results_markdown"]


@dataclass
class ChapterResults:
    """Headline numbers of one executed chapter, for :func:`results_markdown`."""

    stem: str  #: notebook stem, e.g. ``01_lira_and_memorization``
    doc: str  #: toc document, e.g. ``_build/executed/01_lira_and_memorization``
    numbers: list[tuple[str, Any]]  #: (key, value) of the first scalar entries of ``results/<stem>.json``
    n_more: int  #: scalar entries left out of ``numbers``
    has_results: bool  #: whether ``results/<stem>.json`` exists
    #: ``default`` or ``quick``, then ``, -p KEY VALUE ...`` for the values that are not the defaults (from the
    #: executed notebook), None if unknown
    mode: str | None
    wall_time_s: float | None  #: the run's wall time, None if unknown
    #: the run's values that are not the notebook's defaults: ``{name: (value, default)}``
    #: (:func:`mia_lib.book.params.changed_parameters`)
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    #: the chapter's own headline numbers in words (``results["headline"]``, from :func:`mia_lib.book.report.headline`)
    headline: list[dict] = field(default_factory=list)


_BOOKKEEPING = {"config", "quick", "seed", "cwd"}


def _is_headline(key: str, value: Any) -> bool:
    if key in _BOOKKEEPING or "seconds" in key:
        return False
    if isinstance(value, str):
        return len(value) <= 80
    return value is None or isinstance(value, (bool, int, float))  # None: a NaN in strict JSON


def results_overview(
    root: str | os.PathLike = ".", *, exclude: Iterable[str] = (), max_per_chapter: int = 8
) -> list[ChapterResults]:
    """Headline numbers of every executed chapter of ``ROOT/_toc.yml``, in toc order.

    For each toc entry ``_build/executed/<stem>`` (except stems in ``exclude``), the first ``max_per_chapter``
    top-level entries of ``results/<stem>.json`` that are numbers, booleans or short strings, in the order the
    chapter saved them (bookkeeping such as ``config``, ``quick``, ``seed`` and ``*seconds*`` is left out), plus
    how the chapter was run, read from ``_build/executed/<stem>.ipynb``'s ``metadata["mia_lib"]``: quick mode and
    the values that differ from the notebook's defaults (recorded with the run; every ``-p`` value of a run
    recorded without them).
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
        results = from_strict_json(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None
        scalars = [(k, v) for k, v in (results or {}).items() if _is_headline(k, v)]
        mode, wall, changed = None, None, {}
        executed = root / EXECUTED_DIR / f"{stem}.ipynb"
        if executed.is_file():
            meta = json.loads(executed.read_text(encoding="utf-8")).get("metadata", {}).get("mia_lib", {})
            params = dict(meta.get("parameters") or {})
            defaults = meta.get("defaults")
            changed = changed_parameters(params, defaults if isinstance(defaults, dict) else None)
            mode = "quick" if params.get("quick") else "default"
            if changed:
                mode += ", " + flags({k: v for k, (v, _) in changed.items()})
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
                changed,
                list((results or {}).get("headline") or []),
            )
        )
    return chapters


def format_value(value: Any) -> str:
    """A results value for a table: ``yes``/``no``, ``1,797``, three significant digits (``0.59``,
    ``0.000974``, ``23``), thousands without decimals, ``n/a`` for NaN and ``None`` (a NaN in a results file), ``∞``
    / ``−∞`` for infinities, also as written in a results file (``"inf"`` / ``"-inf"``)."""
    import math

    if value is None:
        return "n/a"
    if isinstance(value, str) and value in (POS_INF, NEG_INF):
        value = float(value)

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
    ``{doc}`` link, so a missing chapter fails the strict build), run (``default`` or ``quick``, then, for a run
    with values other than the defaults, ``**custom:** `n_shadow = 64` (default `128`)``, then the wall time),
    result (the chapter's headline numbers in words, with the section that explains them, or else the key in
    ``results/<stem>.json``) and value (with its 95% interval where the chapter gave one)."""
    rows = ["| chapter | run | result | value |", "|:---|:---|:---|---:|"]
    for ch in chapters:
        link = f"{{doc}}`/{ch.doc}`"
        run = ch.mode or "not run"
        if ch.changed:
            run = f"{run.split(',')[0]}, **custom:** {describe_changes(ch.changed)}"
        if ch.wall_time_s is not None:
            run += f", {human_seconds(float(ch.wall_time_s))}"
        entries = [(f"`{k}`" if "`" not in k else k, format_value(v)) for k, v in ch.numbers]
        if ch.headline:
            entries = [
                (h["label"] + (f" ({h['section']})" if h.get("section") else ""), h["text"]) for h in ch.headline
            ]
        elif ch.n_more:
            entries.append((f"... {ch.n_more} more in `results/{ch.stem}.json`", ""))
        if not ch.has_results:
            entries = [(f"no `results/{ch.stem}.json`", "")]
        elif not entries:
            entries = [(f"no scalar entries in `results/{ch.stem}.json`", "")]
        for i, (key, value) in enumerate(entries):
            first = i == 0
            rows.append(f"| {link if first else ''} | {_cell(run) if first else ''} | {_cell(key)} | {_cell(value)} |")
    return "\n".join(rows)
