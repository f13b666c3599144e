"""`python -m mia_lib book` runs only what is stale (mia_lib.book.stale): a toy book of two tiny notebooks in a tmp
root, a planted library folder (so that a library change is made without touching mia_lib), and the HTML build
stubbed out (the strict build itself is tests/test_book.py's), so the file takes seconds per kernel start.
"""

from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from mia_lib.__main__ import main
from mia_lib.book import build, execute, stale

NB_A = """\
# %% [markdown]
# # Chapter A

# %% tags=["parameters"]
n_shadow = 4
quick = False

# %%
from mia_lib.book import report
report.save_results("01_a", {"n_shadow": n_shadow, "quick": quick})
"""

NB_B = """\
# %% [markdown]
# # Chapter B: fails while the root holds fail.flag

# %% tags=["parameters"]
seed = 0
quick = False

# %%
import os
if os.path.exists("fail.flag"):
    raise RuntimeError("planted failure")
"""

TOC = """\
format: jb-book
root: book/intro
chapters:
  - file: _build/executed/01_a
  - file: _build/executed/02_b
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A toy book root, a planted library folder, and ``finish_book`` replaced by a stub that counts its calls."""
    root = tmp_path / "root"
    write(root / "_toc.yml", TOC)
    write(root / "book" / "intro.md", "# Intro\n")
    a = write(root / "notebooks" / "01_a.py", NB_A)
    b = write(root / "notebooks" / "02_b.py", NB_B)
    lib = tmp_path / "lib"
    write(lib / "core.py", "VALUE = 1\n")
    write(lib / "sub" / "deep.py", "DEPTH = 2\n")
    builds: list[Path] = []

    def fake_finish_book(root, *, started=None, stream=None):
        builds.append(Path(root))
        return 0

    monkeypatch.setattr(build, "finish_book", fake_finish_book)
    return SimpleNamespace(root=root, a=a, b=b, lib=lib, builds=builds)


def run_book(toy, **kwargs) -> tuple[int, dict[str, str], str]:
    """``build.book`` on the toy root with the planted library: (exit status, {stem: its final line's state}, text)."""
    out = io.StringIO()
    status = build.book(toy.root, library=toy.lib, progress_bar=False, stream=out, **kwargs)
    text = out.getvalue()
    states = {}
    for line in text.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0].startswith("[") and parts[1] in {"01_a", "02_b"}:
            states[parts[1]] = parts[2].strip()
    return status, states, text


def results(toy, stem: str = "01_a") -> dict:
    return json.loads((toy.root / "results" / f"{stem}.json").read_text())


def run_meta(toy, stem: str) -> dict:
    return stale.read_run(toy.root / "_build" / "executed" / f"{stem}.ipynb")


def test_book_runs_only_what_is_stale(toy):
    # 1. a chapter fails: the others still run, nothing is built, and the failed one has no executed notebook
    (toy.root / "fail.flag").write_text("")
    status, states, text = run_book(toy)
    assert status == 1 and toy.builds == []
    assert states["01_a"].startswith("ran") and states["02_b"] == "FAILED"
    assert "running notebooks/01_a.py: no executed notebook (never run, or its last run failed)" in text
    assert not (toy.root / "_build" / "executed" / "02_b.ipynb").exists()

    # 2. the chapter whose last run failed runs again; the one that succeeded is up to date
    (toy.root / "fail.flag").unlink()
    status, states, text = run_book(toy)
    assert status == 0 and len(toy.builds) == 1
    assert states["01_a"] == "up to date" and states["02_b"].startswith("ran")
    assert "notebooks: 1 ran, 1 up to date, 0 kept, 0 failed" in text

    # 3. a chapter the reader re-ran with -p survives `book`: kept, with its values, not run again
    execute.run_notebook(toy.a, root=toy.root, parameters={"n_shadow": 8}, progress_bar=False, library=toy.lib)
    status, states, text = run_book(toy)
    assert status == 0 and len(toy.builds) == 2
    date = stale.finished_text(run_meta(toy, "01_a"))
    assert states == {"01_a": f"kept (run with -p n_shadow 8 on {date})", "02_b": "up to date"}
    assert "notebooks: 0 ran, 1 up to date, 1 kept, 0 failed" in text
    assert results(toy)["n_shadow"] == 8 and run_meta(toy, "01_a")["parameters"] == {"n_shadow": 8}
    executed = nbformat.read(toy.root / "_build" / "executed" / "01_a.ipynb", as_version=4)
    assert "This page was run with `n_shadow = 8` (default `4`)" in executed.cells[1].source

    # 4. --fresh runs every chapter again with its defaults
    status, states, _ = run_book(toy, fresh=True)
    assert status == 0 and states["01_a"].startswith("ran") and states["02_b"].startswith("ran")
    assert results(toy)["n_shadow"] == 4 and run_meta(toy, "01_a")["parameters"] == {}

    # 5. touching a chapter's source makes it (and only it) stale: it runs again, with its defaults
    execute.run_notebook(toy.a, root=toy.root, parameters={"n_shadow": 8}, progress_bar=False, library=toy.lib)
    toy.a.write_text(toy.a.read_text() + "\n# %%\nextra = 1\n")
    status, states, text = run_book(toy)
    assert states["01_a"].startswith("ran") and states["02_b"] == "up to date"
    assert "running notebooks/01_a.py: notebooks/01_a.py changed since its last run" in text
    assert results(toy)["n_shadow"] == 4

    # 6. a change anywhere in the library makes every chapter stale
    (toy.lib / "sub" / "deep.py").write_text("DEPTH = 3\n")
    status, states, text = run_book(toy)
    assert status == 0 and states["01_a"].startswith("ran") and states["02_b"].startswith("ran")
    assert text.count(": mia_lib changed since its last run") == 2
    status, states, _ = run_book(toy)
    assert states == {"01_a": "up to date", "02_b": "up to date"}


def plant_run(toy, nb_path: Path, **meta) -> Path:
    """An executed notebook for ``nb_path`` as a run would leave it (fingerprint of now), without running it."""
    record = {
        "parameters": {},
        "quick": False,
        "finished_utc": "2026-01-02T03:04:05Z",
        "fingerprint": stale.fingerprint(nb_path, toy.root, library=toy.lib),
    }
    record.update(meta)
    out = toy.root / "_build" / "executed" / f"{nb_path.stem}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(metadata={"mia_lib": record}), out)
    return out


def test_chapter_status_reasons(toy):
    def status(**kwargs):
        return stale.chapter_status(toy.a, toy.root, library=toy.lib, **kwargs)

    assert status().reason == "no executed notebook (never run, or its last run failed)"
    plant_run(toy, toy.a)
    assert not status().stale and status().describe() == "up to date"
    assert status(quick=True).reason == "its last run was a full run; this is a quick run (--quick)"
    assert not status(quick=None).stale  # `html`: either mode
    assert status(parameters={"n_shadow": 7}).reason == "its last run had n_shadow = 4, this run asks for 7"
    assert not status(parameters={"n_shadow": 4}).stale  # the default, asked for explicitly

    plant_run(toy, toy.a, parameters={"n_shadow": 8, "quick": True}, quick=True)
    assert status(quick=False).reason == "its last run was in quick mode; this is a full run"
    kept = status(quick=True)
    assert not kept.stale and kept.changed == {"n_shadow": (8, 4)}
    assert kept.describe() == "kept (run with --quick -p n_shadow 8 on 2026-01-02 03:04 UTC)"
    assert not status(quick=True, parameters={"n_shadow": 8}).stale

    plant_run(toy, toy.a, fingerprint=None)
    assert "records no fingerprint" in status().reason
    (toy.root / "_build" / "executed" / "01_a.ipynb").write_text("not json")
    assert "records no fingerprint (unreadable" in status().reason


def test_library_hash_covers_every_py_file(tmp_path):
    lib = tmp_path / "lib"
    write(lib / "a.py", "A = 1\n")
    write(lib / "pkg" / "b.py", "B = 1\n")
    h0 = stale.library_sha256(lib)
    write(lib / "pkg" / "__pycache__" / "b.cpython-311.py", "ignored\n")
    write(lib / "notes.txt", "not python\n")
    assert stale.library_sha256(lib) == h0
    (lib / "pkg" / "b.py").write_text("B = 2\n")
    h1 = stale.library_sha256(lib)
    assert h1 != h0
    (lib / "pkg" / "b.py").rename(lib / "pkg" / "c.py")  # same bytes, another name
    assert stale.library_sha256(lib) not in {h0, h1}
    assert stale.library_root() == Path(stale.__file__).resolve().parents[1]
    assert (stale.library_root() / "book" / "stale.py").is_file()


def test_results_reader_is_stale_when_the_chapters_it_reads_change(toy):
    reader = write(toy.root / "notebooks" / "99_overview.py", NB_A.replace("01_a", "99_overview") + "# load_results(\n")
    write(toy.root / "_toc.yml", TOC + "  - file: _build/executed/99_overview\n")
    assert stale.reads_results(reader) and not stale.reads_results(toy.a)
    plant_run(toy, toy.a)
    plant_run(toy, reader)
    assert "inputs_sha256" in run_meta(toy, "99_overview")["fingerprint"]
    assert "inputs_sha256" not in run_meta(toy, "01_a")["fingerprint"]
    assert not stale.chapter_status(reader, toy.root, library=toy.lib).stale
    write(toy.root / "results" / "01_a.json", '{"n_shadow": 8}\n')  # chapter A re-ran
    reason = stale.chapter_status(reader, toy.root, library=toy.lib).reason
    assert reason == "the chapters whose results it reads changed since its last run"
    assert not stale.chapter_status(toy.a, toy.root, library=toy.lib).stale


def test_html_runs_nothing_and_names_missing_chapters(toy, monkeypatch, capsys):
    def no_run(*args, **kwargs):
        raise AssertionError("html must not run a notebook")

    monkeypatch.setattr(build, "run_notebook", no_run)
    monkeypatch.setattr(execute, "run_notebook", no_run)
    plant_run(toy, toy.a)
    assert main(["html", "--root", str(toy.root)]) == 2
    err = capsys.readouterr().err
    assert "cannot build the HTML" in err and "02_b" in err and "01_a" not in err
    assert "python -m mia_lib run notebooks/02_b.py" in err
    assert toy.builds == []

    plant_run(toy, toy.b, fingerprint=None)  # there, but stale
    stream = io.StringIO()
    assert build.html(toy.root, library=toy.lib, stream=stream) == 0
    out = stream.getvalue()
    assert toy.builds == [toy.root.resolve()]
    assert "[1/2] 01_a  up to date" in out
    assert "[2/2] 02_b  stale: its executed notebook records no fingerprint" in out and "built as it is" in out


def test_book_rejects_a_parameter_no_chapter_has(toy, capsys):
    assert main(["book", "--root", str(toy.root), "-p", "n_shadw", "8", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter(s) 'n_shadw'" in err and "n_shadow, quick, seed" in err and "Nothing was run" in err
    assert not (toy.root / "_build").exists() and toy.builds == []


def test_book_passes_each_chapter_only_its_own_parameters(toy, monkeypatch):
    calls = {}

    def fake_run(nb_path, *, root, parameters, quick, progress_bar, library):
        calls[Path(nb_path).stem] = dict(parameters)
        return execute.RunResult(Path(nb_path), None, 0.0, True)

    monkeypatch.setattr(build, "run_notebook", fake_run)
    status, states, _ = run_book(toy, parameters={"n_shadow": 16, "seed": 2})
    assert status == 0 and calls == {"01_a": {"n_shadow": 16}, "02_b": {"seed": 2}}
