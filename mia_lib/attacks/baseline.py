"""The lecture's baseline attack: an example is a member when the target model classifies it correctly.

It needs nothing but the target's predicted label on the example and the example's true label: no shadow model,
no confidence, no threshold to learn. Its score takes two values, so its ROC curve has a single non-trivial point,
(share of non-members classified correctly, share of members classified correctly): on average-case measures
(accuracy, AUROC) it tracks the generalization gap, and at low FPR it finds nothing, because most non-members are
classified correctly too.
"""

from __future__ import annotations

import numpy as np


def correctness_attack(correct: np.ndarray, target_ids=None) -> np.ndarray:
    """The baseline attack: score 1 when the target classifies the example correctly, else 0.

    Args:
        correct: bool [K, N] whether model k classifies example n correctly (:attr:`mia_lib.pool.ShadowPool.correct`,
            the un-augmented view). target_ids: models to attack (default: all K).
    Returns:
        scores float64 [T, N] in {0, 1}, higher = member.

    Used in chapter 3.
    """
    correct = np.asarray(correct, dtype=bool)
    if correct.ndim != 2:
        raise ValueError(f"correct must be a [K, N] boolean array, got shape {correct.shape}")
    picked = correct if target_ids is None else correct[np.asarray(target_ids, dtype=np.int64).ravel()]
    return picked.astype(np.float64)
