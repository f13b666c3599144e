"""Content-addressed artifact store for pools.

Layout: ``<root>/<config hash>/`` holds ``config.json``, one ``shard_XXXX.npz`` per trained shard (optionally
``params_XXXX.pt``), beside each shard a checksum file ``shard_XXXX.json`` and, once every shard is there,
``manifest.json``. The store is safe to share between processes and machines (a shared filesystem):

* **atomic writes**: a file is written to a temporary name in the same folder (``.tmp-<pid>@<host>~…``), fsynced,
  renamed into place and its folder fsynced, so a file either exists whole or not at all. Temporary leftovers of a
  write that died (its process is gone, or it has not been touched for :data:`CLAIM_TIMEOUT_S`) are deleted, never
  read; those of a writer still alive are left alone.
* **checksums**: :func:`write_checksums` records the SHA-256 and size of the files of one artifact;
  :func:`verify_checksums` names every file that is missing, truncated or altered. A bad file is moved aside into
  ``<entry>/corrupt/`` by :func:`quarantine` (with a :class:`CorruptEntryWarning`), never misread.
* **claims**: :func:`try_claim` creates a marker (``O_EXCL``) that says "this process is producing that artifact";
  a second process asking for the same artifact waits instead of producing it twice. A claim is kept alive by a
  heartbeat; one whose process died (same host) or whose heartbeat is older than :data:`CLAIM_TIMEOUT_S` is stale
  and taken over.

Arrays are stored with NumPy (``allow_pickle=False``) and tensors with ``torch.save`` /
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import struct
import tempfile
import threading
import time
import uuid
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DEFAULT_ROOT = Path(".cache") / "mia_lib"
#: A claim (or a temporary file of another host) not touched for this many seconds is stale.
CLAIM_TIMEOUT_S = 120.0
#: How often a live claim is touched.
CLAIM_HEARTBEAT_S = 10.0
TMP_PREFIX = ".tmp-"
_TMP_OWNER = re.compile(r"^\.tmp-(\d+)@([^~]+)~")


class CacheError(RuntimeError):
    """An artifact that should be in the store cannot be read back from it."""


class CorruptEntryWarning(UserWarning):
    """A cached file failed its checksum (or could not be read) and was moved aside to be produced again."""


def root(path: str | os.PathLike | None = None) -> Path:
    """The store's root folder: ``path``, else ``$MIA_CACHE_DIR``, else ``./.cache/mia_lib``."""
    return Path(path or os.environ.get("MIA_CACHE_DIR") or DEFAULT_ROOT)


def entry(key: str, store: str | os.PathLike | None = None) -> Path:
    """Folder of one artifact (created), with stale temporary files of interrupted writes removed."""
    d = root(store) / key
    d.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(d)
    return d


def host() -> str:
    """This machine's name as the store writes it into temporary names and claims."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "localhost"


def temp_prefix() -> str:
    """Prefix of this process's temporary files: ``.tmp-<pid>@<host>~``."""
    return f"{TMP_PREFIX}{os.getpid()}@{host()}~"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _age(path: Path) -> float:
    return time.time() - path.stat().st_mtime


def remove_stale_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files in ``folder`` whose writer is gone; returns them.

    Stale: a name without an owner (older code), a process of this host that no longer runs, or a file of another
    host untouched for :data:`CLAIM_TIMEOUT_S`. A live writer's file (another process or thread) is kept.
    """
    removed = []
    for tmp in Path(folder).glob(TMP_PREFIX + "*"):
        m = _TMP_OWNER.match(tmp.name)
        try:
            if m is None:
                stale = True
            elif m.group(2) == host():
                stale = not _pid_alive(int(m.group(1)))
            else:
                stale = _age(tmp) > CLAIM_TIMEOUT_S
        except FileNotFoundError:
            continue
        if stale:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _fsync(path: str | os.PathLike, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some filesystems cannot fsync a directory
        if not directory:
            raise
    finally:
        os.close(fd)


def _atomic_write(path: Path, write) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(), dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; workers of a shared store may run as another user
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync(path.parent, directory=True)
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


def load_arrays(path: Path, names=None) -> dict[str, np.ndarray]:
    """Read an ``.npz`` written by :func:`save_arrays` (no pickle); only the members ``names`` when given (the
    others are not read from disk)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in (z.files if names is None else names)}


@dataclass(frozen=True)
class ArrayOnDisk:
    """Where an uncompressed array lies inside a file: enough to memory-map it without reading it.

    Attributes:
        path: the file; offset: byte offset of the first element; dtype, shape, fortran_order: as in its ``.npy``
        header.
    """

    path: Path
    offset: int
    dtype: np.dtype
    shape: tuple
    fortran_order: bool = False

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def map(self) -> np.memmap:
        """A read-only memory map of the array (shape :attr:`shape`): pages are read from disk when touched.

        Each call maps the file anew; drop the map when done, so that the pages it touched leave this process's
        resident memory (they stay in the operating system's page cache)."""
        order = "F" if self.fortran_order else "C"
        return np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.offset, shape=self.shape, order=order)


#: A zip local file header: signature, versions, flags, method, time, date, CRC-32, sizes, name and extra lengths.
_ZIP_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")


def npz_member(path: str | os.PathLike, name: str) -> ArrayOnDisk:
    """Locate the array ``name`` inside the ``.npz`` at ``path`` (as :func:`save_arrays` writes it: members stored
    uncompressed), so that it can be memory-mapped in place.

    Reads the zip directory, the member's local header and its ``.npy`` header, nothing else. Works on every
    ``.npz`` that ``np.savez`` writes (never compressed); one written by ``np.savez_compressed`` raises.

    Raises:
        ValueError: the member is missing, compressed, or its header does not describe exactly the bytes stored.
    Used by :class:`mia_lib.pool.ShardedLogits` (pools scored from disk; no chapter yet).
    """
    path = Path(path)
    with zipfile.ZipFile(path) as zf:
        try:
            info = zf.getinfo(f"{name}.npy")
        except KeyError:
            raise ValueError(f"{path} has no array {name!r}") from None
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"{path}: array {name!r} is compressed, so it cannot be memory-mapped")
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        fields = _ZIP_LOCAL_HEADER.unpack(f.read(_ZIP_LOCAL_HEADER.size))
        if fields[0] != b"PK\x03\x04":
            raise ValueError(f"{path}: no zip local header where {name!r} should start")
        start = info.header_offset + _ZIP_LOCAL_HEADER.size + fields[-2] + fields[-1]
        f.seek(start)
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"{path}: array {name!r} has .npy format {version}, which cannot be mapped here")
        offset = f.tell()
    if dtype.hasobject:
        raise ValueError(f"{path}: array {name!r} holds Python objects")
    out = ArrayOnDisk(path, offset, dtype, tuple(shape), fortran_order)
    if offset - start + out.nbytes != info.file_size:
        raise ValueError(f"{path}: the header of {name!r} does not match its {info.file_size} stored bytes")
    return out


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> Path:
    """Write a dict of tensors atomically with ``torch.save``."""

    def write(tmp):
        with open(tmp, "wb") as f:
            torch.save({k: v.cpu() for k, v in tensors.items()}, f)

    return _atomic_write(Path(path), write)


def load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Read tensors saved by :func:`save_tensors` with ``weights_only=True``."""
    return torch.load(path, map_location="cpu", weights_only=True)


# --- checksums -------------------------------------------------------------------------------------------------


def digest(path: str | os.PathLike) -> dict:
    """``{"sha256": hex digest, "bytes": size}`` of the file at ``path``."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
            size += len(chunk)
    return {"sha256": h.hexdigest(), "bytes": size}


def write_checksums(path: Path, files: list[Path], **meta) -> dict:
    """Record the checksums of ``files`` (all in ``path``'s folder) in the JSON file ``path``; returns its content.

    ``meta`` (plain JSON values) is stored beside them. Write the checksum file *after* the files it covers: its
    presence is what marks the artifact complete.
    """
    path = Path(path)
    record = {"format": 1, "files": {Path(f).name: digest(f) for f in files}, **meta}
    save_json(path, record)
    return record


def verify_checksums(path: Path, sha256: bool = True) -> tuple[dict | None, list[str]]:
    """Check the files that the checksum file ``path`` covers: presence and size, and (``sha256``) their SHA-256,
    which reads every byte (about 1 s per GB on a CPU core). ``sha256=False`` checks presence and sizes only: it
    catches a missing or truncated file, not one altered in place.

    Returns:
        (record, problems): the checksum file's content (None when it is absent or unreadable) and one sentence per
        file that is missing, truncated or whose SHA-256 differs (empty when every file is intact).
    """
    path = Path(path)
    try:
        record = load_json(path)
    except (OSError, ValueError) as exc:
        return None, [f"{path} is unreadable ({exc})"]
    if record is None:
        return None, []
    if not isinstance(record.get("files"), dict):
        return None, [f"{path} is not a checksum file"]
    problems = []
    for name, want in record["files"].items():
        f = path.parent / name
        if not f.exists():
            problems.append(f"{f} is missing")
            continue
        size = f.stat().st_size
        if size != want["bytes"]:
            problems.append(f"{f} has {size} bytes, its checksum file says {want['bytes']} (truncated or altered)")
        elif sha256 and digest(f)["sha256"] != want["sha256"]:
            problems.append(f"{f} does not match its SHA-256 (altered)")
    return record, problems


def quarantine(paths: list[Path], reason: str) -> str:
    """Move the files ``paths`` (those that exist) into ``<their folder>/corrupt/``, with a time stamp; returns the
    sentence that says what was moved and why (the caller warns with it, see :func:`warn_corrupt`)."""
    moved = []
    for p in map(Path, paths):
        if not p.exists():
            continue
        dest_dir = p.parent / "corrupt"
        dest_dir.mkdir(exist_ok=True)
        dest = dest_dir / f"{p.name}.{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        os.replace(p, dest)
        moved.append(f"{p.name} → {dest}")
    if moved:
        _fsync(Path(paths[0]).parent, directory=True)
    return f"{reason}; moved aside: {', '.join(moved) or 'nothing'}"


def warn_corrupt(message: str) -> None:
    """Emit a :class:`CorruptEntryWarning` (the one way the store reports a file it will not read)."""
    warnings.warn(message, CorruptEntryWarning, stacklevel=3)


# --- claims ----------------------------------------------------------------------------------------------------


class Claim:
    """A held claim on one artifact (see :func:`try_claim`); a context manager that releases it on exit.

    While held, a daemon thread touches the marker every :data:`CLAIM_HEARTBEAT_S` seconds.
    """

    def __init__(self, path: Path, token: str, heartbeat: float):
        self.path, self.token = Path(path), token
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(heartbeat,), daemon=True, name=f"claim {path.name}")
        self._thread.start()

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        """Stop the heartbeat and delete the marker (only if it is still this claim's)."""
        self._stop.set()
        self._thread.join()
        if (claim_owner(self.path) or {}).get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def claim_owner(path: Path) -> dict | None:
    """The content of the claim marker ``path`` (``host``, ``pid``, ``token``, ``since``); None when there is none,
    ``{}`` while it is being written or unreadable."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        owner = json.loads(text)
    except ValueError:
        return {}
    return owner if isinstance(owner, dict) else {}


def claim_is_stale(path: Path, timeout: float | None = None) -> bool:
    """Whether the claim marker ``path`` belongs to nobody alive: its process (on this host) is gone, or it has not
    been touched for ``timeout`` seconds (default :data:`CLAIM_TIMEOUT_S`). False when there is no marker."""
    timeout = CLAIM_TIMEOUT_S if timeout is None else timeout
    owner = claim_owner(path)
    if owner is None:
        return False
    try:
        if owner.get("host") == host() and isinstance(owner.get("pid"), int) and not _pid_alive(owner["pid"]):
            return True
        return _age(Path(path)) > timeout
    except FileNotFoundError:
        return False


def try_claim(path: Path, timeout: float | None = None, heartbeat: float | None = None) -> Claim | None:
    """Claim the artifact whose marker is ``path``: a :class:`Claim` when this caller now holds it, None when someone
    alive holds it. A stale claim (:func:`claim_is_stale`) is broken and taken over.

    Two processes that break the same stale claim at the same moment may both end up producing the artifact; since
    every write is atomic and the artifact depends only on its inputs, the result is still one correct copy.
    """
    path = Path(path)
    heartbeat = CLAIM_HEARTBEAT_S if heartbeat is None else heartbeat
    token = uuid.uuid4().hex
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not claim_is_stale(path, timeout):
                return None
            stale = claim_owner(path)
            grave = path.with_name(f"{path.name}.stale-{token}")
            try:
                os.rename(path, grave)
            except FileNotFoundError:
                continue  # someone else broke it first
            if claim_owner(grave) != stale:  # a fresh claim slipped in between: put it back and step aside
                try:
                    os.link(grave, path)
                except OSError:
                    pass
                grave.unlink(missing_ok=True)
                return None
            grave.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump({"host": host(), "pid": os.getpid(), "token": token, "since": time.time()}, f)
            f.flush()
            os.fsync(f.fileno())
        return Claim(path, token, heartbeat)
    return None
