"""Notebook parameters: ``-p KEY VALUE`` values parsed as YAML, the reproducing command line built from them, the
defaults read from a notebook's ``parameters`` cell, the check that every ``-p`` name is one of them, and which
values of a run differ from the defaults (for the page's notice, the results overview and ``book``'s "kept")."""

from __future__ import annotations

import re
import shlex
from typing import Any, Iterable, Sequence

import yaml

from .errors import RunnerError

__all__ = [
    "parse_value",
    "parse_params",
    "quote_value",
    "command_line",
    "notebook_parameters",
    "check_parameters",
    "same_value",
    "changed_parameters",
    "describe_changes",
    "flags",
    "UNKNOWN",
]

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


def wrap_command(command: str, width: int = 72) -> str:
    """A :func:`command_line` broken before ``-p`` options with shell continuations (`` \\``), so that no line is
    wider than ``width`` where it can be helped: a code block of the page then needs no sideways scrolling. The
    result runs the same when pasted into a shell."""
    pieces = command.split(" -p ")
    lines, current = [], pieces[0]
    for piece in pieces[1:]:
        if len(current) + len(piece) + 4 > width - 2:
            lines.append(current)
            current = "    -p " + piece
        else:
            current += " -p " + piece
    lines.append(current)
    return " \\\n".join(lines)


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


def check_parameters(parameters: dict[str, Any], defaults: dict[str, Any], notebook: str) -> None:
    """Raise :class:`RunnerError` (exit status 2) unless every name of ``parameters`` (``-p`` values) is a parameter
    of the notebook (``defaults``, from :func:`notebook_parameters`); ``notebook`` names it in the message, which
    lists the notebook's parameters and suggests the closest name (``n_shadw`` → ``n_shadow``).

    Papermill itself only warns ("Passed unknown parameter") and runs with the defaults, so a typo would go unseen.
    """
    unknown = [k for k in parameters if k not in defaults]
    if not unknown:
        return
    import difflib

    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, list(defaults), n=1)
        hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if defaults:
        known = "its parameters are " + ", ".join(f"{k} (default {v!r})" for k, v in defaults.items())
    else:
        known = "it has no cell tagged parameters, so it takes no -p values"
    s = "s" if len(unknown) > 1 else ""
    raise RunnerError(f"unknown parameter{s} {', '.join(hints)} for {notebook}: {known}. Nothing was run.")


def same_value(a: Any, b: Any) -> bool:
    """Whether a run's parameter value ``a`` equals ``b`` (a default): ``==``, except that a bool never equals a
    number (``True == 1`` in Python; ``-p n_shadow true`` is not the default ``n_shadow = 1``)."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    return a == b


#: Marks an unknown default in :func:`changed_parameters` (a run recorded without its notebook's defaults).
UNKNOWN = object()


def changed_parameters(parameters: dict[str, Any], defaults: dict[str, Any] | None) -> dict[str, tuple[Any, Any]]:
    """``{name: (value, default)}`` for the values of a run (``parameters``) that differ from the notebook's
    ``defaults`` (:func:`same_value`), in the run's order; ``quick`` is left out (quick mode has its own note).
    With ``defaults`` None (unknown), every value counts as changed and its default is :data:`UNKNOWN`."""
    changed: dict[str, tuple[Any, Any]] = {}
    for key, value in (parameters or {}).items():
        if key == "quick":
            continue
        if defaults is None or key not in defaults:
            changed[key] = (value, UNKNOWN)
        elif not same_value(value, defaults[key]):
            changed[key] = (value, defaults[key])
    return changed


def describe_changes(changed: dict[str, tuple[Any, Any]]) -> str:
    """MyST text of :func:`changed_parameters`, values as Python literals in code spans:
    ``n_shadow = 64`` (default ``128``), ``dataset = 'mnist'`` (default ``'digits'``), ..."""
    parts = []
    for key, (value, default) in changed.items():
        text = f"`{key} = {value!r}`"
        if default is not UNKNOWN:
            text += f" (default `{default!r}`)"
        parts.append(text)
    return ", ".join(parts)


def flags(parameters: dict[str, Any]) -> str:
    """The ``-p KEY VALUE ...`` text of ``parameters`` as :func:`command_line` writes it (``quick`` left out)."""
    return " ".join(f"-p {k} {quote_value(v)}" for k, v in parameters.items() if k != "quick")
