"""Command line: ``python -m mia_lib run NOTEBOOK.py``, ``python -m mia_lib book`` and ``python -m mia_lib html``.

All logic lives in :mod:`mia_lib.book` (:mod:`~mia_lib.book.execute` runs one notebook, :mod:`~mia_lib.book.build`
the book, :mod:`~mia_lib.book.stale` decides what is stale); this module only parses arguments and maps errors to
exit codes (0 ok, 1 a notebook or the build failed, 2 usage error: a missing file, a malformed or unknown ``-p``, a
chapter that ``html`` cannot build because it was never executed).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

_EPILOG = """\
-p values are parsed as YAML: `-p n_shadow 256` is an int, `-p lr 0.1` a float, `-p dataset digits` a string,
`-p quick true` a bool. Quote to force a string: -p dataset '"off"'.
"""


def _terminate(signum, frame):  # pragma: no cover - exercised by hand
    raise SystemExit(128 + signum)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-p",
        "--parameter",
        dest="params",
        nargs=2,
        action="append",
        metavar=("KEY", "VALUE"),
        default=[],
        help="notebook parameter (repeatable); VALUE is parsed as YAML",
    )
    p.add_argument("--quick", action="store_true", help="inject quick=True (CI smoke mode: tiny data, few models)")
    p.add_argument("--root", default=".", help="repository root: kernel cwd, _build/, results/ (default: current dir)")
    p.add_argument("--no-progress", action="store_true", help="hide papermill's progress bar")


def make_parser() -> argparse.ArgumentParser:
    """The ``python -m mia_lib`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m mia_lib",
        description="Execute the book's notebooks with papermill and build the Jupyter Book strictly.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{run,book,html}")

    run = sub.add_parser(
        "run",
        help="execute one Jupytext notebook into _build/executed/<stem>.ipynb",
        description="Execute one Jupytext percent notebook with papermill (kernel python3, cwd=ROOT).\n"
        "The output ROOT/_build/executed/<stem>.ipynb is written only on success;\n"
        "on failure any earlier output is removed and the exit status is 1.\n"
        "A -p name that is not in the notebook's parameters cell is an error (exit status 2); nothing runs.\n"
        "The next `book` keeps this run (it is up to date) until the notebook or mia_lib changes;\n"
        "its page says which values are not the defaults.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("notebook", metavar="NOTEBOOK.py", help="Jupytext percent source, e.g. notebooks/01_x.py")
    _add_common(run)

    bk = sub.add_parser(
        "book",
        help="run the stale notebooks of _toc.yml, then jupyter-book build -W -n --keep-going",
        description="Execute the toc entries _build/executed/<stem> from ROOT/notebooks/<stem>.py that are stale,\n"
        "in toc order: never executed or failed last time, notebooks/<stem>.py or mia_lib changed since,\n"
        "run in the other quick mode, or (with -p) run with another value. Every other chapter is kept as\n"
        "it is, including one re-run with `run ... -p`; each line says ran, up to date or kept (...).\n"
        "--fresh runs every chapter with its defaults. Failures do not stop the others (unless --fail-fast).\n"
        "Then jupyter-book build ROOT -W -n --keep-going --all (every Sphinx warning is an error).\n"
        "Nothing is built if a notebook failed. On success prints the path of _build/html/index.html.",
        epilog=_EPILOG + "With `book`, each -p goes to the chapters whose parameters cell has that name.\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(bk)
    bk.add_argument("--fresh", action="store_true", help="run every chapter again, with its defaults (and any -p)")
    bk.add_argument("--fail-fast", action="store_true", help="stop at the first failing notebook")

    ht = sub.add_parser(
        "html",
        help="build the HTML from the executed notebooks as they are, running nothing",
        description="Run jupyter-book build ROOT -W -n --keep-going --all on the executed notebooks as they are.\n"
        "No notebook runs; a chapter that was never executed (or failed last time) is an error (exit status 2)\n"
        "that names it. Stale chapters are built as they are, and listed.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ht.add_argument("--root", default=".", help="repository root: _build/, results/ (default: current dir)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = make_parser().parse_args(argv)
    from .book import build, errors, execute, params

    if threading.current_thread() is threading.main_thread():
        # SIGTERM (CI timeouts, `kill`) unwinds like Ctrl-C, so temp files and stale outputs are cleaned up.
        signal.signal(signal.SIGTERM, _terminate)

    try:
        if args.command == "html":
            return build.html(args.root)
        parameters = params.parse_params(args.params)
        if args.command == "run":
            result = execute.run_notebook(
                args.notebook,
                root=args.root,
                parameters=parameters,
                quick=args.quick,
                progress_bar=not args.no_progress,
            )
            print(f"wrote {result.output} ({result.seconds:.1f} s)", flush=True)
            return 0
        return build.book(
            args.root,
            parameters=parameters,
            quick=args.quick,
            fresh=args.fresh,
            fail_fast=args.fail_fast,
            progress_bar=not args.no_progress,
        )
    except errors.NotebookFailed:
        return 1  # the error paragraph has been printed already
    except errors.RunnerError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
