"""The shadow pool: K models, their membership matrix and their cached logits.

:func:`load_or_train` is the single entry point. It trains the pool shard by shard (``cfg.shard_size`` models per
vmapped call), writes each finished shard atomically to the cache, and skips shards that already exist, so an
interrupted run resumes where it stopped and ends bitwise-identical to an uninterrupted one: every model's
initial weights and batches derive only from (master seed, model id).

Evaluation protocol used by every attack in the book: the targets are members of the pool, and a target's score
is computed from shadow statistics that never include the target itself (see :mod:`mia_lib.attacks.lira`).

Big pools stay on disk: ``load_or_train(cfg, in_memory=False)`` (or :meth:`ShadowPool.logits_on_disk`, or
:func:`open_logits` on an entry folder) gives a :class:`ShardedLogits`, which reads each shard's logits where
``shard_i.npz`` stores them (``np.savez`` never compresses, so the array lies in the file as is: positioned reads,
or a short-lived memory map) and only the models and examples it is asked for. The store's format is unchanged:
entries written before this view existed are read by it, and entries read through it are read by older code.
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from . import cache, data, regularization, signals, train
from .config import Experiment
from .progress import bar


def load_data(cfg: Experiment) -> data.Dataset:
    """The dataset an experiment trains on: one source, or a mixture when ``cfg.under`` is set.

    Used in chapter 3.
    """
    if cfg.under:
        return data.mixture(
            cfg.dataset, cfg.under, cfg.n_under, n_over=cfg.n_data, data_dir=cfg.data_dir, seed=cfg.seed
        )
    return data.load(cfg.dataset, data_dir=cfg.data_dir, n=cfg.n_data, seed=cfg.seed)


@dataclass(eq=False)
class ShadowPool:
    """A trained pool and everything derived from it.

    Attributes:
        cfg: the experiment; dataset: the examples (X [N,C,H,W], y [N], group [N]).
        keep: bool [K, N], True where example n is in model k's training set.
        logits: float32 [K, N, A, C] outputs on A augmented query views (view 0 = the image itself): an array in
            memory, or, for a pool loaded with ``in_memory=False``, a :class:`ShardedLogits` left on disk (the
            cached properties below then read all of it; :mod:`mia_lib.scoring` reads it chunk by chunk).
        train_acc, test_acc: float [K] accuracy on the model's IN and OUT examples (view 0).
        seconds_training: wall time spent training all shards (summed over resumed runs).
        params: stacked parameters and buffers {name: [K, ...]} when ``cfg.save_params``, else None.
        folder: the store entry the pool was read from (None for a pool built in memory).
    """

    cfg: Experiment
    dataset: data.Dataset
    keep: np.ndarray
    logits: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    seconds_training: float
    params: dict | None = field(default=None, repr=False)
    dp: object | None = None  # the DP-SGD settings when the pool was trained by mia_lib.dp, else None
    folder: Path | None = field(default=None, repr=False)

    @property
    def n_shadow(self) -> int:
        return self.keep.shape[0]

    @property
    def y(self) -> np.ndarray:
        """int64 [N] labels."""
        return self.dataset.y.numpy()

    @property
    def group(self) -> np.ndarray:
        """int8 [N] group ids (0 = over-represented / only group, 1 = under-represented)."""
        return self.dataset.group.numpy()

    @cached_property
    def phi(self) -> np.ndarray:
        """float64 [K, N, A] logit-scaled confidences (:func:`mia_lib.signals.phi`)."""
        return signals.phi(self.logits, self.y)

    @cached_property
    def loss(self) -> np.ndarray:
        """float64 [K, N] cross-entropy on the un-augmented view."""
        return signals.loss(self.logits[:, :, 0], self.y)

    @cached_property
    def correct(self) -> np.ndarray:
        """bool [K, N] whether each model classifies each example correctly (un-augmented view)."""
        return signals.correct(self.logits[:, :, 0], self.y)

    def logits_on_disk(self, verify: str = "size") -> "ShardedLogits":
        """The logits [K, N, A, C] as the store holds them, read on demand (:class:`ShardedLogits`).

        Args:
            verify: what is checked when the shards are opened (see :func:`read_shard`): ``"size"`` (default: each
                shard's checksum file, file sizes and array header; the SHA-256 was checked when this pool was
                loaded) or ``"sha256"`` (every byte again).
        Raises:
            ValueError: the pool was not read from the store. cache.CacheError: a shard is no longer intact.

        Used by :mod:`mia_lib.scoring` (no chapter yet).
        """
        if isinstance(self.logits, ShardedLogits):
            return self.logits
        if self.folder is None:
            raise ValueError("this pool was not read from the store, so its logits are only in memory")
        return open_logits(self.folder, self.n_shadow, self.cfg.shard_size, len(self.dataset), verify=verify)

    def model(self, k: int) -> torch.nn.Module:
        """Model ``k`` as an ``nn.Module`` in eval mode (needs ``cfg.save_params``)."""
        if self.params is None:
            raise ValueError("this pool was trained without save_params=True; parameters were not kept")
        module = _architecture(self.cfg, self.dataset)
        module.load_state_dict({name: t[k] for name, t in self.params.items()})
        return module.eval()


class ShardedLogits:
    """The logits [K, N, A, C] of a pool in the store, left on disk: one part per shard, read on demand.

    ``view.read(models, examples)`` (or ``view[models, examples]``, with ints, slices, index or boolean arrays on
    the model and example axes; further indices apply to what was read) reads, from the shards that hold those
    models only, their rows for those examples: one positioned read (``preadv``) per model for a range of
    examples, a memory map dropped right after for other selections. Nothing stays mapped, so a scan of the pool
    chunk by chunk keeps this process's resident memory at the size of one chunk, and scoring a subset of models
    or examples reads only those bytes. ``np.asarray(view)`` reads all of it. Nothing here re-checks checksums:
    the shards were verified when the view was opened (:func:`open_logits`).

    Attributes:
        parts: per shard, a :class:`mia_lib.cache.ArrayOnDisk` [k_i, N, A, C] (or an array in memory, for a
            shard whose logits cannot be mapped). starts: int [S + 1], the first model of each shard, then K.

    Used by :mod:`mia_lib.scoring` and ``benchmarks/scoring_at_scale.py`` (no chapter yet).
    """

    def __init__(self, parts: list):
        if not parts:
            raise ValueError("a pool has at least one shard")
        tails = {tuple(p.shape[1:]) for p in parts}
        dtypes = {np.dtype(p.dtype) for p in parts}
        if len(tails) != 1 or len(dtypes) != 1 or len(next(iter(tails))) != 3:
            raise ValueError(f"shards of one pool must share [N, A, C] and dtype, got {sorted(tails)} {dtypes}")
        self.parts = list(parts)
        self.starts = np.concatenate([[0], np.cumsum([p.shape[0] for p in parts])]).astype(np.int64)
        self.shape = (int(self.starts[-1]),) + next(iter(tails))
        self.dtype = next(iter(dtypes))

    ndim = 4

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"ShardedLogits(shape={self.shape}, dtype={self.dtype}, shards={len(self.parts)})"

    def read(self, models=None, examples=None, out: np.ndarray | None = None) -> np.ndarray:
        """Copy the logits of ``models`` (int [m], any order; None: all) on ``examples`` (a slice or int [e];
        None: all) into memory: float32 [m, e, A, C], or into ``out`` (an array of that shape, any dtype and
        strides: e.g. a transposed view, so that the copy also reorders)."""
        k, n = self.shape[:2]
        ids = np.arange(k) if models is None else np.asarray(models, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < -k or ids.max() >= k):
            raise IndexError(f"model index out of range for a pool of {k} models")
        ids = np.where(ids < 0, ids + k, ids)
        ex = slice(None) if examples is None else examples
        if isinstance(ex, slice):
            n_ex = len(range(*ex.indices(n)))
        else:
            ex = np.asarray(ex, dtype=np.int64).reshape(-1)
            if ex.size and (ex.min() < -n or ex.max() >= n):
                raise IndexError(f"example index out of range for {n} examples")
            n_ex = ex.size
        shape = (ids.size, n_ex) + self.shape[2:]
        if out is None:
            out = np.empty(shape, self.dtype)
        elif out.shape != shape:
            raise ValueError(f"out has shape {out.shape}, the logits read have {shape}")
        shard_of = np.searchsorted(self.starts, ids, side="right") - 1
        span = ex.indices(n) if isinstance(ex, slice) else None
        for s in np.unique(shard_of):
            part, mine = self.parts[s], np.flatnonzero(shard_of == s)
            if isinstance(part, cache.ArrayOnDisk) and span is not None and span[2] == 1 and not part.fortran_order:
                _read_rows(part, ids[mine] - self.starts[s], span[0], span[1], out, mine)
                continue
            arr = part.map() if isinstance(part, cache.ArrayOnDisk) else part
            for j in mine:
                out[j] = arr[ids[j] - self.starts[s]][ex]  # from the map, through a small temporary
            del arr  # unmapped here: the pages read leave this process's resident memory
        return out

    def __getitem__(self, key) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis or k is None for k in key):
            raise TypeError("ShardedLogits takes ints, slices and index arrays on the model and example axes")
        mk = key[0] if key else slice(None)
        ek = key[1] if len(key) > 1 else slice(None)
        ids = np.arange(self.shape[0])[mk]
        ex = ek if isinstance(ek, slice) else np.arange(self.shape[1])[ek]
        out = self.read(np.atleast_1d(ids), ex if isinstance(ex, slice) else np.atleast_1d(ex))
        first = (
            0 if np.ndim(ids) == 0 else slice(None),
            0 if np.ndim(ex) == 0 and not isinstance(ex, slice) else slice(None),
        )
        return out[first + tuple(key[2:])]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if copy is False:
            raise ValueError("the logits are on disk: making an array of them copies them into memory")
        out = self.read()
        return out if dtype is None else out.astype(dtype, copy=False)


def _read_rows(part: cache.ArrayOnDisk, rows: np.ndarray, start: int, stop: int, out: np.ndarray, at) -> None:
    """Rows ``rows`` of ``part`` [k, N, ...], examples start:stop, into ``out[at]``: one positioned read per row
    (the operating system copies from its page cache; nothing is mapped, so nothing stays resident)."""
    inner = int(np.prod(part.shape[2:], dtype=np.int64))
    item = part.dtype.itemsize
    tmp = None
    with open(part.path, "rb", buffering=0) as f:
        for r, j in zip(rows, at):
            dest = out[j]
            direct = dest.flags.c_contiguous and dest.dtype == part.dtype
            if not direct and tmp is None:
                tmp = np.empty((stop - start,) + tuple(part.shape[2:]), part.dtype)
            buf = dest if direct else tmp
            view = memoryview(buf).cast("B")
            pos = part.offset + (int(r) * part.shape[1] + start) * inner * item
            while view.nbytes:
                got = os.preadv(f.fileno(), [view], pos)
                if got <= 0:
                    raise OSError(f"{part.path} ends before the logits it should hold")
                view, pos = view[got:], pos + got
            if not direct:
                dest[...] = tmp


def _architecture(cfg: Experiment, ds: data.Dataset) -> torch.nn.Module:
    return train.init_states(cfg.model, tuple(ds.X.shape[1:]), ds.n_classes, [0])[0]


def recipe(cfg: Experiment) -> train.Recipe:
    """The training recipe of an experiment: every pool, DP pool, reference and proxy model trains with it.
    Chapters 2, 3 (reference models)."""
    return train.Recipe(
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        optimizer=cfg.optimizer,
        precision=cfg.precision,
        **cfg.defenses(),
    )


def reference(cfg: Experiment, ds: data.Dataset) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The defender's held-out (X, y) of the MMD defense (:func:`mia_lib.regularization.reference_set`), None
    when ``cfg`` does not use it. Chapter 8."""
    if cfg.mmd_weight <= 0:
        return None
    ref = regularization.reference_set(cfg)
    if ref.X.shape[1:] != ds.X.shape[1:]:
        raise ValueError(f"the reference set's images are {tuple(ref.X.shape[1:])}, the pool's {tuple(ds.X.shape[1:])}")
    return ref.X, ref.y


def train_pool_shard(cfg, ds, keep, ids, dev, progress, desc):
    """The non-private shard trainer, the default of :func:`load_or_train`: train models ``ids`` of the pool and
    return (logits [k,N,A,C] on the pool's query views, stacked state). Chapter 9 wraps it (relabelled canaries)."""
    seeds = [train.model_seed(cfg.seed, int(m)) for m in ids]
    modules = train.init_states(cfg.model, tuple(ds.X.shape[1:]), ds.n_classes, seeds)
    n_in_max = int(keep.sum(1).max())  # of the whole pool, so a model's batches do not depend on its shard
    schedule = train.batch_schedule(keep[ids], seeds, cfg.epochs, cfg.batch_size, n_in_max=n_in_max)
    params, buffers = train.train_vmapped(
        modules, ds.X, ds.y, schedule, recipe(cfg), dev, progress, desc, seeds=seeds, reference=reference(cfg, ds)
    )
    views = functools.partial(data.query_views, n_queries=cfg.n_queries, flippable=ds.flippable)
    logits = train.predict_vmapped(modules[0], params, buffers, ds.X, views).numpy()
    return logits, {**params, **buffers}


def _accuracies(logits: np.ndarray, y: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = signals.correct(logits[:, :, 0], y)
    return (ok & keep).sum(1) / keep.sum(1), (ok & ~keep).sum(1) / (~keep).sum(1)


def _accuracies_on_disk(view: ShardedLogits, y: np.ndarray, keep: np.ndarray, chunk_bytes: int = 64 << 20):
    """:func:`_accuracies` of logits left on disk, read in chunks of examples (the same numbers)."""
    k, n, a, c = view.shape
    step = max(1, chunk_bytes // (k * a * c * view.dtype.itemsize))
    ok = np.empty((k, n), dtype=bool)
    for j in range(0, n, step):
        ok[:, j : j + step] = signals.correct(view.read(examples=slice(j, j + step))[:, :, 0], y[j : j + step])
    return (ok & keep).sum(1) / keep.sum(1), (ok & ~keep).sum(1) / (~keep).sum(1)


# --- one shard in the store ------------------------------------------------------------------------------------
#
# Shard i of an entry is ``shard_i.npz`` (logits [k,N,A,C], ids [k], seconds), optionally ``params_i.pt``, and the
# checksum file ``shard_i.json`` written last: a shard is complete when its checksum file is there and every file
# it covers matches. ``shard_i.claim`` marks a shard that some process is producing right now.
#
# What is verified, and when: a shard read into memory (the default) is read only after the SHA-256 of each of
# its files matches (``verify="sha256"``; about 1 s per GB on one core of this project's 2-core machine, 2.9-5.8 s
# for the 2.3 GB of K = 1,024, N = 60,000 under varying load). A pool left on disk (``in_memory=False``,
# :func:`open_logits`) is verified the same way once, when it is opened, by a streaming pass that does not grow
# resident memory; reads through the view later are not re-verified. ``verify="size"`` checks presence, sizes,
# array headers and ids only (for a store verified before; a byte altered in place would go unnoticed).

#: What :func:`read_shard` can verify: every byte's SHA-256, or the files' presence and sizes only.
VERIFY = ("sha256", "size")


def _files(folder: Path, i: int) -> tuple[Path, Path, Path, Path]:
    """(arrays, params, checksums, claim) of shard ``i``."""
    return (
        folder / f"shard_{i:04d}.npz",
        folder / f"params_{i:04d}.pt",
        folder / f"shard_{i:04d}.json",
        folder / f"shard_{i:04d}.claim",
    )


def _logits_on_disk(npz: Path):
    """Where shard ``npz`` stores its logits (a :class:`mia_lib.cache.ArrayOnDisk`), or, when they cannot be mapped
    (a member compressed by another writer), the logits read into memory."""
    try:
        return cache.npz_member(npz, "logits")
    except ValueError:
        return cache.load_arrays(npz, names=["logits"])["logits"]


def _load_shard(
    folder: Path, i: int, ids: np.ndarray, n_examples: int, save_params: bool, in_memory: bool = True
) -> dict:
    """Read shard ``i`` and check that it is shard ``i`` of this pool (ids, shapes); raises on any problem. With
    ``in_memory=False`` the logits stay on disk (their location, from the file's headers)."""
    npz, pt, _, _ = _files(folder, i)
    if in_memory:
        arrays = cache.load_arrays(npz)
    else:
        with np.load(npz, allow_pickle=False) as z:
            names = set(z.files)
        arrays = cache.load_arrays(npz, names=sorted(names & {"ids", "seconds"}))
        if "logits" in names:
            arrays["logits"] = _logits_on_disk(npz)
    missing = {"logits", "ids", "seconds"} - set(arrays)
    if missing:
        raise ValueError(f"{npz.name} lacks {sorted(missing)}")
    logits = arrays["logits"]
    if not np.array_equal(arrays["ids"], ids):
        raise ValueError(f"{npz.name} holds models {arrays['ids'].tolist()}, not {ids.tolist()}")
    if len(logits.shape) != 4 or tuple(logits.shape[:2]) != (len(ids), n_examples) or logits.dtype != np.float32:
        raise ValueError(
            f"{npz.name} has logits {logits.dtype} {list(logits.shape)}, not float32 [{len(ids)}, {n_examples}, A, C]"
        )
    params = None
    if save_params:
        params = cache.load_tensors(pt)
        wrong = [k for k, v in params.items() if v.shape[:1] != (len(ids),)]
        if not params or wrong:
            raise ValueError(f"{pt.name} does not hold {len(ids)} stacked models ({wrong or 'empty'})")
    return {"logits": logits, "ids": arrays["ids"], "seconds": float(arrays["seconds"]), "params": params}


def read_shard(
    folder: Path,
    i: int,
    ids: np.ndarray,
    n_examples: int,
    save_params: bool,
    *,
    in_memory: bool = True,
    verify: str = "sha256",
):
    """Shard ``i`` as the store holds it, verified against its checksums; never raises for a bad file.

    Args:
        in_memory: read the logits into memory (default), or leave them on disk: ``shard["logits"]`` is then a
            :class:`mia_lib.cache.ArrayOnDisk` (for :class:`ShardedLogits`), found from the file's headers.
        verify: ``"sha256"`` (default: presence, size and SHA-256 of every file the checksum file covers) or
            ``"size"`` (presence and sizes only; then the arrays' headers, ids and shapes, as always).
    Returns:
        (state, shard, reason): state ``"ok"`` (shard = {logits, ids, seconds, params, record}), ``"missing"``,
        ``"unchecked"`` (files without a checksum file: written by older code, or by a writer that died between
        the two renames) or ``"corrupt"`` (reason says which file and how); shard is None unless ok.

    Used in chapters 1-7, through :func:`load_or_train`.
    """
    if verify not in VERIFY:
        raise ValueError(f"verify must be one of {VERIFY}, got {verify!r}")
    npz, pt, sums, _ = _files(Path(folder), i)
    record, problems = cache.verify_checksums(sums, sha256=verify == "sha256")
    if record is None and not problems:
        if npz.exists():
            return "unchecked", None, f"{npz} has no checksum file"
        return "missing", None, ""
    if not problems and save_params and pt.name not in record["files"]:
        problems = [f"{sums} does not cover {pt.name}"]
    if problems:
        return "corrupt", None, "; ".join(problems)
    try:
        shard = _load_shard(Path(folder), i, ids, n_examples, save_params, in_memory)
    except Exception as exc:  # a file that matches its checksum but is not this shard: written by other code
        return "corrupt", None, f"{npz} matches its checksum but cannot be read as shard {i} ({exc})"
    return "ok", {**shard, "record": record}, ""


def _produce(folder, i, ids, cfg, ds, keep, train_shard, dev, progress, desc, worker) -> dict:
    """Shard ``i`` into the store, the caller holding its claim: kept when already there, adopted when written
    without a checksum (and readable), else trained; a corrupt shard is moved aside first. Returns the report."""
    npz, pt, sums, _ = _files(folder, i)
    report = {"shard": i, "status": "present", "path": str(npz), "host": cache.host(), "pid": os.getpid()}
    report.update(worker=worker, warnings=[], train_s=0.0, threads=torch.get_num_threads())
    state, _, reason = read_shard(folder, i, ids, len(ds), cfg.save_params)
    if state == "ok":
        return report
    if state == "unchecked":
        try:
            _load_shard(folder, i, ids, len(ds), cfg.save_params)
        except Exception as exc:
            reason = f"{npz} cannot be read ({type(exc).__name__}: {exc})"
        else:  # complete (renamed into place whole) and readable: record its checksums, do not train it again
            files = [npz, pt] if cfg.save_params else [npz]
            cache.write_checksums(sums, files, shard=i, ids=[int(ids[0]), int(ids[-1]) + 1], adopted=True)
            return report
    if state != "missing":
        report["warnings"].append(cache.quarantine([sums, npz, pt], f"shard {i} of {folder} is corrupt: {reason}"))
    t0 = time.perf_counter()
    logits, state_dict = train_shard(cfg, ds, keep, ids, dev, progress, desc)
    seconds = time.perf_counter() - t0
    state_dict = state_dict if cfg.save_params else None
    write_shard(folder, i, ids, logits, seconds, state_dict, host=cache.host(), worker=worker)
    report.update(status="trained", train_s=seconds)
    return report


def write_shard(
    folder: Path, i: int, ids: np.ndarray, logits: np.ndarray, seconds: float, state_dict=None, **meta
) -> dict:
    """Write shard ``i`` (models ``ids``) into the entry ``folder`` as the store holds it: ``params_i.pt`` (when
    ``state_dict`` is given), ``shard_i.npz`` (logits, ids, seconds), then, last, the checksum file
    ``shard_i.json`` that marks it complete. Each file is written atomically (temporary, fsync, rename).

    Args:
        logits: float32 [k, N, A, C]; ids: int [k]; seconds: its training time; state_dict: stacked parameters
            {name: [k, ...]} or None; meta: more JSON values for the checksum file (``threads`` is added).
    Returns:
        the checksum record. Used by :func:`ensure_shard` (chapters 1-7) and ``benchmarks/scoring_at_scale.py``.
    """
    npz, pt, sums, _ = _files(Path(folder), i)
    files = [npz]
    if state_dict is not None:
        cache.save_tensors(pt, state_dict)
        files.append(pt)
    cache.save_arrays(npz, logits=logits, ids=ids, seconds=np.float64(seconds))
    meta = dict(shard=i, ids=[int(ids[0]), int(ids[-1]) + 1], seconds=seconds, **meta)
    meta["threads"] = torch.get_num_threads()
    return cache.write_checksums(sums, files, **meta)  # last: from here on the shard is complete


def ensure_shard(
    folder: Path,
    i: int,
    ids: np.ndarray,
    cfg: Experiment,
    ds: data.Dataset,
    keep: np.ndarray,
    train_shard,
    dev: torch.device,
    progress: bool | None = None,
    desc: str = "",
    *,
    wait: bool = True,
    worker: str | None = None,
    poll_s: float = 0.5,
) -> dict:
    """Make shard ``i`` (models ``ids``) complete in the entry ``folder``, training it only if no one has: under its
    claim (:func:`mia_lib.cache.try_claim`), so two processes asking for the same shard train it once.

    This is the body of every shard, in this process or as a task on a Dask worker (:mod:`mia_lib.distributed`).

    Args:
        wait: when another live process holds the claim, wait for it (True) or return at once with status
            ``"busy"`` (False). worker: the Dask worker's address, for the report.
    Returns:
        a small report: ``shard``, ``status`` (``"trained"``, ``"present"`` or ``"busy"``), ``path``, ``host``,
        ``pid``, ``worker``, ``warnings`` (files moved aside), ``train_s``, ``threads`` (torch's, while training).
    """
    claim_path = _files(Path(folder), i)[3]
    while True:
        claim = cache.try_claim(claim_path)
        if claim is not None:
            with claim:
                return _produce(Path(folder), i, ids, cfg, ds, keep, train_shard, dev, progress, desc, worker)
        if not wait:
            return {"shard": i, "status": "busy", "warnings": []}
        time.sleep(poll_s)  # someone alive is producing it: wait until they release it, or their claim goes stale


def _train_here(
    folder, todo, ranges, cfg, ds, keep, train_shard, progress, shards_bar, on_shard_done, in_memory=True
) -> dict:
    """The in-process executor: shards one after the other; those another process is producing are left for a
    second pass, which waits for them. Returns {shard index: shard read back from the store}."""
    dev = train.device(cfg.device)
    busy, out = [], {}
    for wait, shards in ((False, todo), (True, busy)):
        for i in shards:
            desc = f"shard {i + 1}/{len(ranges)}"
            report = ensure_shard(folder, i, ranges[i], cfg, ds, keep, train_shard, dev, progress, desc, wait=wait)
            if report["status"] == "busy":
                busy.append(i)
                continue
            for message in report["warnings"]:
                cache.warn_corrupt(message)
            out[i] = read_back(folder, i, ranges[i], len(ds), cfg.save_params, in_memory=in_memory)
            shards_bar.update(1)
            if report["status"] == "trained" and on_shard_done is not None:
                on_shard_done(i)
    return out


def read_back(folder: Path, i: int, ids: np.ndarray, n_examples: int, save_params: bool, **how) -> dict:
    """Shard ``i`` just produced, read from the store (:func:`read_shard`, ``how``: its ``in_memory`` and
    ``verify``); raises CacheError when it is not ok."""
    state, shard, reason = read_shard(folder, i, ids, n_examples, save_params, **how)
    if state != "ok":
        raise cache.CacheError(f"shard {i} was just written to {folder} but cannot be read back: {reason or state}")
    return shard


def shard_ranges(n_shadow: int, shard_size: int) -> list[np.ndarray]:
    """The model ids of each shard: int [shard_size] (the last one shorter). Chapters 1-7 (:func:`load_or_train`)."""
    return [np.arange(s, min(s + shard_size, n_shadow)) for s in range(0, n_shadow, shard_size)]


def open_logits(
    folder: str | Path, n_shadow: int, shard_size: int, n_examples: int, *, verify: str = "sha256"
) -> ShardedLogits:
    """The logits of a complete entry of the store, left on disk: a :class:`ShardedLogits` [K, N, A, C].

    Reads headers and checksums only (``verify``: see :func:`read_shard`; ``"sha256"`` streams through every file
    once, without keeping it in memory); never trains, adopts or moves files aside.

    Raises:
        cache.CacheError: naming the first shard that is missing, unchecked (written by code older than checksum
            files) or corrupt; :func:`load_or_train` repairs such an entry.
    Used by :meth:`ShadowPool.logits_on_disk` and ``benchmarks/scoring_at_scale.py`` (no chapter yet).
    """
    folder = Path(folder)
    parts = []
    for i, ids in enumerate(shard_ranges(n_shadow, shard_size)):
        state, shard, reason = read_shard(folder, i, ids, n_examples, False, in_memory=False, verify=verify)
        if state != "ok":
            raise cache.CacheError(
                f"shard {i} of {folder} is {state}{f' ({reason})' if reason else ''}; pool.load_or_train repairs it"
            )
        parts.append(shard["logits"])
    return ShardedLogits(parts)


def load_or_train(
    cfg: Experiment,
    progress: bool | None = None,
    store: str | Path | None = None,
    on_shard_done=None,
    *,
    train_shard=None,
    key: str | None = None,
    extra_config: dict | None = None,
    in_memory: bool = True,
    verify: str = "sha256",
) -> ShadowPool:
    """Load the pool for ``cfg`` from the cache, training (only) the shards that are missing.

    A cached shard is read only after its checksum matches; a corrupt or truncated one is moved aside (a
    :class:`mia_lib.cache.CorruptEntryWarning` names it) and trained again. ``cfg.scheduler`` says who trains the
    missing shards (:mod:`mia_lib.distributed`); the pool is the same, bit for bit, whoever trains it.

    Args:
        cfg: the experiment. progress: show tqdm bars (None: :func:`mia_lib.progress.enabled` decides).
        store: cache root (default :func:`mia_lib.cache.root`); with a Dask scheduler, a folder that the client and
            every worker see at the same path.
        on_shard_done: optional callback ``f(shard_index)`` called after each newly trained shard is saved.
        train_shard: the shard trainer ``f(cfg, dataset, keep, ids, device, progress, desc) -> (logits [k,N,A,C],
            stacked state)``; default: the non-private recipe. :mod:`mia_lib.dp` passes its DP-SGD trainer. With a
            Dask scheduler it must pickle (a module-level function or a picklable object, not a closure).
        key: cache key (default ``cfg.hash()``); extra_config: more entries for the entry's ``config.json``.
        in_memory: read the logits into memory (default); False leaves them on disk: ``pool.logits`` is then a
            :class:`ShardedLogits` and the accuracies are computed by one chunked pass over view 0. Shards trained
            by this call are written first, then read back the same way.
        verify: how cached shards are checked before use (:func:`read_shard`): ``"sha256"`` (default) or
            ``"size"`` (for a store verified before; a shard altered in place would go unnoticed).
    Returns:
        the :class:`ShadowPool`.

    Used in chapters 1, 2, 3, 4, 5, 6, 7.
    """
    train_shard = train_shard or train_pool_shard
    ds = load_data(cfg)
    n = len(ds)
    keep = train.balanced_keep(cfg.n_shadow, n, cfg.seed)
    key = key or cfg.hash()
    folder = cache.entry(key, store)
    cache.save_json(folder / "config.json", {**cfg.to_dict(), **(extra_config or {})})
    ranges = shard_ranges(cfg.n_shadow, cfg.shard_size)
    shards, todo = {}, []
    for i, ids in enumerate(ranges):
        state, shard, _ = read_shard(folder, i, ids, n, cfg.save_params, in_memory=in_memory, verify=verify)
        if state == "ok":
            shards[i] = shard
        else:
            todo.append(i)  # missing, unchecked or corrupt: ensure_shard sorts it out under the shard's claim
    shards_bar = bar(
        total=len(ranges),
        initial=len(ranges) - len(todo),
        progress=progress if todo else False,
        desc=f"pool {key}",
        unit="shard",
    )
    try:
        if todo and cfg.scheduler is None:
            shards.update(
                _train_here(
                    folder, todo, ranges, cfg, ds, keep, train_shard, progress, shards_bar, on_shard_done, in_memory
                )
            )
        elif todo:
            from . import distributed

            shards.update(
                distributed.train_shards(
                    cfg, store, key, folder, todo, ranges, ds, train_shard, shards_bar, on_shard_done
                )
            )
            if not in_memory:  # read back in memory (and verified) by the executor: leave them on disk instead
                for i in todo:
                    shards[i] = read_back(folder, i, ranges[i], n, cfg.save_params, in_memory=False, verify="size")
    finally:
        shards_bar.close()
    cache.remove_stale_temporaries(folder)
    shards = [shards[i] for i in range(len(ranges))]
    if in_memory:
        logits = np.concatenate([s["logits"] for s in shards])
    else:
        logits = ShardedLogits([s["logits"] for s in shards])
    seconds = float(sum(s["seconds"] for s in shards))
    manifest = {
        "complete": True,
        "n_shards": len(ranges),
        "seconds_training": seconds,
        "logits_shape": list(logits.shape),
    }
    manifest["shards_sha256"] = [s["record"]["files"][f"shard_{i:04d}.npz"]["sha256"] for i, s in enumerate(shards)]
    cache.save_json(folder / "manifest.json", manifest)
    params = None
    if cfg.save_params:
        params = {k: torch.cat([s["params"][k] for s in shards]) for k in shards[0]["params"]}
    accuracies = _accuracies if in_memory else _accuracies_on_disk
    train_acc, test_acc = accuracies(logits, ds.y.numpy(), keep)
    return ShadowPool(cfg, ds, keep, logits, train_acc, test_acc, seconds, params, folder=folder)
