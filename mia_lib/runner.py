"""Notebook → book pipeline: execute Jupytext notebooks with papermill, then build the Jupyter Book strictly.

Pattern (DESIGN.md, "Notebooks")::

    notebooks/NN_topic.py --jupytext.read--> papermill (kernel python3, cwd=ROOT, parameters)
        --> ROOT/_build/executed/.NN_topic.<random>.ipynb  --os.replace on success-->  ROOT/_build/executed/NN_topic.ipynb
    jupyter-book build ROOT -W -n --keep-going --all   (execute_notebooks: "off": the book only renders)

Decisions
---------
* **Stale outputs.**  A run that does not succeed (a cell raises, the kernel dies, Ctrl-C, ...) deletes its temp
  file *and* any existing ``_build/executed/<stem>.ipynb`` from an earlier run.  So after a failure there is no
  executed notebook for that chapter at all, and a later ``jupyter-book build`` fails (the toc names a missing
  document) instead of quietly rendering an out-of-date or half-executed page.
* **book runs every notebook, then fails.**  ``book`` executes all notebooks in toc order even if one fails (with
  ``fail_fast=True`` it stops at the first failure), prints a summary of the failures and exits 1 *without*
  building.  The build itself always starts from a fresh environment (``--all``): with an incremental build, a
  warning in an unchanged page would not be re-emitted and ``-W`` would let it through on the second run.
* **Exit codes.**  0 success; 1 a notebook or the build failed; 2 a usage error (missing notebook or ``_toc.yml``,
  malformed ``-p``).
"""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence, TextIO

import yaml

__all__ = [
    "EXECUTED_DIR",
    "KERNEL_NAME",
    "RunnerError",
    "NotebookFailed",
    "RunResult",
    "parse_value",
    "parse_params",
    "executed_path",
    "run_notebook",
    "toc_notebooks",
    "build_book",
    "book",
]

#: Executed notebooks live here, relative to the root; the toc names them as ``_build/executed/<stem>``.
EXECUTED_DIR = Path("_build") / "executed"
#: Jupyter kernel used for every notebook (a percent ``.py`` carries no kernelspec of its own).
KERNEL_NAME = "python3"
_KERNELSPEC = {"name": KERNEL_NAME, "display_name": "Python 3 (ipykernel)", "language": "python"}
_INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_SCI_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+$")
_PLAIN_TYPES = (str, int, float, bool, type(None), list, dict)


class RunnerError(Exception):
    """A usage error (missing file, malformed toc or parameter); the CLI exits with status 2."""

    exit_code = 2


class NotebookFailed(RunnerError):
    """A notebook did not execute successfully; the CLI exits with status 1."""

    exit_code = 1


@dataclass
class RunResult:
    """Outcome of one :func:`run_notebook` call."""

    notebook: Path
    output: Path | None
    seconds: float
    ok: bool
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------- parameters
def parse_value(text: str) -> Any:
    """Parse one ``-p`` value with ``yaml.safe_load``: ``256`` → int, ``0.1`` → float, ``true`` → bool,
    ``null`` → None, ``[1, 2]`` → list, ``digits`` → str, and (unlike plain YAML 1.1) ``1e-3`` → float.  An empty string stays ``""``, and YAML types that are
    not plain JSON (dates, ...) stay the original string.  Note YAML 1.1: ``yes``/``no``/``on``/``off`` are bools;
    quote them (``-p x '"off"'``) to pass a string.
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


def _format_value(value: Any) -> str:
    """Inverse of :func:`parse_value` for the reproducing command line."""
    if isinstance(value, str) and value != "" and parse_value(value) == value:
        return shlex.quote(value)
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    return shlex.quote(text)


def command_line(notebook: str, parameters: dict[str, Any], quick: bool) -> str:
    """The command that reproduces a run, to be typed in the repository root."""
    parts = ["python", "-m", "mia_lib", "run", shlex.quote(notebook)]
    if quick:
        parts.append("--quick")
    for key, value in parameters.items():
        if quick and key == "quick":
            continue
        parts += ["-p", key, _format_value(value)]
    return " ".join(parts)


# ------------------------------------------------------------------------------------------------------ running
def executed_path(notebook: str | os.PathLike, root: str | os.PathLike = ".") -> Path:
    """``ROOT/_build/executed/<stem>.ipynb`` for ``notebooks/<stem>.py``."""
    return Path(root).resolve() / EXECUTED_DIR / f"{Path(notebook).stem}.ipynb"


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _display_path(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path.resolve())


def _hardware() -> tuple[str, dict[str, Any]]:
    """(torch device, hostname-free hardware description)."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "system": platform.system(),
        "python": platform.python_version(),
        "gpu": None,
    }
    device = "cpu"
    try:
        import torch

        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            device = "cuda"
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
    except Exception as exc:  # pragma: no cover - torch is a hard dependency
        info["torch"] = f"unavailable ({type(exc).__name__})"
    return device, info


@contextmanager
def _inline_matplotlib() -> Iterator[None]:
    """Make the kernel use the inline backend even if the caller exported MPLBACKEND (e.g. Agg in CI):
    ipykernel only selects inline when MPLBACKEND is unset, and with Agg no figure reaches the book."""
    old = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = _INLINE_BACKEND
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = old


def _describe_failure(exc: BaseException) -> tuple[str, str]:
    """(one-line description of the failing cell's exception, traceback text or '')."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        evalue = _ANSI.sub("", str(exc.evalue or "")).strip()
        first = (exc.source or "").strip().splitlines()
        where = f"cell In [{exc.exec_count}]" if exc.exec_count is not None else f"cell #{exc.cell_index}"
        if first:
            where += f" (starting {first[0][:60]!r})"
        tb = _ANSI.sub("", "\n".join(exc.traceback or []))
        return f"{where} raised {exc.ename}: {evalue}" if evalue else f"{where} raised {exc.ename}", tb
    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
        return f"execution was interrupted ({type(exc).__name__})", ""
    msg = _ANSI.sub("", str(exc)).strip().splitlines()
    return f"{type(exc).__name__}: {msg[0] if msg else ''}".rstrip(": "), ""


def run_notebook(
    notebook: str | os.PathLike,
    *,
    root: str | os.PathLike = ".",
    parameters: dict[str, Any] | None = None,
    quick: bool = False,
    progress_bar: bool = True,
    stream: TextIO | None = None,
) -> RunResult:
    """Execute a Jupytext percent notebook and write ``ROOT/_build/executed/<stem>.ipynb`` on success only.

    The kernel (``python3``) runs with ``cwd=root``, so notebooks write ``results/`` and ``.cache/`` under the root.
    ``parameters`` (plus ``quick=True`` when ``quick``) are injected by papermill after the cell tagged
    ``parameters``.  The executed notebook's ``metadata["mia_lib"]`` records the parameters, the reproducing
    command, the wall time, the torch device and a hostname-free hardware description.

    On failure the temp file and any earlier output for this notebook are deleted, an error paragraph naming the
    notebook and the failing cell's exception is printed to ``stream`` (default stderr), and
    :class:`NotebookFailed` is raised.  A missing notebook raises :class:`RunnerError`.
    """
    stream = stream or sys.stderr
    root = Path(root).resolve()
    nb_path = Path(notebook)
    if not nb_path.is_absolute() and not nb_path.exists() and (root / nb_path).exists():
        nb_path = root / nb_path  # relative to the root when not relative to the cwd
    nb_path = nb_path.resolve()
    if not nb_path.is_file():
        raise RunnerError(f"notebook not found: {notebook} (looked in {Path.cwd()} and {root})")
    if nb_path.suffix != ".py":
        raise RunnerError(f"expected a Jupytext percent notebook NOTEBOOK.py, got {notebook}")
    if not root.is_dir():
        raise RunnerError(f"root directory not found: {root}")

    params = dict(parameters or {})
    if quick:
        params["quick"] = True
    rel_nb = _display_path(nb_path, root)
    out = executed_path(nb_path, root)
    rel_out = _display_path(out, root)
    command = command_line(rel_nb, params, quick)

    import jupytext
    import nbformat
    import papermill

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.", suffix=".ipynb")
    os.close(fd)
    tmp = Path(tmp_name)
    start = time.perf_counter()
    try:
        try:
            nb = jupytext.read(nb_path)
        except Exception as exc:
            raise ValueError(f"cannot read it as a Jupytext notebook ({type(exc).__name__}: {exc})") from exc
        nb.metadata["kernelspec"] = dict(_KERNELSPEC)
        with _inline_matplotlib():
            nb = papermill.execute_notebook(
                nb,
                str(tmp),
                parameters=params,
                kernel_name=KERNEL_NAME,
                cwd=str(root),
                progress_bar=progress_bar,
                log_output=False,
            )
        seconds = time.perf_counter() - start
        device, hardware = _hardware()
        nb.metadata["mia_lib"] = {
            "notebook": rel_nb,
            "parameters": params,
            "command": command,
            "wall_time_s": round(seconds, 3),
            "device": device,
            "hardware": hardware,
            "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        pm = nb.metadata.get("papermill", {})
        pm["input_path"], pm["output_path"] = rel_nb, rel_out
        nbformat.write(nb, str(tmp))
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the output ordinary permissions
        os.replace(tmp, out)
    except BaseException as exc:
        seconds = time.perf_counter() - start
        tmp.unlink(missing_ok=True)
        removed = out.exists()
        out.unlink(missing_ok=True)
        what, tb = _describe_failure(exc)
        if tb:
            print(f"\n----- traceback from {rel_nb} -----\n{tb}\n-----", file=stream)
        stale = f" The earlier output {rel_out} was removed so that no stale page can be built." if removed else ""
        message = (
            f"error: notebook {rel_nb} failed after {seconds:.1f} s: {what}. "
            f"No executed notebook was written.{stale} Reproduce with: {command}"
        )
        print(message, file=stream, flush=True)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise  # Ctrl-C / SIGTERM: clean up (above), then stop everything
        raise NotebookFailed(message) from exc
    return RunResult(nb_path, out, seconds, True, None, nb.metadata["mia_lib"])


# --------------------------------------------------------------------------------------------------------- book
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


def toc_notebooks(root: str | os.PathLike = ".") -> list[Path]:
    """Notebook sources for the toc entries under ``_build/executed/``, in toc order.

    ``_build/executed/NN_name`` (with or without ``.ipynb``) maps to ``ROOT/notebooks/NN_name.py``.  Raises
    :class:`RunnerError` if ``_toc.yml`` is missing or malformed, or if a notebook source is missing.
    """
    root = Path(root).resolve()
    toc_path = root / "_toc.yml"
    if not toc_path.is_file():
        raise RunnerError(f"table of contents not found: {toc_path}")
    try:
        toc = yaml.safe_load(toc_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RunnerError(f"malformed {toc_path}: {exc}") from None
    if not isinstance(toc, dict) or "root" not in toc:
        raise RunnerError(f"malformed {toc_path}: expected a mapping with 'format', 'root' and 'chapters'/'parts'")
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


def _jupyter_book_exe() -> str:
    candidate = Path(sys.executable).parent / "jupyter-book"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("jupyter-book")
    if found:
        return found
    raise RunnerError(f"jupyter-book not found next to {sys.executable} or on PATH; run `make book` to install it")


def build_book(root: str | os.PathLike = ".", stream: TextIO | None = None) -> int:
    """Run ``jupyter-book build ROOT -W -n --keep-going --all`` and return its exit status."""
    stream = stream or sys.stdout
    root = Path(root).resolve()
    cmd = [_jupyter_book_exe(), "build", str(root), "-W", "-n", "--keep-going", "--all"]
    print("$ " + " ".join(shlex.quote(c) for c in cmd), file=stream, flush=True)
    return subprocess.call(cmd, cwd=str(root))


def book(
    root: str | os.PathLike = ".",
    *,
    parameters: dict[str, Any] | None = None,
    quick: bool = False,
    fail_fast: bool = False,
    progress_bar: bool = True,
    stream: TextIO | None = None,
) -> int:
    """Execute every notebook named in ``ROOT/_toc.yml`` (toc order), then build the book strictly.

    All notebooks run even if one fails (``fail_fast`` stops at the first failure); if any failed, the build is
    skipped and 1 is returned.  Otherwise the exit status of ``jupyter-book build -W -n --keep-going --all`` is
    returned, and on success the absolute path of ``ROOT/_build/html/index.html`` is printed.
    """
    stream = stream or sys.stdout
    root = Path(root).resolve()
    notebooks = toc_notebooks(root)
    t0 = time.perf_counter()
    failed: list[str] = []
    width = max((len(p.stem) for p in notebooks), default=0)
    for i, nb_path in enumerate(notebooks, 1):
        print(f"[{i}/{len(notebooks)}] running notebooks/{nb_path.name}", file=stream, flush=True)
        try:
            result = run_notebook(
                nb_path, root=root, parameters=parameters, quick=quick, progress_bar=progress_bar
            )
            print(f"[{i}/{len(notebooks)}] {nb_path.stem:<{width}}  ok      {result.seconds:8.1f} s", file=stream, flush=True)
        except NotebookFailed:
            failed.append(nb_path.name)
            print(f"[{i}/{len(notebooks)}] {nb_path.stem:<{width}}  FAILED", file=stream, flush=True)
            if fail_fast:
                break
    t_nb = time.perf_counter() - t0
    print(f"notebooks: {len(notebooks) - len(failed)} ok, {len(failed)} failed, {t_nb:.1f} s", file=stream, flush=True)
    if failed:
        print(
            f"error: {len(failed)} notebook(s) failed ({', '.join(failed)}); the book was not built. "
            "See the error paragraphs above.",
            file=sys.stderr,
            flush=True,
        )
        return 1
    t1 = time.perf_counter()
    status = build_book(root, stream=stream)
    t_build = time.perf_counter() - t1
    print(f"build: {t_build:.1f} s (exit status {status}); total {time.perf_counter() - t0:.1f} s", file=stream)
    if status != 0:
        print(
            f"error: jupyter-book build -W -n failed with exit status {status}: every Sphinx warning is an error; "
            "see the WARNING lines above.",
            file=sys.stderr,
            flush=True,
        )
        return status
    print(f"book: {root / '_build' / 'html' / 'index.html'}", file=stream, flush=True)
    return 0
