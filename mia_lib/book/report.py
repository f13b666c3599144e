"""Numbers from notebooks into prose (``glue``), onto disk (``save_results``) and into display tables
(``ci_table``); a notebook imports it as ``from mia_lib.book import report``.

Every number a notebook quotes in its prose goes through :func:`glue`, and every notebook ends by writing its
headline numbers with :func:`save_results` to ``results/<notebook stem>.json`` (relative to the kernel's working
directory, which ``python -m mia_lib run`` sets to the repository root).

In the notebook's markdown, paste a glued value with the ``glue:text`` role::

    report.glue("auroc", auroc, "{:.3f}")      # in a code cell
    LiRA reaches an AUROC of {glue:text}`auroc`.   # in a markdown cell -> "0.600"

``{glue:text}`name:.3f``` formats at build time instead (only for values glued *without* ``fmt``).  Prefer
``glue:text`` over the bare ``{glue}`` role: the bare role renders the Python ``repr``, so a string shows its quotes.

**Results files are strict JSON** (RFC 8259: ``JSON.parse``, ``jq`` and every other parser read them), so the
non-finite floats that strict JSON lacks are written as:

* NaN → ``null`` (read back as ``None``);
* +∞ → the string ``"inf"`` and −∞ → the string ``"-inf"`` (:data:`POS_INF`, :data:`NEG_INF`; read back by
  :func:`load_results` as ``float("inf")`` / ``float("-inf")``).  A string value that is exactly ``"inf"`` or
  ``"-inf"`` therefore reads back as a float too.  Dict keys are always strings (``{inf: ...}`` → ``"inf"``) and
  are read back as written.

``json.dumps(..., allow_nan=False)`` guards it: a non-finite float that slipped through raises instead of writing
``NaN`` or ``Infinity``.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import tempfile
from pathlib import Path
from typing import Any

from . import layout

__all__ = [
    "headline",
    "write_strict_json",
    "POS_INF",
    "NEG_INF",
    "glue",
    "glue_verdict",
    "glued",
    "to_plain",
    "to_strict_json",
    "from_strict_json",
    "save_results",
    "load_results",
    "results_path",
    "ci_table",
]

#: How a results file writes +∞ and −∞ (strict JSON has no infinity); NaN is written as ``null``.
POS_INF, NEG_INF = "inf", "-inf"

#: Raw (plain-Python) value of every name glued in this process, in gluing order.
_GLUED: dict[str, Any] = {}


def to_plain(value: Any) -> Any:
    """Convert ``value`` to plain JSON-compatible Python objects.

    numpy and torch scalars become ``int``/``float``/``bool``; numpy arrays and torch tensors of any shape become
    (nested) lists; tuples (a ``NamedTuple`` such as :class:`mia_lib.metrics.Interval` too) and sets become lists;
    dict keys become ``str``; ``pathlib.Path`` becomes ``str``.  Non-finite floats stay ``float('nan')``/``inf``
    (:func:`to_strict_json` maps them for a results file).  Anything else that is not a plain JSON type raises
    ``TypeError``.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    # torch tensors (checked by duck typing so that this module does not import torch)
    if type(value).__module__.startswith("torch") and hasattr(value, "detach") and hasattr(value, "tolist"):
        return to_plain(value.detach().cpu().tolist())
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a hard dependency
        np = None
    if np is not None:
        if isinstance(value, np.ndarray):
            return to_plain(value.tolist())
        if isinstance(value, np.generic):
            return to_plain(value.item())
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [to_plain(v) for v in items]
    raise TypeError(f"cannot convert {type(value).__module__}.{type(value).__qualname__} to plain JSON: {value!r}")


def to_strict_json(plain: Any) -> Any:
    """A :func:`to_plain` value with its non-finite floats replaced for strict JSON: NaN → ``None``, +∞ →
    :data:`POS_INF` (``"inf"``), −∞ → :data:`NEG_INF` (``"-inf"``), at any depth (dict keys are left alone)."""
    if isinstance(plain, float):
        if math.isnan(plain):
            return None
        if math.isinf(plain):
            return POS_INF if plain > 0 else NEG_INF
        return plain
    if isinstance(plain, dict):
        return {k: to_strict_json(v) for k, v in plain.items()}
    if isinstance(plain, list):
        return [to_strict_json(v) for v in plain]
    return plain


def from_strict_json(value: Any) -> Any:
    """Inverse of :func:`to_strict_json` for the infinities: the strings ``"inf"`` / ``"-inf"`` become floats, at
    any depth (dict keys are left alone); ``None`` (a NaN when written) stays ``None``."""
    if isinstance(value, str):
        if value == POS_INF:
            return math.inf
        if value == NEG_INF:
            return -math.inf
        return value
    if isinstance(value, dict):
        return {k: from_strict_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_strict_json(v) for v in value]
    return value


def glue(name: str, value: Any, fmt: str | None = None) -> Any:
    """Store ``value`` under ``name`` for the book's prose, without displaying anything; return the raw value.

    Parameters
    ----------
    name:
        Glue key, unique within the notebook (a duplicate key is a Sphinx warning, i.e. a failed strict build).
    value:
        A number (Python, numpy or torch scalar; converted with :func:`to_plain` first so that the pasted text is
        ``0.6`` and not ``np.float64(0.6)``), a string, or any other object that :func:`to_plain` accepts.
    fmt:
        Optional ``str.format`` pattern such as ``"{:.3f}"``, ``"{:.1%}"`` or ``"{:,}"``.  When given, ``name`` holds
        the formatted text (paste it with ``{glue:text}`name```) and ``name + "_raw"`` holds the unformatted value.
        Without ``fmt``, ``name`` holds the value itself (``{glue:text}`name:.3f``` formats it at build time).

    Returns
    -------
    The plain-Python value (also recorded in :func:`glued`, e.g. for :func:`save_results`).
    """
    from myst_nb import glue as _myst_glue

    raw = to_plain(value)
    _GLUED[name] = raw
    if fmt is None:
        _myst_glue(name, raw, display=False)
    else:
        _myst_glue(name, fmt.format(raw), display=False)
        _myst_glue(f"{name}_raw", raw, display=False)
    return raw


def glued() -> dict[str, Any]:
    """Return a copy of ``{name: raw value}`` for everything glued so far in this kernel."""
    return dict(_GLUED)


def results_path(name: str, root: str | os.PathLike = ".") -> Path:
    """Return ``root/results/<name>.json``; ``name`` must be a plain file stem (no path separators)."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or name.endswith(".json"):
        raise ValueError(f"results name must be a plain file stem like '01_lira_and_memorization', got {name!r}")
    return Path(root) / "results" / f"{name}.json"


def save_results(name: str, results: dict, root: str | os.PathLike = ".") -> Path:
    """Write ``results`` to ``root/results/<name>.json`` atomically and return the path.

    ``name`` is the notebook's file stem (e.g. ``"01_lira_and_memorization"``).  Values are converted with
    :func:`to_plain` (numpy/torch scalars and arrays become numbers and lists) and :func:`to_strict_json` (NaN →
    ``null``, ±∞ → ``"inf"`` / ``"-inf"``), so the file is strict JSON (module docstring).  The JSON is written to
    a temporary file in the same directory and renamed over the target, so a reader never sees a half-written file.
    """
    if not isinstance(results, dict):
        raise TypeError(f"results must be a dict, got {type(results).__name__}")
    return write_strict_json(results_path(name, root), results)


def write_strict_json(path: Path, value: Any) -> Path:
    """Write ``value`` (anything :func:`to_plain` takes) to ``path`` as strict JSON, atomically (a temporary file in
    the same directory, renamed over the target). Returns ``path``."""
    text = json.dumps(to_strict_json(to_plain(value)), indent=2, sort_keys=False, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".json.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        layout.publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_results(name: str, root: str | os.PathLike = ".") -> dict:
    """Read ``root/results/<name>.json`` (as written by :func:`save_results`) and return the dict, with ``"inf"`` /
    ``"-inf"`` read back as ``float("inf")`` / ``float("-inf")`` (:func:`from_strict_json`) and ``null`` as ``None``
    (a NaN when it was written).  Older files with bare ``NaN`` / ``Infinity`` are still read."""
    path = results_path(name, root)
    try:
        return from_strict_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path} does not exist; run the notebook first (python -m mia_lib run notebooks/{name}.py)"
        ) from None


def ci_table(table, measures=("auroc", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr"), digits: int = 3, keep=("n_examples",)):
    """A display table: each measure as ``"value [low, high]"`` text from its ``<measure>_ci`` column.

    Args:
        table: pandas DataFrame with columns ``<measure>`` and ``<measure>_ci`` (a
            :class:`mia_lib.metrics.Interval` or NaN), e.g. rows of :func:`mia_lib.metrics.summary_with_ci` or
            :func:`mia_lib.metrics.by_subset`.
        measures: the measures to show, in order; keep: other columns to carry over when present.
    Returns:
        a new DataFrame of strings (same index), for display only; the numbers stay in ``table``.
    """
    import pandas as pd

    def cell(value, ci):
        if value is None or (isinstance(value, float) and value != value):
            return "n/a"
        text = f"{value:.{digits}f}"
        if isinstance(ci, tuple) and len(ci) == 3 and ci[1] == ci[1]:  # an Interval with bounds
            text += f" [{ci[1]:.{digits}f}, {ci[2]:.{digits}f}]"
        return text

    out = pd.DataFrame(index=table.index)
    for col in keep:
        if col in table:
            out[col] = table[col].round(digits + 1) if pd.api.types.is_float_dtype(table[col]) else table[col]
    for m in measures:
        cis = table[m + "_ci"] if m + "_ci" in table else [None] * len(table)
        out[m] = [cell(v, c) for v, c in zip(table[m], cis)]
    return out


def glue_verdict(name: str, verdict, fmt: str = "{:.3f}", **words) -> None:
    """Glue a :class:`mia_lib.claims.Verdict` for prose: ``name`` as its verb phrase (``verdict.word(**words)``:
    "supports" / "does not support" / "is inconclusive on" unless ``yes``/``no``/``unsure`` say otherwise) and
    ``<name>_stat`` as the statistic it rests on with its CI ("Δ AUROC = 0.041 [0.020, 0.063]"). Returns nothing,
    so a cell that ends with it shows nothing."""
    glue(name, verdict.word(**words))
    glue(f"{name}_stat", f"{verdict.statistic} = {verdict.text(fmt).split(': ', 1)[1]}")


def headline(label: str, value: Any, fmt: str = "{:.3f}", section: str = "") -> dict:
    """One headline number of a chapter for the results page, in words: ``label`` (what it is, with its unit),
    ``value`` (a number or a :class:`mia_lib.metrics.Interval`, whose bounds become the ``ci``), ``text`` (the
    value formatted with ``fmt``, with its interval) and the ``section`` of the chapter that explains it. A chapter
    saves a list of these under ``"headline"`` in its results file."""
    ci = None
    if isinstance(value, tuple) and len(value) == 3:  # an Interval
        value, lo, hi = (float(v) for v in value)
        if lo == lo and hi == hi:
            ci = [lo, hi]
    plain = to_plain(value)
    if plain is None or (isinstance(plain, float) and plain != plain):
        text = "n/a"
    elif isinstance(plain, (int, float)) and not isinstance(plain, bool):
        text = fmt.format(plain) + ("" if ci is None else f" [{fmt.format(ci[0])}, {fmt.format(ci[1])}]")
    else:
        text = str(plain)
    return {"label": label, "value": plain, "ci": ci, "text": text, "section": section}
