"""Notebook parameters: ``-p KEY VALUE`` values parsed as YAML, the reproducing command line built from them, and
the defaults read from a notebook's ``parameters`` cell."""

from __future__ import annotations

import re
import shlex
from typing import Any, Iterable, Sequence

import yaml

from .errors import RunnerError

__all__ = ["parse_value", "parse_params", "quote_value", "command_line", "notebook_parameters"]

_SCI_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")
_PLAIN_TYPES = (str, int, float, bool, type(None), list, dict)


def parse_value(text: str) -> Any:
    """Parse one ``-p`` value with ``yaml.safe_load``: ``256`` → int, ``0.1`` → float, ``true`` → bool,
    ``null`` → None, ``[1, 2]`` → list, ``digits`` → str, and (unlike plain YAML 1.1) ``1e-3`` → float.
    An empty string stays ``""``, and YAML types that are not plain JSON (dates, ...) stay the original string.
    Note YAML 1.1: ``yes``/``no``/``on``/``off`` are bools; quote them
    (``-p x '"off"'``) to pass a string.  Raises :class:`RunnerError` for text that is not valid YAML.
    """
    if text == "":
        return ""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RunnerError(f"malformed parameter value {text!r}: not valid YAML ({problem})") from None
    if isinstance(value, str) and _SCI_FLOAT.match(text.strip()):
        return float(text)  # YAML 1.1 reads 1e-3 as a string; a learning rate should be a float
    if not _is_plain(value):
        return text
    return value


def _is_plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    return isinstance(value, _PLAIN_TYPES)


def parse_params(pairs: Iterable[Sequence[str]] | None) -> dict[str, Any]:
    """Turn ``[(key, value), ...]`` from ``-p KEY VALUE`` into a dict (a repeated key: the last one wins).

    Raises :class:`RunnerError` for a key that is not a Python identifier or a value that is not valid YAML.
    """
    params: dict[str, Any] = {}
    for pair in pairs or ():
        if len(pair) != 2:
            raise RunnerError(f"malformed parameter {' '.join(map(str, pair))!r}: expected -p KEY VALUE")
        key, text = pair
        if not key.isidentifier() or key in {"True", "False", "None"} or _iskeyword(key):
            raise RunnerError(
                f"malformed parameter name {key!r}: expected a Python identifier such as n_shadow (usage: -p KEY VALUE)"
            )
        params[key] = parse_value(text)
    return params


def _iskeyword(name: str) -> bool:
    import keyword

    return keyword.iskeyword(name)


def quote_value(value: Any) -> str:
    """Inverse of :func:`parse_value` for the reproducing command line: the shell-quoted ``-p`` text of a plain
    value (``256`` → ``256``, ``"two words"`` → ``'two words'``, the string ``"256"`` → ``''"'"'256'"'"''``)."""
    if isinstance(value, str) and value != "" and parse_value(value) == value:
        return shlex.quote(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    return shlex.quote(text)


def command_line(notebook: str, parameters: dict[str, Any], quick: bool) -> str:
    """The command (one ``str``) that reproduces a run, to be typed in the repository root:
    ``python -m mia_lib run NOTEBOOK [--quick] [-p KEY VALUE ...]`` for ``notebook`` (its path as typed, relative
    to the root) and ``parameters`` (``{name: plain value}``; ``quick`` is left out when ``quick`` is true)."""
    parts = ["python", "-m", "mia_lib", "run", shlex.quote(notebook)]
    if quick:
        parts.append("--quick")
    for key, value in parameters.items():
        if quick and key == "quick":
            continue
        parts += ["-p", key, quote_value(value)]
    return " ".join(parts)


def notebook_parameters(nb: Any) -> dict[str, Any]:
    """``{name: default}`` of the cell tagged ``parameters`` of a notebook (``nbformat`` node), in order.

    Only plain ``name = <literal>`` assignments are read (``ast.literal_eval``); anything else in the cell is
    ignored, and a notebook without such a cell gives ``{}``.
    """
    import ast

    for cell in nb.cells:
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                return {}
            params: dict[str, Any] = {}
            for node in tree.body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    try:
                        params[node.targets[0].id] = ast.literal_eval(node.value)
                    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                        continue
            return params
    return {}
