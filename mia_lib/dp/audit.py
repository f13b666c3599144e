"""Auditing DP-SGD beyond many runs: the one-run audit of Steinke, Nasr & Jagielski (2023) and the f-DP audit in
Gaussian DP (Dong, Roth & Su 2022).

* **One training run** (Steinke et al., "Privacy auditing with one (1) training run", NeurIPS 2023). m canaries are
  each included in the training set independently with probability ½ (S ∈ {−1, +1}^m uniform); the auditor sees
  the trained model, guesses "member" for its k+ highest-scoring canaries and "non-member" for its k− lowest, and
  abstains on the rest. For an (ε, δ)-DP algorithm the number W of correct guesses among the r = k+ + k− guesses
  satisfies (their main theorem for ε-DP, and the δ term of their approximate-DP theorem as their Appendix D's
  code computes it)

      P[W ≥ v] ≤ P[Binomial(r, q) ≥ v] + 2 m δ · max_{i=1..v} P[v > Binomial(r, q) ≥ v − i] / i,
      q = e^ε / (1 + e^ε),

  :func:`one_run_p_value`. The audit's ε̂ at confidence 1 − β is the largest ε whose bound on P[W ≥ v] is still
  below β (:func:`one_run_epsilon`): every smaller ε is rejected. With several (k+, k−) tried, each is tested at
  β / (number tried) (a union bound), :func:`one_run_audit`.
* **Gaussian DP.** μ-GDP means every test between neighbouring datasets has type II error β ≥ G_μ(α) =
  Φ(Φ⁻¹(1 − α) − μ) at type I error α (:func:`gaussian_tradeoff`). An attack's threshold test with upper
  confidence bounds (α_ub, β_ub) below G_μ proves that μ-GDP fails; the audited μ̂ is the largest such μ,
  max_t Φ⁻¹(1 − α_ub(t)) − Φ⁻¹(β_ub(t)) (:func:`gdp_audit`). The accountant side, Opacus's CLT approximation for
  Poisson-subsampled DP-SGD, is :func:`gdp_mu`.

Used in chapter 9.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math

import numpy as np
import torch
from scipy import stats

from .. import pool, signals
from ..config import Experiment
from ..metrics import clopper_pearson
from .accounting import DPSettings
from .pools import TRAINER_VERSION, DPShardTrainer

MISLABEL_VERSION = "mislabel-1"  # part of the mislabeled pools' cache key


# --- the one-run audit ------------------------------------------------------------------------------------------


def _check_counts(m: int, r: int, v: int) -> None:
    if not (0 <= v <= r <= m):
        raise ValueError(f"need 0 <= correct v <= guesses r <= canaries m, got v={v}, r={r}, m={m}")


def one_run_p_value(m: int, r: int, v: int, eps: float, delta: float = 0.0) -> float:
    """Steinke et al.'s bound on P[W ≥ v] (W: correct guesses) for an (ε, δ)-DP algorithm audited in one run.

    Args:
        m: canaries (each included independently with probability ½); r: guesses made (k+ + k−, no
            abstentions); v: correct guesses; eps ≥ 0, delta in [0, 1]: the guarantee under test.
    Returns:
        min(1, P[Binomial(r, q) ≥ v] + 2 m δ max_{1≤i≤v} P[v > Binomial(r, q) ≥ v − i] / i), q = e^ε/(1 + e^ε): the
        p-value of the observed v under "the algorithm is (ε, δ)-DP" (their Appendix D).

    Used in chapter 9.
    """
    m, r, v = int(m), int(r), int(v)
    _check_counts(m, r, v)
    if not (eps >= 0 and 0 <= delta <= 1):
        raise ValueError(f"need eps >= 0 and 0 <= delta <= 1, got eps={eps}, delta={delta}")
    q = 1.0 / (1.0 + math.exp(-eps)) if eps < 700 else 1.0
    tail = float(stats.binom.sf(v - 1, r, q))  # P[Binomial(r, q) >= v]
    if delta == 0 or v == 0:
        return min(tail, 1.0)
    i = np.arange(1, v + 1)
    window = np.cumsum(stats.binom.pmf(v - i, r, q))  # P[v > Binomial(r, q) >= v - i], i = 1..v
    return min(tail + 2 * m * delta * float(np.max(window / i)), 1.0)


@functools.lru_cache(maxsize=65536)
def one_run_epsilon(m: int, r: int, v: int, delta: float = 0.0, beta: float = 0.05, tol: float = 1e-6) -> float:
    """The one-run audit's ε̂: the largest ε with :func:`one_run_p_value` < ``beta`` (0 when even ε = 0 is not
    rejected), by bisection to ``tol``.

    With confidence 1 − β the algorithm is not (ε, δ)-DP for any ε < ε̂. ε̂ = 0 when v ≤ r/2 or so (guesses at
    chance); with δ = 0 and every guess correct (v = r) it is log(q / (1 − q)) with q = β^{1/r}.

    Args:
        m, r, v: canaries, guesses and correct guesses (ints). delta: the δ of the guarantee; beta: 1 − confidence.
    Returns:
        ε̂ ≥ 0 (float). Results are memoised (many audited models share (m, r, v)).

    Used in chapter 9.
    """
    _check_counts(m, r, v)
    if not 0 < beta < 1:
        raise ValueError(f"beta must lie in (0, 1), got {beta}")
    if r == 0 or one_run_p_value(m, r, v, 0.0, delta) >= beta:
        return 0.0
    lo, hi = 0.0, 1.0
    while one_run_p_value(m, r, v, hi, delta) < beta:  # p → 1 ≥ β as ε → ∞ unless v = r and δ = 0: then q^r ...
        lo, hi = hi, 2 * hi
        if hi > 1e3:  # ... which reaches β at ε = log(q/(1-q)) < 1e3 for any β > 1e-300 and sane r
            return lo
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if one_run_p_value(m, r, v, mid, delta) < beta:
            lo = mid
        else:
            hi = mid
    return lo


def one_run_guesses(scores, k_pos: int, k_neg: int) -> np.ndarray:
    """The auditor's guesses: +1 ("member") for the ``k_pos`` highest scores, −1 for the ``k_neg`` lowest, 0
    (abstain) elsewhere; ties broken by canary index (a fixed rule that never looks at membership).

    Args:
        scores: float [m] (higher = member). k_pos + k_neg ≤ m.
    Returns:
        int8 [m] in {−1, 0, +1}. Chapter 9.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    if k_pos < 0 or k_neg < 0 or k_pos + k_neg > s.size:
        raise ValueError(f"need k_pos, k_neg >= 0 and k_pos + k_neg <= m = {s.size}, got {k_pos}, {k_neg}")
    order = np.argsort(-s, kind="stable")  # highest first, ties in index order
    out = np.zeros(s.size, dtype=np.int8)
    out[order[:k_pos]] = 1
    if k_neg:
        out[order[s.size - k_neg :]] = -1
    return out


def guess_grid(m: int, fractions=(0.1,), two_sided: bool = True) -> list[tuple[int, int]]:
    """The (k+, k−) pairs an audit tries: for each fraction f, k = max(⌊f m⌋, 1) member guesses, and as many
    non-member guesses when ``two_sided`` (else none). Fixed before the audit sees any score. Chapter 9."""
    pairs = []
    for f in fractions:
        k = max(int(f * m), 1)
        pair = (k, k) if two_sided and 2 * k <= m else (min(k, m), 0)
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def one_run_audit(scores, is_member, grid, delta: float = 0.0, beta: float = 0.05) -> dict:
    """One training run audited on its m canaries (Steinke et al. 2023): for each (k+, k−) of ``grid`` the ε̂ of
    :func:`one_run_epsilon` at level β / len(grid), and the best of them (a union bound keeps confidence 1 − β).

    Valid when, given everything that chose the canaries and the grid, each canary was included independently
    with probability ½ (``is_member``), and ``scores`` come from the one trained model.

    Args:
        scores: float [m] (higher = member); is_member: bool [m]; grid: list of (k+, k−) (:func:`guess_grid`).
    Returns:
        dict: ``eps_hat``, ``k_pos``, ``k_neg``, ``guesses`` (r), ``correct`` (v) of the best pair, ``m``,
        ``n_tests``, ``beta``, ``delta``. Chapter 9.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    member = np.asarray(is_member, dtype=bool).ravel()
    if s.shape != member.shape:
        raise ValueError(f"scores {s.shape} and is_member {member.shape} must both be [m]")
    grid = list(grid)
    if not grid:
        raise ValueError("grid needs at least one (k_pos, k_neg) pair")
    truth = np.where(member, 1, -1)
    best = None
    for k_pos, k_neg in grid:
        g = one_run_guesses(s, k_pos, k_neg)
        r, v = int((g != 0).sum()), int((g == truth).sum())
        e = one_run_epsilon(s.size, r, v, float(delta), beta / len(grid))
        if best is None or e > best["eps_hat"]:
            best = {"eps_hat": e, "k_pos": k_pos, "k_neg": k_neg, "guesses": r, "correct": v}
    return {**best, "m": int(s.size), "n_tests": len(grid), "beta": beta, "delta": delta}


def one_run_audits(scores, is_member, grid, delta: float = 0.0, beta: float = 0.05) -> np.ndarray:
    """:func:`one_run_audit` of every model separately (each model is one training run).

    Args:
        scores, is_member: [T, m] (row t: model t's scores on the canaries and which canaries it trained on).
    Returns:
        float64 [T]: each model's ε̂. Chapter 9.
    """
    s, m = np.atleast_2d(scores), np.atleast_2d(is_member)
    return np.array([one_run_audit(a, b, grid, delta, beta)["eps_hat"] for a, b in zip(s, m)])


def eligible_canaries(keep_selection) -> np.ndarray:
    """Examples that can serve as canaries of a one-run audit of the *other* models of a balanced pool.

    In a balanced keep matrix (each column IN for exactly K/2 models), an example IN for c of the K_s selection
    models is IN for each other model with probability (K/2 − c)/(K − K_s), not ½; only when c = K_s/2 (and the
    selection is half the pool) is it exactly ½, independently across examples, whatever the selection saw.

    Args:
        keep_selection: bool [K_s, N], the selection models' rows of a balanced keep [K, N] with K = 2 K_s.
    Returns:
        bool [N]. Chapter 9 (memorized canaries chosen on the first half of a pool).
    """
    k = np.asarray(keep_selection, dtype=bool)
    if k.shape[0] % 2:
        raise ValueError(f"the selection must be an even number of models, got {k.shape[0]}")
    return k.sum(0) == k.shape[0] // 2


def random_canaries(n: int, m: int, seed: int) -> np.ndarray:
    """``m`` distinct examples of ``n`` drawn uniformly (a generator from ``seed`` only, never the keep matrix).

    Returns:
        int64 [m], increasing. Chapter 9.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x63616E61]))
    return np.sort(rng.choice(n, int(m), replace=False))


# --- Gaussian differential privacy --------------------------------------------------------------------------------


def gaussian_tradeoff(alpha, mu: float) -> np.ndarray:
    """The trade-off curve of μ-GDP: the smallest type II error of any test at type I error α,
    G_μ(α) = Φ(Φ⁻¹(1 − α) − μ) (Dong, Roth & Su 2022).

    Args:
        alpha: float array in [0, 1]; mu ≥ 0 (μ = 0: 1 − α, perfect privacy; μ = inf: 0).
    Returns:
        float64, the shape of ``alpha``. Chapter 9.
    """
    a = np.asarray(alpha, dtype=np.float64)
    if math.isinf(mu):
        return np.zeros_like(a)
    return stats.norm.cdf(stats.norm.isf(a) - mu)


def gdp_mu(noise_multiplier: float, sample_rate: float, steps: int) -> float:
    """The accountant's μ for Poisson-subsampled DP-SGD: Opacus's ``compute_mu_poisson`` (the central limit
    theorem of Bu, Dong, Long & Su: μ = q √T √(e^{1/σ²} − 1); an approximation that is accurate for small q and
    many steps, not a bound). inf when σ = 0.

    Used in chapter 9.
    """
    from opacus.accountants.analysis.gdp import compute_mu_poisson

    if noise_multiplier == 0:
        return math.inf
    return float(compute_mu_poisson(steps=int(steps), noise_multiplier=noise_multiplier, sample_rate=sample_rate))


def gdp_epsilon(mu: float, delta: float) -> float:
    """The ε at ``delta`` that μ-GDP implies: the root of δ(ε) = Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2) (Opacus's
    ``eps_from_mu``); 0 for μ = 0, inf for μ = inf. Chapter 9."""
    from opacus.accountants.analysis.gdp import eps_from_mu

    if math.isinf(mu):
        return math.inf
    if mu <= 0 or stats.norm.cdf(mu / 2) - stats.norm.cdf(-mu / 2) <= delta:
        return 0.0
    return float(eps_from_mu(mu=mu, delta=delta))


def tradeoff_points(scores, is_member, alpha: float = 0.05, n_thresholds: int = 64) -> dict:
    """An attack's empirical trade-off curve with Clopper–Pearson bounds, test "score ≥ t ⇒ member" per threshold.

    Type I error = FPR, type II error = FNR = 1 − TPR. Each of the 4 bounds per threshold is one-sided at level
    α / (2 n_t) for the two upper bounds used by :func:`gdp_audit` (so that all of them hold at once with
    probability ≥ 1 − α), and the lower bounds at the same level (for the band of a figure).

    Args:
        scores, is_member: [T, N] or [M], pooled (each (model, example) pair one trial), higher = member.
        n_thresholds: quantiles of the pooled scores used as thresholds.
    Returns:
        dict of float64 [n_t] arrays: ``threshold``, ``fpr``, ``fnr`` (point estimates), ``fpr_lo``, ``fpr_hi``,
        ``fnr_lo``, ``fnr_hi``; and ``level`` (per bound), ``n_members``, ``n_nonmembers``. Chapter 9.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    m = np.asarray(is_member, dtype=bool).ravel()
    if s.shape != m.shape or m.all() or not m.any():
        raise ValueError("need scores and is_member of one shape, with members and non-members")
    t = np.unique(np.quantile(s, np.linspace(0, 1, n_thresholds + 1)[1:]))
    pos, neg = np.sort(s[m]), np.sort(s[~m])
    fn = np.searchsorted(pos, t, side="left")  # members with score < t: missed
    fp = neg.size - np.searchsorted(neg, t, side="left")  # non-members with score >= t
    level = alpha / (2 * t.size)
    return {
        "threshold": t,
        "fpr": fp / neg.size,
        "fnr": fn / pos.size,
        "fpr_lo": clopper_pearson(fp, neg.size, level, "lower"),
        "fpr_hi": clopper_pearson(fp, neg.size, level, "upper"),
        "fnr_lo": clopper_pearson(fn, pos.size, level, "lower"),
        "fnr_hi": clopper_pearson(fn, pos.size, level, "upper"),
        "level": level,
        "n_members": int(pos.size),
        "n_nonmembers": int(neg.size),
    }


def gdp_audit(scores, is_member, alpha: float = 0.05, n_thresholds: int = 64) -> dict:
    """The audited μ̂: the largest μ that the attack's confidently bounded trade-off points prove too small.

    If the algorithm were μ-GDP, every threshold test would have FNR ≥ G_μ(FPR). With probability ≥ 1 − α every
    upper bound of :func:`tradeoff_points` holds, and since G_μ decreases, FNR_ub < G_μ(FPR_ub) then contradicts
    μ-GDP. Solving for μ: μ̂ = max_t Φ⁻¹(1 − FPR_ub(t)) − Φ⁻¹(FNR_ub(t)), floored at 0 (G_μ is symmetric, so the
    non-member side gives the same expression). Trials pooled over models are assumed independent, as in
    :func:`mia_lib.metrics.epsilon_lower_bound`.

    Args:
        scores, is_member: [T, N] or [M] (higher = member). alpha: 1 − confidence.
    Returns:
        dict: ``mu_hat``, the ``fpr_hi`` and ``fnr_hi`` of the best threshold, ``points`` (the
        :func:`tradeoff_points` dict). Chapter 9.
    """
    pts = tradeoff_points(scores, is_member, alpha, n_thresholds)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = stats.norm.isf(pts["fpr_hi"]) - stats.norm.ppf(pts["fnr_hi"])
    mu = np.nan_to_num(mu, nan=-np.inf)
    i = int(np.argmax(mu))
    best = float(mu[i]) if mu[i] > 0 else 0.0
    return {
        "mu_hat": best,
        "fpr_hi": float(pts["fpr_hi"][i]),
        "fnr_hi": float(pts["fnr_hi"][i]),
        "points": pts,
    }


# --- mislabeled canaries ------------------------------------------------------------------------------------------


def mislabel(y, canaries, n_classes: int, seed: int) -> np.ndarray:
    """Labels with ``canaries`` relabelled: each gets a label drawn uniformly from the *other* classes.

    Args:
        y: int [N]; canaries: int [m]. Returns: int64 [N] (a copy). Chapter 9.
    """
    out = np.asarray(y, dtype=np.int64).copy()
    idx = np.asarray(canaries, dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x6D69736C]))
    out[idx] = (out[idx] + rng.integers(1, n_classes, size=idx.size)) % n_classes
    return out


class RelabeledShardTrainer:
    """A shard trainer (as :func:`mia_lib.pool.load_or_train` calls it) that trains on the dataset with the labels
    ``y`` instead of its own; ``dp``: the :class:`~mia_lib.dp.DPSettings` of DP-SGD, or None for the non-private
    recipe. An object, not a closure, so that it pickles to Dask workers. Chapter 9 (mislabeled canaries).

    Called as ``f(cfg, dataset, keep [K, N], ids [k], device, progress, desc) -> (logits [k, N, A, C], state)``.
    """

    def __init__(self, y, dp: DPSettings | None):
        self.y = np.asarray(y, dtype=np.int64)
        self.dp = dp

    def __call__(self, cfg, ds, keep, ids, dev, progress, desc):
        relabeled = dataclasses.replace(ds, y=torch.from_numpy(self.y))
        inner = pool.train_pool_shard if self.dp is None else DPShardTrainer(self.dp)
        return inner(cfg, relabeled, keep, ids, dev, progress, desc)


def mislabeled_key(cfg: Experiment, y, dp: DPSettings | None) -> str:
    """Cache key of a mislabeled-canary pool: SHA-256 of the experiment's hash, the labels y (int [N]), the DP
    settings (or none) and the trainer versions. Chapter 9."""
    request = {
        "experiment": cfg.hash(),
        "labels": hashlib.sha256(np.asarray(y, dtype=np.int64).tobytes()).hexdigest()[:16],
        "dp": None if dp is None else dp.to_dict(),
        "trainer": [TRAINER_VERSION, MISLABEL_VERSION],
    }
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return "mislabel-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def load_or_train_mislabeled_pool(
    cfg: Experiment, y, dp: DPSettings | None = None, progress: bool | None = None, store=None
) -> pool.ShadowPool:
    """A pool trained on the data of ``cfg`` with the labels ``y`` (:func:`mislabel`), cached like any pool.

    Same keep matrix and initial weights as any pool of ``cfg`` (:func:`mia_lib.train.balanced_keep`); DP-SGD with
    ``dp`` (e.g. another DP pool's ``.dp``), or the non-private recipe of ``cfg`` when None. The pool's ``y`` stays
    the dataset's own labels: score the canaries against ``y`` (:func:`canary_phi`).

    Returns:
        :class:`mia_lib.pool.ShadowPool` (``.dp`` set to ``dp``). Chapter 9.
    """
    out = pool.load_or_train(
        cfg,
        progress,
        store,
        train_shard=RelabeledShardTrainer(y, dp),
        key=mislabeled_key(cfg, y, dp),
        extra_config={"dp": None if dp is None else dp.to_dict(), "mislabeled": MISLABEL_VERSION},
    )
    out.dp = dp
    return out


def canary_phi(logits, y, canaries) -> np.ndarray:
    """One-run scores of canaries: φ (logit-scaled confidence in label ``y``) of each model on each canary,
    averaged over the query views.

    Args:
        logits: [K, N, A, C]; y: int [N] (the labels the models trained on); canaries: int [m].
    Returns:
        float64 [K, m] (higher = member). Chapter 9.
    """
    idx = np.asarray(canaries, dtype=np.int64)
    return signals.phi(np.asarray(logits)[:, idx], np.asarray(y)[idx]).mean(-1)
