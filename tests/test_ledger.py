"""The claims ledger collects every chapter's claims in toc order and writes them as a strict-JSON list."""

import json
import math

from mia_lib import claims
from mia_lib.book import ledger, report
from mia_lib.metrics import Interval


def _toy_root(tmp_path):
    (tmp_path / "notebooks").mkdir()
    for stem in ("01_a", "02_b", "98_claims"):
        (tmp_path / "notebooks" / f"{stem}.py").write_text("# %%\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n"
        + "".join(f"  - file: _build/executed/{s}\n" for s in ("01_a", "02_b", "98_claims"))
    )
    yes = claims.greater(Interval(0.2, 0.1, 0.3), "Δ AUROC")
    unsure = claims.equivalent(Interval(0.0, -0.5, math.inf), 0.05, "Δ")
    report.save_results("02_b", {"claims": [claims.record("B holds", "Paper §2", yes, "toy", "02_b")]}, tmp_path)
    report.save_results("01_a", {"claims": [claims.record("A | holds", "Paper §1", unsure, "toy", "01_a")]}, tmp_path)
    return tmp_path


def test_collect_in_reading_order_and_count(tmp_path):
    root = _toy_root(tmp_path)
    rows = ledger.collect(root, exclude=["98_claims"])
    assert [r["claim"] for r in rows] == ["A | holds", "B holds"]
    assert ledger.counts(rows) == {"supported": 1, "not supported": 0, "inconclusive": 1}
    table = ledger.markdown(rows)
    assert "A \\| holds" in table and "**supported**" in table and "{doc}`02 <02_b>`" in table


def test_write_is_a_strict_json_list(tmp_path):
    root = _toy_root(tmp_path)
    path = ledger.write(ledger.collect(root), root)

    def reject(constant):
        raise ValueError(f"not strict JSON: {constant}")

    saved = json.loads(path.read_text(), parse_constant=reject)
    assert isinstance(saved, list) and len(saved) == 2
    assert {"claim", "source", "verdict", "statistic", "value", "ci", "chapter"} <= set(saved[0])
    assert saved[0]["ci"][1] == "inf" and saved[1]["verdict"] == "supported"
