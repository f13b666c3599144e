"""The shadow pool: K models, their membership matrix and their cached logits.

:func:`load_or_train` is the single entry point. It trains the pool shard by shard (``cfg.shard_size`` models per
vmapped call), writes each finished shard atomically to the cache, and skips shards that already exist, so an
interrupted run resumes where it stopped and ends bitwise-identical to an uninterrupted one: every model's
initial weights and batches derive only from (master seed, model id).

Evaluation protocol used by every attack in the book: the targets are members of the pool, and a target's score
is computed from shadow statistics that never include the target itself (see :mod:`mia_lib.attacks.lira`).
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

from . import cache, data, signals, train
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
        logits: float32 [K, N, A, C] outputs on A augmented query views (view 0 = the image itself).
        train_acc, test_acc: float [K] accuracy on the model's IN and OUT examples (view 0).
        seconds_training: wall time spent training all shards (summed over resumed runs).
        params: stacked parameters and buffers {name: [K, ...]} when ``cfg.save_params``, else None.
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

    def model(self, k: int) -> torch.nn.Module:
        """Model ``k`` as an ``nn.Module`` in eval mode (needs ``cfg.save_params``)."""
        if self.params is None:
            raise ValueError("this pool was trained without save_params=True; parameters were not kept")
        module = _architecture(self.cfg, self.dataset)
        module.load_state_dict({name: t[k] for name, t in self.params.items()})
        return module.eval()


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
    )


def _train_shard(cfg, ds, keep, ids, dev, progress, desc):
    """Train models ``ids`` of the pool (non-private recipe); returns (logits [k,N,A,C], stacked state)."""
    seeds = [train.model_seed(cfg.seed, int(m)) for m in ids]
    modules = train.init_states(cfg.model, tuple(ds.X.shape[1:]), ds.n_classes, seeds)
    n_in_max = int(keep.sum(1).max())  # of the whole pool, so a model's batches do not depend on its shard
    schedule = train.batch_schedule(keep[ids], seeds, cfg.epochs, cfg.batch_size, n_in_max=n_in_max)
    params, buffers = train.train_vmapped(modules, ds.X, ds.y, schedule, recipe(cfg), dev, progress, desc)
    views = functools.partial(data.query_views, n_queries=cfg.n_queries, flippable=ds.flippable)
    logits = train.predict_vmapped(modules[0], params, buffers, ds.X, views).numpy()
    return logits, {**params, **buffers}


def _accuracies(logits: np.ndarray, y: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ok = signals.correct(logits[:, :, 0], y)
    return (ok & keep).sum(1) / keep.sum(1), (ok & ~keep).sum(1) / (~keep).sum(1)


# --- one shard in the store ------------------------------------------------------------------------------------
#
# Shard i of an entry is ``shard_i.npz`` (logits [k,N,A,C], ids [k], seconds), optionally ``params_i.pt``, and the
# checksum file ``shard_i.json`` written last: a shard is complete when its checksum file is there and every file
# it covers matches. ``shard_i.claim`` marks a shard that some process is producing right now.


def _files(folder: Path, i: int) -> tuple[Path, Path, Path, Path]:
    """(arrays, params, checksums, claim) of shard ``i``."""
    return (
        folder / f"shard_{i:04d}.npz",
        folder / f"params_{i:04d}.pt",
        folder / f"shard_{i:04d}.json",
        folder / f"shard_{i:04d}.claim",
    )


def _load_shard(folder: Path, i: int, ids: np.ndarray, n_examples: int, save_params: bool) -> dict:
    """Read shard ``i`` and check that it is shard ``i`` of this pool (ids, shapes); raises on any problem."""
    npz, pt, _, _ = _files(folder, i)
    arrays = cache.load_arrays(npz)
    missing = {"logits", "ids", "seconds"} - set(arrays)
    if missing:
        raise ValueError(f"{npz.name} lacks {sorted(missing)}")
    logits = arrays["logits"]
    if not np.array_equal(arrays["ids"], ids):
        raise ValueError(f"{npz.name} holds models {arrays['ids'].tolist()}, not {ids.tolist()}")
    if logits.ndim != 4 or logits.shape[:2] != (len(ids), n_examples) or logits.dtype != np.float32:
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


def read_shard(folder: Path, i: int, ids: np.ndarray, n_examples: int, save_params: bool):
    """Shard ``i`` as the store holds it, verified against its checksums; never raises for a bad file.

    Returns:
        (state, shard, reason): state ``"ok"`` (shard = {logits, ids, seconds, params, record}), ``"missing"``,
        ``"unchecked"`` (files without a checksum file: written by older code, or by a writer that died between
        the two renames) or ``"corrupt"`` (reason says which file and how); shard is None unless ok.
    """
    npz, pt, sums, _ = _files(Path(folder), i)
    record, problems = cache.verify_checksums(sums)
    if record is None and not problems:
        if npz.exists():
            return "unchecked", None, f"{npz} has no checksum file"
        return "missing", None, ""
    if not problems and save_params and pt.name not in record["files"]:
        problems = [f"{sums} does not cover {pt.name}"]
    if problems:
        return "corrupt", None, "; ".join(problems)
    try:
        shard = _load_shard(Path(folder), i, ids, n_examples, save_params)
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
    files = [npz]
    if cfg.save_params:
        cache.save_tensors(pt, state_dict)
        files.append(pt)
    cache.save_arrays(npz, logits=logits, ids=ids, seconds=np.float64(seconds))
    meta = dict(shard=i, ids=[int(ids[0]), int(ids[-1]) + 1], seconds=seconds, host=cache.host(), worker=worker)
    meta["threads"] = torch.get_num_threads()
    cache.write_checksums(sums, files, **meta)  # last: from here on the shard is complete
    report.update(status="trained", train_s=seconds)
    return report


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


def _train_here(folder, todo, ranges, cfg, ds, keep, train_shard, progress, shards_bar, on_shard_done) -> dict:
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
            out[i] = read_back(folder, i, ranges[i], len(ds), cfg.save_params)
            shards_bar.update(1)
            if report["status"] == "trained" and on_shard_done is not None:
                on_shard_done(i)
    return out


def read_back(folder: Path, i: int, ids: np.ndarray, n_examples: int, save_params: bool) -> dict:
    """Shard ``i`` just produced, read from the store (:func:`read_shard`); raises CacheError when it is not ok."""
    state, shard, reason = read_shard(folder, i, ids, n_examples, save_params)
    if state != "ok":
        raise cache.CacheError(f"shard {i} was just written to {folder} but cannot be read back: {reason or state}")
    return shard


def load_or_train(
    cfg: Experiment,
    progress: bool | None = None,
    store: str | Path | None = None,
    on_shard_done=None,
    *,
    train_shard=None,
    key: str | None = None,
    extra_config: dict | None = None,
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
    Returns:
        the :class:`ShadowPool`.

    Used in chapters 1, 2, 3, 4, 5, 6, 7.
    """
    train_shard = train_shard or _train_shard
    ds = load_data(cfg)
    n = len(ds)
    keep = train.balanced_keep(cfg.n_shadow, n, cfg.seed)
    key = key or cfg.hash()
    folder = cache.entry(key, store)
    cache.save_json(folder / "config.json", {**cfg.to_dict(), **(extra_config or {})})
    ranges = [np.arange(s, min(s + cfg.shard_size, cfg.n_shadow)) for s in range(0, cfg.n_shadow, cfg.shard_size)]
    shards, todo = {}, []
    for i, ids in enumerate(ranges):
        state, shard, _ = read_shard(folder, i, ids, n, cfg.save_params)
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
                _train_here(folder, todo, ranges, cfg, ds, keep, train_shard, progress, shards_bar, on_shard_done)
            )
        elif todo:
            from . import distributed

            shards.update(
                distributed.train_shards(
                    cfg, store, key, folder, todo, ranges, ds, train_shard, shards_bar, on_shard_done
                )
            )
    finally:
        shards_bar.close()
    cache.remove_stale_temporaries(folder)
    shards = [shards[i] for i in range(len(ranges))]
    logits = np.concatenate([s["logits"] for s in shards])
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
    train_acc, test_acc = _accuracies(logits, ds.y.numpy(), keep)
    return ShadowPool(cfg, ds, keep, logits, train_acc, test_acc, seconds, params)
