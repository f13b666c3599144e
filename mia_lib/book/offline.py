"""The offline-reference scan of a built HTML book: every script, style, font, image and frame that a page (or a CSS
file it loads) would fetch from outside the book folder: another host, an absolute path, or a relative path that
climbs out of it.  Links a reader may click (``<a href>``) are not fetched and are allowed.

``tests/test_offline_html.py`` runs :func:`external_references` on the built book; ``_config.yml`` serves MathJax
from the book itself so that it passes.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = ["Reference", "resource_urls", "css_urls", "external_references"]

_LOCAL_SCHEMES = {"data", "blob", "about", "javascript"}
# <link rel=...> values that make the browser fetch something (or talk to a host) by itself
_FETCHING_RELS = {
    "stylesheet",
    "preload",
    "modulepreload",
    "prefetch",
    "preconnect",
    "dns-prefetch",
    "prerender",
    "icon",
    "shortcut",
    "apple-touch-icon",
    "apple-touch-icon-precomposed",
    "mask-icon",
    "manifest",
}
_RESOURCE_ATTRS = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "track": ("src",),
    "input": ("src",),
}
_CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)|@import\s+(['"])(.*?)\3""", re.IGNORECASE | re.DOTALL)
_CSS_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)


@dataclass(frozen=True)
class Reference:
    """A resource that a page would fetch from outside the book folder."""

    page: str  #: file that references it, relative to the HTML folder (a page or a CSS file)
    what: str  #: e.g. ``script[src]``, ``link[rel=stylesheet]``, ``css url()``
    url: str  #: the reference as written
    why: str  #: ``external host``, ``absolute path`` or ``outside the book folder``


class _ResourceParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str]] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        for attr in _RESOURCE_ATTRS.get(tag, ()):
            if tag == "input" and a.get("type", "").lower() != "image":
                continue
            if a.get(attr):
                urls = (
                    [u.strip().split()[0] for u in a[attr].split(",") if u.strip()] if attr == "srcset" else [a[attr]]
                )
                self.found += [(f"{tag}[{attr}]", u) for u in urls]
        if tag == "link" and a.get("href"):
            rels = set(a.get("rel", "").lower().split())
            if rels & _FETCHING_RELS:
                self.found.append((f"link[rel={' '.join(sorted(rels))}]", a["href"]))
        if a.get("style"):
            self.found += [("style attribute url()", u) for u in css_urls(a["style"])]
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found += [("<style> url()", u) for u in css_urls(data)]


def resource_urls(html: str) -> list[tuple[str, str]]:
    """``[(what, url)]`` of everything a page fetches by itself: ``script[src]``, ``img[src|srcset]``,
    ``link[rel=stylesheet|preload|icon|...]``, frames, media, and ``url()``/``@import`` in ``<style>`` blocks and
    ``style`` attributes.  ``<a href>`` is not included (it is only fetched when clicked)."""
    parser = _ResourceParser()
    parser.feed(html)
    parser.close()
    return parser.found


def css_urls(css: str) -> list[str]:
    """Targets of ``url(...)`` and ``@import "..."`` in a CSS text (comments ignored), as written."""
    out = []
    for m in _CSS_URL.finditer(_CSS_COMMENT.sub("", css)):
        url = (m.group(2) if m.group(2) is not None else m.group(4) or "").strip()
        if url:
            out.append(url)
    return out


def _classify(url: str, referrer: str, html_dir: Path) -> str | None:
    """Why ``url`` (found in ``referrer``, relative to ``html_dir``) leaves the book folder, or None if it
    does not."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme in _LOCAL_SCHEMES:
        return None
    if url.strip().startswith("//") or (scheme and scheme != "file"):
        return "external host"
    if scheme == "file" or parts.path.startswith("/"):
        return "absolute path"
    if not parts.path:
        return None  # "#anchor" or "?query" only
    target = posixpath.normpath(posixpath.join(posixpath.dirname(referrer), unquote(parts.path)))
    if target == ".." or target.startswith("../"):
        return "outside the book folder"
    return None


def external_references(html_dir: str | os.PathLike) -> list[Reference]:
    """Every reference in the book at ``html_dir`` that would be fetched from outside it.

    Scans each ``*.html`` page (not the theme's template fragments under ``_static/``) with
    :func:`resource_urls`, and each local CSS file that a page loads with :func:`css_urls` (fonts, images and
    ``@import``).  Returns an empty list for an offline-readable book.
    """
    html_dir = Path(html_dir).resolve()
    refs: list[Reference] = []
    css_files: set[str] = set()
    for page in sorted(html_dir.rglob("*.html")):
        rel = page.relative_to(html_dir).as_posix()
        if rel.startswith("_static/"):
            continue
        for what, url in resource_urls(page.read_text(encoding="utf-8", errors="replace")):
            why = _classify(url, rel, html_dir)
            if why:
                refs.append(Reference(rel, what, url, why))
            elif what.startswith("link[") and "stylesheet" in what:
                path = urlsplit(url).path
                if path:
                    css_files.add(posixpath.normpath(posixpath.join(posixpath.dirname(rel), unquote(path))))
    for css in sorted(css_files):
        path = html_dir / css
        if not path.is_file():
            continue
        for url in css_urls(path.read_text(encoding="utf-8", errors="replace")):
            why = _classify(url, css, html_dir)
            if why:
                refs.append(Reference(css, "css url()", url, why))
    return refs
