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
    fpr, tpr, _ = roc_curve(m, s, drop_intermediate=False)
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
    fpr, tpr, _ = roc_curve(m, s, drop_intermediate=False)
    out = {"auroc": float(roc_auc_score(m, s)), "advantage": advantage(fpr, tpr)}
    for t in levels:
        out[level_name(t)] = tpr_at_fpr(fpr, tpr, t)
    out["n_members"], out["n_nonmembers"] = int(m.sum()), int((~m).sum())
    return out


def level_name(level: float) -> str:
    """Key for TPR at an FPR level: 0.01 → ``tpr_at_1pct_fpr``, 0.001 → ``tpr_at_0.1pct_fpr``."""
    return f"tpr_at_{level * 100:g}pct_fpr"


def _descending(flat_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, group_end): indices sorting the scores high to low, and the last sorted position of each tie."""
    order = np.argsort(-flat_scores)
    sorted_s = flat_scores[order]
    return order, np.flatnonzero(np.r_[sorted_s[1:] != sorted_s[:-1], True])


def _weighted_roc(order_member, group_end, weights) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) of sorted examples with per-example weights: every ROC point, from (0, 0)."""
    tp = np.cumsum(weights * order_member)[group_end]
    fp = np.cumsum(weights * ~order_member)[group_end]
    return np.r_[0.0, fp / fp[-1]], np.r_[0.0, tp / tp[-1]]


def roc_fast(scores, is_member) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) exactly as :func:`roc` (sklearn's ``roc_curve``, every point) with one sort and no input checks;
    for sweeps that compute hundreds of curves. Scores [M] or [T, N], pooled; both classes must be present."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    m = np.asarray(is_member, dtype=bool).ravel()
    order, group_end = _descending(s)
    return _weighted_roc(m[order], group_end, np.ones(s.size))


def _weighted_summary(order_member, order_col, group_end, weights_col, levels) -> dict:
    """:func:`summary` of a weighted copy of the data, from a precomputed descending sort (no re-sorting)."""
    fpr, tpr = _weighted_roc(order_member, group_end, weights_col[order_col].astype(np.float64))
    out = {"auroc": float(np.trapezoid(tpr, fpr)), "advantage": advantage(fpr, tpr)}
    for t in levels:
        out[level_name(t)] = tpr_at_fpr(fpr, tpr, t)
    return out


def bootstrap_ci(scores, is_member, n_boot: int = 200, alpha: float = 0.05, seed: int = 0,
                 levels=FPR_LEVELS) -> dict:
    """Percentile bootstrap CIs of :func:`summary`'s measures, resampling examples (columns of [T, N]).

    A replicate draws N columns with replacement; its ROC equals the ROC of the pooled scores with each
    (target, example) pair weighted by how often its column was drawn, so the scores are sorted once and every
    replicate costs O(T·N) instead of a sort.

    Args:
        scores, is_member: [T, N] (or [N], treated as T = 1).
        n_boot: bootstrap replicates; alpha: 1 − confidence level; seed: resampling seed.
    Returns:
        {measure: (low, high)} for ``auroc``, ``advantage`` and each TPR level. Replicates that draw only one class
        are skipped.
    """
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    m = np.atleast_2d(np.asarray(is_member, dtype=bool))
    _flat(s, m)
    n = s.shape[1]
    flat_s, flat_m = s.ravel(), m.ravel()
    order, group_end = _descending(flat_s)
    order_member, order_col = flat_m[order], order % n
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        weights = np.bincount(rng.integers(0, n, size=n), minlength=n)
        mb = m[:, weights > 0]
        if mb.all() or not mb.any():
            continue
        draws.append(_weighted_summary(order_member, order_col, group_end, weights, levels))
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


# ---------------------------------------------------------------------------------------------------------------
# Empirical ε lower bound (privacy auditing)

EPS_TAILS = ("tpr", "tnr")


def clopper_pearson(k, n, alpha: float, side: str) -> np.ndarray:
    """One-sided Clopper–Pearson (exact binomial) bound on a success probability from k successes in n trials.

    Args:
        k, n: counts (arrays broadcast); alpha: the bound fails with probability at most ``alpha``.
        side: ``"lower"`` (0 when k = 0) or ``"upper"`` (1 when k = n).
    Returns:
        float64 bounds, same shape as the broadcast counts; NaN where n = 0.
    """
    from scipy.stats import beta

    k, n = np.broadcast_arrays(np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        if side == "lower":
            out = np.where(k > 0, beta.ppf(alpha, np.maximum(k, 1e-300), n - k + 1), 0.0)
        elif side == "upper":
            out = np.where(k < n, beta.ppf(1 - alpha, k + 1, np.maximum(n - k, 1e-300)), 1.0)
        else:
            raise ValueError(f"side must be 'lower' or 'upper', got {side!r}")
    return np.where(n > 0, out, np.nan)


def epsilon_lower_bound(scores, is_member, delta: float = 0.0, alpha: float = 0.05, thresholds=None,
                        n_thresholds: int = 64, tails=EPS_TAILS) -> dict:
    """A lower bound ε̂ on the ε of an (ε, δ)-DP training algorithm, from an attack's scores (privacy auditing).

    Each (target model, example) pair is one trial of the algorithm with the example IN or OUT. (ε, δ)-DP forces
    every test "score ≥ t ⇒ member" to satisfy both inequalities of the hypothesis-testing region,
    TPR ≤ e^ε FPR + δ (tail ``"tpr"``) and TNR ≤ e^ε FNR + δ (tail ``"tnr"``, the non-member side). With one-sided
    Clopper–Pearson bounds TPR_lb and FPR_ub,

        ε̂ = max over thresholds t and tails of  log((TPR_lb − δ) / FPR_ub)  or  log((1 − FPR_ub − δ) / (1 − TPR_lb)),

    floored at 0. **It is a lower bound with confidence 1 − α**: every one of the 2m Clopper–Pearson bounds
    (m thresholds) is taken at level α/(2m), so with probability ≥ 1 − α all hold at once, and then any ε below ε̂
    contradicts (ε, δ)-DP. This assumes the trials are independent; pooling several examples per model is the
    usual heuristic (Steinke et al.'s one-run audit is the rigorous version). Pass ``thresholds`` chosen on other
    data (e.g. one threshold from a selection half) to pay for fewer comparisons.

    Args:
        scores, is_member: [T, N] or [M] (pooled), higher = member.
        delta: the δ of the claimed guarantee. alpha: 1 − confidence.
        thresholds: candidate thresholds (default: ``n_thresholds`` quantiles of the pooled scores).
        tails: which inequalities to use, a subset of ``("tpr", "tnr")``.
    Returns:
        dict with ``eps_lower``, ``threshold`` and ``tail`` of the best test, its ``tpr``, ``fpr`` (point
        estimates), ``tpr_lb``, ``fpr_ub``, ``n_members``, ``n_nonmembers``, ``n_tests`` (m × tails), ``alpha``,
        ``confidence`` (1 − α), ``delta``.
    """
    s, m = _flat(scores, is_member)
    if not 0 < alpha < 1 or not 0 <= delta < 1:
        raise ValueError(f"need 0 < alpha < 1 and 0 <= delta < 1, got alpha={alpha}, delta={delta}")
    if not tails or set(tails) - set(EPS_TAILS):
        raise ValueError(f"tails must be a non-empty subset of {EPS_TAILS}, got {tails!r}")
    if thresholds is None:
        thresholds = np.unique(np.quantile(s, np.linspace(0, 1, n_thresholds + 1)[1:]))
    t = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    pos, neg = np.sort(s[m]), np.sort(s[~m])
    n_pos, n_neg = pos.size, neg.size
    tp = n_pos - np.searchsorted(pos, t, side="left")  # members with score >= t
    fp = n_neg - np.searchsorted(neg, t, side="left")
    level = alpha / (2 * t.size)
    tpr_lb = clopper_pearson(tp, n_pos, level, "lower")
    fpr_ub = clopper_pearson(fp, n_neg, level, "upper")
    with np.errstate(divide="ignore", invalid="ignore"):
        cand = {"tpr": np.log(np.maximum(tpr_lb - delta, 0) / fpr_ub),
                "tnr": np.log(np.maximum(1 - fpr_ub - delta, 0) / (1 - tpr_lb))}
    best = {"eps_lower": 0.0, "threshold": np.nan, "tail": None, "tpr": np.nan, "fpr": np.nan, "tpr_lb": np.nan,
            "fpr_ub": np.nan}
    for tail in tails:
        e = np.nan_to_num(cand[tail], nan=-np.inf, posinf=np.inf)
        i = int(np.argmax(e))
        if e[i] > best["eps_lower"]:
            best = {"eps_lower": float(e[i]), "threshold": float(t[i]), "tail": tail, "tpr": tp[i] / n_pos,
                    "fpr": fp[i] / n_neg, "tpr_lb": float(tpr_lb[i]), "fpr_ub": float(fpr_ub[i])}
    return {**best, "n_members": int(n_pos), "n_nonmembers": int(n_neg), "n_tests": int(t.size * len(tails)),
            "alpha": alpha, "confidence": 1 - alpha, "delta": delta}
