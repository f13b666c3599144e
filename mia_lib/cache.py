"""Content-addressed artifact store for pools.

Layout: ``<root>/<config hash>/`` holds ``config.json``, one ``shard_XXXX.npz`` per trained shard (optionally
``params_XXXX.pt``) and, once every shard is there, ``manifest.json``. Files are written to a temporary name in the
same folder and renamed into place, so a file either exists whole or not at all; temporary leftovers of an
interrupted run are deleted, never read. Arrays are stored with NumPy (``allow_pickle=False``) and tensors with
``torch.save`` / ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

DEFAULT_ROOT = Path(".cache") / "mia_lib"


def root(path: str | os.PathLike | None = None) -> Path:
    """The store's root folder: ``path``, else ``$MIA_CACHE_DIR``, else ``./.cache/mia_lib``."""
    return Path(path or os.environ.get("MIA_CACHE_DIR") or DEFAULT_ROOT)


def entry(key: str, store: str | os.PathLike | None = None) -> Path:
    """Folder of one artifact (created), with stale temporary files from interrupted writes removed."""
    d = root(store) / key
    d.mkdir(parents=True, exist_ok=True)
    for tmp in d.glob(".tmp-*"):
        tmp.unlink(missing_ok=True)
    return d


def _atomic_write(path: Path, write) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_json(path: Path, obj: dict) -> Path:
    """Write a dict as pretty JSON atomically."""

    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True)

    return _atomic_write(Path(path), write)


def load_json(path: Path) -> dict | None:
    """The JSON dict at ``path``, or None when absent."""
    path = Path(path)
    return json.loads(path.read_text()) if path.exists() else None


def save_arrays(path: Path, **arrays: np.ndarray) -> Path:
    """Write named arrays to an ``.npz`` atomically."""

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    return _atomic_write(Path(path), write)


def load_arrays(path: Path) -> dict[str, np.ndarray]:
    """Read an ``.npz`` written by :func:`save_arrays` (no pickle)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> Path:
    """Write a dict of tensors atomically with ``torch.save``."""

    def write(tmp):
        with open(tmp, "wb") as f:
            torch.save({k: v.cpu() for k, v in tensors.items()}, f)

    return _atomic_write(Path(path), write)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Read tensors saved by :func:`save_tensors` with ``weights_only=True``."""
    return torch.load(path, map_location="cpu", weights_only=True)
