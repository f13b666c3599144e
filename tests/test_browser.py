"""The book in a real browser: headless Chromium opens the pages from disk with the network off.

The checker (``python -m mia_lib.book.browser``) is first run on planted pages, so that every check is seen to fail
when it should; then on the quick-mode book built once per session by ``tests/conftest.py``: the intro, every
chapter and the results overview must load without console errors, with every figure decoded, all math typeset
by the book's own MathJax, every glued number present, and a screenshot each under ``<root>/_build/screenshots/``.

Without Chromium (Debian's ``chromium``) or Playwright these tests are skipped and say so, except when
``MIA_REQUIRE_BROWSER=1`` (set by ``.ci/run``): then they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mia_lib.book import browser, layout

REQUIRE = os.environ.get("MIA_REQUIRE_BROWSER") == "1"


def need_browser() -> str:
    """The Chromium to use; skip (or fail under MIA_REQUIRE_BROWSER=1) when it or Playwright is missing."""
    problems = []
    exe = browser.find_chromium()
    if exe is None:
        problems.append("no Chromium found (apt-get install -y chromium, or set MIA_CHROMIUM=/path/to/chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the Python package playwright is not installed (pip install -r requirements.txt)")
    if problems:
        message = "; ".join(problems)
        if REQUIRE:
            pytest.fail(f"MIA_REQUIRE_BROWSER=1 but {message}")
        pytest.skip(f"browser test skipped: {message}")
    return exe


def run_checker(html: Path, root: Path, report: Path) -> tuple[subprocess.CompletedProcess, dict]:
    """``python -m mia_lib.book.browser HTML --root ROOT --json REPORT`` in a fresh interpreter (in a network
    namespace when ``unshare -n`` works, as a user would run it)."""
    proc = subprocess.run(
        [sys.executable, "-m", "mia_lib.book.browser", str(html), "--root", str(root), "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report.is_file(), f"no report written (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc, json.loads(report.read_text())


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails on anything that is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def mathjax_source() -> Path:
    """The MathJax 3 folder shipped by the sphinx-mathjax-offline package (what the book copies to _static)."""
    import importlib

    return Path(importlib.import_module("sphinx-mathjax-offline").__file__).parent / "static" / "mathjax"


def test_checker_on_planted_pages(tmp_path):
    need_browser()
    import matplotlib.pyplot as plt
    import numpy as np

    root = tmp_path / "site"
    html = root / "_build" / "html"
    shutil.copytree(mathjax_source(), html / "_static" / "mathjax")
    plt.imsave(html / "dot.png", np.linspace(0, 1, 12).reshape(3, 4))
    plt.imsave(root / "outside.png", np.ones((2, 2)))
    mathjax = (
        '<script>window.MathJax = {"options": {"ignoreHtmlClass": "tex2jax_ignore"}}</script>'
        '<script defer src="_static/mathjax/tex-chtml.js"></script>'
    )
    write(
        html / "good.html",
        f"""\
        <html><head>{mathjax}</head><body>
        <p>Inline <span class="math notranslate nohighlight">\\(\\phi = \\log \\frac{{p_y}}{{1 - p_y}}\\)</span>.</p>
        <div class="math notranslate nohighlight">\\[\\mathrm{{Adv}} = \\Pr[\\hat b = 1 \\mid b = 1]
        - \\Pr[\\hat b = 1 \\mid b = 0]\\]</div>
        <figure id="fig-dot"><img src="dot.png"><figcaption>A dot.</figcaption></figure>
        <p>The AUROC is <span class="pasted-text">0.590</span>.</p>
        <pre>code may say $$ and \\( freely</pre>
        </body></html>
        """,
    )
    write(
        html / "bad.html",
        f"""\
        <html><head>{mathjax}
        <script src="https://cdn.example.invalid/lib.js"></script>
        <script>console.error("planted console error");</script>
        <script>throw new Error("planted exception");</script>
        </head><body>
        <figure id="fig-missing"><img src="missing.png"></figure>
        <img src="../../outside.png">
        <p class="tex2jax_ignore">Raw display math $$x^2$$ that dollarmath did not parse (and MathJax skips).</p>
        <span class="math notranslate nohighlight tex2jax_ignore">\\(y\\)</span>
        <span class="math notranslate nohighlight">\\(\\frac{{1}}\\)</span>
        <p>An empty glue <span class="pasted-text"></span> and a leftover {{glue:text}}`auroc` role.</p>
        </body></html>
        """,
    )
    proc, report = run_checker(html, root, tmp_path / "report.json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 passed, 1 failed" in proc.stdout
    pages = {p["page"]: p for p in report["pages"]}
    assert set(pages) == {"good", "bad"}

    good = pages["good"]
    assert good["ok"] and good["problems"] == [], good["problems"]
    assert (good["math"], good["math_typeset"], good["mathjax_containers"]) == (2, 2, 2)
    assert (good["images"], good["broken_images"], good["figures"], good["figures_without_image"]) == (1, [], 1, [])
    assert (good["glue"], good["empty_glue"]) == (1, 0)
    assert good["console_errors"] == good["page_errors"] == good["blocked_requests"] == []

    bad = pages["bad"]
    assert not bad["ok"]
    assert any("planted console error" in e for e in bad["console_errors"])
    assert any("planted exception" in e for e in bad["page_errors"])
    assert bad["blocked_requests"] == ["https://cdn.example.invalid/lib.js"]
    assert len(bad["outside_requests"]) == 1 and bad["outside_requests"][0].endswith("/site/outside.png")
    assert any("missing.png" in f for f in bad["failed_requests"])
    assert bad["broken_images"] == ["missing.png"] and bad["figures_without_image"] == ["fig-missing"]
    assert (bad["math"], bad["math_typeset"]) == (2, 1) and len(bad["math_errors"]) == 1
    assert any("$$x^2$$" in r for r in bad["raw_math"]) and any("\\(y\\)" in r for r in bad["raw_math"])
    assert (bad["glue"], bad["empty_glue"]) == (1, 1) and len(bad["glue_markup"]) == 1
    assert len(bad["problems"]) == 12, bad["problems"]  # one per kind of check

    for name in ("good.png", "bad.png"):
        width, height = png_size(root / "_build" / "screenshots" / name)
        assert width == 1280 and height >= 900


@pytest.mark.slow
def test_quick_book_in_chromium(quick_book, tmp_path):
    """Intro, every chapter and the results overview of the quick book, opened offline in headless Chromium."""
    need_browser()
    quick_book.require_success()
    root = quick_book.root
    proc, report = run_checker(quick_book.html, root, tmp_path / "report.json")
    print(proc.stdout)
    docs = layout.toc_documents(root)
    pages = report["pages"]
    assert [p["page"] for p in pages] == docs
    failures = {p["page"]: p["problems"] for p in pages if not p["ok"]}
    assert not failures, f"pages failed in Chromium: {failures}\n{proc.stdout}"
    assert proc.returncode == 0
    if shutil.which("unshare") and browser.netns_prefix():
        assert report["netns"], "unshare -n works here, so the check must have run without a network"

    # non-vacuous: the book has figures, math and glued numbers, and they were all seen rendered
    chapters = [p for p in pages if p["page"].startswith("_build/executed/")]
    assert sum(p["figures"] for p in pages) >= 1 and all(p["figures_without_image"] == [] for p in pages)
    assert sum(p["math_typeset"] for p in pages) >= 1 and sum(p["mathjax_containers"] for p in pages) >= 1
    assert all(p["glue"] >= 3 for p in chapters), "every chapter glues at least its run info (wall time, ...)"
    for p in pages:
        assert p["screenshot"] == str(root.resolve() / "_build" / "screenshots" / browser.screenshot_name(p["page"]))
        width, height = png_size(Path(p["screenshot"]))
        assert width == 1280 and height >= 900
