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


def memorization(correct: np.ndarray, keep: np.ndarray, shadow_ids=None) -> np.ndarray:
    """Feldman–Zhang memorization per example.

    Args:
        correct: bool [K, N], model k classifies example n correctly.
        keep: bool [K, N] membership matrix.
        shadow_ids: restrict the estimate to these models (e.g. one half of the pool).
    Returns:
        mem float64 [N] in [−1, 1]; NaN where the models used have no IN or no OUT model for an example.

    Used in chapters 1, 2, 5, 6, 7.
    """
    c = np.asarray(correct, dtype=np.float64)
    k = np.asarray(keep, dtype=bool)
    if c.shape != k.shape:
        raise ValueError(f"correct {c.shape} and keep {k.shape} must have the same [K, N] shape")
    if shadow_ids is not None:
        c, k = c[np.asarray(shadow_ids)], k[np.asarray(shadow_ids)]
    n_in, n_out = k.sum(0), (~k).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (c * k).sum(0) / n_in - (c * ~k).sum(0) / n_out


def split_half(correct: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Memorization on two disjoint halves of the pool (models[:K/2] and models[K/2:]) and their Pearson r.

    Returns:
        (mem_a [N], mem_b [N], r); examples with a NaN estimate in either half are left out of r.

    Used in chapter 1.
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

    Used in chapter 2.
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
    """Bin of each memorization value: 0 for ≤ 0, then (0, 0.1], (0.1, 0.5], (0.5, 1]; int [N] (−1 for NaN).

    Used in chapter 2.
    """
    mem = np.asarray(mem, dtype=np.float64)
    idx = np.searchsorted(np.asarray(edges[1:-1]), mem, side="left")
    return np.where(np.isfinite(mem), idx, -1)


def bin_subsets(mem: np.ndarray, edges=MEM_BINS, labels=MEM_BIN_LABELS) -> dict[str, np.ndarray]:
    """Examples of each memorization bin, as subsets for :func:`mia_lib.metrics.by_subset`.

    Returns:
        {bin label: bool [N]} in bin order (NaN memorization falls in no bin). Chapters 1 and 7.
    """
    bins = bin_index(mem, edges)
    return {label: bins == i for i, label in enumerate(labels)}


def most_memorized(mem: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` most memorized examples, most memorized first; ties keep index order, NaN ranks last.

    Args:
        mem: float [N]. k: how many (at most N).
    Returns:
        int64 [k]. Chapter 6 (memorized examples as canaries).
    """
    mem = np.asarray(mem, dtype=np.float64)
    return np.argsort(-np.nan_to_num(mem, nan=-np.inf), kind="stable")[:k]


def top_fraction(mem: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    """The most memorized ``fraction`` of the examples (at least one); ties keep index order, NaN ranks last.

    Args:
        mem: float [N]. fraction: in (0, 1].
    Returns:
        bool [N] with max(⌊fraction·N⌋, 1) True entries. Chapters 1 and 6.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    mem = np.asarray(mem, dtype=np.float64)
    top = np.zeros(mem.size, dtype=bool)
    top[most_memorized(mem, max(int(mem.size * fraction + 1e-9), 1))] = True
    return top
