"""Threshold attacks that need no shadow models."""

from __future__ import annotations

import numpy as np


def loss_attack(loss: np.ndarray, target_ids=None) -> np.ndarray:
    """Yeom et al.'s global loss threshold: score = −loss (members have lower loss).

    Args:
        loss: float [K, N] per-model, per-example loss (:attr:`mia_lib.pool.ShadowPool.loss`).
        target_ids: models to attack (default: all).
    Returns:
        scores float64 [T, N], higher = member; sweep thresholds over them with :mod:`mia_lib.metrics`.
    """
    loss = np.asarray(loss, dtype=np.float64)
    return -(loss if target_ids is None else loss[np.asarray(target_ids)])
