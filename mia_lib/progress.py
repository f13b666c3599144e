"""One switch for every progress bar of the library (tqdm): on in a terminal or an interactive notebook, off in a
notebook kernel that the book runs, where each update would land in the page as a stderr block.

Every function that trains or scores takes ``progress: bool | None = None`` and hands it to :func:`bar`, which
decides in one place:

* ``True`` / ``False``: the caller's explicit choice;
* ``None`` (the default everywhere): the environment variable :data:`ENV` (``MIA_PROGRESS=0`` hides the bars, ``1``
  shows them; ``python -m mia_lib run`` and ``book`` set it to ``0`` in the kernel), then tqdm's own
  ``TQDM_DISABLE``; otherwise on.
"""

from __future__ import annotations

import os
from typing import Iterable

from tqdm import tqdm

#: Environment variable of the switch: "0"/"off"/"false" hides every bar, "1"/"on"/"true" shows them.
ENV = "MIA_PROGRESS"
_OFF = {"0", "off", "false", "no"}
_ON = {"1", "on", "true", "yes"}


def enabled(progress: bool | None = None) -> bool:
    """Whether a bar shows: ``progress`` when given, else :data:`ENV`, else ``TQDM_DISABLE``, else True."""
    if progress is not None:
        return bool(progress)
    env = os.environ.get(ENV, "").strip().lower()
    if env in _OFF:
        return False
    if env in _ON:
        return True
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in _ON


def bar(iterable: Iterable | None = None, progress: bool | None = None, **kwargs) -> tqdm:
    """A tqdm bar over ``iterable`` (or a manual one with ``total=``), shown when :func:`enabled` says so.

    Args:
        iterable: what to iterate (None for a bar updated by hand). progress: as in :func:`enabled`.
        kwargs: tqdm's (``total``, ``desc``, ``unit``, ``leave``, ``initial``); ``disable`` is not accepted, since
            :func:`enabled` decides it.
    """
    if "disable" in kwargs:
        raise TypeError("pass progress=True/False/None instead of disable=; mia_lib.progress.enabled decides")
    return tqdm(iterable, disable=not enabled(progress), **kwargs)
