"""Activation signals: per-example statistics of a model's hidden activations (L2 norm, share of active units),
which the white-box notebook calibrates per example with LiRA's Gaussian test."""

from __future__ import annotations

import numpy as np

from .stolen_memories import _features, layer_names, split


def activation_signals(pool, model_ids=None, layer: int = -1) -> dict[str, np.ndarray]:
    """Per-example statistics of a model's activations after slice ``layer`` (default: the last hidden one).

    Args:
        pool: a ShadowPool with saved parameters. model_ids: models (default: all K).
        layer: slice index into :func:`~mia_lib.attacks.stolen_memories.layer_names` (negative counts from the
            end; 0, the input, is refused).
    Returns:
        {"act_norm": float64 [M, N] L2 norm of h(x), "act_active": float64 [M, N] share of units > 0}.

    Used in chapter 7.
    """
    k = pool.keep.shape[0]
    ids = np.arange(k) if model_ids is None else np.asarray(model_ids, dtype=np.int64).ravel()
    n_layers = len(layer_names(pool.model(int(ids[0]))))
    layer = layer % n_layers
    if layer == 0:
        raise ValueError("layer 0 is the input; pick a hidden slice")
    norms, active = [], []
    for m in ids:
        a = _features(split(pool.model(int(m)), layer)[0], pool.dataset.X).flatten(1).double()
        norms.append(a.norm(dim=1).numpy())
        active.append((a > 0).double().mean(1).numpy())
    return {"act_norm": np.stack(norms), "act_active": np.stack(active)}
