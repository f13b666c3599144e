"""Results files (``results/<stem>.json``, mia_lib.book.report.save_results) are strict JSON: NaN is ``null``, ±∞
are the strings ``"inf"`` / ``"-inf"``, and load_results reads the infinities back as floats."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from mia_lib.book import report
from mia_lib.metrics import Interval


def strict_loads(text: str):
    """``json.loads`` that rejects what strict JSON (RFC 8259, ``JSON.parse``, ``jq``) rejects: NaN and ±Infinity."""

    def reject(name: str):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=reject)


def test_strict_loads_rejects_what_python_json_writes_by_default():
    with pytest.raises(ValueError, match="NaN"):
        strict_loads(json.dumps({"x": float("nan")}))
    with pytest.raises(ValueError, match="Infinity"):
        strict_loads(json.dumps([float("-inf")]))


def test_save_results_writes_strict_json_that_round_trips(tmp_path):
    planted = {
        "nan": float("nan"),
        "pos_inf": float("inf"),
        "neg_inf": -math.inf,
        "np_nan": np.float64("nan"),
        "np_inf": np.float32("inf"),
        "np_int": np.int64(7),
        "np_bool": np.bool_(False),
        "finite": np.float64(0.25),
        "interval": Interval(0.6, float("nan"), float("inf")),
        "array": np.array([1.0, np.nan, -np.inf]),
        "nested": {"k95": {"all": float("inf"), "memorized": 4}, "list": [float("nan"), (1, -math.inf)]},
        math.inf: "a key that is inf",
        "none": None,
    }
    path = report.save_results("05_planted", planted, root=tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    raw = strict_loads(text)
    assert raw["nan"] is None and raw["np_nan"] is None
    assert raw["pos_inf"] == report.POS_INF == "inf" and raw["neg_inf"] == report.NEG_INF == "-inf"
    assert raw["np_inf"] == "inf" and raw["interval"] == [0.6, None, "inf"] and raw["array"] == [1.0, None, "-inf"]
    assert raw["inf"] == "a key that is inf"  # a float key became the string "inf"
    assert raw["np_int"] == 7 and raw["np_bool"] is False and raw["finite"] == 0.25

    loaded = report.load_results("05_planted", root=tmp_path)
    assert loaded["pos_inf"] == math.inf and loaded["neg_inf"] == -math.inf and loaded["np_inf"] == math.inf
    assert loaded["inf"] == "a key that is inf" and loaded["np_int"] == 7 and loaded["np_bool"] is False
    assert loaded["nan"] is None and loaded["interval"] == [0.6, None, math.inf]
    assert loaded["nested"] == {"k95": {"all": math.inf, "memorized": 4}, "list": [None, [1, -math.inf]]}
    assert loaded["array"] == [1.0, None, -math.inf] and loaded["none"] is None
    assert list(loaded) == list(raw)  # keys are read back as written (the key "inf" stays a string)


def test_to_strict_json_leaves_keys_and_finite_values_alone():
    value = {"inf": [1, 2.5, "text", True, None, {"-inf": float("-inf")}]}
    assert report.to_strict_json(value) == {"inf": [1, 2.5, "text", True, None, {"-inf": "-inf"}]}
    assert report.from_strict_json(report.to_strict_json(value)) == {
        "inf": [1, 2.5, "text", True, None, {"-inf": -math.inf}]
    }


def test_load_results_still_reads_old_files_with_nan(tmp_path):
    path = tmp_path / "results" / "01_old.json"
    path.parent.mkdir()
    path.write_text('{"x": NaN, "y": Infinity}')
    loaded = report.load_results("01_old", root=tmp_path)
    assert math.isnan(loaded["x"]) and loaded["y"] == math.inf


@pytest.mark.slow
def test_quick_book_results_files_are_strict_json(quick_book):
    """Every ``results/*.json`` of the session's quick book parses with a strict parser: chapter 04 (the fastest)
    is run for it when no test has run it yet; any other chapter that ran this session is checked too."""
    run = quick_book.chapter("04_theory_bounds")
    assert run.ok, run.output[-3000:]
    files = sorted(Path(quick_book.root, "results").glob("*.json"))
    assert "04_theory_bounds.json" in [f.name for f in files]
    for path in files:
        text = path.read_text(encoding="utf-8")
        try:
            strict_loads(text)
        except ValueError as exc:
            pytest.fail(f"{path.name} is not strict JSON: {exc}")
        assert report.load_results(path.stem, root=quick_book.root) is not None
