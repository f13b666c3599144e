"""The book's own small Sphinx extension (``_config.yml``: ``sphinx.extra_extensions``): it removes inline
``<script>`` blocks that Sphinx 7.4 writes twice when an extension adds them after the builder started
(sphinx-thebe does); the second copy of ``const THEBE_JS_URL = ...`` is a JavaScript error on every page.

Every book build imports this module, so it imports nothing beyond the standard library.
"""

from __future__ import annotations

from typing import Any

__all__ = ["setup"]


def _dedupe_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    files = context.get("script_files")
    if not isinstance(files, list):
        return
    seen: set = set()
    kept = []
    for js in files:
        attrs = getattr(js, "attributes", {}) or {}
        key = (getattr(js, "filename", js) or "", tuple(sorted((k, str(v)) for k, v in attrs.items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    files[:] = kept


def setup(app: Any) -> dict[str, Any]:
    """Sphinx extension: drop repeated ``<script>`` entries (same file or same inline body and attributes) from
    every page, keeping the first.  Sphinx 7.4 keeps an inline script added after the builder started twice (as
    filename ``None`` and ``''``), which makes sphinx-thebe's ``const`` declaration a JavaScript error."""
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
