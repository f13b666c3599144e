"""The library's statistics: attack success (ROC via scikit-learn, AUROC, TPR at a fixed FPR, advantage), their
bootstrap CIs, Wilson shares, Spearman's ρ with a CI, Clopper–Pearson bounds and the empirical ε lower bound —
every interval as one type, :class:`Interval` (value, lo, hi).

Convention (stated in the book): **TPR at FPR t is the largest TPR over ROC points whose FPR is ≤ t.**
Carlini et al.'s LiRA code uses the last point with FPR < t (strict), which can differ at ties.

Scores are "higher = member". Inputs may be [T, N] arrays (T target models × N examples); they are pooled over
all (target, example) pairs. Bootstrap resamples *examples* (columns), keeping every target's score for a
resampled example, because examples, not pairs, are the independent units.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score, roc_curve

FPR_LEVELS = (0.01, 0.001)
QUICK_N_BOOT = 20  # bootstrap replicates in quick (CI smoke) mode


class Interval(NamedTuple):
    """A point estimate with its confidence interval: the one interval type of the library.

    A tuple, so ``value, lo, hi = interval`` unpacks it and the results files store it as ``[value, lo, hi]``.
    Bounds are NaN when no interval was computed (too few samples, no bootstrap).
    """

    value: float
    lo: float
    hi: float

    def text(self, fmt: str = "{:.3f}") -> str:
        """``"0.602 [0.592, 0.611]"``, each number formatted with ``fmt``; ``"–"`` for a NaN value."""
        if not np.isfinite(self.value):
            return "–"
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)):
            return fmt.format(self.value)
        return f"{fmt.format(self.value)} [{fmt.format(self.lo)}, {fmt.format(self.hi)}]"


NAN_INTERVAL = Interval(np.nan, np.nan, np.nan)


def n_boot_for(n_boot: int, quick: bool) -> int:
    """Bootstrap replicates for a run: ``n_boot``, or :data:`QUICK_N_BOOT` in quick mode. Every chapter's setup.

    Used in chapters 1, 2, 3, 6, 7.
    """
    return QUICK_N_BOOT if quick else n_boot


def retained(value, reference, chance: float = 0.0):
    """Share of an effect kept: ``(value − chance) / (reference − chance)``; NaN where ``reference ≤ chance``.

    E.g. the AUROC gain over chance (``chance=0.5``) that a DP pool keeps of the non-private pool's, or the share of
    the full pool's TPR that k shadow models reach (chapters 5, 6, 7). Arrays broadcast.
    """
    value, reference = np.asarray(value, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(reference > chance, (value - chance) / (reference - chance), np.nan)
    return float(out) if out.ndim == 0 else out


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
    """ROC curve of a membership score. Returns (fpr, tpr), each [P] increasing, from sklearn's ``roc_curve``.

    Used in chapter 4.
    """
    s, m = _flat(scores, is_member)
    fpr, tpr, _ = roc_curve(m, s, drop_intermediate=False)
    return fpr, tpr


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, level: float) -> float:
    """Largest TPR among ROC points with FPR ≤ ``level`` (0 if none).

    Used in chapter 4.
    """
    ok = fpr <= level
    return float(tpr[ok].max()) if ok.any() else 0.0


def auroc(scores, is_member) -> float:
    """Area under the ROC curve (sklearn ``roc_auc_score``); scores [T,N] or [M], pooled.

    Used in chapter 6.
    """
    s, m = _flat(scores, is_member)
    return float(roc_auc_score(m, s))


def advantage(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Membership advantage max over thresholds of TPR − FPR (Yeom et al.).

    Used in chapter 4.
    """
    return float(np.max(tpr - fpr))


def summary(scores, is_member, levels=FPR_LEVELS) -> dict:
    """AUROC, advantage and TPR at each FPR level for one attack.

    Returns:
        dict with keys ``auroc``, ``advantage``, ``tpr_at_1pct_fpr``, ``tpr_at_0.1pct_fpr`` (one per level, named
        by :func:`level_name`), ``n_members``, ``n_nonmembers``.

    Used in chapters 1, 7.
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


def bootstrap_ci(scores, is_member, n_boot: int = 200, alpha: float = 0.05, seed: int = 0, levels=FPR_LEVELS) -> dict:
    """Percentile bootstrap CIs of :func:`summary`'s measures, resampling examples (columns of [T, N]).

    A replicate draws N columns with replacement; its ROC equals the ROC of the pooled scores with each
    (target, example) pair weighted by how often its column was drawn, so the scores are sorted once and every
    replicate costs O(T·N) instead of a sort.

    Args:
        scores, is_member: [T, N] (or [N], treated as T = 1).
        n_boot: bootstrap replicates; alpha: 1 − confidence level; seed: resampling seed.
    Returns:
        {measure: :class:`Interval`} (the point estimate on all examples, and the percentile bounds) for
        ``auroc``, ``advantage`` and each TPR level. Replicates that draw only one class are skipped.
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
    point = summary(s, m, levels)
    keys = ["auroc", "advantage"] + [level_name(t) for t in levels]
    out = {}
    for k in keys:
        lo, hi = np.quantile([d[k] for d in draws], [alpha / 2, 1 - alpha / 2]) if draws else (np.nan, np.nan)
        out[k] = Interval(point[k], float(lo), float(hi))
    return out


def summary_with_ci(scores, is_member, n_boot: int = 200, seed: int = 0, levels=FPR_LEVELS) -> dict:
    """:func:`summary` plus ``<measure>_ci``, an :class:`Interval` from :func:`bootstrap_ci`, for each measure.

    Used in chapters 1, 7.
    """
    out = summary(scores, is_member, levels)
    for k, v in bootstrap_ci(scores, is_member, n_boot=n_boot, seed=seed, levels=levels).items():
        out[k + "_ci"] = v
    return out


def by_subset(
    scores, is_member, subsets: dict, n_boot: int = 200, seed: int = 0, min_count: int = 2, levels=FPR_LEVELS
) -> list[dict]:
    """:func:`summary_with_ci` on subsets of examples (columns), one row per subset.

    Args:
        scores, is_member: [T, N]. subsets: {name: bool [N] or index array} selecting examples.
        min_count: a subset with fewer members or non-members than this is reported with NaN measures (and
            NaN intervals).
    Returns:
        rows: list of dicts with ``subset``, ``n_examples`` and the measures of :func:`summary_with_ci`.

    Used in chapters 1, 6, 7.
    """
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    m = np.atleast_2d(np.asarray(is_member, dtype=bool))
    rows = []
    for name, sel in subsets.items():
        cols = np.flatnonzero(sel) if np.asarray(sel).dtype == bool else np.asarray(sel)
        row = {"subset": name, "n_examples": int(cols.size)}
        mb = m[:, cols]
        if min(mb.sum(), (~mb).sum()) < min_count:
            for k in ["auroc", "advantage"] + [level_name(t) for t in levels]:
                row[k], row[k + "_ci"] = np.nan, NAN_INTERVAL
        else:
            row.update(summary_with_ci(s[:, cols], mb, n_boot=n_boot, seed=seed, levels=levels))
        rows.append(row)
    return rows


def share(flags, alpha: float = 0.05) -> Interval:
    """Share of True among ``flags`` with a Wilson score interval (scipy ``binomtest``).

    Args:
        flags: bool [n]. alpha: 1 − confidence level.
    Returns:
        :class:`Interval` (share, low, high); all NaN when ``flags`` is empty. Chapter 4 (shares of examples that
        satisfy a bound).
    """
    flags = np.asarray(flags, dtype=bool).ravel()
    if flags.size == 0:
        return NAN_INTERVAL
    ci = stats.binomtest(int(flags.sum()), flags.size).proportion_ci(1 - alpha, method="wilson")
    return Interval(float(flags.mean()), float(ci.low), float(ci.high))


def spearman(x, y, n_boot: int = 0, alpha: float = 0.05, seed: int = 0) -> Interval:
    """Spearman's ρ (scipy) with a percentile bootstrap CI that resamples examples (pairs).

    Args:
        x, y: float [N]; pairs with a NaN are dropped. n_boot: bootstrap replicates (0: no CI, NaN bounds).
    Returns:
        :class:`Interval` (ρ, low, high); all NaN with fewer than 3 pairs or a constant input. Chapters 2, 4, 7.
    """
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(x.size)
    if n < 3 or x.std() == 0 or y.std() == 0:
        return NAN_INTERVAL
    rho = float(stats.spearmanr(x, y).statistic)
    lo = hi = np.nan
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n, size=(n_boot, n))
        rx, ry = stats.rankdata(x[idx], axis=1), stats.rankdata(y[idx], axis=1)
        rx -= rx.mean(1, keepdims=True)
        ry -= ry.mean(1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = (rx * ry).sum(1) / np.sqrt((rx**2).sum(1) * (ry**2).sum(1))
        lo, hi = np.nanquantile(boot, [alpha / 2, 1 - alpha / 2])
    return Interval(rho, float(lo), float(hi))


def spearman_diff(x1, x2, y, n_boot: int = 200, alpha: float = 0.05, seed: int = 0, absolute: bool = True) -> Interval:
    """|ρ(x1, y)| − |ρ(x2, y)| (Spearman; plain ρ with ``absolute=False``) with a paired bootstrap CI: every
    replicate resamples the same examples for both correlations.

    Args:
        x1, x2, y: float [N]; examples with a NaN in any of them are dropped.
    Returns:
        :class:`Interval`; all NaN with fewer than 3 examples or a constant input. Chapter 2 (memorization against
        OOD scores as predictors of exposure).
    """
    x1, x2, y = (np.asarray(v, dtype=np.float64).ravel() for v in (x1, x2, y))
    ok = np.isfinite(x1) & np.isfinite(x2) & np.isfinite(y)
    x1, x2, y = x1[ok], x2[ok], y[ok]
    n = int(y.size)
    if n < 3 or min(x1.std(), x2.std(), y.std()) == 0:
        return NAN_INTERVAL
    f = np.abs if absolute else (lambda v: v)
    point = float(f(stats.spearmanr(x1, y).statistic) - f(stats.spearmanr(x2, y).statistic))
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))

    def rho(a, b):
        ra, rb = stats.rankdata(a, axis=1), stats.rankdata(b, axis=1)
        ra -= ra.mean(1, keepdims=True)
        rb -= rb.mean(1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (ra * rb).sum(1) / np.sqrt((ra**2).sum(1) * (rb**2).sum(1))

    boot = f(rho(x1[idx], y[idx])) - f(rho(x2[idx], y[idx]))
    lo, hi = np.nanquantile(boot, [alpha / 2, 1 - alpha / 2])
    return Interval(point, float(lo), float(hi))


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
    k, n = np.broadcast_arrays(np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        if side == "lower":
            out = np.where(k > 0, stats.beta.ppf(alpha, np.maximum(k, 1e-300), n - k + 1), 0.0)
        elif side == "upper":
            out = np.where(k < n, stats.beta.ppf(1 - alpha, k + 1, np.maximum(n - k, 1e-300)), 1.0)
        else:
            raise ValueError(f"side must be 'lower' or 'upper', got {side!r}")
    return np.where(n > 0, out, np.nan)


def epsilon_lower_bound(
    scores, is_member, delta: float = 0.0, alpha: float = 0.05, thresholds=None, n_thresholds: int = 64, tails=EPS_TAILS
) -> dict:
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

    Used in chapter 6.
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
        cand = {
            "tpr": np.log(np.maximum(tpr_lb - delta, 0) / fpr_ub),
            "tnr": np.log(np.maximum(1 - fpr_ub - delta, 0) / (1 - tpr_lb)),
        }
    best = {
        "eps_lower": 0.0,
        "threshold": np.nan,
        "tail": None,
        "tpr": np.nan,
        "fpr": np.nan,
        "tpr_lb": np.nan,
        "fpr_ub": np.nan,
    }
    for tail in tails:
        e = np.nan_to_num(cand[tail], nan=-np.inf, posinf=np.inf)
        i = int(np.argmax(e))
        if e[i] > best["eps_lower"]:
            best = {
                "eps_lower": float(e[i]),
                "threshold": float(t[i]),
                "tail": tail,
                "tpr": tp[i] / n_pos,
                "fpr": fp[i] / n_neg,
                "tpr_lb": float(tpr_lb[i]),
                "fpr_ub": float(fpr_ub[i]),
            }
    return {
        **best,
        "n_members": int(n_pos),
        "n_nonmembers": int(n_neg),
        "n_tests": int(t.size * len(tails)),
        "alpha": alpha,
        "confidence": 1 - alpha,
        "delta": delta,
    }


# ---------------------------------------------------------------------------------------------------------------
# Calibration for precision: a threshold chosen on the attacker's practice data, measured on the targets


def calibrate_threshold(scores, is_member, precision: float, min_positives: int = 1) -> float:
    """The lowest threshold whose precision on the attacker's own data reaches ``precision``.

    Predictions are "member" where score ≥ threshold. Among all thresholds (the distinct scores) that predict at
    least ``min_positives`` members and reach the asked precision, the lowest is returned (it has the largest
    recall). ``inf`` when none does (the attacker then never claims membership).

    Args:
        scores: float [...] practice scores; is_member: bool [...] their membership; precision: in (0, 1].
    Returns:
        threshold (float).
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    m = np.asarray(is_member, dtype=bool).ravel()
    order = np.argsort(-s, kind="stable")
    s, m = s[order], m[order]
    tp = np.cumsum(m)
    k = np.arange(1, s.size + 1)
    last = np.r_[s[1:] != s[:-1], True]  # a threshold takes every tied score at once
    ok = last & (k >= min_positives) & (tp >= precision * k - 1e-12)
    return float(s[np.flatnonzero(ok)[-1]]) if ok.any() else float("inf")


def precision_recall_at(scores, is_member, threshold: float) -> dict:
    """Precision, recall and counts of the rule "member iff score ≥ threshold".

    Returns:
        dict with ``precision`` (NaN when nothing is predicted), ``recall``, ``n_positive``, ``n_true_positive``.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    m = np.asarray(is_member, dtype=bool).ravel()
    pred = s >= threshold
    n_pos, tp = int(pred.sum()), int((pred & m).sum())
    return {
        "precision": tp / n_pos if n_pos else float("nan"),
        "recall": tp / max(int(m.sum()), 1),
        "n_positive": n_pos,
        "n_true_positive": tp,
    }


def calibrated_precision(
    practice_scores,
    practice_member,
    target_scores,
    target_member,
    precisions,
    min_positives: int = 1,
    n_boot: int = 0,
    seed: int = 0,
) -> list[dict]:
    """Calibrate a threshold on practice data for each asked precision and measure it on the targets.

    Args:
        practice_scores, practice_member: the attacker's own scores [P, N] and membership.
        target_scores, target_member: [T, N] on the targets. precisions: asked precisions.
        min_positives: see :func:`calibrate_threshold`.
        n_boot: bootstrap replicates for a 95% interval of the achieved precision (resampling target examples,
            i.e. columns, as :func:`mia_lib.metrics.bootstrap_ci` does); 0 for none.
    Returns:
        one dict per asked precision: ``precision_target``, ``threshold``, ``precision_practice``,
        ``precision_achieved`` (on the targets; NaN when nothing is predicted), ``recall``, ``n_positive``,
        ``n_true_positive`` and, with ``n_boot``, ``precision_achieved_ci`` (an :class:`Interval`).

    Used in chapter 7.
    """
    ts = np.atleast_2d(np.asarray(target_scores, dtype=np.float64))
    tm = np.atleast_2d(np.asarray(target_member, dtype=bool))
    rng = np.random.default_rng(seed)
    cols = [rng.integers(0, ts.shape[1], ts.shape[1]) for _ in range(n_boot)]
    rows = []
    for p in precisions:
        t = calibrate_threshold(practice_scores, practice_member, p, min_positives)
        on_p = precision_recall_at(practice_scores, practice_member, t)
        on_t = precision_recall_at(ts, tm, t)
        row = {
            "precision_target": float(p),
            "threshold": t,
            "precision_practice": on_p["precision"],
            "precision_achieved": on_t["precision"],
            "recall": on_t["recall"],
            "n_positive": on_t["n_positive"],
            "n_true_positive": on_t["n_true_positive"],
        }
        if n_boot:
            draws = [precision_recall_at(ts[:, c], tm[:, c], t)["precision"] for c in cols]
            draws = [d for d in draws if np.isfinite(d)]
            lo, hi = np.quantile(draws, [0.025, 0.975]) if draws else (np.nan, np.nan)
            row["precision_achieved_ci"] = Interval(on_t["precision"], float(lo), float(hi))
        rows.append(row)
    return rows


def epsilon_gain(
    scores, is_member, a, b, delta: float = 0.0, alpha: float = 0.05, n_boot: int = 200, seed: int = 0
) -> Interval:
    """ε̂ on examples ``a`` minus ε̂ on examples ``b`` (:func:`epsilon_lower_bound` on each), with a bootstrap CI
    that resamples each set's examples (columns) with replacement: does aiming the audit at ``a`` (e.g. natural
    canaries) certify more than aiming it at ``b`` (random examples)?

    Args:
        scores, is_member: [T, N]. a, b: index arrays of examples. delta, alpha: as in :func:`epsilon_lower_bound`.
    Returns:
        :class:`Interval`. Chapter 6.
    """
    s, m = np.atleast_2d(np.asarray(scores, dtype=np.float64)), np.atleast_2d(np.asarray(is_member, dtype=bool))
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)

    def eps(cols):
        mc = m[:, cols]
        if mc.all() or not mc.any():
            return np.nan
        return epsilon_lower_bound(s[:, cols], mc, delta=delta, alpha=alpha)["eps_lower"]

    point = eps(a) - eps(b)
    rng = np.random.default_rng(seed)
    draws = [eps(rng.choice(a, a.size)) - eps(rng.choice(b, b.size)) for _ in range(n_boot)]
    draws = [d for d in draws if np.isfinite(d)]
    if len(draws) < max(n_boot // 2, 1):
        return Interval(float(point), np.nan, np.nan)
    lo, hi = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return Interval(float(point), float(lo), float(hi))


# ---------------------------------------------------------------------------------------------------------------
# Differences with a bootstrap CI: the statistics behind every verdict (mia_lib.claims)


class WeightedAttack:
    """One attack's scores on a fixed set of examples, sorted once, so that its measures on any reweighting of the
    examples (a bootstrap replicate) cost O(T·N) without a sort.

    Args:
        scores, is_member: [T, N] (or [N]). cols: the example columns to keep (default all); weights passed to
            :meth:`measure` are indexed by the *original* columns, so several attacks and subsets can share one
            draw of examples (a paired bootstrap).
    """

    def __init__(self, scores, is_member, cols=None):
        s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
        m = np.atleast_2d(np.asarray(is_member, dtype=bool))
        self.cols = np.arange(s.shape[1]) if cols is None else _as_columns(cols, s.shape[1])
        s, m = s[:, self.cols], m[:, self.cols]
        _flat(s, m)
        self.scores, self.m, self.n = s, m, s.shape[1]
        order, self.group_end = _descending(s.ravel())
        self.order_member, self.order_col = m.ravel()[order], order % self.n

    def measure(self, name: str, weights=None, levels=FPR_LEVELS) -> float:
        """``name`` (``auroc``, ``advantage`` or a TPR level name) on examples weighted by ``weights`` (int [N_all],
        how often each original column was drawn; None: every column once, the point estimate). NaN when the
        weighted examples hold only one class."""
        return self.measures(weights, levels)[name]

    def measures(self, weights=None, levels=FPR_LEVELS) -> dict:
        """Every measure of :meth:`measure` from one pass: {``auroc``, ``advantage``, TPR level names: float}."""
        w = np.ones(self.n) if weights is None else np.asarray(weights)[self.cols]
        mb = self.m[:, w > 0]
        if mb.all() or not mb.any():
            return dict.fromkeys(["auroc", "advantage", *map(level_name, levels)], np.nan)
        return _weighted_summary(self.order_member, self.order_col, self.group_end, w, levels)


def _as_columns(cols, n: int) -> np.ndarray:
    cols = np.asarray(cols)
    return np.flatnonzero(cols) if cols.dtype == bool else cols.astype(np.int64).ravel()


def paired_bootstrap(statistic, n: int, n_boot: int = 200, alpha: float = 0.05, seed: int = 0):
    """Percentile bootstrap CI of any statistic of N examples, resampled *jointly* for everything it compares.

    Args:
        statistic: ``f(weights) -> float`` (or ``-> dict[str, float]`` for several statistics on the same draws)
            where ``weights`` is int [N] (how often each example was drawn) or None for the point estimate on the
            data as they are; e.g. the AUROC of attack A minus that of attack B, both from :class:`WeightedAttack`
            on the same examples. n: number of examples. NaN replicates are skipped.
    Returns:
        :class:`Interval` (or {key: Interval}); NaN bounds when fewer than half the replicates could be scored.
        Chapters 1–7.
    """
    point = statistic(None)
    keyed = isinstance(point, dict)
    point = point if keyed else {None: point}
    rng = np.random.default_rng(seed)
    draws: dict = {k: [] for k in point}
    for _ in range(n_boot):
        d = statistic(np.bincount(rng.integers(0, n, size=n), minlength=n))
        for k, v in (d if keyed else {None: d}).items():
            if np.isfinite(v):
                draws[k].append(v)
    out = {}
    for k, v in point.items():
        if len(draws[k]) < max(n_boot // 2, 1):
            out[k] = Interval(float(v), np.nan, np.nan)
        else:
            lo, hi = np.quantile(draws[k], [alpha / 2, 1 - alpha / 2])
            out[k] = Interval(float(v), float(lo), float(hi))
    return out if keyed else out[None]


def bootstrap_diff(
    a, b, measure: str = "auroc", n_boot: int = 200, alpha: float = 0.05, seed: int = 0, paired: bool = True
) -> Interval:
    """A measure of attack A minus the same measure of attack B, with a percentile bootstrap CI of the difference.

    ``paired=True`` (the default) resamples the *same* examples (columns) on both sides: A and B score the same N
    examples (two attacks on the same targets, or a DP pool and its clip-only twin on the same data), so the
    interval is that of the paired difference, much narrower than two marginal intervals. ``paired=False``
    resamples each side on its own (two disjoint subsets of examples, or two pools of different data).

    Args:
        a, b: (scores [T, N], is_member [T, N]) pairs; with ``paired`` both must have the same N.
        measure: ``auroc``, ``advantage`` or a TPR level name (``tpr_at_0.1pct_fpr``).
    Returns:
        :class:`Interval` (measure(A) − measure(B), lo, hi). Chapters 1, 3, 6, 7.
    """
    wa, wb = WeightedAttack(*a), WeightedAttack(*b)
    if paired:
        if wa.n != wb.n:
            raise ValueError(f"a paired difference needs the same examples on both sides, got N = {wa.n} and {wb.n}")
        return paired_bootstrap(lambda w: wa.measure(measure, w) - wb.measure(measure, w), wa.n, n_boot, alpha, seed)
    rng = np.random.default_rng(seed)
    point = wa.measure(measure) - wb.measure(measure)
    draws = []
    for _ in range(n_boot):
        d = wa.measure(measure, np.bincount(rng.integers(0, wa.n, size=wa.n), minlength=wa.n)) - wb.measure(
            measure, np.bincount(rng.integers(0, wb.n, size=wb.n), minlength=wb.n)
        )
        if np.isfinite(d):
            draws.append(d)
    if len(draws) < max(n_boot // 2, 1):
        return Interval(float(point), np.nan, np.nan)
    lo, hi = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    return Interval(float(point), float(lo), float(hi))


def subset_diff(
    scores, is_member, a, b, measure: str = "auroc", n_boot: int = 200, alpha: float = 0.05, seed: int = 0
) -> Interval:
    """A measure on one subset of examples minus the same measure on another, for one attack, with a bootstrap CI
    that resamples all N examples jointly (each replicate scores both subsets of the same draw).

    Args:
        scores, is_member: [T, N]. a, b: bool [N] or index arrays (e.g. the most memorized tenth and the rest, the
            under-represented group and all examples). measure: as in :func:`bootstrap_diff`.
    Returns:
        :class:`Interval` (measure on a − measure on b, lo, hi). Chapters 1, 3, 6, 7.
    """
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    wa, wb = WeightedAttack(s, is_member, a), WeightedAttack(s, is_member, b)
    return paired_bootstrap(lambda w: wa.measure(measure, w) - wb.measure(measure, w), s.shape[1], n_boot, alpha, seed)


def mean_diff(x, y, n_boot: int = 200, alpha: float = 0.05, seed: int = 0, paired: bool = True) -> Interval:
    """mean(x) − mean(y) of per-example values with a percentile bootstrap CI (NaNs dropped per side).

    Args:
        x, y: float [N] (``paired``: the same N examples, e.g. memorization under DP and under the clip-only twin)
            or [N_x], [N_y] (``paired=False``).
    Returns:
        :class:`Interval`. Chapters 6, 7.
    """
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if paired:
        if x.shape != y.shape:
            raise ValueError(f"a paired difference needs the same examples, got {x.shape} and {y.shape}")
        d = x - y
        d = d[np.isfinite(d)]
        if d.size < 2:
            return NAN_INTERVAL
        rng = np.random.default_rng(seed)
        boot = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(1)
        point = d.mean()
    else:
        x, y = x[np.isfinite(x)], y[np.isfinite(y)]
        if x.size < 2 or y.size < 2:
            return NAN_INTERVAL
        rng = np.random.default_rng(seed)
        boot = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(1) - y[
            rng.integers(0, y.size, size=(n_boot, y.size))
        ].mean(1)
        point = x.mean() - y.mean()
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return Interval(float(point), float(lo), float(hi))
