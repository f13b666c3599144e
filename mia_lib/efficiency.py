"""How many shadow models does LiRA need? The k-sweep, by subsampling a cached pool (no retraining).

Protocol (*Why Train More?* §7.2, Figures 3/4/7):

* A fixed set of **target** models is attacked; the other models of the pool are the **shadow candidates**.
  Targets are never shadows, so every point of the sweep attacks the same targets.
* For a budget k, each example gets **exactly k IN and k OUT shadow models** (k OUT only, for offline LiRA), drawn
  at random *per example* from its own IN and OUT candidates (:func:`pick_per_example`). On a balanced pool, picking
  2k whole models would give each example a varying number of IN models (and none at all for some when k is
  small); per-example masks make "k IN + k OUT" exact. For each example this is what an adversary gets from 2k
  shadow models with a balanced keep matrix (each target example IN for exactly k of them); only the pairing of
  models across examples differs, since every example draws its own.
* The LiRA statistics are masked sums over the candidates (:func:`lira_from_masks`), so one budget costs
  O(S·N·A) for S candidates, and the whole sweep over k, repetitions and groups runs in seconds even for K = 256.
* With all candidates (the "full pool") the scores equal :func:`mia_lib.attacks.lira.lira_scores` with
  ``target_ids`` and ``shadow_ids`` (tested). Repeating the random draws gives CIs for each k.

Fixed variance (one σ² per query view, shared by all examples) is what makes k = 1 possible: a single IN and a
single OUT model give no per-example spread. As in :mod:`mia_lib.attacks.lira` (and TF Privacy), σ_in² and σ_out²
are the means over examples of the per-example IN and OUT variances, kept apart; with k = 1 each falls back to the
overall spread of the selected statistics across examples (as in Carlini et al.'s code). A shared variance only
weighs the query views against each other, so this choice does not change the ranking within a view.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import log_ndtr

from . import metrics
from .attacks.lira import _MIN_VAR, _log_normal

VARIANTS = ("online_fixed", "offline_fixed", "online", "offline")


def pick_per_example(keep, k: int, rng: np.random.Generator, side: str = "both") -> tuple[np.ndarray, np.ndarray]:
    """Choose k IN and k OUT models per example, uniformly at random among that example's candidates.

    Args:
        keep: bool [S, N] membership of the S candidate models. k: models per side (>= 1).
        rng: numpy Generator. side: "both", or "out" to draw OUT models only (IN mask all False).
    Returns:
        (in_mask, out_mask): bool [S, N], each column with exactly k True (in_mask ⊆ keep, out_mask ⊆ ~keep).
    Raises:
        ValueError: if some example has fewer than k candidates on a side that is drawn.
    """
    keep = np.asarray(keep, dtype=bool)
    s = keep.shape[0]
    least = min(int(keep.sum(0).min()) if side == "both" else s, int((~keep).sum(0).min()))
    if k < 1 or k > least:
        raise ValueError(f"k must be between 1 and {least} (the fewest candidates an example has on a side), got {k}")
    u = rng.random(keep.shape)
    masks = []
    for on_side, wanted in ((keep, side == "both"), (~keep, True)):
        if not wanted:
            masks.append(np.zeros_like(keep))
            continue
        key = np.where(on_side, u, np.inf)  # this side's models get their random key, the others come last
        kth = np.partition(key, k - 1, axis=0)[k - 1]  # k-th smallest key per example
        masks.append(on_side & (key <= kth))
    return masks[0], masks[1]


def _moments(phi_s: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w = mask.astype(np.float64)[..., None]
    n = w.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (w * phi_s).sum(0) / n
        var = np.maximum((w * (phi_s - mean) ** 2).sum(0) / n, _MIN_VAR)
    return mean, var, n[:, 0]


def _shared_variance(phi_s, mask, var, n) -> np.ndarray:
    """One variance per view [A]: mean of the per-example variances, or the overall spread when n < 2."""
    if n.min() >= 2:
        return var.mean(0)
    w = mask.astype(np.float64)[..., None]
    mean = (w * phi_s).sum((0, 1)) / w.sum((0, 1))
    return np.maximum((w * (phi_s - mean) ** 2).sum((0, 1)) / w.sum((0, 1)), _MIN_VAR)


def lira_from_masks(phi_t, phi_s, in_mask, out_mask, variants=("online_fixed", "offline_fixed")) -> dict:
    """LiRA scores of target models from per-example subsets of shadow models.

    Args:
        phi_t: float [T, N, A] the targets' statistics (or [T, N]). phi_s: float [S, N, A] the candidates'.
        in_mask, out_mask: bool [S, N], which candidates are the IN / OUT shadow models of each example
            (offline variants use only ``out_mask``).
        variants: names from :data:`VARIANTS` (online / offline as in :mod:`mia_lib.attacks.lira`; "_fixed" = one
            shared variance per view).
    Returns:
        {variant: float64 scores [T, N]}, higher = member. Per-example-variance variants need >= 2 models per side.
    """
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"Unknown variant(s) {sorted(unknown)}; choose from {VARIANTS}.")
    phi_t, phi_s = np.asarray(phi_t, dtype=np.float64), np.asarray(phi_s, dtype=np.float64)
    if phi_t.ndim == 2:
        phi_t, phi_s = phi_t[..., None], phi_s[..., None]
    mean_out, var_out, n_out = _moments(phi_s, out_mask)
    online = any(v.startswith("online") for v in variants)
    if online:
        mean_in, var_in, n_in = _moments(phi_s, in_mask)
    out = {}
    for v in variants:
        per_example = not v.endswith("_fixed")
        counts = (n_in, n_out) if v.startswith("online") else (n_out,)
        if per_example and min(c.min() for c in counts) < 2:
            raise ValueError(f"variant {v!r} needs at least 2 shadow models per side and example")
        if v == "online":
            s = _log_normal(phi_t, mean_in, var_in) - _log_normal(phi_t, mean_out, var_out)
        elif v == "online_fixed":
            fixed_in = _shared_variance(phi_s, in_mask, var_in, n_in)
            fixed_out = _shared_variance(phi_s, out_mask, var_out, n_out)
            s = _log_normal(phi_t, mean_in, fixed_in) - _log_normal(phi_t, mean_out, fixed_out)
        else:
            var = var_out if v == "offline" else _shared_variance(phi_s, out_mask, var_out, n_out)
            s = -log_ndtr(-(phi_t - mean_out) / np.sqrt(var))
        out[v] = s.mean(-1)
    return out


def k_grid(k_max: int) -> list[int]:
    """Powers of two 1, 2, 4, ... up to ``k_max`` (inclusive)."""
    return [2**i for i in range(int(np.floor(np.log2(max(k_max, 1)))) + 1)]


def _measures(scores: np.ndarray, is_member: np.ndarray, levels) -> dict:
    m = is_member.ravel()
    if m.sum() < 2 or (~m).sum() < 2:
        return {"auroc": np.nan, **{metrics.level_name(t): np.nan for t in levels}}
    fpr, tpr = metrics.roc_fast(scores, m)
    return {
        "auroc": float(np.trapezoid(tpr, fpr)),
        **{metrics.level_name(t): metrics.tpr_at_fpr(fpr, tpr, t) for t in levels},
    }


def sweep(
    phi,
    keep,
    target_ids,
    shadow_ids,
    groups: dict,
    ks=None,
    n_rep: int = 10,
    variants=("online_fixed", "offline_fixed"),
    seed: int = 0,
    levels=metrics.FPR_LEVELS,
) -> pd.DataFrame:
    """Attack success against the number of shadow models k per side, per group of examples.

    Args:
        phi: float [K, N, A] (or [K, N]) pool statistics. keep: bool [K, N].
        target_ids: the fixed target models. shadow_ids: the candidate shadow models (disjoint from targets).
        groups: {name: bool [N]} example subsets; each is scored on its own (pooled over targets × examples).
        ks: budgets per side (default :func:`k_grid` up to the fewest candidates any example has on a side).
        n_rep: random draws of the shadow subsets per k. variants: from :data:`VARIANTS`.
        seed: seed of the draws. levels: FPR levels for TPR.
    Returns:
        tidy DataFrame, one row per (variant, group, k, rep): ``variant``, ``group``, ``k``, ``rep``, ``full``
        (True for the whole candidate set, rep 0 only, with ``k`` = the median per-example count on the smaller
        side), ``n_examples``, ``auroc`` and ``tpr_at_…`` per level. Per-example-variance variants skip k = 1.

    Used in chapter 5.
    """
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim == 2:
        phi = phi[..., None]
    keep = np.asarray(keep, dtype=bool)
    target_ids, shadow_ids = np.asarray(target_ids).ravel(), np.asarray(shadow_ids).ravel()
    if np.intersect1d(target_ids, shadow_ids).size:
        raise ValueError("target_ids and shadow_ids must be disjoint")
    phi_t, phi_s, keep_t, keep_s = phi[target_ids], phi[shadow_ids], keep[target_ids], keep[shadow_ids]
    smaller = np.minimum(keep_s.sum(0), (~keep_s).sum(0))
    ks = k_grid(int(smaller.min())) if ks is None else list(ks)
    cols = {name: np.flatnonzero(np.asarray(sel, dtype=bool)) for name, sel in groups.items()}
    rows = []

    def score(in_mask, out_mask, names, k, rep, full):
        for v, s in lira_from_masks(phi_t, phi_s, in_mask, out_mask, names).items():
            for g, c in cols.items():
                rows.append(
                    {
                        "variant": v,
                        "group": g,
                        "k": k,
                        "rep": rep,
                        "full": full,
                        "n_examples": c.size,
                        **_measures(s[:, c], keep_t[:, c], levels),
                    }
                )

    score(keep_s, ~keep_s, list(variants), int(np.median(smaller)), 0, True)
    rng = np.random.default_rng(seed)
    for k in ks:
        names = [v for v in variants if v.endswith("_fixed") or k >= 2]
        for rep in range(n_rep):
            in_mask, out_mask = pick_per_example(keep_s, k, rng)
            if names:
                score(in_mask, out_mask, names, k, rep, False)
    return pd.DataFrame(rows)


def curves(table: pd.DataFrame, measures=("auroc", "tpr_at_0.1pct_fpr"), alpha: float = 0.05) -> pd.DataFrame:
    """Mean and percentile interval over repetitions for each (variant, group, k) of :func:`sweep`'s table.

    Returns:
        DataFrame with ``variant``, ``group``, ``k``, ``full`` and, per measure, ``<m>``, ``<m>_lo``, ``<m>_hi``.

    Used in chapter 5.
    """

    def agg(part):
        out = {}
        for m in measures:
            v = part[m].to_numpy(dtype=np.float64)
            ok = v[np.isfinite(v)]
            out[m] = ok.mean() if ok.size else np.nan
            out[m + "_lo"], out[m + "_hi"] = (
                np.quantile(ok, [alpha / 2, 1 - alpha / 2]) if ok.size else (np.nan, np.nan)
            )
        return pd.Series(out)

    keys = ["variant", "group", "full", "k"]
    return table.groupby(keys, sort=False)[list(measures)].apply(agg).reset_index()


def k_to_reach(
    table: pd.DataFrame,
    measure: str = "auroc",
    fraction: float = 0.95,
    chance: float | None = None,
    per_rep: bool = False,
) -> pd.DataFrame:
    """Smallest k at which each (variant, group) reaches ``fraction`` of its own full-pool value.

    The target is ``fraction × full`` or, with ``chance`` given (0.5 for AUROC), ``chance + fraction × (full −
    chance)``, i.e. that fraction of the full pool's gain over guessing. On the mean over repetitions, or per
    repetition with ``per_rep``.

    Args:
        table: :func:`sweep`'s output. measure: a measure column.
    Returns:
        DataFrame with ``variant``, ``group``, (``rep``), ``full_value``, ``target``, ``k`` (the smallest k of the
        sweep that reaches the target; the full pool's ``k`` when no smaller budget does; NaN when the full value
        is NaN) and ``reached_before_full`` (bool).

    Used in chapter 5.
    """
    rows = []
    for (v, g), part in table.groupby(["variant", "group"], sort=False):
        full_row = part[part["full"]]
        full_value, full_k = float(full_row[measure].iloc[0]), int(full_row["k"].iloc[0])
        target = fraction * full_value if chance is None else chance + fraction * (full_value - chance)
        sub = part[~part["full"]]
        reps = sorted(sub["rep"].unique()) if per_rep else [None]
        for rep in reps:
            rows_rep = sub if rep is None else sub[sub["rep"] == rep]
            mean = rows_rep.groupby("k")[measure].mean().sort_index()
            hit = mean.index[mean.to_numpy() >= target]
            k = np.nan if not np.isfinite(full_value) else (int(hit[0]) if len(hit) else full_k)
            row = {
                "variant": v,
                "group": g,
                "full_value": full_value,
                "target": target,
                "k": k,
                "reached_before_full": bool(len(hit)) and np.isfinite(full_value),
            }
            if per_rep:
                row["rep"] = rep
            rows.append(row)
    return pd.DataFrame(rows)


def k_at(k_table: pd.DataFrame, criterion: str, group: str, variant: str = "online_fixed") -> float:
    """The k of one (criterion, group, variant) row of stacked :func:`k_to_reach` tables.

    Args:
        k_table: :func:`k_to_reach` outputs concatenated with a ``criterion`` column. Chapter 5.
    Returns:
        that row's ``k`` (float; NaN when the full value was NaN).
    Raises:
        KeyError: no such row.
    """
    row = k_table[(k_table["criterion"] == criterion) & (k_table["group"] == group) & (k_table["variant"] == variant)]
    if row.empty:
        raise KeyError(f"no k for criterion {criterion!r}, group {group!r}, variant {variant!r}")
    return float(row["k"].iloc[0])


def share_of_full(
    curve_table: pd.DataFrame, group: str, measure: str, k: int = 2, chance: float = 0.0, variant: str = "online_fixed"
) -> float:
    """Share of the full pool's value (above ``chance``) that k shadow models per side reach, on the mean curve.

    Args:
        curve_table: :func:`curves` output. chance: 0.5 for the AUROC gain over guessing, 0 for a plain share.
    Returns:
        :func:`mia_lib.metrics.retained` of the mean at ``k`` against the full pool's value; NaN when the sweep
        has no budget ``k`` or the full value is not above chance. Chapter 5 ("5 shadow models match 2,000").
    """
    rows = curve_table[(curve_table["variant"] == variant) & (curve_table["group"] == group)]
    at_k, full = rows[(rows["k"] == k) & ~rows["full"]][measure], rows[rows["full"]][measure]
    if at_k.empty or full.empty:
        return np.nan
    return metrics.retained(at_k.iloc[0], full.iloc[0], chance)


def share_at_k(
    table: pd.DataFrame,
    group: str,
    measure: str,
    k: int = 2,
    chance: float = 0.0,
    variant: str = "online_fixed",
    alpha: float = 0.05,
) -> metrics.Interval:
    """Share of the full pool's value (above ``chance``) that one draw of k shadow models per side reaches, over the
    sweep's repeated draws: the mean share with the percentile interval of the draws (what one attacker with k
    models can expect; the full pool's own sampling error is not in it).

    Args:
        table: :func:`sweep` output. Others as in :func:`share_of_full`.
    Returns:
        :class:`mia_lib.metrics.Interval`; all NaN when the sweep has no budget ``k`` or the full value is not above
        chance. Chapter 5 ("5 shadow models match 2,000").
    """
    rows = table[(table["variant"] == variant) & (table["group"] == group)]
    full = rows[rows["full"]][measure]
    at_k = rows[(rows["k"] == k) & ~rows["full"]][measure].to_numpy(dtype=np.float64)
    if full.empty or at_k.size == 0:
        return metrics.NAN_INTERVAL
    shares = np.atleast_1d(metrics.retained(at_k, full.iloc[0], chance))
    shares = shares[np.isfinite(shares)]
    if shares.size == 0:
        return metrics.NAN_INTERVAL
    lo, hi = np.quantile(shares, [alpha / 2, 1 - alpha / 2])
    return metrics.Interval(float(shares.mean()), float(lo), float(hi))


def plot_zero_point(ax, table: pd.DataFrame, measure: str = "auroc", colors=None, marker: str = "D"):
    """Mark an attack that needs no shadow model (QMIA) on a :func:`plot_curves` axis: per group, a marker at k = 0
    with its interval, and the k axis made symmetric-log (linear below 1) so that 0 and the powers of two share it.

    Args:
        ax: matplotlib axes already drawn by :func:`plot_curves`. table: :func:`mia_lib.attacks.zoo.evaluate` rows
            of that attack (``group``, ``<measure>``, ``<measure>_lo``, ``<measure>_hi``). colors: {group: color}
            (default: matplotlib's cycle in table order, as :func:`plot_curves`).

    Used in chapter 5.
    """
    for i, r in enumerate(table.to_dict("records")):
        v, lo, hi = r[measure], r[f"{measure}_lo"], r[f"{measure}_hi"]
        if not np.isfinite(v):
            continue
        err = [[v - lo], [hi - v]] if np.isfinite(lo) and np.isfinite(hi) else None
        ax.errorbar([0], [v], yerr=err, fmt=marker, ms=6, capsize=3, color=(colors or {}).get(r["group"], f"C{i}"))
    ax.set_xscale("symlog", base=2, linthresh=1, linscale=0.5)
    ax.set_xlim(left=-0.4)
    return ax


def plot_curves(ax, curve_table: pd.DataFrame, variant: str, measure: str = "auroc", colors=None):
    """Draw one variant's curves (mean and interval over repetitions) against k on a log₂ axis, one per group.

    The full pool is drawn as a dashed line at its own value and a marker at its median per-example count.

    Args:
        ax: matplotlib axes. curve_table: :func:`curves` output. variant: which variant. measure: a measure column.
        colors: {group: color} (default: matplotlib's cycle in table order).

    Used in chapter 5.
    """
    part = curve_table[curve_table["variant"] == variant]
    for i, (group, rows) in enumerate(part.groupby("group", sort=False)):
        color = (colors or {}).get(group, f"C{i}")
        sub, full = rows[~rows["full"]].sort_values("k"), rows[rows["full"]]
        if not np.isfinite(sub[measure]).any():
            continue  # a group too small to score (quick mode)
        ax.plot(sub["k"], sub[measure], marker="o", ms=4, color=color, label=group)
        ax.fill_between(sub["k"], sub[measure + "_lo"], sub[measure + "_hi"], color=color, alpha=0.2, lw=0)
        ax.axhline(full[measure].iloc[0], color=color, ls="--", lw=1)
        ax.plot(full["k"], full[measure], marker="*", ms=10, color=color, ls="none")
    ax.set_xscale("log", base=2)
    ax.set(xlabel="shadow models per side, k (in + out each)", ylabel=measure.replace("_", " "))
    return ax
