"""The "Re-run this page" note under each executed chapter's title: the exact reproducing command, the run's wall
time, hardware and date (glued from ``metadata["mia_lib"]`` by a hidden cell at the end), how to scale the run up,
and download links to the ``.py`` source and the executed ``.ipynb``; above it, for a run with values other than the
notebook's defaults, a one-line notice (:func:`parameter_notice`: "This page was run with `n_shadow = 64`
(default `128`) ...").

Injected by :func:`mia_lib.book.execute.run_notebook` from the run's metadata, so that no notebook has to carry it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from .layout import EXECUTED_DIR
from .params import changed_parameters, command_line, describe_changes, wrap_command

__all__ = [
    "RUN_INFO_TAG",
    "CUSTOM_RUN_CLASS",
    "human_seconds",
    "hardware_text",
    "finished_text",
    "run_info_glue",
    "parameter_notice",
    "rerun_admonition",
    "add_run_info",
]

#: Tag of the cells that :func:`add_run_info` adds to an executed notebook (so that they can be found again).
RUN_INFO_TAG = "mia-run-info"
#: CSS class of the notice that a page was run with non-default parameters (:func:`parameter_notice`).
CUSTOM_RUN_CLASS = "mia-custom-run"
_RUN_INFO_KEYS = ("mia_run_wall_time", "mia_run_hardware", "mia_run_finished")
_H1 = re.compile(r"^#\s+\S", re.MULTILINE)


def human_seconds(seconds: float) -> str:
    """``12.3 s``, ``4 min 05 s`` or ``1 h 02 min`` for a duration in seconds."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def hardware_text(meta: dict[str, Any]) -> str:
    """One line describing the machine of a run from its ``metadata["mia_lib"]``
    (:func:`mia_lib.book.execute.run_notebook`), e.g.
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


def finished_text(meta: dict[str, Any]) -> str:
    """When a run finished, from its ``metadata["mia_lib"]["finished_utc"]``: ``2026-01-02 03:04 UTC``
    (``unknown`` when it was not recorded)."""
    finished = str(meta.get("finished_utc") or "")
    if re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d", finished):
        finished = finished[:10] + " " + finished[11:16] + " UTC"
    return finished or "unknown"


def run_info_glue(meta: dict[str, Any]) -> dict[str, str]:
    """The texts glued for the re-run note: ``{"mia_run_wall_time": "12.3 s", "mia_run_hardware": ...,
    "mia_run_finished": "2026-01-02 03:04 UTC"}`` from a run's ``metadata["mia_lib"]``."""
    return {
        "mia_run_wall_time": human_seconds(float(meta.get("wall_time_s") or 0.0)),
        "mia_run_hardware": hardware_text(meta),
        "mia_run_finished": finished_text(meta),
    }


def _scale_up(meta: dict[str, Any], defaults: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """(bullet lines, extra -p parameters) suggesting a bigger run, for the knobs this notebook has."""
    params = dict(meta.get("parameters") or {})
    lines: list[str] = []
    extra: dict[str, Any] = {}
    if params.get("quick"):
        lines.append(
            "**Full size**: drop `--quick` first; quick mode shrinks data, models and epochs for a smoke test."
        )
    if "device" in defaults:
        lines.append(
            '**GPU**: `device = "auto"` uses a CUDA GPU by itself when one is visible; `-p device cuda` '
            "insists (and fails loudly without one)."
        )
        extra["device"] = "cuda"
    if "dataset" in defaults and "data_dir" in defaults:
        lines.append(
            "**Full data**: `-p dataset mnist -p data_dir /path/to/data` reads full-scale torchvision data "
            "that you downloaded once (`svhn`, `cifar10`, `cifar100` likewise; see the README)."
        )
        extra.update(dataset="mnist", data_dir="/path/to/data")
    n_shadow = params.get("n_shadow", defaults.get("n_shadow"))
    if isinstance(n_shadow, int) and not isinstance(n_shadow, bool) and n_shadow > 0:
        lines.append(
            f"**More shadow models**: `-p n_shadow {2 * n_shadow}` (twice this run's `n_shadow`; training "
            "time grows about linearly with it)."
        )
        extra["n_shadow"] = 2 * n_shadow
    return lines, extra


def parameter_notice(meta: dict[str, Any], defaults: dict[str, Any], source: str | None = None) -> str:
    """MyST text of a one-line warning admonition saying which values of a run (``meta["parameters"]``) differ from
    the notebook's ``defaults`` (:func:`mia_lib.book.params.changed_parameters`; ``quick`` has its own paragraph in
    the re-run note), e.g. "This page was run with `n_shadow = 64` (default `128`), not the book's defaults.";
    ``""`` when every value is a default."""
    changed = changed_parameters(dict(meta.get("parameters") or {}), defaults)
    if not changed:
        return ""
    notebook = str(meta.get("notebook") or source or "")
    restore = f" `python -m mia_lib run {notebook}` restores them." if notebook else ""
    return "\n".join(
        [
            ":::{admonition} Not the default run",
            f":class: warning {CUSTOM_RUN_CLASS}",
            f"This page was run with {describe_changes(changed)}, not the book's defaults.{restore}",
            ":::",
        ]
    )


def rerun_admonition(meta: dict[str, Any], defaults: dict[str, Any], source: str | None = None) -> str:
    """MyST text of the "Re-run this page" admonition for a run's ``metadata["mia_lib"]``.

    It shows the exact reproducing command, glues the wall time, hardware and finishing time
    (:func:`run_info_glue` keys, pasted with ``{glue:text}``), says how to scale the run up for the knobs that the
    notebook's parameters cell has (``defaults``, from :func:`mia_lib.book.params.notebook_parameters`), and, when
    ``source`` (the notebook's path relative to the root) is given, links the ``.py`` source and the executed
    ``.ipynb`` for download.
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
        wrap_command(command),
        "```",
        "",
        "It took {glue:text}`mia_run_wall_time` on a machine with {glue:text}`mia_run_hardware`, and finished on",
        "{glue:text}`mia_run_finished`.",
    ]
    if params.get("quick"):
        lines += [
            "",
            "**Quick mode**: this page was built with `--quick` (tiny data, few models, few epochs). Its",
            "numbers only show that the code runs; they are not the chapter's results.",
        ]
    bullets, extra = _scale_up(meta, defaults)
    if bullets:
        lines += ["", "To scale it up:", ""] + [f"- {b}" for b in bullets]
        scaled = {k: v for k, v in params.items() if k != "quick"}
        scaled.update(extra)
        lines += ["", "For example:", "", "```bash", wrap_command(command_line(notebook, scaled, quick=False)), "```"]
    knobs = [k for k in defaults if k != "quick"]
    if knobs:
        lines += [
            "",
            "Every knob of the notebook's parameters cell can be set with `-p NAME VALUE`: "
            + ", ".join(f"`{k}`" for k in knobs)
            + ".",
        ]
    if source:
        stem = Path(source).stem
        to_source = posixpath.relpath(source, EXECUTED_DIR.as_posix())
        lines += [
            "",
            f"To adapt its cells, download the source {{download}}`{Path(source).name} <{to_source}>` "
            f"(a Jupytext percent file) or the executed notebook {{download}}`{stem}.ipynb <{stem}.ipynb>`.",
        ]
    lines.append(":::")
    return "\n".join(lines)


def add_run_info(nb: Any, meta: dict[str, Any], defaults: dict[str, Any], source: str | None = None) -> Any:
    """Add the re-run note to an executed notebook (an ``nbformat`` node, changed in place; also returned).

    A markdown cell with :func:`parameter_notice` (when the run has non-default values) and :func:`rerun_admonition`
    goes right after the first markdown cell that holds the H1 title (at the top when there is none), and a
    ``remove-cell`` code cell at the end carries the :func:`run_info_glue` values as glue outputs (the same outputs
    that ``report.glue`` would produce if the cell were run again).  Both cells are tagged :data:`RUN_INFO_TAG`;
    cells from an earlier call are replaced.
    """
    import nbformat

    nb.cells = [c for c in nb.cells if RUN_INFO_TAG not in c.get("metadata", {}).get("tags", [])]
    text = rerun_admonition(meta, defaults, source)
    notice = parameter_notice(meta, defaults, source)
    note = nbformat.v4.new_markdown_cell(f"{notice}\n\n{text}" if notice else text, metadata={"tags": [RUN_INFO_TAG]})
    values = run_info_glue(meta)
    code = [
        "# Added by `python -m mia_lib run` after the run: how this page was produced, for the note at the top.",
        "from mia_lib.book import report",
    ] + [f"report.glue({key!r}, {value!r})" for key, value in values.items()]
    outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={"application/papermill.record/text/plain": repr(value)},
            metadata={"scrapbook": {"name": key, "mime_prefix": "application/papermill.record/"}},
        )
        for key, value in values.items()
    ]
    glue_cell = nbformat.v4.new_code_cell(
        "\n".join(code), metadata={"tags": ["remove-cell", RUN_INFO_TAG]}, outputs=outputs
    )
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        note.pop("id", None)
        glue_cell.pop("id", None)
    at = next((i + 1 for i, c in enumerate(nb.cells) if c.get("cell_type") == "markdown" and _H1.search(c.source)), 0)
    nb.cells.insert(at, note)
    nb.cells.append(glue_cell)
    return nb
