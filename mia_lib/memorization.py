"""Which examples a training algorithm memorizes, estimated from the same pool the attacks use.

* Feldman–Zhang label memorization: mem_n = P[h(x_n) = y_n | n ∈ train] − P[h(x_n) = y_n | n ∉ train],
  estimated with the pool's keep matrix (each example IN for half of the models, i.e. subsampling rate 1/2).
* Carlini et al.'s privacy score (LiRA paper §VII-B): |μ_in − μ_out| / (σ_in + σ_out) of φ.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

MEM_BINS = (-np.inf, 0.0, 0.1, 0.5, 1.0)
MEM_BIN_LABELS = ("≤ 0", "(0, 0.1]", "(0.1, 0.5]", "(0.5, 1]")


def memorization(correct: np.ndarray, keep: np.ndarray, model_ids=None) -> np.ndarray:
    """Feldman–Zhang memorization per example.

    Args:
        correct: bool [K, N], model k classifies example n correctly.
        keep: bool [K, N] membership matrix.
        model_ids: restrict the estimate to these models (e.g. one half of the pool).
    Returns:
        mem float64 [N] in [−1, 1]; NaN where the models used have no IN or no OUT model for an example.
    """
    c = np.asarray(correct, dtype=np.float64)
    k = np.asarray(keep, dtype=bool)
    if c.shape != k.shape:
        raise ValueError(f"correct {c.shape} and keep {k.shape} must have the same [K, N] shape")
    if model_ids is not None:
        c, k = c[np.asarray(model_ids)], k[np.asarray(model_ids)]
    n_in, n_out = k.sum(0), (~k).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (c * k).sum(0) / n_in - (c * ~k).sum(0) / n_out


def split_half(correct: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Memorization on two disjoint halves of the pool (models[:K/2] and models[K/2:]) and their Pearson r.

    Returns:
        (mem_a [N], mem_b [N], r); examples with a NaN estimate in either half are left out of r.
    """
    k = np.asarray(keep).shape[0]
    a = memorization(correct, keep, np.arange(k // 2))
    b = memorization(correct, keep, np.arange(k // 2, k))
    ok = np.isfinite(a) & np.isfinite(b)
    r = stats.pearsonr(a[ok], b[ok]).statistic if ok.sum() > 2 and a[ok].std() > 0 and b[ok].std() > 0 else np.nan
    return a, b, float(r)


def privacy_score(phi: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Carlini et al.'s per-example privacy score |μ_in − μ_out| / (σ_in + σ_out), averaged over query views.

    Args:
        phi: float [K, N, A] (or [K, N]); keep: bool [K, N].
    Returns:
        float64 [N]; larger = more exposed to a likelihood-ratio attack.
    """
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim == 2:
        phi = phi[..., None]
    w_in = np.asarray(keep, dtype=np.float64)[..., None]
    w_out = 1.0 - w_in
    parts = []
    for w in (w_in, w_out):
        n = w.sum(0)
        mean = (w * phi).sum(0) / n
        sd = np.sqrt(np.maximum((w * (phi - mean) ** 2).sum(0) / n, 0.0))
        parts += [mean, sd]
    mean_in, sd_in, mean_out, sd_out = parts
    return (np.abs(mean_in - mean_out) / np.maximum(sd_in + sd_out, 1e-12)).mean(-1)


def bin_index(mem: np.ndarray, edges=MEM_BINS) -> np.ndarray:
    """Bin of each memorization value: 0 for ≤ 0, then (0, 0.1], (0.1, 0.5], (0.5, 1]; int [N] (−1 for NaN)."""
    mem = np.asarray(mem, dtype=np.float64)
    idx = np.searchsorted(np.asarray(edges[1:-1]), mem, side="left")
    return np.where(np.isfinite(mem), idx, -1)
