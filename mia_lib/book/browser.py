"""The built book in a real browser: headless Chromium opens its pages from disk with the network off.

:func:`check_pages` opens pages in headless Chromium (Debian's ``chromium``, driven by Playwright with
``executable_path``; no browser is ever downloaded) from ``file://`` with every other request aborted, and reports
per page (:class:`PageReport`): console errors and uncaught exceptions, requests that failed or left the book folder,
figure images that are missing or not decoded, math that MathJax did not typeset (or raw ``$$`` left in the text),
empty glued numbers or leftover glue markup; and the layout a reader gets: a page taller than
:data:`MAX_PAGE_HEIGHT_PX`, an output block made only of progress-bar text (:func:`progress_only`; issue 12), a code
cell whose input needs sideways scrolling; it records how many characters the code column shows
(``code_columns``) and saves a full-page screenshot of each page.

Command line (``make browser-check`` runs it on the default book)::

    python -m mia_lib.book.browser [HTML_DIR] [--root ROOT] [--screenshots DIR] [--json REPORT.json] [--width W ...]

It checks the pages named in ``ROOT/_toc.yml`` (default ROOT: two levels above ``HTML_DIR``) at a viewport
:data:`REFERENCE_WIDTH` (1280) px wide, writes screenshots to ``ROOT/_build/screenshots/`` and exits 0 when every
page passes, 1 otherwise, 2 on a usage error (no Chromium, no HTML).  ``--width`` (repeatable) picks the widths:
``--width 1280 --width 390`` also checks every page at 390 px (a phone) with screenshots in
``ROOT/_build/screenshots/390/``; below the reference width the layout rules (height budget, sideways scrolling)
are reported, not judged.  When ``unshare -n`` works (root, or user namespaces), it re-runs itself in a network
namespace with no interface (:func:`netns_prefix`), so the browser has no network at all.
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import unquote, urlsplit

from .layout import display_path, toc_documents

__all__ = [
    "CHROMIUM_FLAGS",
    "REFERENCE_WIDTH",
    "MAX_PAGE_HEIGHT_PX",
    "PROGRESS_LINE",
    "progress_only",
    "PageReport",
    "find_chromium",
    "book_pages",
    "screenshot_name",
    "screenshot_folder",
    "code_columns",
    "check_pages",
    "netns_prefix",
    "main",
]

#: Flags for headless Chromium: no GPU, no sandbox (containers, root), none of Chromium's own network traffic.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
)
_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

#: Viewport width (CSS px) at which the layout rules are judged; narrower widths only report them.
REFERENCE_WIDTH = 1280
#: Height budget of a page at :data:`REFERENCE_WIDTH` (document scroll height, CSS px).  A cold build with progress
#: bars in the pages made chapter 1 44,800 px tall (issue 12); the quick book's pages are far below this.
MAX_PAGE_HEIGHT_PX = 25_000

#: One line of progress-bar text: tqdm's bar (``12%|█▌   | 3/25``), its time bracket (``[00:01<00:07, 3.1it/s]``),
#: a rate (``3.1it/s``, ``2.0s/it``, ``4.2epoch/s``), or a bare counter label (``shard 1/2:``, ``epoch 3/10``).
PROGRESS_LINE = re.compile(
    r"\d{1,3}%\|"  # tqdm's percentage and bar
    r"|\[\d+:\d\d(?::\d\d)?(?:<[\d:?]+)?(?:,[^\]]*)?\]"  # tqdm's [elapsed<remaining, rate]
    # a rate: 3.1it/s, ?it/s, 4.2epoch/s, 2.5s/it
    r"|[\d?]\s?(?:(?:it|epochs?|shards?|models?|batch(?:es)?|steps?|ex|B|kB|MB)/s|s/(?:it|epoch|shard|model))\b"
    r"|^[\w .-]{0,40}?\b\d+\s*/\s*\d+\s*:?\s*$"  # nothing but a label and a counter
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def progress_only(text: str) -> bool:
    """Whether an output block's text is nothing but progress-bar lines (:data:`PROGRESS_LINE`), split at newlines
    and carriage returns (tqdm redraws with ``\\r``), ANSI codes removed; False for a block with no text."""
    lines = [line.strip() for line in re.split(r"[\r\n]+", _ANSI.sub("", text))]
    lines = [line for line in lines if line]
    return bool(lines) and all(PROGRESS_LINE.search(line) for line in lines)


def _first_line(text: str, limit: int = 100) -> str:
    for line in re.split(r"[\r\n]+", _ANSI.sub("", text)):
        if line.strip():
            return line.strip()[:limit]
    return ""


def find_chromium() -> str | None:
    """Path of a Chromium executable: ``$MIA_CHROMIUM`` if set, else the first of ``chromium``,
    ``chromium-browser``, ``google-chrome``, ... on ``PATH``; None when there is none."""
    env = os.environ.get("MIA_CHROMIUM")
    if env:
        return env if Path(env).is_file() and os.access(env, os.X_OK) else None
    for name in _CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageReport:
    """What :func:`check_pages` saw on one page; ``problems`` is empty when the page passes."""

    page: str  #: document name, e.g. ``book/intro``
    file: str  #: HTML file, relative to the HTML folder
    screenshot: str | None = None
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)  #: non-file requests (aborted)
    outside_requests: list[str] = field(default_factory=list)  #: file:// requests outside the book folder
    images: int = 0
    broken_images: list[str] = field(default_factory=list)
    figures: int = 0
    figures_without_image: list[str] = field(default_factory=list)
    math: int = 0  #: Sphinx math elements (``.math``)
    math_typeset: int = 0  #: of those, how many hold MathJax output (``mjx-container``)
    mathjax_containers: int = 0
    math_errors: list[str] = field(default_factory=list)
    raw_math: list[str] = field(default_factory=list)  #: text snippets with ``$$``, ``\\(``, ``\\[``, ``\\begin{``
    glue: int = 0  #: glued values (``.pasted-text``, ``.pasted-inline``, ``.pasted-math``)
    empty_glue: int = 0
    glue_markup: list[str] = field(default_factory=list)  #: text snippets with unrendered ``{glue...}`` roles
    width: int = REFERENCE_WIDTH  #: viewport width (CSS px) of this check
    height_px: int = 0  #: the document's scroll height at ``width``
    max_height_px: int = MAX_PAGE_HEIGHT_PX  #: the height budget (judged at widths >= REFERENCE_WIDTH)
    outputs: int = 0  #: cell output blocks (``.cell_output .output``)
    progress_outputs: int = 0  #: of those, blocks made only of progress-bar text (:func:`progress_only`)
    progress_examples: list[str] = field(default_factory=list)  #: the first line of the first few of them
    code_cells: int = 0  #: code-cell inputs (``.cell_input pre``)
    wide_code: list[str] = field(default_factory=list)  #: first line of each code cell that scrolls sideways
    char_width_px: float | None = None  #: width of one monospace character in a code cell
    code_width_px: float | None = None  #: width of a code cell's text area (clientWidth less padding)
    code_columns: int | None = None  #: characters a code line shows without sideways scrolling (None: no code)
    notes: list[str] = field(default_factory=list)  #: layout findings reported but not judged (narrow widths)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# Runs in the page once it has loaded: waits for MathJax and the images, then measures everything at once.
_INSPECT_JS = r"""
async () => {
  const timeout = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await Promise.race([MathJax.startup.promise.catch(() => null), timeout(20000)]);
  }
  const imgs = Array.from(document.images);
  imgs.forEach((img) => { img.loading = "eager"; });
  await Promise.race([Promise.all(imgs.map((img) => img.decode().catch(() => null))), timeout(15000)]);
  if (document.fonts && document.fonts.ready) { await Promise.race([document.fonts.ready, timeout(5000)]); }
  const describe = (img) => (img.getAttribute("src") || "").slice(0, 120);
  const maths = Array.from(document.querySelectorAll(".math"));
  const skip = new Set(["PRE", "CODE", "SCRIPT", "STYLE", "TEXTAREA", "NOSCRIPT", "MJX-CONTAINER"]);
  const raw = [], markup = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      for (let el = node.parentElement; el; el = el.parentElement) {
        if (skip.has(el.tagName) || el.classList.contains("highlight")) return NodeFilter.FILTER_REJECT;
      }
      return NodeFilter.FILTER_ACCEPT;
    }
  });
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const t = node.textContent;
    if (/\$\$|\\\(|\\\[|\\begin\{/.test(t)) raw.push(t.trim().slice(0, 80));
    if (/\{glue(:\w+)?\}|\bglue:text`/.test(t)) markup.push(t.trim().slice(0, 80));
  }
  const glue = Array.from(document.querySelectorAll(".pasted-text, .pasted-inline, .pasted-math"));
  const scroller = document.scrollingElement || document.documentElement;
  const outputs = Array.from(new Set(document.querySelectorAll(".cell_output .output")));
  const codes = Array.from(document.querySelectorAll(".cell_input pre"));
  const firstLine = (t) => ((t || "").split("\n").find((l) => l.trim()) || "").trim().slice(0, 100);
  const longest = (t) => Math.max(0, ...(t || "").split("\n").map((l) => l.length));
  const wide = codes.filter((pre) => {
    const box = pre.closest(".highlight") || pre;
    return pre.scrollWidth > pre.clientWidth || box.scrollWidth > box.clientWidth;
  }).map((pre) => `${firstLine(pre.textContent)} (longest line ${longest(pre.textContent)} characters)`);
  let charWidth = null, codeWidth = null, columns = null;
  if (codes.length) {
    const pre = codes[0], probe = document.createElement("span"), n = 200;
    probe.textContent = "0".repeat(n);
    probe.style.whiteSpace = "pre";
    pre.appendChild(probe);
    charWidth = probe.getBoundingClientRect().width / n;
    probe.remove();
    const style = getComputedStyle(pre);
    codeWidth = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    columns = charWidth > 0 ? Math.floor(codeWidth / charWidth + 1e-6) : null;
  }
  return {
    height_px: Math.max(scroller.scrollHeight, document.body ? document.body.scrollHeight : 0),
    outputs: outputs.length,
    output_texts: outputs.map((o) => (o.innerText || o.textContent || "").slice(0, 20000)),
    code_cells: codes.length,
    wide_code: wide,
    char_width_px: charWidth === null ? null : Math.round(charWidth * 1000) / 1000,
    code_width_px: codeWidth,
    code_columns: columns,
    images: imgs.length,
    broken_images: imgs.filter((i) => !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0)).map(describe),
    figures: document.querySelectorAll("figure").length,
    figures_without_image: Array.from(document.querySelectorAll("figure"))
      .filter((f) => !Array.from(f.querySelectorAll("img")).some((i) => i.naturalWidth > 0))
      .map((f) => f.id || (f.textContent || "").trim().slice(0, 60)),
    math: maths.length,
    math_typeset: maths.filter((m) => m.querySelector("mjx-container")).length,
    mathjax_containers: document.querySelectorAll("mjx-container").length,
    math_errors: Array.from(document.querySelectorAll("mjx-merror"))
      .map((e) => (e.getAttribute("data-mjx-error") || e.textContent).slice(0, 80)),
    raw_math: raw.slice(0, 10),
    glue: glue.length,
    empty_glue: glue.filter((g) => !(g.textContent || "").trim()).length,
    glue_markup: markup.slice(0, 10),
  };
}
"""


def book_pages(html_dir: str | os.PathLike, root: str | os.PathLike | None = None) -> list[tuple[str, Path]]:
    """``[(document, html file)]`` to check: the documents of ``ROOT/_toc.yml`` in toc order (intro, chapters,
    ...), whether or not their HTML exists; without a toc, every ``*.html`` page except Sphinx's generated
    ``genindex``/``search`` pages and the ``index.html`` redirect."""
    html_dir = Path(html_dir).resolve()
    root = Path(root).resolve() if root is not None else html_dir.parent.parent
    if (root / "_toc.yml").is_file():
        return [(doc, html_dir / f"{doc}.html") for doc in toc_documents(root)]
    pages = []
    for page in sorted(html_dir.rglob("*.html")):
        rel = page.relative_to(html_dir).as_posix()
        if rel.startswith(("_static/", "_sources/", "_downloads/")) or rel in {
            "genindex.html",
            "search.html",
            "index.html",
        }:
            continue
        pages.append((rel.removesuffix(".html"), page))
    return pages


def screenshot_name(doc: str, taken: Iterable[str] = ()) -> str:
    """``<stem>.png`` for a document (``book/intro`` -> ``intro.png``), or the whole path joined with ``__``
    when that name is already in ``taken``."""
    name = f"{posixpath.basename(doc)}.png"
    return name if name not in set(taken) else doc.replace("/", "__") + ".png"


def check_pages(
    pages: Sequence[tuple[str, Path]],
    html_dir: str | os.PathLike,
    screenshots: str | os.PathLike | None,
    *,
    chromium: str | None = None,
    timeout_s: float = 60.0,
    width: int = 1280,
    height: int = 900,
) -> list[PageReport]:
    """Open each page in headless Chromium from disk and report what a reader would see (:class:`PageReport`).

    Every request that is not ``file:``/``data:``/``blob:`` is aborted and recorded; a ``file:`` request
    outside ``html_dir`` is recorded too.  A page passes when it loaded with no console error, no uncaught
    exception and no such request; every image (and every ``<figure>``'s image) is decoded with a non-zero
    natural size; every Sphinx math element holds MathJax output, with no MathJax error and no raw ``$$``,
    ``\\(``, ``\\[`` or ``\\begin{`` in the text outside code; every glued value is non-empty with no
    ``{glue...}`` markup left; and no cell output block holds only progress-bar text (:func:`progress_only`).  At a
    viewport ``width`` of :data:`REFERENCE_WIDTH` or more, the page must also be at most :data:`MAX_PAGE_HEIGHT_PX`
    tall and no code-cell input may scroll sideways (``scrollWidth > clientWidth``); narrower, those two go to
    ``notes`` only.  A full-page PNG of each page goes to ``screenshots`` (if given).
    Raises ``RuntimeError`` when no Chromium is found and ``ImportError`` without Playwright.
    """
    from playwright.sync_api import sync_playwright

    chromium = chromium or find_chromium()
    if chromium is None:
        raise RuntimeError(
            "no Chromium found: install Debian's chromium (apt-get install chromium) or set MIA_CHROMIUM"
        )
    html_dir = Path(html_dir).resolve()
    shots = Path(screenshots).resolve() if screenshots is not None else None
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    reports: list[PageReport] = []
    with tempfile.TemporaryDirectory(prefix="mia-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,  # a fresh --user-data-dir
            executable_path=chromium,
            headless=True,
            args=list(CHROMIUM_FLAGS),
            viewport={"width": width, "height": height},
            service_workers="block",
        )
        try:
            current: list[PageReport] = []

            def route(r: Any) -> None:
                url = r.request.url
                if url.split(":", 1)[0].lower() in {"file", "data", "blob"}:
                    r.continue_()
                else:
                    if current:
                        current[-1].blocked_requests.append(url[:200])
                    r.abort("internetdisconnected")

            context.route("**/*", route)
            taken: list[str] = []
            for doc, file in pages:
                rep = PageReport(page=doc, file=display_path(file, html_dir), width=width)
                reports.append(rep)
                if not file.is_file():
                    rep.problems.append(f"no HTML page {rep.file}")
                    continue
                current[:] = [rep]
                _check_one(context, rep, file, html_dir, shots, taken, timeout_s)
        finally:
            context.close()
    return reports


def _check_one(
    context: Any, rep: PageReport, file: Path, html_dir: Path, shots: Path | None, taken: list[str], timeout_s: float
) -> None:
    t0 = time.perf_counter()
    page = context.new_page()
    page.set_default_timeout(timeout_s * 1000)

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            rep.console_errors.append(msg.text[:300])

    def on_request(req: Any) -> None:
        if req.url.startswith("file:"):
            path = Path(unquote(urlsplit(req.url).path))
            if not _inside(path, html_dir):
                rep.outside_requests.append(req.url[:200])

    def on_failed(req: Any) -> None:
        if req.url.split(":", 1)[0].lower() in {"file", "data", "blob"}:
            rep.failed_requests.append(f"{req.url[:200]} ({req.failure})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: rep.page_errors.append(str(exc)[:300]))
    page.on("request", on_request)
    page.on("requestfailed", on_failed)
    try:
        page.goto(file.as_uri(), wait_until="load")
        seen = page.evaluate(_INSPECT_JS)
        progress = [text for text in seen.pop("output_texts") if progress_only(text)]
        rep.progress_outputs = len(progress)
        rep.progress_examples = [_first_line(text) for text in progress[:5]]
        for key, value in seen.items():
            setattr(rep, key, value)
        if shots is not None:
            name = screenshot_name(rep.page, taken)
            taken.append(name)
            page.screenshot(path=str(shots / name), full_page=True)
            rep.screenshot = str(shots / name)
    except Exception as exc:  # a timeout or a crashed page is a failed page, not a crashed check
        rep.problems.append(f"the page could not be checked: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        page.close()
    rep.seconds = round(time.perf_counter() - t0, 2)
    _judge(rep)


def _inside(path: Path, base: Path) -> bool:
    try:
        path.resolve().relative_to(base)
        return True
    except ValueError:
        return False


def _judge(rep: PageReport) -> None:
    """Turn the measurements of a page into ``rep.problems``."""
    p = rep.problems
    if rep.console_errors:
        p.append(f"{len(rep.console_errors)} console error(s): {rep.console_errors[:3]}")
    if rep.page_errors:
        p.append(f"{len(rep.page_errors)} uncaught exception(s): {rep.page_errors[:3]}")
    if rep.blocked_requests:
        p.append(f"{len(rep.blocked_requests)} request(s) to the network (blocked): {rep.blocked_requests[:3]}")
    if rep.outside_requests:
        p.append(f"{len(rep.outside_requests)} request(s) outside the book folder: {rep.outside_requests[:3]}")
    if rep.failed_requests:
        p.append(f"{len(rep.failed_requests)} failed request(s): {rep.failed_requests[:3]}")
    if rep.broken_images:
        p.append(f"{len(rep.broken_images)} image(s) missing or not decoded: {rep.broken_images[:3]}")
    if rep.figures_without_image:
        p.append(f"{len(rep.figures_without_image)} figure(s) without a decoded image: {rep.figures_without_image[:3]}")
    if rep.math_typeset < rep.math:
        p.append(f"{rep.math - rep.math_typeset} of {rep.math} math element(s) not typeset by MathJax")
    if rep.math_errors:
        p.append(f"MathJax error(s): {rep.math_errors[:3]}")
    if rep.raw_math:
        p.append(f"raw TeX left in the text: {rep.raw_math[:3]}")
    if rep.empty_glue:
        p.append(f"{rep.empty_glue} of {rep.glue} glued value(s) empty")
    if rep.glue_markup:
        p.append(f"unrendered glue markup: {rep.glue_markup[:3]}")
    if rep.progress_outputs:
        p.append(
            f"{rep.progress_outputs} of {rep.outputs} output block(s) hold only progress-bar text (a bar left on in "
            f"the kernel?): {rep.progress_examples[:3]}"
        )
    layout = p if rep.width >= REFERENCE_WIDTH else rep.notes  # judged at the reference width, else reported
    if rep.height_px > rep.max_height_px:
        layout.append(
            f"the page is {rep.height_px:,} px tall at {rep.width} px, over the budget of {rep.max_height_px:,} px"
        )
    if rep.wide_code:
        layout.append(
            f"{len(rep.wide_code)} code cell(s) scroll sideways at {rep.width} px (the code column shows "
            f"{rep.code_columns} characters): {rep.wide_code[:5]}"
        )


# --------------------------------------------------------------------------------------- network namespace
def netns_prefix() -> list[str]:
    """``["unshare", "-n"]`` (as root) or ``["unshare", "-rn"]`` (user namespaces) when a command can run in a
    new network namespace without any interface; ``[]`` when neither works here."""
    exe = shutil.which("unshare")
    if exe is None:
        return []
    for flags in (["-n"], ["-rn"]):
        try:
            ok = subprocess.run([exe, *flags, "true"], capture_output=True, timeout=20).returncode == 0
        except (OSError, subprocess.SubprocessError):
            ok = False
        if ok:
            return [exe, *flags]
    return []


# -------------------------------------------------------------------------------------------- command line
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mia_lib.book.browser",
        description="Open the built book in headless Chromium from disk with the network off, check every page "
        "of the toc (console errors, figures, math, glued numbers, progress-bar output, page height, code that scrolls "
        "sideways) and save a screenshot of each.",
    )
    p.add_argument("html_dir", nargs="?", default="_build/html", help="built HTML book (default: _build/html)")
    p.add_argument("--root", help="book root with _toc.yml (default: two levels above HTML_DIR)")
    p.add_argument("--screenshots", help="folder for the PNGs (default: ROOT/_build/screenshots)")
    p.add_argument("--json", dest="json_path", help="also write the per-page report to this JSON file")
    p.add_argument(
        "--width",
        dest="widths",
        type=int,
        action="append",
        metavar="PX",
        help=f"viewport width in CSS px, repeatable (default: {REFERENCE_WIDTH}); screenshots at {REFERENCE_WIDTH} "
        "go to the screenshot folder, at any other width W to its subfolder W/ (e.g. --width 1280 --width 390); "
        f"below {REFERENCE_WIDTH} px the height budget and sideways scrolling are reported, not judged",
    )
    p.add_argument(
        "--netns",
        choices=["auto", "off"],
        default="auto",
        help="auto: re-run inside `unshare -n` when that works (default); off: only block requests",
    )
    p.add_argument("--in-netns", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m mia_lib.book.browser``; returns the exit status (0 pass, 1 a page failed, 2 usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    html_dir = Path(args.html_dir).resolve()
    root = Path(args.root).resolve() if args.root else html_dir.parent.parent
    widths = list(dict.fromkeys(args.widths or [REFERENCE_WIDTH]))
    if any(w < 200 or w > 8000 for w in widths):
        print(f"error: --width must be between 200 and 8000 px, got {widths}", file=sys.stderr)
        return 2
    if not (html_dir / "index.html").is_file() and not any(html_dir.glob("*.html")):
        print(f"error: no built book in {html_dir}; build it first (make book)", file=sys.stderr)
        return 2
    chromium = find_chromium()
    if chromium is None:
        print(
            "error: no Chromium found; install Debian's chromium (apt-get install -y chromium) or set MIA_CHROMIUM",
            file=sys.stderr,
        )
        return 2
    if args.netns == "auto" and not args.in_netns:
        prefix = netns_prefix()
        if prefix:
            cmd = [*prefix, sys.executable, "-m", "mia_lib.book.browser", *argv, "--in-netns"]
            return subprocess.call(cmd)
        print("note: `unshare -n` is not available here; requests are blocked inside the browser only", flush=True)
    shots = Path(args.screenshots).resolve() if args.screenshots else root / "_build" / "screenshots"
    pages = book_pages(html_dir, root)
    network = "none (network namespace without interfaces)" if args.in_netns else "blocked in the browser"
    passes = []
    for w in widths:
        folder = screenshot_folder(shots, w)
        t0 = time.perf_counter()
        reports = check_pages(pages, html_dir, folder, chromium=chromium, width=w)
        print(
            f"checked {len(reports)} page(s) of {html_dir} at {w} px in {time.perf_counter() - t0:.1f} s with "
            f"{chromium}; network: {network}"
        )
        _print_reports(reports)
        passes.append({"width": w, "screenshots": str(folder), "code_columns": code_columns(reports), "pages": reports})
    if args.json_path:
        first, *others = passes
        payload = {
            "html_dir": str(html_dir),
            "chromium": chromium,
            "netns": bool(args.in_netns),
            "width": first["width"],
            "max_height_px": MAX_PAGE_HEIGHT_PX,
            "code_columns": first["code_columns"],
            "pages": [_as_json(r) for r in first["pages"]],
            "other_widths": [dict(o, pages=[_as_json(r) for r in o["pages"]]) for o in others],
        }
        Path(args.json_path).write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    failed = [f"{r.page} at {o['width']} px" for o in passes for r in o["pages"] if not r.ok]
    checked = sum(len(o["pages"]) for o in passes)
    print(f"{checked - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def screenshot_folder(shots: Path, width: int) -> Path:
    """Where the screenshots at ``width`` go: ``shots`` itself at :data:`REFERENCE_WIDTH`, else ``shots/<width>``."""
    return shots if width == REFERENCE_WIDTH else shots / str(width)


def code_columns(reports: Iterable[PageReport]) -> int | None:
    """The characters a code line shows on the book's pages: the smallest ``code_columns`` of the pages that have
    code cells (they share one theme, so they agree); None when no page has one."""
    found = [r.code_columns for r in reports if r.code_columns is not None]
    return min(found) if found else None


def _as_json(rep: PageReport) -> dict:
    return dict(asdict(rep), ok=rep.ok)


def _print_reports(reports: Sequence[PageReport]) -> None:
    width = max((len(r.page) for r in reports), default=4)
    for r in reports:
        status = "ok  " if r.ok else "FAIL"
        cols = "-" if r.code_columns is None else str(r.code_columns)
        print(
            f"{status} {r.page:<{width}}  figures {r.figures:2d}  math {r.math_typeset:3d}/{r.math:<3d}  "
            f"glue {r.glue - r.empty_glue:3d}/{r.glue:<3d}  height {r.height_px:6d} px  code columns {cols:>3}  "
            f"{r.seconds:5.1f} s  {r.screenshot or ''}"
        )
        for problem in r.problems:
            print(f"     - {problem}")
        for note in r.notes:
            print(f"     . (reported, not judged at {r.width} px) {note}")
    columns = code_columns(reports)
    if columns is not None:
        print(f"code column: {columns} characters at {reports[0].width} px")


if __name__ == "__main__":
    sys.exit(main())
