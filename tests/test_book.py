"""Book builds: the real book in quick mode (papermill smoke test of every notebook, one test per chapter, + strict
-W -n build) from an empty pool cache, with no stderr output in any executed chapter outside cells tagged
``allow-stderr`` (``mia_lib.book.checks.stray_stderr``, proved here on a planted notebook); a toy book that must build
with zero warnings under the project's _config.yml, and proof that a warning fails the build.

Everything runs in tmp copies, so the repository's own _build/ and results/ are never touched.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mia_lib.book.checks import ALLOW_STDERR_TAG, StrayOutput, scan_executed, stray_stderr
from mia_lib.book.layout import toc_notebooks

REPO = Path(__file__).resolve().parents[1]
SPHINX_WARNING = re.compile(r"(WARNING|ERROR|CRITICAL): ")
#: The chapters of the project's toc, in order (notebook stems): the ids of ``test_chapter_runs_quick``.
CHAPTERS = [p.stem for p in toc_notebooks(REPO)]


def mia_book(root: Path, *args: str, timeout: float) -> subprocess.CompletedProcess:
    """``python -m mia_lib book --root ROOT ARGS`` in a fresh interpreter; output merged for error messages."""
    return subprocess.run(
        [sys.executable, "-m", "mia_lib", "book", "--root", str(root), "--no-progress", *args],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )


def sphinx_warnings(output: str) -> list[str]:
    """Sphinx warning lines (the kernel's own '[IPKernelApp] WARNING | ...' start-up notice is not one)."""
    return [line for line in output.splitlines() if SPHINX_WARNING.search(line) and "IPKernelApp" not in line]


def toc_files(toc: dict) -> list[str]:
    """Every ``root``/``file`` entry of a jb-book toc, in reading order."""
    out: list[str] = []

    def walk(entry):
        if isinstance(entry, dict):
            for key in ("root", "file"):
                if isinstance(entry.get(key), str):
                    out.append(entry[key])
            for key in ("parts", "chapters", "sections"):
                for child in entry.get(key) or ():
                    walk(child)

    walk(toc)
    return out


def tail(text: str, n: int = 80) -> str:
    return "\n".join(text.splitlines()[-n:])


def planted_notebook() -> nbformat.NotebookNode:
    """An executed-looking notebook (no execution): clean cells, a tqdm bar and a warning on stderr, and a warning
    in a cell tagged ``allow-stderr``."""

    def stream(name: str, text: str):
        return new_output("stream", name=name, text=text)

    bar = "\r  0%|          | 0/25 [00:00<?, ?it/s]\r 12%|█▌        | 3/25 [00:01<00:07, 3.1it/s]"
    return new_notebook(
        cells=[
            new_markdown_cell("# A planted chapter"),
            new_code_cell("n_shadow = 4", metadata={"tags": ["parameters"]}, execution_count=1),
            new_code_cell("print('hello')", execution_count=2, outputs=[stream("stdout", "hello\n")]),
            new_code_cell(
                "\npool = load_or_train(cfg)",
                execution_count=3,
                outputs=[stream("stderr", bar), stream("stdout", "done\n"), stream("stderr", "shard 1/2: 3it\n")],
            ),
            new_markdown_cell("Some prose."),
            new_code_cell(
                "import warnings; warnings.warn('shown on purpose')",
                metadata={"tags": ["remove-input", ALLOW_STDERR_TAG]},
                execution_count=4,
                outputs=[stream("stderr", "<string>:1: UserWarning: shown on purpose\n")],
            ),
            new_code_cell(
                "x = 1 / 0",
                execution_count=5,
                outputs=[
                    stream("stderr", "\x1b[31m/tmp/x.py:3: RuntimeWarning: divide by zero\x1b[0m\n  x = 1 / 0\n"),
                    new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[]),
                ],
            ),
        ]
    )


def test_stray_stderr_on_a_planted_notebook(tmp_path):
    """Every stderr stream outside cells tagged allow-stderr is found, with its cell index and first line; stdout,
    errors and allowed cells are not; the file, the folder scan and the command line agree."""
    nb = planted_notebook()
    stray = stray_stderr(nb)
    assert [(s.cell, s.execution_count, s.first_line) for s in stray] == [
        (3, 3, "0%|          | 0/25 [00:00<?, ?it/s]"),
        (3, 3, "shard 1/2: 3it"),
        (6, 5, "/tmp/x.py:3: RuntimeWarning: divide by zero"),
    ]
    assert stray[0].source == "pool = load_or_train(cfg)" and stray[0].chars == len(nb.cells[3].outputs[0].text)
    assert "cell 3 (In [3], 'pool = load_or_train(cfg)')" in str(stray[0])
    assert all(isinstance(s, StrayOutput) for s in stray)

    clean = planted_notebook()
    clean.cells = [
        c for c in clean.cells if c.cell_type == "markdown" or ALLOW_STDERR_TAG in c.metadata.get("tags", [])
    ]
    clean.cells.append(new_code_cell("1", execution_count=9, outputs=[new_output("stream", name="stdout", text="1")]))
    assert stray_stderr(clean) == []

    executed = tmp_path / "_build" / "executed"
    executed.mkdir(parents=True)
    nbformat.write(nb, executed / "01_bad.ipynb")
    nbformat.write(clean, executed / "02_clean.ipynb")
    nbformat.write(nb, executed / ".02_clean.tmp123.ipynb")  # a runner's temp file: not a chapter
    assert stray_stderr(executed / "01_bad.ipynb") == stray
    assert scan_executed([executed]) == {str(executed / "01_bad.ipynb"): stray, str(executed / "02_clean.ipynb"): []}
    cli = [sys.executable, "-m", "mia_lib.book.checks"]
    proc = subprocess.run([*cli, str(executed)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (
        "FAIL" in proc.stdout and "RuntimeWarning: divide by zero" in proc.stdout and "1 clean, 1 with" in proc.stdout
    )
    proc = subprocess.run([*cli, str(executed / "02_clean.ipynb")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([*cli, str(tmp_path / "nothing")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("stem", CHAPTERS, ids=CHAPTERS)
def test_chapter_runs_quick(quick_book, stem):
    """One chapter runs with quick=True (``python -m mia_lib run notebooks/<stem>.py --quick``), writes its
    executed notebook and results/<stem>.json, with no warning in its output and no stderr output in the executed
    notebook outside cells tagged ``allow-stderr`` (progress bars, warnings: each would be a block in the page).
    Each runs once per session (conftest.py's ``quick_book``, from an empty cache, so the pools train here);
    ``-k <stem>`` runs that chapter alone (the results overview after the others)."""
    run = quick_book.chapter(stem)
    root = quick_book.root
    executed = root / "_build" / "executed" / f"{stem}.ipynb"
    assert run.proc.returncode == 0, tail(run.output)
    assert sphinx_warnings(run.output) == []
    assert f"wrote {executed}" in run.output
    assert executed.is_file()
    assert (root / "results" / f"{stem}.json").is_file(), f"notebooks/{stem}.py did not save results/{stem}.json"
    stray = stray_stderr(executed)
    assert stray == [], (
        f"{len(stray)} stderr output(s) in _build/executed/{stem}.ipynb (pools trained in this run: "
        f"{len(run.trained)}); tag the cell {ALLOW_STDERR_TAG!r} if it is meant to show:\n"
        + "\n".join(map(str, stray[:10]))
    )


@pytest.mark.slow
def test_real_book_quick_builds_strictly(quick_book):
    """Every notebook runs with quick=True, writes results/<stem>.json, and the book builds with -W -n.
    (The chapters are those of ``test_chapter_runs_quick``, each run once; the build is conftest.py's
    ``quick_book.build()``, shared with the offline-HTML and browser tests.)"""
    root = quick_book.root
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [f.removesuffix(".ipynb").removesuffix(".md") for f in toc_files(toc)]
    stems = [f.split("/")[-1] for f in files if f.startswith("_build/executed/")]
    assert stems, "the toc lists no executed notebooks"

    proc = quick_book.build()
    assert quick_book.failed_chapters() == {}, "chapters failed, so the book was not built"
    assert sorted(quick_book.runs) == sorted(stems)
    # a cold build: the fixture's root started without .cache/ (conftest.py), so the pools trained in these runs
    trained = {pool for run in quick_book.runs.values() for pool in run.trained}
    assert trained, "no chapter trained a pool: the quick book did not start from an empty cache"
    assert trained == quick_book.pools(), "every pool in the root's cache was trained during this session"
    assert scan_executed([root / "_build" / "executed"]) == {
        str(root / "_build" / "executed" / f"{stem}.ipynb"): [] for stem in stems
    }
    assert sphinx_warnings("\n".join(run.output for run in quick_book.runs.values())) == []
    assert proc.returncode == 0, tail(proc.stdout)
    assert sphinx_warnings(proc.stdout) == []
    index = root / "_build" / "html" / "index.html"
    assert index.is_file()
    assert f"book: {index}" in proc.stdout
    for f in files:
        assert (root / "_build" / "html" / f"{f}.html").is_file(), f"no HTML page for toc entry {f}"
    for stem in stems:
        assert (root / "_build" / "executed" / f"{stem}.ipynb").is_file()
        assert (root / "results" / f"{stem}.json").is_file(), f"notebooks/{stem}.py did not save results/{stem}.json"


TOY_NOTEBOOK = """\
# %% [markdown]
# # A toy chapter
# The parameters cell, papermill's injected cell, glued numbers, a captioned figure, math and a table.

# %% tags=["parameters"]
n_shadow = 4
quick = False

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from mia_lib.book import report
auroc = report.glue("auroc", np.float64(0.6), "{:.3f}")
report.glue("n_shadow", np.int64(n_shadow))
report.glue("share", 0.25, "{:.1%}")

# %% [markdown]
# With {glue:text}`n_shadow` models the AUROC is {glue:text}`auroc` (raw {glue:text}`auroc_raw:.2f`),
# {glue:text}`share` of the data, $\\mathrm{adv} = 2(\\mathrm{AUROC}-\\tfrac12)$ and {numref}`fig-01_toy-roc`:
#
# $$
# p = \\frac{1}{1 + e^{-\\phi}}
# $$ (eq-toy)
#
# Equation {eq}`eq-toy`.
#
# :::{note}
# A colon fence.
# :::

# %% tags=["remove-input"] mystnb={"figure": {"caption": "A toy ROC curve.", "name": "fig-01_toy-roc"}}
fig, ax = plt.subplots()
ax.loglog([1e-3, 1], [1e-2, 1])
ax.set_xlabel("false positive rate");

# %%
pd.DataFrame({"attack": ["loss", "lira"], "auroc": [0.52, 0.6]})

# %%
report.save_results("01_toy", {"auroc": auroc, "n_shadow": n_shadow, "quick": quick})

# %% [markdown]
# ## Summary
# Done.
"""


def make_toy_root(root: Path, intro: str, chapters: list[str], notebooks: dict[str, str]) -> Path:
    """A tmp root with the project's _config.yml, a toy intro and toy notebooks."""
    shutil.copy2(REPO / "_config.yml", root / "_config.yml")
    (root / "book").mkdir()
    (root / "book" / "intro.md").write_text(textwrap.dedent(intro))
    (root / "notebooks").mkdir()
    for name, text in notebooks.items():
        (root / "notebooks" / f"{name}.py").write_text(text)
    toc = {"format": "jb-book", "root": "book/intro"}
    if chapters:
        toc["chapters"] = [{"file": c} for c in chapters]
    (root / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    return root


@pytest.mark.slow
def test_toy_book_builds_with_zero_warnings(tmp_path):
    """The project's _config.yml renders _build/executed/*.ipynb (despite Jupyter Book's default `_build`
    exclusion) and ignores stray files that are not in the toc."""
    root = make_toy_root(
        tmp_path,
        """\
        # Toy intro

        See {doc}`the chapter <../_build/executed/01_toy>` and {numref}`fig-01_toy-roc`.
        """,
        ["_build/executed/01_toy"],
        {"01_toy": TOY_NOTEBOOK},
    )
    # stray sources that must not be picked up (each would be "document isn't included in any toctree")
    for stray in [
        ".pytest_cache/README.md",
        ".venv/lib/x.md",
        "results/notes.md",
        "notes.md",
        "tests/x.md",
        "_build/jupyter_execute/old.ipynb",
        "benchmarks/README.md",
        "mia_lib/doc.md",
    ]:
        (root / stray).parent.mkdir(parents=True, exist_ok=True)
        (root / stray).write_text("# Stray\n")
    proc = mia_book(root, "-p", "n_shadow", "7", timeout=600)
    assert proc.returncode == 0, tail(proc.stdout)
    assert sphinx_warnings(proc.stdout) == []
    page = root / "_build" / "html" / "_build" / "executed" / "01_toy.html"
    assert page.is_file()
    html = page.read_text()
    text = re.sub(r"<[^>]+>", "", html)
    assert "the AUROC is 0.600 (raw 0.60)" in text and "With 7 models" in text and "25.0%" in text
    assert "<img" in html and "A toy ROC curve." in html
    assert (root / "results" / "01_toy.json").is_file()
    assert not (root / "_build" / "html" / "notes.html").exists()


@pytest.mark.slow
def test_strict_build_fails_on_sphinx_warning(tmp_path):
    """A broken cross-reference is only a warning for Sphinx; -W makes `book` exit non-zero."""
    root = make_toy_root(
        tmp_path,
        """\
        # Toy intro

        A reference to {ref}`a-label-that-does-not-exist`.
        """,
        [],
        {},
    )
    proc = mia_book(root, timeout=600)
    assert proc.returncode != 0, tail(proc.stdout)
    assert any("a-label-that-does-not-exist" in w for w in sphinx_warnings(proc.stdout)), tail(proc.stdout)
    assert "book: " not in proc.stdout
