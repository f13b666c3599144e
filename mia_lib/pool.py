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

    Args:
        cfg: the experiment. progress: show tqdm bars (None: :func:`mia_lib.progress.enabled` decides).
        store: cache root (default :func:`mia_lib.cache.root`).
        on_shard_done: optional callback ``f(shard_index)`` called after each newly trained shard is saved.
        train_shard: the shard trainer ``f(cfg, dataset, keep, ids, device, progress, desc) -> (logits [k,N,A,C],
            stacked state)``; default: the non-private recipe. :mod:`mia_lib.dp` passes its DP-SGD trainer.
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
    dev = train.device(cfg.device)
    starts = list(range(0, cfg.n_shadow, cfg.shard_size))
    todo = [i for i, s in enumerate(starts) if not (folder / f"shard_{i:04d}.npz").exists()]
    shards_bar = bar(
        total=len(starts),
        initial=len(starts) - len(todo),
        progress=progress if todo else False,
        desc=f"pool {key}",
        unit="shard",
    )
    for i in todo:
        ids = np.arange(starts[i], min(starts[i] + cfg.shard_size, cfg.n_shadow))
        t0 = time.perf_counter()
        logits, state = train_shard(cfg, ds, keep, ids, dev, progress, f"shard {i + 1}/{len(starts)}")
        seconds = time.perf_counter() - t0
        if cfg.save_params:
            cache.save_tensors(folder / f"params_{i:04d}.pt", state)
        cache.save_arrays(folder / f"shard_{i:04d}.npz", logits=logits, ids=ids, seconds=np.float64(seconds))
        shards_bar.update(1)
        if on_shard_done is not None:
            on_shard_done(i)
    shards_bar.close()
    shards = [cache.load_arrays(folder / f"shard_{i:04d}.npz") for i in range(len(starts))]
    logits = np.concatenate([s["logits"] for s in shards])
    seconds = float(sum(s["seconds"] for s in shards))
    cache.save_json(
        folder / "manifest.json",
        {"complete": True, "n_shards": len(starts), "seconds_training": seconds, "logits_shape": list(logits.shape)},
    )
    params = None
    if cfg.save_params:
        parts = [cache.load_tensors(folder / f"params_{i:04d}.pt") for i in range(len(starts))]
        params = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    train_acc, test_acc = _accuracies(logits, ds.y.numpy(), keep)
    return ShadowPool(cfg, ds, keep, logits, train_acc, test_acc, seconds, params)
