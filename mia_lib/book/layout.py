"""Where the book's files live under its root: the executed notebooks (``_build/executed/<stem>.ipynb``, from
``notebooks/<stem>.py``) and the documents that ``_toc.yml`` lists, in reading order."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import yaml

from .errors import RunnerError

__all__ = ["EXECUTED_DIR", "executed_path", "toc_notebooks", "toc_documents", "display_path", "publish"]

#: Executed notebooks live here, relative to the root; the toc names them as ``_build/executed/<stem>``.
EXECUTED_DIR = Path("_build") / "executed"


def executed_path(notebook: str | os.PathLike, root: str | os.PathLike = ".") -> Path:
    """``ROOT/_build/executed/<stem>.ipynb`` (absolute ``Path``) for ``notebooks/<stem>.py``."""
    return Path(root).resolve() / EXECUTED_DIR / f"{Path(notebook).stem}.ipynb"


def display_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` (POSIX) when it lies inside it, else absolute: how messages and metadata name
    files."""
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(Path(path).resolve())


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give a finished temp file ordinary permissions (mkstemp creates 0600; the umask decides) and rename it over
    ``path`` atomically, so a reader never sees a half-written file."""
    mask = os.umask(0o022)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    os.replace(tmp, path)


def _toc_files(entry: Any) -> Iterator[str]:
    """Every ``file:`` value of a jb-book/jb-article toc, depth first, in reading order."""
    if isinstance(entry, dict):
        if isinstance(entry.get("root"), str):
            yield entry["root"]
        if isinstance(entry.get("file"), str):
            yield entry["file"]
        for key in ("parts", "chapters", "sections", "entries", "subtrees"):
            for child in entry.get(key) or ():
                yield from _toc_files(child)
    elif isinstance(entry, list):
        for child in entry:
            yield from _toc_files(child)


def _read_toc(root: Path) -> dict:
    """The parsed ``ROOT/_toc.yml``; :class:`RunnerError` when it is missing or malformed."""
    toc_path = root / "_toc.yml"
    if not toc_path.is_file():
        raise RunnerError(f"table of contents not found: {toc_path}")
    try:
        toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RunnerError(f"malformed {toc_path}: {exc}") from None
    if not isinstance(toc, dict) or "root" not in toc:
        raise RunnerError(f"malformed {toc_path}: expected a mapping with 'format', 'root' and 'chapters'/'parts'")
    return toc


def toc_notebooks(root: str | os.PathLike = ".") -> list[Path]:
    """Notebook sources (absolute ``Path``\\ s) for the toc entries under ``_build/executed/``, in toc order.

    ``_build/executed/NN_name`` (with or without ``.ipynb``) maps to ``ROOT/notebooks/NN_name.py``.  Raises
    :class:`RunnerError` if ``_toc.yml`` is missing or malformed, or if a notebook source is missing.
    """
    root = Path(root).resolve()
    toc_path = root / "_toc.yml"
    toc = _read_toc(root)
    prefix = EXECUTED_DIR.as_posix() + "/"
    notebooks: list[Path] = []
    missing: list[str] = []
    for file in _toc_files(toc):
        file = file.strip()
        if not file.startswith(prefix):
            continue
        name = file[len(prefix) :]
        if name.endswith(".ipynb"):
            name = name[: -len(".ipynb")]
        if not name or "/" in name:
            raise RunnerError(f"{toc_path}: entry {file!r} must be {prefix}<notebook stem>, without subfolders")
        source = root / "notebooks" / f"{name}.py"
        if source in notebooks:
            raise RunnerError(f"{toc_path}: {file!r} is listed twice")
        if not source.is_file():
            missing.append(f"{file} -> notebooks/{name}.py")
        notebooks.append(source)
    if missing:
        raise RunnerError(f"{toc_path} lists notebooks whose source is missing: " + "; ".join(missing))
    return notebooks


def toc_documents(root: str | os.PathLike = ".") -> list[str]:
    """Every document of ``ROOT/_toc.yml`` (root first, then depth first), without suffix: ``book/intro``,
    ``_build/executed/01_x``, ...; the HTML page of each is ``_build/html/<document>.html``.  Raises
    :class:`RunnerError` if ``_toc.yml`` is missing or malformed."""
    toc = _read_toc(Path(root).resolve())
    docs: list[str] = []
    for file in _toc_files(toc):
        file = file.strip()
        for suffix in (".ipynb", ".md", ".rst"):
            file = file.removesuffix(suffix)
        if file not in docs:
            docs.append(file)
    return docs
