"""The notebook runner (`python -m mia_lib run/book`, mia_lib.book) and mia_lib.book.report, on throwaway notebooks in
tmp dirs.

Each test that executes a notebook starts a Jupyter kernel (a few seconds); the whole file stays well under a minute.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import numpy as np
import pytest

from mia_lib.__main__ import main, make_parser
from mia_lib.book import errors, layout, overview, page_note, report
from mia_lib.book.params import (
    UNKNOWN,
    changed_parameters,
    check_parameters,
    command_line,
    describe_changes,
    notebook_parameters,
    parse_params,
    parse_value,
    wrap_command,
)

GOOD_NB = """\
# %% [markdown]
# # A toy chapter
# Writes its parameters to results/.

# %% tags=["parameters"]
n_shadow = 4
dataset = "mnist5k"
lr = 0.1
quick = False

# %%
import os
from mia_lib.book import report
report.glue("n_shadow", n_shadow)
path = report.save_results("01_toy", {"n_shadow": n_shadow, "dataset": dataset, "lr": lr, "quick": quick,
                                      "cwd": os.getcwd()})
"""

BAD_NB = """\
# %% [markdown]
# # A chapter that fails

# %% tags=["parameters"]
x = 1

# %%
y = x + 1

# %%
raise ValueError(f"boom with x={x}")
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``python -m mia_lib ARGS`` in a fresh interpreter (as a user would)."""
    return subprocess.run(
        [sys.executable, "-m", "mia_lib", *args, "--no-progress"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# ----------------------------------------------------------------------------------------------- -p parsing
@pytest.mark.parametrize(
    "text, expected",
    [
        ("256", 256),
        ("0.1", 0.1),
        ("1e-3", 0.001),  # plain YAML 1.1 would give the string "1e-3"
        ("-2E5", -200000.0),
        ("digits", "digits"),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ("{a: 1}", {"a": 1}),
        ("", ""),
        ("2024-01-01", "2024-01-01"),  # YAML date -> kept as the string
        ('"256"', "256"),
        ("'off'", "off"),
    ],
)
def test_parse_value(text, expected):
    value = parse_value(text)
    assert value == expected
    assert type(value) is type(expected)


def test_parse_params_types_and_last_wins():
    params = parse_params([("n_shadow", "256"), ("dataset", "digits"), ("seed", "1"), ("seed", "2")])
    assert params == {"n_shadow": 256, "dataset": "digits", "seed": 2}
    assert isinstance(params["n_shadow"], int)


@pytest.mark.parametrize("pair", [("1x", "3"), ("a-b", "3"), ("class", "3"), ("None", "1"), ("x", "[1,")])
def test_parse_params_rejects_malformed(pair):
    with pytest.raises(errors.RunnerError, match="malformed parameter"):
        parse_params([pair])


def test_cli_usage_errors(tmp_path, capsys):
    nb = write(tmp_path / "notebooks" / "01_toy.py", GOOD_NB)
    assert main(["run", str(nb), "-p", "1x", "3", "--root", str(tmp_path)]) == 2
    assert "malformed parameter name '1x'" in capsys.readouterr().err
    assert main(["run", str(nb), "-p", "x", "[1,", "--root", str(tmp_path)]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.py"), "--root", str(tmp_path)]) == 2
    assert "notebook not found" in capsys.readouterr().err
    assert main(["book", "--root", str(tmp_path)]) == 2
    assert "_toc.yml" in capsys.readouterr().err
    assert main(["html", "--root", str(tmp_path)]) == 2
    assert "_toc.yml" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # -p with one argument: argparse's own error
        main(["run", str(nb), "-p", "x"])
    assert exc.value.code == 2
    assert not (tmp_path / "_build").exists()


def test_unknown_parameter_is_rejected_before_anything_runs(tmp_path, capsys):
    nb = write(tmp_path / "notebooks" / "01_toy.py", GOOD_NB)
    earlier = write(tmp_path / "_build" / "executed" / "01_toy.ipynb", "{}")
    assert main(["run", str(nb), "-p", "n_shadw", "8", "-p", "lr", "0.5", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error: unknown parameter 'n_shadw' (did you mean 'n_shadow'?) for notebooks/01_toy.py" in err
    assert "its parameters are n_shadow (default 4), dataset (default 'mnist5k'), lr (default 0.1)" in err
    assert "Nothing was run." in err
    assert earlier.read_text() == "{}" and not (tmp_path / "results").exists()  # the earlier output is kept
    assert [p.name for p in earlier.parent.iterdir()] == ["01_toy.ipynb"]  # no temp file either
    with pytest.raises(errors.RunnerError, match="unknown parameters 'a', 'b'"):
        check_parameters({"a": 1, "b": 2}, {"x": 0}, "nb.py")
    with pytest.raises(errors.RunnerError, match="no cell tagged parameters"):
        check_parameters({"a": 1}, {}, "nb.py")
    check_parameters({"x": 1}, {"x": 0}, "nb.py")  # a known name: no error


def test_the_issue_typo_on_a_real_chapter_is_rejected(tmp_path, capsys):
    """`python -m mia_lib run notebooks/01_lira_and_memorization.py -p n_shadw 8` (issue 13): exit 2, no kernel."""
    chapter = Path(__file__).resolve().parents[1] / "notebooks" / "01_lira_and_memorization.py"
    assert main(["run", str(chapter), "-p", "n_shadw", "8", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'n_shadw' (did you mean 'n_shadow'?)" in err and "n_shadow (default " in err
    assert not (tmp_path / "_build").exists()


def test_reproducing_command_round_trips():
    params = {
        "n_shadow": 256,
        "dataset": "digits",
        "lr": 0.5,
        "flag": False,
        "name": "two words",
        "s": "256",
        "xs": [1, 2],
        "quick": True,
    }
    cmd = command_line("notebooks/01_x.py", params, quick=True)
    assert cmd.startswith("python -m mia_lib run notebooks/01_x.py --quick")
    args = make_parser().parse_args(shlex.split(cmd)[3:])
    assert args.quick and args.notebook == "notebooks/01_x.py"
    assert {**parse_params(args.params), "quick": True} == params


def test_toc_notebooks_order_and_errors(tmp_path):
    for name in ["01_a", "02_b", "03_c"]:
        write(tmp_path / "notebooks" / f"{name}.py", "x = 1\n")
    write(
        tmp_path / "_toc.yml",
        """\
        format: jb-book
        root: book/intro
        parts:
          - caption: One
            chapters:
              - file: book/part1
                sections:
                  - file: _build/executed/02_b
              - file: _build/executed/01_a.ipynb
          - caption: Two
            chapters:
              - file: _build/executed/03_c
        """,
    )
    assert [p.name for p in layout.toc_notebooks(tmp_path)] == ["02_b.py", "01_a.py", "03_c.py"]
    (tmp_path / "notebooks" / "03_c.py").unlink()
    with pytest.raises(errors.RunnerError, match="03_c"):
        layout.toc_notebooks(tmp_path)


# ------------------------------------------------------------------------------------------------- report
def test_save_and_load_results_convert_numpy_and_torch(tmp_path):
    torch = pytest.importorskip("torch")
    results = {
        "auroc": np.float64(0.6),
        "n": np.int64(3),
        "ok": np.bool_(True),
        "tpr": np.array([[0.1, 0.2]], dtype=np.float32),
        "t": torch.tensor(2.5),
        "ts": torch.arange(3),
        "nested": {1: (np.float32(0.5), Path("a/b"))},
    }
    path = report.save_results("01_x", results, root=tmp_path)
    assert path == tmp_path / "results" / "01_x.json"
    loaded = report.load_results("01_x", root=tmp_path)
    assert loaded == {
        "auroc": 0.6,
        "n": 3,
        "ok": True,
        "tpr": [[pytest.approx(0.1), pytest.approx(0.2)]],
        "t": 2.5,
        "ts": [0, 1, 2],
        "nested": {"1": [0.5, "a/b"]},
    }
    assert [p.name for p in path.parent.iterdir()] == ["01_x.json"]  # no temp files left
    with pytest.raises(ValueError):
        report.save_results("../escape", {}, root=tmp_path)
    with pytest.raises(TypeError):
        report.save_results("01_y", {"x": object()}, root=tmp_path)
    assert not (tmp_path / "results" / "01_y.json").exists()
    with pytest.raises(FileNotFoundError, match="run the notebook first"):
        report.load_results("02_missing", root=tmp_path)


# ------------------------------------------------------------------------------------------- executing (kernels)
def test_run_success_injects_parameters_and_records_metadata(tmp_path):
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    nb = write(root / "notebooks" / "01_toy.py", GOOD_NB)
    elsewhere.mkdir()
    proc = cli(
        "run",
        str(nb),
        "-p",
        "n_shadow",
        "256",
        "-p",
        "dataset",
        "digits",
        "-p",
        "lr",
        "0.5",
        "--quick",
        "--root",
        str(root),
        cwd=elsewhere,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = root / "_build" / "executed" / "01_toy.ipynb"
    assert out.is_file()
    assert [p.name for p in out.parent.iterdir()] == ["01_toy.ipynb"]  # no temp files left
    assert not (elsewhere / "_build").exists() and not (elsewhere / "results").exists()

    # the notebook ran in ROOT with the injected (typed) parameters
    res = json.loads((root / "results" / "01_toy.json").read_text())
    assert res == {"n_shadow": 256, "dataset": "digits", "lr": 0.5, "quick": True, "cwd": str(root.resolve())}

    nb_out = nbformat.read(out, as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb_out.cells)
    assert nb_out.metadata.kernelspec.name == "python3"
    meta = nb_out.metadata["mia_lib"]
    assert meta["parameters"] == {"n_shadow": 256, "dataset": "digits", "lr": 0.5, "quick": True}
    assert (
        meta["command"]
        == "python -m mia_lib run notebooks/01_toy.py --quick -p n_shadow 256 -p dataset digits -p lr 0.5"
    )
    assert meta["quick"] is True
    assert meta["defaults"] == {"n_shadow": 4, "dataset": "mnist5k", "lr": 0.1, "quick": False}
    assert set(meta["fingerprint"]) == {"source_sha256", "library_sha256"}
    assert meta["fingerprint"]["source_sha256"] == hashlib.sha256(nb.read_bytes()).hexdigest()
    assert meta["wall_time_s"] > 0
    assert meta["device"] in {"cpu", "cuda"}
    assert meta["hardware"]["cpu_count"] >= 1
    assert "gpu" in meta["hardware"]
    host = socket.gethostname()
    if len(host) >= 4:
        assert host not in json.dumps(dict(nb_out.metadata))
    # glue output recorded for the book, not displayed
    glued = [o for c in nb_out.cells for o in c.get("outputs", []) if "scrapbook" in o.get("metadata", {})]
    assert glued and glued[0]["data"] == {"application/papermill.record/text/plain": "256"}

    # the re-run note sits right under the title cell, with the command; its glued values are in the last cell
    tagged = [i for i, c in enumerate(nb_out.cells) if page_note.RUN_INFO_TAG in c.metadata.get("tags", [])]
    assert tagged == [1, len(nb_out.cells) - 1]
    assert nb_out.cells[0].source.startswith("# A toy chapter")
    assert wrap_command(meta["command"]) in nb_out.cells[1].source  # wrapped to fit the code column
    assert "This page was run with `n_shadow = 256` (default `4`), `dataset = 'digits'`" in nb_out.cells[1].source
    assert "{download}`01_toy.py <../../notebooks/01_toy.py>`" in nb_out.cells[1].source
    names = {o["metadata"]["scrapbook"]["name"]: o["data"] for o in nb_out.cells[-1].outputs}
    assert set(names) == {"mia_run_wall_time", "mia_run_hardware", "mia_run_finished"}
    assert names["mia_run_wall_time"]["application/papermill.record/text/plain"] == repr(
        page_note.human_seconds(meta["wall_time_s"])
    )
    nbformat.validate(nb_out)


def test_run_failure_leaves_no_output_and_removes_stale_one(tmp_path):
    nb = write(tmp_path / "notebooks" / "02_bad.py", BAD_NB)
    executed = tmp_path / "_build" / "executed"
    executed.mkdir(parents=True)
    (executed / "02_bad.ipynb").write_text('{"stale": "output from an earlier good run"}')
    (executed / "01_other.ipynb").write_text("{}")
    proc = cli("run", "notebooks/02_bad.py", "-p", "x", "5", "--root", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 1
    assert sorted(p.name for p in executed.iterdir()) == ["01_other.ipynb"]  # stale output and temp file gone
    err = proc.stderr
    assert "error: notebook notebooks/02_bad.py failed" in err
    assert "ValueError: boom with x=5" in err
    assert "earlier output _build/executed/02_bad.ipynb was removed" in err
    assert "python -m mia_lib run notebooks/02_bad.py -p x 5" in err
    assert nb.exists()


def test_book_with_failing_notebook_runs_all_and_does_not_build(tmp_path):
    write(tmp_path / "notebooks" / "01_toy.py", GOOD_NB)
    write(tmp_path / "notebooks" / "02_bad.py", BAD_NB)
    write(tmp_path / "book" / "intro.md", "# Intro\n\nHello.\n")
    write(
        tmp_path / "_toc.yml",
        """\
        format: jb-book
        root: book/intro
        chapters:
          - file: _build/executed/02_bad
          - file: _build/executed/01_toy
        """,
    )
    (tmp_path / "_config.yml").write_text((Path(__file__).resolve().parents[1] / "_config.yml").read_text())
    proc = cli("book", "--root", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "notebooks/02_bad.py failed" in proc.stderr and "ValueError: boom" in proc.stderr
    assert "the book was not built" in proc.stderr
    # all notebooks ran (run-all policy), only the good one has an output, and nothing was built
    assert sorted(p.name for p in (tmp_path / "_build" / "executed").iterdir()) == ["01_toy.ipynb"]
    assert not (tmp_path / "_build" / "html").exists()
    assert "jupyter-book build" not in proc.stdout


# ---------------------------------------------------------------------------------------------- re-run note
def toy_notebook(first_markdown: str = "# Title\n\nWhat this chapter asks.") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(first_markdown),
        nbformat.v4.new_code_cell(
            'n_shadow = 4   # models\ndataset = "digits"\ndata_dir = None\ndevice = "auto"\n'
            "lr = 10 ** -2  # not a literal: skipped\nimport os\nquick = False",
            metadata={"tags": ["parameters"]},
        ),
        nbformat.v4.new_markdown_cell("## Section\n\nText."),
    ]
    return nb


RUN_META = {
    "notebook": "notebooks/01_toy.py",
    "parameters": {"n_shadow": 16, "quick": True},
    "command": "python -m mia_lib run notebooks/01_toy.py --quick -p n_shadow 16",
    "wall_time_s": 125.4,
    "device": "cpu",
    "hardware": {
        "cpu_count": 2,
        "cpu_model": "Toy CPU",
        "machine": "x86_64",
        "system": "Linux",
        "python": "3.11.2",
        "gpu": None,
        "torch": "2.14.1",
    },
    "finished_utc": "2026-01-02T03:04:05Z",
}


def test_notebook_parameters_reads_literal_defaults():
    nb = toy_notebook()
    assert notebook_parameters(nb) == {
        "n_shadow": 4,
        "dataset": "digits",
        "data_dir": None,
        "device": "auto",
        "quick": False,
    }
    nb.cells[1].metadata["tags"] = []
    assert notebook_parameters(nb) == {}


def test_human_seconds_and_hardware_text():
    assert page_note.human_seconds(0.04) == "0.0 s"
    assert page_note.human_seconds(59.94) == "59.9 s"
    assert page_note.human_seconds(125.4) == "2 min 05 s"
    assert page_note.human_seconds(3600 + 125) == "1 h 02 min"
    assert (
        page_note.hardware_text(RUN_META)
        == "CPU only: 2 CPU cores (Toy CPU), Linux x86_64, torch 2.14.1, Python 3.11.2"
    )
    gpu = dict(RUN_META, device="cuda", hardware=dict(RUN_META["hardware"], gpu="NVIDIA H100", gpu_count=2))
    assert page_note.hardware_text(gpu).startswith("GPU: NVIDIA H100 ×2, 2 CPU cores (Toy CPU), Linux")
    assert page_note.run_info_glue(RUN_META) == {
        "mia_run_wall_time": "2 min 05 s",
        "mia_run_hardware": page_note.hardware_text(RUN_META),
        "mia_run_finished": "2026-01-02 03:04 UTC",
    }


def test_add_run_info_puts_note_under_the_title_and_glue_at_the_end():
    nb = toy_notebook()
    defaults = notebook_parameters(nb)
    page_note.add_run_info(nb, RUN_META, defaults, source="notebooks/01_toy.py")
    page_note.add_run_info(nb, RUN_META, defaults, source="notebooks/01_toy.py")  # a second call replaces, not adds
    assert len(nb.cells) == 5
    assert nb.cells[0].source.startswith("# Title") and nb.cells[2].metadata.get("tags") == ["parameters"]
    note, glue_cell = nb.cells[1], nb.cells[-1]
    assert note.cell_type == "markdown" and page_note.RUN_INFO_TAG in note.metadata["tags"]
    text = note.source
    # the run has n_shadow = 16, not the default 4: a one-line notice first, then the re-run note
    notice, text = text.split("\n\n", 1)
    assert notice.splitlines() == [
        ":::{admonition} Not the default run",
        f":class: warning {page_note.CUSTOM_RUN_CLASS}",
        "This page was run with `n_shadow = 16` (default `4`), not the book's defaults. "
        "`python -m mia_lib run notebooks/01_toy.py` restores them.",
        ":::",
    ]
    assert text.startswith(":::{admonition} Re-run this page") and text.rstrip().endswith(":::")
    assert f"```bash\n{RUN_META['command']}\n```" in text
    for key in ("mia_run_wall_time", "mia_run_hardware", "mia_run_finished"):
        assert f"{{glue:text}}`{key}`" in text
    assert "**Quick mode**" in text and "drop `--quick`" in text
    assert "`-p n_shadow 32`" in text  # twice the run's n_shadow (16), not the notebook's default (4)
    assert "`-p device cuda`" in text and "-p dataset mnist -p data_dir /path/to/data" in text
    assert "`n_shadow`, `dataset`, `data_dir`, `device`." in text  # the knobs; `quick` is not one
    assert "{download}`01_toy.py <../../notebooks/01_toy.py>`" in text
    assert "{download}`01_toy.ipynb <01_toy.ipynb>`" in text
    # the scaled-up example is a valid command line: full size, GPU, full data, twice the models
    example = text.split("For example:")[1].split("```bash\n")[1].split("\n```")[0]
    args = make_parser().parse_args(shlex.split(example.replace("\\\n", " "))[3:])  # shell continuations
    assert not args.quick
    assert parse_params(args.params) == {
        "n_shadow": 32,
        "device": "cuda",
        "dataset": "mnist",
        "data_dir": "/path/to/data",
    }
    # the glue cell: hidden, and exactly what report.glue would have displayed
    assert glue_cell.cell_type == "code" and "remove-cell" in glue_cell.metadata["tags"]
    values = page_note.run_info_glue(RUN_META)
    assert [(o.metadata["scrapbook"]["name"], o.data) for o in glue_cell.outputs] == [
        (k, {"application/papermill.record/text/plain": repr(v)}) for k, v in values.items()
    ]
    for line in glue_cell.source.splitlines()[2:]:
        assert line.startswith("report.glue(")
    nbformat.validate(nb)


def test_add_run_info_without_title_or_knobs():
    nb = toy_notebook(first_markdown="Just prose, no heading.")
    nb.cells[1].source = "quick = False"
    meta = dict(RUN_META, parameters={}, command="python -m mia_lib run notebooks/01_toy.py")
    page_note.add_run_info(nb, meta, notebook_parameters(nb))
    text = nb.cells[0].source
    assert page_note.RUN_INFO_TAG in nb.cells[0].metadata["tags"]  # no H1: at the very top
    assert text.startswith(":::{admonition} Re-run this page")  # default values: no notice
    assert "Quick mode" not in text and "To scale it up" not in text and "{download}" not in text
    assert "Every knob" not in text


def test_parameter_notice_names_only_values_that_differ():
    defaults = {"n_shadow": 128, "dataset": "digits", "lr": 0.1, "flag": False, "quick": False}
    meta = {"notebook": "notebooks/01_x.py", "parameters": {"n_shadow": 128, "lr": 0.1, "quick": True}}
    assert page_note.parameter_notice(meta, defaults) == ""  # the defaults, passed explicitly, and quick mode
    meta["parameters"] = {"n_shadow": 64, "dataset": "mnist", "lr": 0.1, "flag": 0}
    line = page_note.parameter_notice(meta, defaults).splitlines()[2]
    assert line.startswith(
        "This page was run with `n_shadow = 64` (default `128`), `dataset = 'mnist'` (default `'digits'`), "
        "`flag = 0` (default `False`), not the book's defaults."
    )
    assert changed_parameters({"lr": 1}, {"lr": 1.0}) == {}  # -p lr 1 is the default 1.0
    assert changed_parameters({"n": True}, {"n": 1}) == {"n": (True, 1)}  # a bool is not a number
    assert changed_parameters({"n": 2}, None) == {"n": (2, UNKNOWN)}  # defaults not recorded
    assert describe_changes({"n": (2, UNKNOWN)}) == "`n = 2`"


def write_chapter(root: Path, stem: str, results: dict | None, meta: dict | None) -> None:
    if results is not None:
        report.save_results(stem, results, root=root)
    if meta is not None:
        nb = nbformat.v4.new_notebook(metadata={"mia_lib": meta})
        (root / "_build" / "executed").mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, root / "_build" / "executed" / f"{stem}.ipynb")


def test_results_overview_in_toc_order_with_headline_numbers(tmp_path):
    write(
        tmp_path / "_toc.yml",
        """\
        format: jb-book
        root: book/intro
        parts:
          - caption: Two
            chapters:
              - file: _build/executed/02_b
              - file: book/notes.md
          - caption: One
            chapters:
              - file: _build/executed/01_a.ipynb
              - file: _build/executed/03_c
              - file: _build/executed/99_overview
        """,
    )
    many = {f"k{i}": i / 7 for i in range(10)}
    write_chapter(
        tmp_path,
        "01_a",
        {
            "auroc": 0.61234,
            "config": {"n": 1},
            "seconds_training": 3.0,
            "n": 1797,
            "ok": True,
            "name": "a|b",
            "nan": float("nan"),
            "xs": [1, 2],
            **many,
        },
        {"parameters": {"quick": True, "n_shadow": 8}, "wall_time_s": 12.34},  # no defaults recorded
    )
    write_chapter(tmp_path, "02_b", {"big": 12345.6, "tiny": 0.00097384, "flag": False}, None)
    write_chapter(
        tmp_path,
        "03_c",
        None,
        {"parameters": {"n_shadow": 128, "seed": 3}, "defaults": {"n_shadow": 128, "seed": 0}, "wall_time_s": 61.0},
    )
    write_chapter(tmp_path, "99_overview", {"n_chapters": 3}, {"parameters": {}, "wall_time_s": 1.0})

    assert layout.toc_documents(tmp_path) == [
        "book/intro",
        "_build/executed/02_b",
        "book/notes",
        "_build/executed/01_a",
        "_build/executed/03_c",
        "_build/executed/99_overview",
    ]
    chapters = overview.results_overview(tmp_path, exclude=["99_overview"], max_per_chapter=5)
    assert [c.stem for c in chapters] == ["02_b", "01_a", "03_c"]
    b, a, c = chapters
    assert [k for k, _ in a.numbers] == ["auroc", "n", "ok", "name", "nan"]  # saved order, bookkeeping left out
    assert a.numbers[:4] == [("auroc", 0.61234), ("n", 1797), ("ok", True), ("name", "a|b")]
    assert a.n_more == 10  # k0..k9
    assert (a.mode, a.wall_time_s, a.changed) == ("quick, -p n_shadow 8", 12.34, {"n_shadow": (8, UNKNOWN)})
    assert (b.mode, b.wall_time_s, b.has_results, b.changed) == (None, None, True, {})
    assert (c.mode, c.has_results, c.numbers) == ("default, -p seed 3", False, [])  # n_shadow 128 is the default
    assert c.changed == {"seed": (3, 0)}

    md = overview.results_markdown(chapters).splitlines()
    assert md[0] == "| chapter | run | result | value |"
    assert md[2] == "| {doc}`/_build/executed/02_b` | not run | `big` | 12,346 |"
    assert md[3] == "|  |  | `tiny` | 0.000974 |" and md[4] == "|  |  | `flag` | no |"
    assert md[5] == "| {doc}`/_build/executed/01_a` | quick, **custom:** `n_shadow = 8`, 12.3 s | `auroc` | 0.612 |"
    assert "|  |  | `name` | a\\|b |" in md and "|  |  | `ok` | yes |" in md and "|  |  | `n` | 1,797 |" in md
    assert "|  |  | `nan` | n/a |" in md and "|  |  | ... 10 more in `results/01_a.json` |  |" in md
    assert md[-1] == (
        "| {doc}`/_build/executed/03_c` | default, **custom:** `seed = 3` (default `0`), 1 min 01 s "
        "| no `results/03_c.json` |  |"
    )
    assert sum(line.count("{doc}") for line in md) == 3


def test_format_value():
    assert [
        overview.format_value(v)
        for v in (True, 0, 1797, 0.5, 0.59004, 23.0087, 1234.5, float("nan"), float("inf"), "x", None, "-inf")
    ] == ["yes", "0", "1,797", "0.5", "0.59", "23", "1,234", "n/a", "∞", "x", "n/a", "−∞"]


def test_wrapped_commands_fit_the_code_column_and_mean_the_same():
    import shlex

    cmd = command_line(
        "notebooks/06_differential_privacy.py",
        {"n_shadow": 256, "dataset": "cifar10", "data_dir": "/data", "model": "cnn32", "device": "cuda"},
        quick=False,
    )
    wrapped = wrap_command(cmd)
    assert len(wrapped.splitlines()) > 1 and max(len(line) for line in wrapped.splitlines()) <= 72
    assert shlex.split(wrapped.replace("\\\n", " ")) == shlex.split(cmd)
    assert wrap_command("python -m mia_lib run notebooks/04.py") == "python -m mia_lib run notebooks/04.py"
