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

    Used in chapters 1, 7.
    """
    loss = np.asarray(loss, dtype=np.float64)
    return -(loss if target_ids is None else loss[np.asarray(target_ids)])


# --------------------------------------------------------------------------------------------------------------
# Song & Mittal (2021): entropy and modified entropy with class-conditional thresholds learned from shadow models.


def class_thresholds(stat: np.ndarray, keep: np.ndarray, y: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Per-class threshold τ_c of the rule "member if stat ≤ τ_c" that maximises TPR − FPR on shadow data.

    For each class c, every (shadow model, example of class c) pair is one labelled observation (IN or OUT). The
    threshold is placed halfway between the best cut's value and the next larger observed value, so that the rule
    classifies the shadow data exactly as at the optimum.

    Args:
        stat: float [S, N] statistic of S shadow models (lower = more member-like, e.g. an entropy).
        keep: bool [S, N] membership of the shadow models. y: int [N] labels.
        n_classes: length of the output (default ``y.max() + 1``).
    Returns:
        τ float64 [n_classes]; NaN for classes without examples.
    Raises:
        ValueError: a class with examples has no IN or no OUT observation.
    """
    stat = np.asarray(stat, dtype=np.float64)
    keep = np.asarray(keep, dtype=bool)
    y = np.asarray(y)
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    tau = np.full(n_classes, np.nan)
    for c in range(n_classes):
        cols = y == c
        if not cols.any():
            continue
        v, m = stat[:, cols].ravel(), keep[:, cols].ravel()
        n_in, n_out = m.sum(), (~m).sum()
        if n_in == 0 or n_out == 0:
            raise ValueError(
                f"class {c} has {n_in} IN and {n_out} OUT shadow observations; class-conditional "
                f"thresholds need both (use more shadow models)."
            )
        order = np.argsort(v, kind="stable")
        v, m = v[order], m[order]
        last = np.r_[v[1:] != v[:-1], True]  # last position of each distinct value: the candidate cuts
        gain = (np.cumsum(m) / n_in - np.cumsum(~m) / n_out)[last]
        values = v[last]
        best = int(np.argmax(gain))
        tau[c] = values[best] if best + 1 == values.size else 0.5 * (values[best] + values[best + 1])
    return tau


def entropy_attack(
    logits: np.ndarray, keep: np.ndarray, y: np.ndarray, target_ids=None, shadow_ids=None, modified: bool = True
) -> np.ndarray:
    """Song & Mittal's (modified-)entropy attack with class-conditional thresholds learned from shadow models.

    For each target t, thresholds τ_c come from :func:`class_thresholds` on the shadow models other than t; the
    score is τ_{y_n} − H_t(x_n) (higher = member), so the decision "score ≥ 0" is exactly Song & Mittal's rule and
    sweeping a common offset traces the ROC curve.

    Args:
        logits: float [K, N, A, C] (view 0 is used) or [K, N, C]. keep: bool [K, N]. y: int [N].
        target_ids: models to attack (default: all). shadow_ids: models the thresholds are learned from (default:
            all); a target is never among its own shadows.
        modified: modified entropy −(1−p_y) log p_y − Σ_{j≠y} p_j log(1−p_j) (True) or plain entropy (False).
    Returns:
        scores float64 [T, N], higher = member.
    """
    from .. import signals

    z = np.asarray(logits)
    z = z[:, :, 0] if z.ndim == 4 else z
    stat = signals.modified_entropy(z, y) if modified else signals.entropy(z)
    keep = np.asarray(keep, dtype=bool)
    k = keep.shape[0]
    targets = np.arange(k) if target_ids is None else np.asarray(target_ids, dtype=np.int64).ravel()
    shadows = np.arange(k) if shadow_ids is None else np.asarray(shadow_ids, dtype=np.int64).ravel()
    y = np.asarray(y)
    out = np.empty((targets.size, keep.shape[1]))
    for i, t in enumerate(targets):
        s = shadows[shadows != t]
        if s.size == 0:
            raise ValueError(f"target {t} has no shadow models left to learn thresholds from")
        tau = class_thresholds(stat[s], keep[s], y)
        out[i] = tau[y] - stat[t]
    return out
