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


# ------------------------------------------------------------------------------------------ layout (issue 12)
def test_progress_only():
    """tqdm-like text (bars, time brackets, rates, bare counters) is progress; prose, numbers, mixed blocks are not."""
    for text in [
        " 12%|█▌        | 3/25 [00:01<00:07, 3.1it/s]",
        "shard 1/2:   0%|          | 0/25 [00:00<?, ?it/s]\r\x1b[A shard 1/2: 100%|██████████| 25/25 [00:08<00:00]\n",
        "shard 1/2:",
        "epoch 3/10",
        "4.20epoch/s",
        "training: 7it [00:02, 2.9it/s]\nscoring: 2.5s/it",
        "\r\n 50%|█████     | 1/2 [00:03<00:03, 3.02s/it]\r\n\r\n",
    ]:
        assert browser.progress_only(text), text
    for text in [
        "",
        " \n\n",
        "AUROC 0.61",
        "fold 1/5: AUROC 0.61",
        "done\n 12%|█▌        | 3/25 [00:01<00:07, 3.1it/s]",
        "<string>:3: UserWarning: the pool is small",
        "   attack  auroc\n0    loss   0.52\n1    lira   0.60",
    ]:
        assert not browser.progress_only(text), text


def test_judge_layout_rules_by_width():
    """The height budget and sideways scrolling fail a page at the reference width and are only noted below it;
    progress-only output fails at every width."""
    tall = dict(height_px=browser.MAX_PAGE_HEIGHT_PX + 1, wide_code=["x = 1  # ..."], code_columns=87)
    rep = browser.PageReport(page="p", file="p.html", width=browser.REFERENCE_WIDTH, **tall)
    browser._judge(rep)
    assert not rep.ok and len(rep.problems) == 2 and rep.notes == []
    assert "over the budget of 25,000 px" in rep.problems[0] and "shows 87 characters" in rep.problems[1]
    phone = browser.PageReport(page="p", file="p.html", width=390, **tall)
    browser._judge(phone)
    assert phone.ok and len(phone.notes) == 2
    bar = browser.PageReport(
        page="p", file="p.html", width=390, outputs=2, progress_outputs=1, progress_examples=["1%|"]
    )
    browser._judge(bar)
    assert not bar.ok and "1 of 2 output block(s) hold only progress-bar text" in bar.problems[0]
    fits = browser.PageReport(page="p", file="p.html", height_px=browser.MAX_PAGE_HEIGHT_PX, code_columns=87)
    browser._judge(fits)
    assert fits.ok
    assert browser.screenshot_folder(Path("s"), 1280) == Path("s") and browser.screenshot_folder(
        Path("s"), 390
    ) == Path("s/390")


def cell(source: str, *outputs: tuple[str, str]) -> str:
    """A code cell as MyST-NB renders it: input ``pre`` in ``.cell_input``, each ``(kind, text)`` output (``stream``,
    ``stderr``, ``text_plain``) as ``.cell_output .output``."""
    import html

    out = "".join(
        f'<div class="output {kind} highlight-myst-ansi notranslate"><div class="highlight"><pre><span></span>'
        f"{html.escape(text)}</pre></div></div>"
        for kind, text in outputs
    )
    return (
        '<div class="cell docutils container"><div class="cell_input docutils container">'
        '<div class="highlight-ipython3 notranslate"><div class="highlight"><pre><span></span>'
        f"{html.escape(source)}</pre></div></div></div>"
        + (f'<div class="cell_output docutils container">{out}</div>' if outputs else "")
        + "</div>"
    )


#: A code column of known width (600 px of text at most, 8 px paddings, monospace 16 px); scrolls like the theme's.
LAYOUT_CSS = (
    "<style>.cell_input pre { font: 16px monospace; max-width: 600px; padding: 8px; margin: 0; overflow-x: auto; }"
    ".cell_output pre { margin: 0; overflow-x: auto; }</style>"
)


def test_layout_checks_on_planted_pages(tmp_path):
    """A tall page, a page whose output is a progress bar and a page with a 200-character code line each fail at
    1280 px (and only the progress bar at 390 px); a good page passes; the code column's width in characters is
    measured; screenshots at 390 px go to screenshots/390/."""
    need_browser()
    root = tmp_path / "site"
    html = root / "_build" / "html"
    page = ("<html><head>" + LAYOUT_CSS + "</head><body>BODY</body></html>").replace
    write(
        html / "good.html",
        page(
            "BODY",
            "<p>Prose.</p>"
            + cell("pool = load_or_train(cfg)\nscores = lira(pool)", ("stream", "AUROC 0.61 (3/25 models)\n"))
            + cell("x = 1", ("stderr", "<string>:1: UserWarning: shown on purpose\n"), ("text_plain", "1")),
        ),
    )
    write(html / "tall.html", page("BODY", f'<div style="height: {browser.MAX_PAGE_HEIGHT_PX + 1000}px">tall</div>'))
    bars = [
        "shard 1/2:   0%|          | 0/25 [00:00<?, ?it/s]",
        "\r 12%|█▌        | 3/25 [00:01<00:07, 3.1it/s]",
        "shard 2/2:",
        "4.20epoch/s",
    ]
    write(
        html / "progress.html",
        page("BODY", cell("pool = load_or_train(cfg)", *[("stderr", b) for b in bars], ("stream", "done\n"))),
    )
    long_line = "scores = attacks.lira.offline(" + ", ".join(f"arg{i}=value{i}" for i in range(20)) + ")"
    long_line = long_line[:199] + ")"
    assert len(long_line) == 200
    write(html / "wide.html", page("BODY", cell("x = 1") + cell(f"# the long one\n{long_line}") + cell("y = 2")))

    report_path = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "mia_lib.book.browser", str(html), "--json", str(report_path)]
        + ["--width", "1280", "--width", "390"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert report_path.is_file(), proc.stdout + proc.stderr
    report = json.loads(report_path.read_text())
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "4 passed, 4 failed" in proc.stdout, proc.stdout
    assert report["width"] == 1280 and report["max_height_px"] == browser.MAX_PAGE_HEIGHT_PX
    pages = {p["page"]: p for p in report["pages"]}
    assert set(pages) == {"good", "tall", "progress", "wide"}

    good = pages["good"]
    assert good["ok"] and good["problems"] == [] and good["notes"] == [], good
    assert good["width"] == 1280 and 0 < good["height_px"] < 2000
    assert (good["outputs"], good["progress_outputs"], good["code_cells"], good["wide_code"]) == (3, 0, 2, [])
    assert 5 < good["char_width_px"] < 15 and good["code_width_px"] == 600
    assert good["code_columns"] == int(600 / good["char_width_px"] + 1e-6)
    assert report["code_columns"] == good["code_columns"]
    assert f"code column: {good['code_columns']} characters at 1280 px" in proc.stdout

    tall = pages["tall"]
    assert not tall["ok"] and tall["height_px"] >= browser.MAX_PAGE_HEIGHT_PX + 1000
    assert tall["code_columns"] is None
    assert tall["problems"] == [
        f"the page is {tall['height_px']:,} px tall at 1280 px, over the budget of {browser.MAX_PAGE_HEIGHT_PX:,} px"
    ]

    progress = pages["progress"]
    assert not progress["ok"] and (progress["outputs"], progress["progress_outputs"]) == (5, 4)
    assert progress["progress_examples"][:2] == ["shard 1/2:   0%|          | 0/25 [00:00<?, ?it/s]", bars[1].strip()]
    assert (
        len(progress["problems"]) == 1
        and "4 of 5 output block(s) hold only progress-bar text" in progress["problems"][0]
    )

    wide = pages["wide"]
    assert not wide["ok"] and wide["code_cells"] == 3
    assert wide["wide_code"] == ["# the long one (longest line 200 characters)"]
    assert len(wide["problems"]) == 1 and "1 code cell(s) scroll sideways at 1280 px" in wide["problems"][0]
    assert f"shows {wide['code_columns']} characters" in wide["problems"][0]

    (phone,) = report["other_widths"]
    assert phone["width"] == 390 and phone["screenshots"] == str(root.resolve() / "_build" / "screenshots" / "390")
    at390 = {p["page"]: p for p in phone["pages"]}
    assert {name for name, p in at390.items() if not p["ok"]} == {"progress"}
    assert at390["wide"]["wide_code"] == wide["wide_code"] and len(at390["wide"]["notes"]) == 1
    assert at390["tall"]["height_px"] > browser.MAX_PAGE_HEIGHT_PX and len(at390["tall"]["notes"]) == 1
    assert "(reported, not judged at 390 px)" in proc.stdout
    for name in pages:
        assert png_size(root / "_build" / "screenshots" / f"{name}.png")[0] == 1280
        assert png_size(root / "_build" / "screenshots" / "390" / f"{name}.png")[0] == 390
