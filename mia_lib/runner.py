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
* **Re-run note.**  Every executed notebook gets, under its title, an admonition with the exact reproducing
  command, the run's wall time, hardware and date (glued from ``metadata["mia_lib"]`` by a hidden cell at the end),
  how to scale the run up, and download links to its ``.py`` source and executed ``.ipynb``
  (:func:`add_run_info`).  Injected here, from the run's metadata, so that no notebook has to carry it.
* **Results overview.**  :func:`results_overview` and :func:`results_markdown` gather the headline numbers of
  every chapter's ``results/<stem>.json`` in toc order, for ``notebooks/99_results_overview.py``, the last chapter.
"""

from __future__ import annotations

import os
import platform
import posixpath
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
    "RUN_INFO_TAG",
    "notebook_parameters",
    "human_seconds",
    "hardware_text",
    "run_info_glue",
    "rerun_admonition",
    "add_run_info",
    "toc_documents",
    "ChapterResults",
    "results_overview",
    "format_value",
    "results_markdown",
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


def _cpu_model() -> str | None:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else ``platform.processor()`` or None."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split()) or None
    except OSError:
        pass
    return platform.processor() or None


def _hardware() -> tuple[str, dict[str, Any]]:
    """(torch device, hostname-free hardware description)."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "system": platform.system(),
        "python": platform.python_version(),
        "cpu_model": _cpu_model(),
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
def _kernel_environment() -> Iterator[None]:
    """Environment of the notebook kernel, restored afterwards.

    * ``MPLBACKEND`` = inline even if the caller exported another backend (e.g. Agg in CI): ipykernel only
      selects inline when MPLBACKEND is unset, and with Agg no figure reaches the book.
    * ``TQDM_DISABLE=1``: the library's progress bars would land in the page as stderr text (papermill shows
      per-cell progress instead); interactive use keeps them.
    """
    wanted = {"MPLBACKEND": _INLINE_BACKEND, "TQDM_DISABLE": "1"}
    old = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


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
    command, the wall time, the torch device and a hostname-free hardware description, and :func:`add_run_info`
    puts a "Re-run this page" admonition under the notebook's title (glued from that metadata).

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
        defaults = notebook_parameters(nb)
        with _kernel_environment():
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
        add_run_info(nb, nb.metadata["mia_lib"], defaults, source=rel_nb if not Path(rel_nb).is_absolute() else None)
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
    """Notebook sources for the toc entries under ``_build/executed/``, in toc order.

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


# ------------------------------------------------------------------------------------- re-run note on each page
#: Tag of the cells that :func:`add_run_info` adds to an executed notebook (so that they can be found again).
RUN_INFO_TAG = "mia-run-info"
_RUN_INFO_KEYS = ("mia_run_wall_time", "mia_run_hardware", "mia_run_finished")
_H1 = re.compile(r"^#\s+\S", re.MULTILINE)


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


def human_seconds(seconds: float) -> str:
    """``12.3 s``, ``4 min 05 s`` or ``1 h 02 min`` for a duration in seconds."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def hardware_text(meta: dict[str, Any]) -> str:
    """One line describing the machine of a run from its ``metadata["mia_lib"]`` (:func:`run_notebook`), e.g.
    ``"CPU only: 2 cores (AMD EPYC 7B13), Linux x86_64, torch 2.14.1, Python 3.11.2"``."""
    hw = meta.get("hardware") or {}
    cores = hw.get("cpu_count")
    cpu = f"{cores} CPU cores" if cores else "CPU"
    if hw.get("cpu_model"):
        cpu += f" ({hw['cpu_model']})"
    if meta.get("device") == "cuda" and hw.get("gpu"):
        n = hw.get("gpu_count") or 1
        head = f"GPU: {hw['gpu']}" + (f" ×{n}" if n > 1 else "") + f", {cpu}"
    else:
        head = f"CPU only: {cpu}"
    rest = [f"{hw.get('system', '')} {hw.get('machine', '')}".strip()]
    if hw.get("torch"):
        rest.append(f"torch {hw['torch']}")
    if hw.get("python"):
        rest.append(f"Python {hw['python']}")
    return ", ".join([head] + [r for r in rest if r])


def run_info_glue(meta: dict[str, Any]) -> dict[str, str]:
    """The texts glued for the re-run note: ``{"mia_run_wall_time": "12.3 s", "mia_run_hardware": ...,
    "mia_run_finished": "2026-01-02 03:04 UTC"}`` from a run's ``metadata["mia_lib"]``."""
    finished = str(meta.get("finished_utc") or "")
    if re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d", finished):
        finished = finished[:10] + " " + finished[11:16] + " UTC"
    return {
        "mia_run_wall_time": human_seconds(float(meta.get("wall_time_s") or 0.0)),
        "mia_run_hardware": hardware_text(meta),
        "mia_run_finished": finished or "unknown",
    }


def _scale_up(meta: dict[str, Any], defaults: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """(bullet lines, extra -p parameters) suggesting a bigger run, for the knobs this notebook has."""
    params = dict(meta.get("parameters") or {})
    lines: list[str] = []
    extra: dict[str, Any] = {}
    if params.get("quick"):
        lines.append("**Full size**: drop `--quick` first; quick mode shrinks data, models and epochs for a smoke test.")
    if "device" in defaults:
        lines.append('**GPU**: `device = "auto"` uses a CUDA GPU by itself when one is visible; `-p device cuda` '
                     "insists (and fails loudly without one).")
        extra["device"] = "cuda"
    if "dataset" in defaults and "data_dir" in defaults:
        lines.append("**Full data**: `-p dataset mnist -p data_dir /path/to/data` reads full-scale torchvision data "
                     "that you downloaded once (`svhn`, `cifar10`, `cifar100` likewise; see the README).")
        extra.update(dataset="mnist", data_dir="/path/to/data")
    n_shadow = params.get("n_shadow", defaults.get("n_shadow"))
    if isinstance(n_shadow, int) and not isinstance(n_shadow, bool) and n_shadow > 0:
        lines.append(f"**More shadow models**: `-p n_shadow {2 * n_shadow}` (twice this run's `n_shadow`; training "
                     "time grows about linearly with it).")
        extra["n_shadow"] = 2 * n_shadow
    return lines, extra


def rerun_admonition(meta: dict[str, Any], defaults: dict[str, Any], source: str | None = None) -> str:
    """MyST text of the "Re-run this page" admonition for a run's ``metadata["mia_lib"]``.

    It shows the exact reproducing command, glues the wall time, hardware and finishing time
    (:func:`run_info_glue` keys, pasted with ``{glue:text}``), says how to scale the run up for the knobs that the
    notebook's parameters cell has (``defaults``, from :func:`notebook_parameters`), and, when ``source`` (the
    notebook's path relative to the root) is given, links the ``.py`` source and the executed ``.ipynb`` for
    download.
    """
    command = str(meta.get("command") or "")
    notebook = str(meta.get("notebook") or source or "")
    params = dict(meta.get("parameters") or {})
    lines = [
        ":::{admonition} Re-run this page",
        f":class: tip {RUN_INFO_TAG}",
        "",
        "This page was produced by the following command, run in the repository root (with the project's",
        "virtualenv, `python` is `.venv/bin/python`):",
        "",
        "```bash",
        command,
        "```",
        "",
        "It took {glue:text}`mia_run_wall_time` on a machine with {glue:text}`mia_run_hardware`, and finished on",
        "{glue:text}`mia_run_finished`.",
    ]
    if params.get("quick"):
        lines += ["", "**Quick mode**: this page was built with `--quick` (tiny data, few models, few epochs). Its",
                  "numbers only show that the code runs; they are not the chapter's results."]
    bullets, extra = _scale_up(meta, defaults)
    if bullets:
        lines += ["", "To scale it up:", ""] + [f"- {b}" for b in bullets]
        scaled = {k: v for k, v in params.items() if k != "quick"}
        scaled.update(extra)
        lines += ["", "For example:", "", "```bash", command_line(notebook, scaled, quick=False), "```"]
    knobs = [k for k in defaults if k != "quick"]
    if knobs:
        lines += ["", "Every knob of the notebook's parameters cell can be set with `-p NAME VALUE`: "
                  + ", ".join(f"`{k}`" for k in knobs) + "."]
    if source:
        stem = Path(source).stem
        to_source = posixpath.relpath(source, EXECUTED_DIR.as_posix())
        lines += ["", f"To adapt its cells, download the source {{download}}`{Path(source).name} <{to_source}>` "
                  f"(a Jupytext percent file) or the executed notebook {{download}}`{stem}.ipynb <{stem}.ipynb>`."]
    lines.append(":::")
    return "\n".join(lines)


def add_run_info(nb: Any, meta: dict[str, Any], defaults: dict[str, Any], source: str | None = None) -> Any:
    """Add the re-run note to an executed notebook (in place; also returned).

    A markdown cell with :func:`rerun_admonition` goes right after the first markdown cell that holds the H1
    title (at the top when there is none), and a ``remove-cell`` code cell at the end carries the
    :func:`run_info_glue` values as glue outputs (the same outputs that ``report.glue`` would produce if the cell
    were run again).  Both cells are tagged :data:`RUN_INFO_TAG`; cells from an earlier call are replaced.
    """
    import nbformat

    nb.cells = [c for c in nb.cells if RUN_INFO_TAG not in c.get("metadata", {}).get("tags", [])]
    note = nbformat.v4.new_markdown_cell(rerun_admonition(meta, defaults, source), metadata={"tags": [RUN_INFO_TAG]})
    values = run_info_glue(meta)
    code = [
        "# Added by `python -m mia_lib run` after the run: how this page was produced, for the note at the top.",
        "from mia_lib import report",
    ] + [f"report.glue({key!r}, {value!r})" for key, value in values.items()]
    outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"application/papermill.record/text/plain": repr(value)},
            metadata={"scrapbook": {"name": key, "mime_prefix": "application/papermill.record/"}},
        )
        for key, value in values.items()
    ]
    glue_cell = nbformat.v4.new_code_cell("\n".join(code), metadata={"tags": ["remove-cell", RUN_INFO_TAG]},
                                          outputs=outputs)
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        note.pop("id", None)
        glue_cell.pop("id", None)
    at = next((i + 1 for i, c in enumerate(nb.cells) if c.get("cell_type") == "markdown" and _H1.search(c.source)), 0)
    nb.cells.insert(at, note)
    nb.cells.append(glue_cell)
    return nb


# ------------------------------------------------------------------------------------------ results overview
def toc_documents(root: str | os.PathLike = ".") -> list[str]:
    """Every document of ``ROOT/_toc.yml`` (root first, then depth first), without suffix: ``book/intro``,
    ``_build/executed/01_x``, ...; the HTML page of each is ``_build/html/<document>.html``."""
    toc = _read_toc(Path(root).resolve())
    docs: list[str] = []
    for file in _toc_files(toc):
        file = file.strip()
        for suffix in (".ipynb", ".md", ".rst"):
            file = file.removesuffix(suffix)
        if file not in docs:
            docs.append(file)
    return docs


@dataclass
class ChapterResults:
    """Headline numbers of one executed chapter, for :func:`results_markdown`."""

    stem: str  #: notebook stem, e.g. ``01_lira_and_memorization``
    doc: str  #: toc document, e.g. ``_build/executed/01_lira_and_memorization``
    numbers: list[tuple[str, Any]]  #: (key, value) of the first scalar entries of ``results/<stem>.json``
    n_more: int  #: scalar entries left out of ``numbers``
    has_results: bool  #: whether ``results/<stem>.json`` exists
    mode: str | None  #: ``default``, ``quick`` or ``custom: -p ...`` (from the executed notebook), None if unknown
    wall_time_s: float | None  #: the run's wall time, None if unknown


_BOOKKEEPING = {"config", "quick", "seed", "cwd"}


def _is_headline(key: str, value: Any) -> bool:
    if key in _BOOKKEEPING or "seconds" in key:
        return False
    if isinstance(value, str):
        return len(value) <= 80
    return isinstance(value, (bool, int, float))


def results_overview(
    root: str | os.PathLike = ".", *, exclude: Iterable[str] = (), max_per_chapter: int = 8
) -> list[ChapterResults]:
    """Headline numbers of every executed chapter of ``ROOT/_toc.yml``, in toc order.

    For each toc entry ``_build/executed/<stem>`` (except stems in ``exclude``), the first ``max_per_chapter``
    top-level entries of ``results/<stem>.json`` that are numbers, booleans or short strings, in the order the
    chapter saved them (bookkeeping such as ``config``, ``quick``, ``seed`` and ``*seconds*`` is left out), plus
    how the chapter was run, read from ``_build/executed/<stem>.ipynb``'s ``metadata["mia_lib"]``.
    """
    import json

    root = Path(root).resolve()
    prefix = EXECUTED_DIR.as_posix() + "/"
    skip = set(exclude)
    chapters: list[ChapterResults] = []
    for doc in toc_documents(root):
        if not doc.startswith(prefix) or doc[len(prefix):] in skip:
            continue
        stem = doc[len(prefix):]
        path = root / "results" / f"{stem}.json"
        results = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
        scalars = [(k, v) for k, v in (results or {}).items() if _is_headline(k, v)]
        mode, wall = None, None
        executed = root / EXECUTED_DIR / f"{stem}.ipynb"
        if executed.is_file():
            meta = json.loads(executed.read_text(encoding="utf-8")).get("metadata", {}).get("mia_lib", {})
            params = dict(meta.get("parameters") or {})
            others = {k: v for k, v in params.items() if k != "quick"}
            mode = "quick" if params.get("quick") else "default"
            if others:
                mode += ", " + " ".join(f"-p {k} {_format_value(v)}" for k, v in others.items())
            wall = meta.get("wall_time_s")
        chapters.append(ChapterResults(stem, doc, scalars[:max_per_chapter], max(0, len(scalars) - max_per_chapter),
                                       results is not None, mode, wall))
    return chapters


def format_value(value: Any) -> str:
    """A results value for a table: ``yes``/``no``, ``1,797``, three significant digits (``0.59``,
    ``0.000974``, ``23``), thousands without decimals, ``n/a`` for NaN."""
    import math

    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def results_markdown(chapters: Sequence[ChapterResults]) -> str:
    """One MyST table of every chapter's headline numbers (:func:`results_overview`): columns chapter (a
    ``{doc}`` link, so a missing chapter fails the strict build), run (mode and wall time), result (the key in
    ``results/<stem>.json``) and value."""
    rows = ["| chapter | run | result | value |", "|:---|:---|:---|---:|"]
    for ch in chapters:
        link = f"{{doc}}`/{ch.doc}`"
        run = ch.mode or "not run"
        if ch.wall_time_s is not None:
            run += f", {human_seconds(float(ch.wall_time_s))}"
        entries = [(f"`{k}`" if "`" not in k else k, format_value(v)) for k, v in ch.numbers]
        if ch.n_more:
            entries.append((f"... {ch.n_more} more in `results/{ch.stem}.json`", ""))
        if not ch.has_results:
            entries = [(f"no `results/{ch.stem}.json`", "")]
        elif not entries:
            entries = [(f"no scalar entries in `results/{ch.stem}.json`", "")]
        for i, (key, value) in enumerate(entries):
            first = i == 0
            rows.append(f"| {link if first else ''} | {_cell(run) if first else ''} | {_cell(key)} | {_cell(value)} |")
    return "\n".join(rows)
