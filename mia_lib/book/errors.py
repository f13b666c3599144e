"""The two errors of the book machinery and their exit codes: 0 success; 1 a notebook or the build failed
(:class:`NotebookFailed`); 2 a usage error (:class:`RunnerError`: missing notebook or ``_toc.yml``, malformed
``-p``)."""

from __future__ import annotations

__all__ = ["RunnerError", "NotebookFailed"]


class RunnerError(Exception):
    """A usage error (missing file, malformed toc or parameter); the CLI exits with status 2."""

    exit_code = 2


class NotebookFailed(RunnerError):
    """A notebook did not execute successfully; the CLI exits with status 1."""

    exit_code = 1
