"""Attack success measures: ROC (scikit-learn), AUROC, TPR at a fixed FPR, advantage, bootstrap CIs.

Convention (stated in the book): **TPR at FPR t is the largest TPR over ROC points whose FPR is ≤ t.**
Carlini et al.'s LiRA code uses the last point with FPR < t (strict), which can differ at ties.

Scores are "higher = member". Inputs may be [T, N] arrays (T target models × N examples); they are pooled over
all (target, example) pairs. Bootstrap resamples *examples* (columns), keeping every target's score for a
resampled example, because examples, not pairs, are the independent units.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

FPR_LEVELS = (0.01, 0.001)


def _flat(scores, is_member) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    m = np.asarray(is_member, dtype=bool).ravel()
    if s.shape != m.shape:
        raise ValueError(f"scores {np.shape(scores)} and is_member {np.shape(is_member)} differ in shape")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or inf; check the attack's inputs")
    if m.all() or not m.any():
        raise ValueError("is_member must contain both members and non-members")
    return s, m


def roc(scores, is_member) -> tuple[np.ndarray, np.ndarray]:
    """ROC curve of a membership score. Returns (fpr, tpr), each [P] increasing, from sklearn's ``roc_curve``."""
    s, m = _flat(scores, is_member)
    fpr, tpr, _ = roc_curve(m, s)
    return fpr, tpr


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, level: float) -> float:
    """Largest TPR among ROC points with FPR ≤ ``level`` (0 if none)."""
    ok = fpr <= level
    return float(tpr[ok].max()) if ok.any() else 0.0


def auroc(scores, is_member) -> float:
    """Area under the ROC curve (sklearn ``roc_auc_score``); scores [T,N] or [M], pooled."""
    s, m = _flat(scores, is_member)
    return float(roc_auc_score(m, s))


def advantage(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Membership advantage max over thresholds of TPR − FPR (Yeom et al.)."""
    return float(np.max(tpr - fpr))


def summary(scores, is_member, levels=FPR_LEVELS) -> dict:
    """AUROC, advantage and TPR at each FPR level for one attack.

    Returns:
        dict with keys ``auroc``, ``advantage``, ``tpr_at_1pct_fpr``, ``tpr_at_0.1pct_fpr`` (one per level, named
        by :func:`level_name`), ``n_members``, ``n_nonmembers``.
    """
    s, m = _flat(scores, is_member)
    fpr, tpr, _ = roc_curve(m, s)
    out = {"auroc": float(roc_auc_score(m, s)), "advantage": advantage(fpr, tpr)}
    for t in levels:
        out[level_name(t)] = tpr_at_fpr(fpr, tpr, t)
    out["n_members"], out["n_nonmembers"] = int(m.sum()), int((~m).sum())
    return out


def level_name(level: float) -> str:
    """Key for TPR at an FPR level: 0.01 → ``tpr_at_1pct_fpr``, 0.001 → ``tpr_at_0.1pct_fpr``."""
    return f"tpr_at_{level * 100:g}pct_fpr"


def bootstrap_ci(scores, is_member, n_boot: int = 200, alpha: float = 0.05, seed: int = 0,
                 levels=FPR_LEVELS) -> dict:
    """Percentile bootstrap CIs of :func:`summary`'s measures, resampling examples (columns of [T, N]).

    Args:
        scores, is_member: [T, N] (or [N], treated as T = 1).
        n_boot: bootstrap replicates; alpha: 1 − confidence level; seed: resampling seed.
    Returns:
        {measure: (low, high)} for ``auroc``, ``advantage`` and each TPR level. Replicates that draw only one class
        are skipped.
    """
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    m = np.atleast_2d(np.asarray(is_member, dtype=bool))
    rng = np.random.default_rng(seed)
    n = s.shape[1]
    draws = []
    for _ in range(n_boot):
        cols = rng.integers(0, n, size=n)
        mb = m[:, cols]
        if mb.all() or not mb.any():
            continue
        draws.append(summary(s[:, cols], mb, levels))
    keys = ["auroc", "advantage"] + [level_name(t) for t in levels]
    return {k: tuple(np.quantile([d[k] for d in draws], [alpha / 2, 1 - alpha / 2]).tolist()) for k in keys}


def summary_with_ci(scores, is_member, n_boot: int = 200, seed: int = 0, levels=FPR_LEVELS) -> dict:
    """:func:`summary` plus ``<measure>_ci`` = (low, high) from :func:`bootstrap_ci` for each measure."""
    out = summary(scores, is_member, levels)
    for k, v in bootstrap_ci(scores, is_member, n_boot=n_boot, seed=seed, levels=levels).items():
        out[k + "_ci"] = v
    return out


def by_subset(scores, is_member, subsets: dict, n_boot: int = 200, seed: int = 0, min_count: int = 2,
              levels=FPR_LEVELS) -> list[dict]:
    """:func:`summary_with_ci` on subsets of examples (columns), one row per subset.

    Args:
        scores, is_member: [T, N]. subsets: {name: bool [N] or index array} selecting examples.
        min_count: a subset with fewer members or non-members than this is reported with NaN measures.
    Returns:
        rows: list of dicts with ``subset``, ``n_examples`` and the measures of :func:`summary_with_ci`.
    """
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    m = np.atleast_2d(np.asarray(is_member, dtype=bool))
    rows = []
    for name, sel in subsets.items():
        cols = np.flatnonzero(sel) if np.asarray(sel).dtype == bool else np.asarray(sel)
        row = {"subset": name, "n_examples": int(cols.size)}
        mb = m[:, cols]
        if min(mb.sum(), (~mb).sum()) < min_count:
            row.update({k: np.nan for k in ["auroc", "advantage"] + [level_name(t) for t in levels]})
        else:
            row.update(summary_with_ci(s[:, cols], mb, n_boot=n_boot, seed=seed, levels=levels))
        rows.append(row)
    return rows
