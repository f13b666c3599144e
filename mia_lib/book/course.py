"""The course path page: what each chapter's exercises hold and how long the chapters and their exercises ran.

Everything comes from the files of the build: a chapter's exercises are counted in ``notebooks/<stem>.py`` (each
starts with a ``**Exercise N.M`` line), their run time is the sum of papermill's per-cell durations between the
executed notebook's "## Exercises" and "## Summary" headings, and a chapter's wall time is the one the results
overview reads (:func:`mia_lib.book.overview.results_overview`).

Used in the course path page (``notebooks/90_course_path.py``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import overview, page_note, stale

#: The heading that opens a chapter's exercises and the one that closes them.
EXERCISES, SUMMARY = "## Exercises", "## Summary"
#: How a question begins in a chapter's source.
QUESTION = "# **Exercise "


@dataclass(frozen=True)
class ChapterCourse:
    """One chapter as the course path sees it."""

    stem: str
    doc: str  #: the page to link with {doc}
    n_exercises: int
    wall_time_s: float | None  #: the chapter's run in this build, None if it did not run
    exercise_s: float | None  #: the part of it spent in the exercise cells, None if it has no executed exercises
    mode: str | None  #: "quick", "default" or "default, -p ..." (None: not run)


def count_exercises(source: str) -> int:
    """Exercises in a chapter's percent-format source: lines starting with ``# **Exercise ``."""
    return sum(line.startswith(QUESTION) for line in source.splitlines())


def exercise_seconds(executed: str | os.PathLike) -> float | None:
    """Seconds papermill recorded for the code cells between the executed notebook's exercises and summary
    headings; None when the notebook is missing or has no exercises heading."""
    path = Path(executed)
    if not path.is_file():
        return None
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    heads = ["".join(c["source"]) if c["cell_type"] == "markdown" else "" for c in cells]
    start = next((i for i, h in enumerate(heads) if EXERCISES in h), None)
    if start is None:
        return None
    end = next((i for i, h in enumerate(heads) if i > start and SUMMARY in h), len(cells))
    durations = (
        c["metadata"].get("papermill", {}).get("duration") for c in cells[start:end] if c["cell_type"] == "code"
    )
    return float(sum(d or 0.0 for d in durations))


def chapters(root: str | os.PathLike = ".", exclude: tuple[str, ...] = ()) -> dict[str, ChapterCourse]:
    """Every chapter of the toc under ``root`` except ``exclude``, in toc order, with its exercises and run times."""
    root = Path(root)
    out = {}
    for ch in overview.results_overview(root, exclude=list(exclude)):
        source = root / "notebooks" / f"{ch.stem}.py"
        n = count_exercises(source.read_text(encoding="utf-8")) if source.is_file() else 0
        seconds = exercise_seconds(root / "_build" / "executed" / f"{ch.stem}.ipynb")
        out[ch.stem] = ChapterCourse(ch.stem, ch.doc, n, ch.wall_time_s, seconds, ch.mode)
    return out


def plan_seconds(course: dict[str, ChapterCourse], plans: dict[str, list[str]]) -> dict[str, float]:
    """{plan: total wall time of its chapters in this build} (a chapter that did not run counts 0)."""
    return {name: sum(course[s].wall_time_s or 0.0 for s in stems if s in course) for name, stems in plans.items()}


def table(course: dict[str, ChapterCourse], assumes: dict[str, str]) -> str:
    """The chapters as a MyST table: link, what it assumes, exercises, run time, of which exercises."""
    rows = [
        "| chapter | assumes | exercises | run time in this build | of which exercises |",
        "|:---|:---|---:|---:|---:|",
    ]
    for stem, ch in course.items():
        run = page_note.human_seconds(ch.wall_time_s) if ch.wall_time_s else "not run"
        extra = "" if ch.exercise_s is None else page_note.human_seconds(ch.exercise_s)
        rows.append(f"| {{doc}}`/{ch.doc}` | {assumes.get(stem, '')} | {ch.n_exercises} | {run} | {extra} |")
    return "\n".join(rows)


def build_mode(course: dict[str, ChapterCourse]) -> str:
    """How the chapters of this build ran, in words (for "they ran ...")."""
    modes = {ch.mode.split(",")[0] for ch in course.values() if ch.mode}
    if modes == {"quick"}:
        return "in quick mode (tiny data and pools: smoke-test times, far below a default run)"
    if modes == {"default"}:
        return "with their default parameters"
    return "in more than one mode (see each chapter's note)"


def hardware(root: str | os.PathLike, course: dict[str, ChapterCourse]) -> str:
    """The machine the first executed chapter ran on, in words ("unknown" when none ran)."""
    for stem in course:
        meta = stale.read_run(Path(root, "_build", "executed", f"{stem}.ipynb"))
        if meta:
            return page_note.hardware_text(meta)
    return "unknown"
