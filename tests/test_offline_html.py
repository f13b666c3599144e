"""The built book reads offline: no page fetches a script, style, font or image from outside the book folder;
MathJax is served from the book itself; every chapter carries its re-run note and its download links.

The scanner is tested on planted references first (so that it can fail), then run on the quick-mode book that
``tests/conftest.py`` builds once per session.
"""

from __future__ import annotations

import html as htmllib
import json
import re
import textwrap
from pathlib import Path

import pytest

from mia_lib.book import layout, offline, overview, page_note, sphinx_ext

TAG = re.compile(r"<[^>]+>")


def page_text(html: str) -> str:
    """Visible-ish text of a page: tags stripped, entities decoded, whitespace collapsed."""
    return " ".join(htmllib.unescape(TAG.sub(" ", html)).split())


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------ planted references
def test_scanner_flags_every_planted_external_reference(tmp_path):
    site = tmp_path / "html"
    write(
        site / "_static" / "local.css",
        """\
        /* url(https://in-a-comment.example/x.woff2) is not a reference */
        @font-face { src: url("fonts/ok.woff2") format("woff2"), url(https://fonts.example/f.woff2); }
        .logo { background: url(data:image/png;base64,AAAA); }
        """,
    )
    write(site / "_static" / "remote-import.css", '@import "https://cdn.example/theme.css";\n')
    write(site / "_static" / "template.html", '<script src="https://ignored.example/x.js"></script>')  # not a page
    write(
        site / "sub" / "page.html",
        """\
        <html><head>
        <script src="https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"></script>
        <script src="../_static/ok.js"></script>
        <link rel="stylesheet" href="//fonts.googleapis.com/css?family=Roboto">
        <link rel="stylesheet" href="../_static/local.css?v=1">
        <link rel="stylesheet" href="../_static/remote-import.css">
        <link rel="preload" as="font" href="http://fonts.example/a.woff2">
        <link rel="icon" href="/favicon.ico">
        <link rel="prev" href="https://allowed.example/prev.html">
        <style>.x { background: url('https://img.example/bg.png'); }</style>
        </head><body>
        <a href="https://allowed.example/">a link is only fetched when clicked</a>
        <img src="../../outside.png">
        <img src="figure.png" srcset="figure.png 1x, https://img.example/fig@2x.png 2x">
        <img src="data:image/png;base64,AAAA">
        <iframe src="file:///etc/passwd"></iframe>
        <div style="background-image: url(https://img.example/div.png)"></div>
        <a href="#top">anchor</a>
        </body></html>
        """,
    )
    refs = offline.external_references(site)
    found = {(r.page, r.what, r.url, r.why) for r in refs}
    assert found == {
        (
            "sub/page.html",
            "script[src]",
            "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js",
            "external host",
        ),
        ("sub/page.html", "link[rel=stylesheet]", "//fonts.googleapis.com/css?family=Roboto", "external host"),
        ("sub/page.html", "link[rel=preload]", "http://fonts.example/a.woff2", "external host"),
        ("sub/page.html", "link[rel=icon]", "/favicon.ico", "absolute path"),
        ("sub/page.html", "<style> url()", "https://img.example/bg.png", "external host"),
        ("sub/page.html", "img[src]", "../../outside.png", "outside the book folder"),
        ("sub/page.html", "img[srcset]", "https://img.example/fig@2x.png", "external host"),
        ("sub/page.html", "iframe[src]", "file:///etc/passwd", "absolute path"),
        ("sub/page.html", "style attribute url()", "https://img.example/div.png", "external host"),
        ("_static/local.css", "css url()", "https://fonts.example/f.woff2", "external host"),
        ("_static/remote-import.css", "css url()", "https://cdn.example/theme.css", "external host"),
    }
    assert len(refs) == len(found)


def test_sphinx_hook_drops_the_repeated_inline_script():
    """Sphinx 7.4 lists an inline script added after the builder started twice (filename None and ''); the
    second `const THEBE_JS_URL` is a SyntaxError in the browser. The hook keeps the first copy only."""
    from sphinx.builders.html._assets import _JavaScript

    body = 'const THEBE_JS_URL = "x"'
    files = [
        _JavaScript("_static/a.js", priority=200),
        _JavaScript(None, body=body, priority=500),
        _JavaScript("_static/b.js", priority=500),
        _JavaScript("", body=body, priority=500),
        _JavaScript("_static/a.js", priority=200),
        _JavaScript(None, body="var other = 1", priority=500),
    ]
    context = {"script_files": files}
    sphinx_ext._dedupe_scripts(None, "page", "page.html", context, None)
    assert context["script_files"] is files  # edited in place: Sphinx restores the list after each page
    assert [(f.filename, f.attributes.get("body")) for f in files] == [
        ("_static/a.js", None),
        (None, body),
        ("_static/b.js", None),
        (None, "var other = 1"),
    ]


# ------------------------------------------------------------------------------------------- the quick book
def chapter_stems(root: Path) -> list[str]:
    prefix = "_build/executed/"
    return [d[len(prefix) :] for d in layout.toc_documents(root) if d.startswith(prefix)]


@pytest.mark.slow
def test_quick_book_fetches_nothing_from_outside(quick_book):
    quick_book.require_success()
    html = quick_book.html
    assert offline.external_references(html) == []
    mathjax = html / "_static" / "mathjax" / "tex-chtml.js"
    assert mathjax.is_file() and mathjax.stat().st_size > 100_000
    assert (
        html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2" / "MathJax_Main-Regular.woff"
    ).is_file()
    with_math = 0
    for doc in layout.toc_documents(quick_book.root):
        page = html / f"{doc}.html"
        text = page.read_text(encoding="utf-8")
        assert "cdn.jsdelivr.net" not in text
        if 'class="math' in text:
            with_math += 1
            depth = doc.count("/")
            assert f'src="{"../" * depth}_static/mathjax/tex-chtml.js"' in text, f"{doc}: MathJax is not the local copy"
        assert text.count("const THEBE_JS_URL") <= 1, f"{doc}: sphinx-thebe's inline script is there twice"
    assert with_math >= 1, "no page of the book has math; the MathJax check would be vacuous"


@pytest.mark.slow
def test_quick_book_chapters_have_rerun_note_and_downloads(quick_book):
    quick_book.require_success()
    root, html = quick_book.root, quick_book.html
    stems = chapter_stems(root)
    assert stems
    for stem in stems:
        page = html / "_build" / "executed" / f"{stem}.html"
        source = page.read_text(encoding="utf-8")
        text = page_text(source)
        meta = json.loads((root / "_build" / "executed" / f"{stem}.ipynb").read_text())["metadata"]["mia_lib"]
        assert "mia-run-info" in source and "Re-run this page" in text, f"{stem}: no re-run note"
        assert meta["command"] in text and "--quick" in meta["command"], f"{stem}: command missing"
        for value in page_note.run_info_glue(meta).values():
            assert value in text, f"{stem}: glued run info {value!r} missing"
        # the note comes before the first code cell, i.e. at the top of the page
        assert source.index("mia-run-info") < source.index('class="cell')
        # downloads: the .py source (byte-identical) and the executed notebook, plus the theme's .ipynb button
        for name, original in (
            (f"{stem}.py", root / "notebooks" / f"{stem}.py"),
            (f"{stem}.ipynb", root / "_build" / "executed" / f"{stem}.ipynb"),
        ):
            hrefs = re.findall(rf'href="(\.\./\.\./_downloads/[0-9a-f]+/{re.escape(name)})"', source)
            assert hrefs, f"{stem}: no download link for {name}"
            target = (page.parent / hrefs[0]).resolve()
            assert target.read_bytes() == original.read_bytes()
        assert f'href="../../_sources/_build/executed/{stem}.ipynb"' in source
        assert (html / "_sources" / "_build" / "executed" / f"{stem}.ipynb").is_file()


@pytest.mark.slow
def test_quick_book_results_overview_links_every_chapter(quick_book):
    quick_book.require_success()
    root, html = quick_book.root, quick_book.html
    pages = ("98_claims", "99_results_overview")
    stems = [s for s in chapter_stems(root) if s not in pages]
    assert chapter_stems(root)[-2:] == list(pages), "the claims ledger and the results overview come last"
    source = (html / "_build" / "executed" / "99_results_overview.html").read_text(encoding="utf-8")
    verdicts, numbers = (source[i : source.index("</table>", i)] for i in _tables(source)[:2])
    verdict_text = _plain_quotes(page_text(verdicts))  # Sphinx renders ' as ’ (smartquotes)
    for row in json.loads((root / "results" / "claims.json").read_text()):
        assert row["claim"] in verdict_text and row["verdict"] in verdict_text
    for stem in stems:
        assert f'href="{stem}.html"' in numbers, f"the results table does not link {stem}"
        results = json.loads((root / "results" / f"{stem}.json").read_text())
        if results.get("headline"):  # the chapter's own numbers in words, with their intervals
            first = results["headline"][0]
            number_text = _plain_quotes(page_text(numbers))
            assert first["label"] in number_text and first["text"] in number_text
        else:
            key, value = next((k, v) for k, v in results.items() if overview._is_headline(k, v))
            assert key in page_text(numbers) and overview.format_value(value) in page_text(numbers)
    saved = json.loads((root / "results" / "99_results_overview.json").read_text())
    assert saved["chapters"] == stems and saved["quick_runs"] == stems


def _tables(source: str) -> list[int]:
    out, i = [], source.find("<table")
    while i >= 0:
        out.append(i)
        i = source.find("<table", i + 1)
    return out


def _plain_quotes(text: str) -> str:
    return text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
