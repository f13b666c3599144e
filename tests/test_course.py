"""The course path's arithmetic (mia_lib.book.course) on small planted notebooks."""

import json

import pytest

from mia_lib.book import course


def _nb(cells):
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _md(text):
    return {"cell_type": "markdown", "metadata": {}, "source": [text]}


def _code(seconds):
    return {"cell_type": "code", "metadata": {"papermill": {"duration": seconds}}, "source": ["x = 1"]}


def test_count_exercises_counts_question_lines_only():
    source = "# **Exercise 1.1 (a).** text\n# see **Exercise 1.1** above\n# **Exercise 1.2 (b).** more\nx = 1\n"
    assert course.count_exercises(source) == 2
    assert course.count_exercises("# ## Summary\n") == 0


def test_exercise_seconds_sums_the_cells_between_the_headings(tmp_path):
    path = tmp_path / "ch.ipynb"
    cells = [_code(100.0), _md("## Exercises\n"), _code(1.5), _md("text"), _code(2.25), _md("## Summary"), _code(7.0)]
    path.write_text(json.dumps(_nb(cells)))
    assert course.exercise_seconds(path) == pytest.approx(3.75)


def test_exercise_seconds_without_heading_or_file(tmp_path):
    path = tmp_path / "ch.ipynb"
    path.write_text(json.dumps(_nb([_code(3.0), _md("## Summary")])))
    assert course.exercise_seconds(path) is None
    assert course.exercise_seconds(tmp_path / "missing.ipynb") is None
    no_summary = tmp_path / "open.ipynb"
    no_summary.write_text(json.dumps(_nb([_md("## Exercises"), _code(2.0), _code(None)])))
    assert course.exercise_seconds(no_summary) == pytest.approx(2.0)


def _chapter(stem, wall, mode="default", n=2, ex=1.0):
    return course.ChapterCourse(stem, f"_build/executed/{stem}", n, wall, ex, mode)


def test_plans_tables_and_modes():
    chapters = {"01_a": _chapter("01_a", 60.0), "02_b": _chapter("02_b", None, mode=None, ex=None)}
    assert course.plan_seconds(chapters, {"lab": ["01_a"], "all": ["01_a", "02_b", "09_gone"]}) == {
        "lab": 60.0,
        "all": 60.0,
    }
    table = course.table(chapters, {"01_a": "Python"}).splitlines()
    assert len(table) == 4 and "{doc}`/_build/executed/01_a`" in table[2] and "| Python | 2 |" in table[2]
    assert "not run" in table[3]
    assert course.build_mode(chapters) == "with their default parameters"
    chapters["02_b"] = _chapter("02_b", 5.0, mode="quick")
    assert course.build_mode(chapters).startswith("in more than one mode")
