"""For students and teachers (issue 20): exercises with worked solutions in every chapter, the course path page, and
``make lab`` (JupyterLab with Jupytext on the repository).

The exercise checks read the sources only (no execution): the solutions run in every chapter's quick smoke run
(``tests/test_book.py::test_chapter_runs_quick``) and in the strict book build. The ``make lab`` check starts the
server that the Makefile's ``lab`` target starts, headless on a free loopback port with a token, opens a chapter
through the contents API and saves it back (on a copy), then shuts it down.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import jupytext
import pytest

from mia_lib.book.layout import toc_notebooks
from mia_lib.book.stale import reads_results

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = [p for p in toc_notebooks(REPO) if re.match(r"\d\d_", p.stem) and int(p.stem[:2]) < 90]
COURSE_PATH = "90_course_path"
#: A cell tagged hide-input shows its code inside a fold whose frame takes two columns of the book's 77 at 1280 px
#: (the browser check measured it: a 76-character line scrolls sideways there, a 75-character one does not).
FOLDED_CODE_COLUMNS = 75
SERVER_START_S = 180  # a cold JupyterLab start on a busy 2-core machine takes tens of seconds


def _heading(cell, title: str) -> bool:
    return cell.cell_type == "markdown" and any(line.strip() == f"## {title}" for line in cell.source.splitlines())


def exercise_span(path: Path) -> tuple[list, int, int]:
    """The cells of ``path`` and the span [start, end) from its ``## Exercises`` heading to its ``## Summary``."""
    cells = jupytext.read(path).cells
    start = next((i for i, c in enumerate(cells) if _heading(c, "Exercises")), None)
    end = next((i for i, c in enumerate(cells) if _heading(c, "Summary")), None)
    assert start is not None, f"{path.name}: no '## Exercises' section"
    assert end is not None and start < end, f"{path.name}: '## Exercises' must come before '## Summary'"
    return cells, start, end


def exercises(path: Path) -> list:
    """The cells of ``path`` from its ``## Exercises`` heading to its ``## Summary`` heading (exclusive)."""
    cells, start, end = exercise_span(path)
    return cells[start:end]


def test_every_chapter_is_found():
    stems = [p.stem[:2] for p in CHAPTERS]
    assert stems[:7] == ["01", "02", "03", "04", "05", "06", "07"] and stems == sorted(stems)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_exercises_with_folded_solutions(path):
    """At least two exercises, each a question, a solution cell tagged hide-input (executed with the chapter) and
    its answer in a MyST dropdown made of glued numbers; no solution cell shows an output."""
    cells = exercises(path)
    solutions = [i for i, c in enumerate(cells) if c.cell_type == "code" and "hide-input" in c.metadata.get("tags", [])]
    questions = sum(c.source.count("**Exercise ") for c in cells if c.cell_type == "markdown")
    assert len(solutions) >= 2, f"{path.name}: {len(solutions)} solution cell(s) tagged hide-input"
    assert questions == len(solutions), f"{path.name}: {questions} questions for {len(solutions)} solutions"
    for i in solutions:
        answer = cells[i + 1] if i + 1 < len(cells) else None
        assert answer is not None and answer.cell_type == "markdown", f"{path.name}: no answer after solution {i}"
        text = answer.source
        assert text.lstrip().startswith("```{dropdown} Solution"), f"{path.name}: answer {i} is not a dropdown"
        assert "{glue:text}`ex" in text, f"{path.name}: answer {i} quotes no number of its own solution"
        last = ast.parse(cells[i].source).body[-1]
        assert not isinstance(last, ast.Expr), f"{path.name}: solution {i} ends with an expression (shown)"
    for c in cells:
        if c.cell_type == "code":
            assert "hide-input" in c.metadata.get("tags", []), f"{path.name}: an exercise code cell is not folded"
            wide = [line for line in c.source.splitlines() if len(line) > FOLDED_CODE_COLUMNS]
            assert not wide, f"{path.name}: folded code wider than {FOLDED_CODE_COLUMNS} columns: {wide}"
            assert "def " not in c.source, f"{path.name}: no functions in notebooks"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_exercise_glue_keys_are_their_own(path):
    """The solutions glue under ``ex<N>_...`` keys, so they never overwrite a number the chapter glued."""
    glued = re.compile(r'report\.glue\(\s*"([^"]+)"')
    cells, start, end = exercise_span(path)
    code = [(start <= i < end, c.source) for i, c in enumerate(cells) if c.cell_type == "code"]
    mine = {k for inside, src in code if inside for k in glued.findall(src)}
    theirs = {k for inside, src in code if not inside for k in glued.findall(src)}
    assert mine and all(k.startswith("ex") for k in mine), sorted(mine)
    assert not mine & theirs


def test_course_path_runs_after_the_chapters_it_reads():
    """The course path reads the chapters' executed notebooks (their wall times), so it is a results reader
    (stale when they change) placed after every chapter in the toc, which is the order the runner executes, and
    before the claims ledger and the results overview, which read every page before them."""
    stems = [p.stem for p in toc_notebooks(REPO)]
    source = REPO / "notebooks" / f"{COURSE_PATH}.py"
    assert COURSE_PATH in stems and reads_results(source)
    assert stems.index(COURSE_PATH) > max(stems.index(p.stem) for p in CHAPTERS)
    assert stems[-2:] == ["98_claims", "99_results_overview"]
    conftest = (REPO / "tests" / "conftest.py").read_text(encoding="utf-8")
    needs = re.search(r"^NEEDS_EARLIER_CHAPTERS = (\{.*\})$", conftest, re.MULTILINE)
    assert needs and COURSE_PATH in ast.literal_eval(needs.group(1)), "the quick book runs it after the chapters"
    nb = jupytext.read(source)
    code = [c for c in nb.cells if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]
    assert code and all("remove-input" in c.metadata.get("tags", []) for c in code)
    assert "wall_time_s" in source.read_text(encoding="utf-8")


def test_makefile_lab_target_uses_the_repository_config():
    make = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = make.split("\nlab: $(STAMP)\n", 1)[1].split("\n\n", 1)[0]
    assert "-m jupyterlab --config=jupyter_server_config.py" in recipe
    assert "jupyterlab_overrides.json" in recipe
    pins = (REPO / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(r"^jupyterlab==\d+\.\d+\.\d+$", pins, re.MULTILINE), "JupyterLab is pinned exactly"
    overrides = json.loads((REPO / "jupyterlab_overrides.json").read_text(encoding="utf-8"))
    assert overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]["python"] == "Jupytext Notebook"


def test_lab_kernels_start_in_build_lab_with_the_book_cache(tmp_path):
    """The kernel manager of jupyter_server_config.py starts kernels in _build/lab/ whatever the notebook's folder,
    and the config points MIA_CACHE_DIR at the book's cache unless it is set (in a subprocess: loading the config
    sets the variable)."""
    probe = (
        "import os, sys; from traitlets.config.loader import PyFileConfigLoader; "
        "os.environ.pop('MIA_CACHE_DIR', None); "
        "c = PyFileConfigLoader('jupyter_server_config.py', path=sys.argv[1]).load_config(); "
        "km = c.ServerApp.kernel_manager_class; "
        "print(km.cwd_for_path(km.__new__(km), 'notebooks/01_lira_and_memorization.py')); "
        "print(os.environ['MIA_CACHE_DIR']); print(c.ServerApp.ip)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(REPO)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    cwd, cache, ip = out.stdout.split()
    assert Path(cwd) == REPO / "_build" / "lab" and Path(cwd).is_dir()
    assert Path(cache) == REPO / ".cache" / "mia_lib"
    assert ip == "127.0.0.1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(url: str, token: str, method: str = "GET", body: dict | None = None, timeout: float = 30):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"token {token}", "Content-Type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method), timeout=timeout) as r:
        return json.loads(r.read() or b"null")


@pytest.mark.slow
def test_make_lab_opens_a_chapter_as_a_notebook_and_saves_the_py(tmp_path):
    """The `make lab` server (jupyter_server_config.py, as the Makefile runs it) on a free loopback port with a
    token: GET /api/contents/notebooks/<chapter>.py is a notebook; saved back unchanged, the .py is byte for byte
    the same; saved with a changed parameter, the .py has it, still in the percent format, and no .ipynb appears.
    Run on a copy of notebooks/ (--ServerApp.root_dir), so the repository is never written."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "jupytext.toml", root / "jupytext.toml")
    name = "notebooks/01_lira_and_memorization.py"
    original = (root / name).read_bytes()
    port, token = _free_port(), "mia-lab-test-token"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--config=jupyter_server_config.py",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # as the Makefile does for root
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), JUPYTER_CONFIG_DIR=str(tmp_path / "cfg"))
    log = tmp_path / "server.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            assert proc.poll() is None, f"the server exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
            try:
                _request(f"{base}/api/status", token, timeout=5)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert time.monotonic() < deadline, f"no server after {SERVER_START_S} s:\n{log.read_text()[-3000:]}"
                time.sleep(0.5)
        with pytest.raises(urllib.error.HTTPError) as denied:  # no token, no access
            urllib.request.urlopen(f"{base}/api/contents/{name}", timeout=10)
        assert denied.value.code == 403

        model = _request(f"{base}/api/contents/{name}", token)
        assert model["type"] == "notebook" and model["format"] == "json"
        cells = model["content"]["cells"]
        assert any("parameters" in c["metadata"].get("tags", []) for c in cells)

        _request(
            f"{base}/api/contents/{name}",
            token,
            "PUT",
            {"type": "notebook", "format": "json", "content": model["content"]},
        )
        assert (root / name).read_bytes() == original, "saving an unchanged chapter changed its .py"

        params = next(c for c in cells if "parameters" in c["metadata"].get("tags", []))
        params["source"] = params["source"].replace("n_shadow = 128", "n_shadow = 64")
        _request(
            f"{base}/api/contents/{name}",
            token,
            "PUT",
            {"type": "notebook", "format": "json", "content": model["content"]},
        )
        text = (root / name).read_text(encoding="utf-8")
        assert "n_shadow = 64" in text and "format_name: percent" in text and '# %% tags=["parameters"]' in text
        assert sorted(p.name for p in (root / "notebooks").glob("*.ipynb")) == []
        assert "http://127.0.0.1:" in log.read_text(), "the server listens on the loopback address"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
