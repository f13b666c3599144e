"""Cached DP pools: :func:`load_or_train_dp_pool` is :func:`mia_lib.pool.load_or_train` with the vmapped DP-SGD
trainer, cached under :func:`dp_pool_key` (the experiment's hash, the DP request and :data:`TRAINER_VERSION`)."""

from __future__ import annotations

import functools
import hashlib
import json
import math
from pathlib import Path

from .. import cache, data, pool, train
from ..config import Experiment
from .accounting import DPSettings, check_privacy, settings
from .clipping import train_dp_vmapped

TRAINER_VERSION = "dp-sgd-1"  # part of the cache key; bump when the DP trainer's numerics change


def dp_pool_key(
    cfg: Experiment, epsilon: float, delta: float = 1e-5, max_grad_norm: float = 1.0, accountant: str = "rdp"
) -> str:
    """Cache key of a DP pool: SHA-256 of the experiment's hash, the DP request and the trainer version.

    (σ, q and steps follow deterministically from these, so they are stored next to the pool, not hashed.)
    """
    request = {
        "epsilon": "inf" if math.isinf(epsilon) else float(epsilon),
        "delta": float(delta),
        "max_grad_norm": float(max_grad_norm),
        "accountant": accountant,
    }
    canonical = json.dumps(
        {"experiment": cfg.hash(), "dp": request, "trainer": TRAINER_VERSION}, sort_keys=True, separators=(",", ":")
    )
    return "dp-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def dp_settings_for(
    cfg: Experiment, epsilon: float, delta: float = 1e-5, max_grad_norm: float = 1.0, accountant: str = "rdp"
) -> DPSettings:
    """The :class:`DPSettings` a DP pool for ``cfg`` uses: n_train = mean IN-set size (N/2 on a balanced pool),
    expected batch ``cfg.batch_size``, ``cfg.epochs`` epochs."""
    n = len(pool.load_data(cfg))
    return settings(float(epsilon), float(delta), n / 2, cfg.batch_size, cfg.epochs, float(max_grad_norm), accountant)


def _train_dp_shard(cfg, ds, keep, ids, s: DPSettings, dev, progress, desc):
    seeds = [train.model_seed(cfg.seed, int(m)) for m in ids]
    modules = train.init_states(cfg.model, tuple(ds.X.shape[1:]), ds.n_classes, seeds)
    params, buffers = train_dp_vmapped(
        modules,
        ds.X,
        ds.y,
        keep[ids],
        seeds,
        pool.recipe(cfg),
        s.max_grad_norm,
        s.noise_multiplier,
        s.sample_rate,
        s.steps,
        dev,
        progress,
        desc,
    )
    views = functools.partial(data.query_views, n_queries=cfg.n_queries, flippable=ds.flippable)
    logits = train.predict_vmapped(modules[0], params, buffers, ds.X, views).numpy()
    return logits, {**params, **buffers}


class DPShardTrainer:
    """The DP-SGD shard trainer of one :class:`DPSettings`: ``f(cfg, dataset, keep, ids, device, progress, desc)`` as
    :func:`mia_lib.pool.load_or_train` calls it. An object, not a closure, so that it pickles to Dask workers."""

    def __init__(self, s: DPSettings):
        self.settings = s

    def __call__(self, cfg, ds, keep, ids, dev, progress, desc):
        return _train_dp_shard(cfg, ds, keep, ids, self.settings, dev, progress, desc)

    def __repr__(self) -> str:
        return f"DPShardTrainer({self.settings!r})"


def load_or_train_dp_pool(
    cfg: Experiment,
    epsilon: float,
    delta: float = 1e-5,
    progress: bool | None = None,
    store: str | Path | None = None,
    on_shard_done=None,
    max_grad_norm: float = 1.0,
    accountant: str = "rdp",
) -> pool.ShadowPool:
    """Load or train a pool of DP-SGD models: :func:`mia_lib.pool.load_or_train` with the DP trainer.

    Same keep matrix, initial weights and query views as the non-private pool of ``cfg``; each model trains with
    DP-SGD (clipping norm ``max_grad_norm``, q = 1/⌈(N/2)/B⌉, ``cfg.epochs`` epochs, σ chosen for (``epsilon``,
    ``delta``) by ``accountant``; ``epsilon=math.inf`` clips without noise). Shards are cached atomically under
    :func:`dp_pool_key` (next to a ``config.json`` holding the :class:`DPSettings`, so a cache hit needs no
    accountant call) and an interrupted run resumes; ``cfg.save_params`` keeps the parameters. ``cfg.scheduler``
    trains the shards on a Dask cluster as for any pool (:mod:`mia_lib.distributed`).

    Returns:
        a :class:`mia_lib.pool.ShadowPool`, with the run's :class:`DPSettings` attached as ``.dp``.

    Used in chapters 6, 7.
    """
    check_privacy(epsilon=epsilon, delta=delta)
    if cfg.precision != "fp32":
        raise ValueError(f"DP-SGD pools train in float32 only, got precision={cfg.precision!r}")
    if cfg.defenses():
        raise ValueError(f"DP-SGD pools train without the other defenses, got {cfg.defenses()}")
    key = dp_pool_key(cfg, epsilon, delta, max_grad_norm, accountant)
    saved = cache.load_json(cache.entry(key, store) / "config.json")
    if saved is not None and "dp" in saved:
        s = DPSettings(**{k: (math.inf if v == "inf" else v) for k, v in saved["dp"].items()})
    else:
        n_examples = len(pool.load_data(cfg))
        s = settings(
            float(epsilon), float(delta), n_examples / 2, cfg.batch_size, cfg.epochs, float(max_grad_norm), accountant
        )

    out = pool.load_or_train(
        cfg,
        progress,
        store,
        on_shard_done,
        train_shard=DPShardTrainer(s),
        key=key,
        extra_config={"dp": s.to_dict(), "trainer": TRAINER_VERSION},
    )
    out.dp = s
    return out
