"""The claims ledger: every claim the book tests, collected from the chapters' results files (each chapter saves
its :func:`mia_lib.claims.record` rows under ``"claims"``), as one table for the ledger page and one strict-JSON
file, ``results/claims.json``, a list of objects with ``claim``, ``source``, ``verdict``, ``statistic``, ``value``,
``ci``, ``margin``, ``n``, ``setting`` and ``chapter``."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Sequence

from . import layout, report

__all__ = ["collect", "counts", "markdown", "summary_markdown", "write"]

#: Verdicts in the order the ledger lists them.
ORDER = ("supported", "not supported", "inconclusive")


def collect(root: str | os.PathLike = ".", exclude: Sequence[str] = ()) -> list[dict]:
    """The ``"claims"`` rows of every toc chapter's ``results/<stem>.json``, in reading order (chapters without
    results or without claims contribute nothing).

    Returns:
        list of dicts (as saved: ``value`` and CI bounds may be None where a statistic was undefined).
    """
    rows = []
    for nb in layout.toc_notebooks(root):
        if nb.stem in exclude or not report.results_path(nb.stem, root).is_file():
            continue
        for row in report.load_results(nb.stem, root).get("claims", []):
            rows.append({**row, "chapter": row.get("chapter", nb.stem)})
    return rows


def counts(rows: Sequence[dict]) -> dict[str, int]:
    """{verdict: number of claims} for the three verdicts, in :data:`ORDER`."""
    c = Counter(r["verdict"] for r in rows)
    return {v: c.get(v, 0) for v in ORDER}


def _number(value) -> str:
    return "–" if value is None or value != value else f"{value:.3g}"


def markdown(rows: Sequence[dict]) -> str:
    """A MyST table: claim, verdict (bold), the statistic with its value and 95% interval, the setting, the source
    and a ``{doc}`` link to the chapter that tested it."""
    head = "| claim | verdict | statistic: value [95% CI] | setting | source | chapter |\n|---|---|---|---|---|---|"
    lines = [head]
    for r in rows:
        lo, hi = (r.get("ci") or [None, None])[:2]
        stat = f"{r['statistic']}: {_number(r.get('value'))} [{_number(lo)}, {_number(hi)}]"
        if r.get("margin") not in (None, 0, 0.0):
            stat += f" (against {_number(r['margin'])})"
        cells = [
            r["claim"],
            f"**{r['verdict']}**",
            stat,
            r.get("setting", ""),
            r.get("source", ""),
            f"{{doc}}`{r['chapter'][:2]} <{r['chapter']}>`",
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def summary_markdown(rows: Sequence[dict]) -> str:
    """A short MyST table for the results page: each claim, its verdict and a link to the chapter that tested
    it (the ledger page has the statistics)."""
    lines = ["| claim | verdict | tested in |", "|---|---|---|"]
    for r in rows:
        cells = [r["claim"], f"**{r['verdict']}**", f"{{doc}}`{r['chapter'][:2]} <{r['chapter']}>`"]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def write(rows: Sequence[dict], root: str | os.PathLike = ".") -> Path:
    """Write ``rows`` to ``ROOT/results/claims.json`` as a strict-JSON list (NaN → null, ±∞ → "inf"/"-inf"),
    atomically. Returns the path."""
    return report.write_strict_json(report.results_path("claims", root), list(rows))
