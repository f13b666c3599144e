"""Membership inference as hypothesis testing: advantage, total variation, Hellinger, sample complexity.

The numbers behind *Why Train More?* §2.2 and §5, with one convention throughout.

**Convention.** For densities p (the IN distribution of a statistic) and q (OUT):

* total variation TV(P, Q) = ½ ∫ |p − q| ∈ [0, 1];
* squared Hellinger distance H²(P, Q) = ½ ∫ (√p − √q)² = 1 − BC(P, Q) ∈ [0, 1], where BC = ∫ √(pq) is the
  Bhattacharyya coefficient. (Some texts drop the ½, which doubles H²; every formula here uses the ½.)

With it, H² ≤ TV ≤ H·√(2 − H²) ≤ √2·H (:func:`tv_bounds`).

**Tests and their advantage.** A test guesses "member" from one observation; its advantage is TPR − FPR.

* The likelihood-ratio test "member iff p(x) > q(x)" has advantage exactly TV, and no test does better
  (Neyman–Pearson; TV = sup_A P(A) − Q(A) is attained by A = {p > q}).
* The *soft* likelihood-ratio test (sLLR) guesses "member" with probability p(x) / (p(x) + q(x)). Its advantage is
  ½ ∫ (p − q)² / (p + q) (:func:`soft_llr_advantage`), which lies between H² and min(2H², TV): a randomised test
  pays for its randomness, but never more than a factor linked to Hellinger.
* Theorem 2 (the adversary chooses the dataset): the test "member iff the model classifies x correctly" has
  advantage P[correct | IN] − P[correct | OUT], which *is* Feldman–Zhang memorization. So the best test's
  advantage (TV of the model's full output) is at least memorization: adv ≥ mem.

**Sample complexity (Lemma 2).** Telling P from Q with error δ from n independent observations needs
n = Θ(log(1/δ) / H²) (:func:`sample_complexity`). Since mem is the TV between the two Bernoulli distributions of
the correctness bit, H ≥ mem/√2 and the count is O(2 / mem²) (Corollary 1, :func:`shadow_models_bound`).

**What (ε, δ)-DP promises** about any attack: the accuracy bound of Yeom et al. (:func:`yeom_accuracy_bound`,
:func:`accuracy_bound`), the hypothesis-testing region TPR ≤ e^ε FPR + δ (:func:`tpr_bound`) and the membership
posterior (:func:`posterior_bound`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats
from scipy.integrate import quad
from scipy.special import expit

_MIN_VAR = 1e-12


# ----------------------------------------------------------------------------------------------------------------
# Distances between Gaussians and between Bernoullis


def tv_gaussian(mu1, var1, mu2, var2) -> np.ndarray:
    """Total variation between N(mu1, var1) and N(mu2, var2), closed form (broadcasts over arrays).

    The densities cross at most twice; TV = |P(I) − Q(I)| for the interval I between the crossings (or a half-line
    when the variances are equal).

    Args:
        mu1, var1, mu2, var2: float arrays (any broadcastable shape), variances > 0.
    Returns:
        float64 array of the broadcast shape, in [0, 1].

    Used in chapter 4.
    """
    mu1, var1, mu2, var2 = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (mu1, var1, mu2, var2)))
    var1, var2 = np.maximum(var1, _MIN_VAR), np.maximum(var2, _MIN_VAR)
    s1, s2 = np.sqrt(var1), np.sqrt(var2)
    out = np.empty(mu1.shape)
    equal = np.isclose(var1, var2, rtol=1e-9, atol=0.0)
    # equal variances: one crossing at the midpoint
    out[equal] = 2 * stats.norm.cdf(np.abs(mu1 - mu2)[equal] / (2 * s1[equal])) - 1
    d = ~equal
    if d.any():
        a = 1 / var2[d] - 1 / var1[d]  # log p − log q = ½ (a x² + b x + c)
        b = 2 * (mu1[d] / var1[d] - mu2[d] / var2[d])
        c = mu2[d] ** 2 / var2[d] - mu1[d] ** 2 / var1[d] + 2 * np.log(s2[d] / s1[d])
        root = np.sqrt(np.maximum(b * b - 4 * a * c, 0.0))
        x1, x2 = (-b - root) / (2 * a), (-b + root) / (2 * a)
        lo, hi = np.minimum(x1, x2), np.maximum(x1, x2)
        p_mass = stats.norm.cdf(hi, mu1[d], s1[d]) - stats.norm.cdf(lo, mu1[d], s1[d])
        q_mass = stats.norm.cdf(hi, mu2[d], s2[d]) - stats.norm.cdf(lo, mu2[d], s2[d])
        out[d] = np.abs(p_mass - q_mass)
    return np.clip(out, 0.0, 1.0)


def hellinger2_gaussian(mu1, var1, mu2, var2) -> np.ndarray:
    """Squared Hellinger distance (½-convention) between two univariate Gaussians (broadcasts over arrays).

    H² = 1 − √(2σ₁σ₂ / (σ₁² + σ₂²)) · exp(−(μ₁ − μ₂)² / (4(σ₁² + σ₂²))).

    Returns:
        float64 array of the broadcast shape, in [0, 1].

    Used in chapters 4, 5.
    """
    mu1, var1, mu2, var2 = (np.asarray(a, dtype=np.float64) for a in (mu1, var1, mu2, var2))
    var1, var2 = np.maximum(var1, _MIN_VAR), np.maximum(var2, _MIN_VAR)
    total = var1 + var2
    bc = np.sqrt(2 * np.sqrt(var1 * var2) / total) * np.exp(-((mu1 - mu2) ** 2) / (4 * total))
    return np.clip(1 - bc, 0.0, 1.0)


def hellinger2_mvn(mu1, cov1, mu2, cov2) -> np.ndarray:
    """Squared Hellinger distance (½-convention) between two d-dimensional normals, batched.

    H² = 1 − det(Σ₁)^¼ det(Σ₂)^¼ / det(Σ̄)^½ · exp(−⅛ Δμᵀ Σ̄⁻¹ Δμ), with Σ̄ = (Σ₁ + Σ₂)/2 and Δμ = μ₁ − μ₂
    (*Why Train More?* §5.1, Scenario 2).

    Args:
        mu1, mu2: float [..., d]. cov1, cov2: float [..., d, d], symmetric positive definite.
    Returns:
        float64 [...] in [0, 1]; NaN where an input is not finite (e.g. a side with too few models).

    Used in chapter 4.
    """
    mu1, mu2, cov1, cov2 = (np.asarray(a, dtype=np.float64) for a in (mu1, mu2, cov1, cov2))
    batch = np.broadcast_shapes(mu1.shape[:-1], mu2.shape[:-1], cov1.shape[:-2], cov2.shape[:-2])
    d = mu1.shape[-1]
    mu1, mu2 = (np.broadcast_to(a, batch + (d,)) for a in (mu1, mu2))
    cov1, cov2 = (np.broadcast_to(a, batch + (d, d)) for a in (cov1, cov2))
    out = np.full(batch, np.nan)
    good = np.isfinite(mu1).all(-1) & np.isfinite(mu2).all(-1)
    good &= np.isfinite(cov1).all((-2, -1)) & np.isfinite(cov2).all((-2, -1))
    mu1, mu2, cov1, cov2 = mu1[good], mu2[good], cov1[good], cov2[good]
    mean_cov = (cov1 + cov2) / 2
    diff = mu1 - mu2
    _, logdet1 = np.linalg.slogdet(cov1)
    _, logdet2 = np.linalg.slogdet(cov2)
    _, logdet_m = np.linalg.slogdet(mean_cov)
    maha = np.einsum("...i,...i->...", diff, np.linalg.solve(mean_cov, diff[..., None])[..., 0])
    log_bc = 0.25 * (logdet1 + logdet2) - 0.5 * logdet_m - maha / 8
    out[good] = np.clip(1 - np.exp(log_bc), 0.0, 1.0)
    return out[()] if out.ndim == 0 else out


def hellinger2_bernoulli(a, b) -> np.ndarray:
    """Squared Hellinger distance (½-convention) between Bernoulli(a) and Bernoulli(b): 1 − √(ab) − √((1−a)(1−b))."""
    a, b = np.clip(np.asarray(a, dtype=np.float64), 0, 1), np.clip(np.asarray(b, dtype=np.float64), 0, 1)
    return np.clip(1 - np.sqrt(a * b) - np.sqrt((1 - a) * (1 - b)), 0.0, 1.0)


def tv_bounds(h2) -> tuple[np.ndarray, np.ndarray]:
    """The TV interval that a squared Hellinger distance (½-convention) allows: (H², H·√(2 − H²)).

    Args:
        h2: float array of H² values in [0, 1].
    Returns:
        (lower [...], upper [...]); always lower ≤ TV ≤ upper ≤ √2·H.

    Used in chapter 4.
    """
    h2 = np.clip(np.asarray(h2, dtype=np.float64), 0.0, 1.0)
    return h2, np.sqrt(h2 * (2 - h2))


def hellinger2_empirical(x, y, bins: int | str = "auto") -> float:
    """Plug-in squared Hellinger distance between two samples from histograms on common bins.

    1 − Σ_b √(p̂_b q̂_b), with bin edges from the pooled sample (``numpy.histogram_bin_edges``). Biased upwards
    for small samples (two samples from one distribution give H² > 0); use many observations or a parametric fit.

    Args:
        x, y: float [n] and [m] samples of a scalar statistic. bins: as for ``numpy.histogram_bin_edges``.
    Returns:
        H² in [0, 1].
    """
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    edges = np.histogram_bin_edges(np.concatenate([x, y]), bins=bins)
    p = np.histogram(x, edges)[0] / x.size
    q = np.histogram(y, edges)[0] / y.size
    return float(np.clip(1 - np.sqrt(p * q).sum(), 0.0, 1.0))


def tv_empirical(x, y, bins: int | str = "auto") -> float:
    """Plug-in total variation ½ Σ_b |p̂_b − q̂_b| between two samples on common histogram bins (biased upwards)."""
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    edges = np.histogram_bin_edges(np.concatenate([x, y]), bins=bins)
    p = np.histogram(x, edges)[0] / x.size
    q = np.histogram(y, edges)[0] / y.size
    return float(0.5 * np.abs(p - q).sum())


# ----------------------------------------------------------------------------------------------------------------
# Tests: likelihood ratio, soft likelihood ratio, advantage


def gaussian_llr(x, mu_in, var_in, mu_out, var_out) -> np.ndarray:
    """Log-likelihood ratio log N(x; μ_in, σ_in²) − log N(x; μ_out, σ_out²), broadcast (LiRA's online score).

    Used in chapter 4.
    """
    var_in, var_out = np.maximum(var_in, _MIN_VAR), np.maximum(var_out, _MIN_VAR)
    return stats.norm.logpdf(x, mu_in, np.sqrt(var_in)) - stats.norm.logpdf(x, mu_out, np.sqrt(var_out))


def soft_llr_advantage(logp, logq, lo: float = -np.inf, hi: float = np.inf) -> float:
    """Advantage of the soft likelihood-ratio test between two univariate densities, by quadrature.

    The test guesses "P" with probability p/(p+q), so its advantage is ∫ (p − q) p/(p + q) = ½ ∫ (p − q)²/(p + q).

    Args:
        logp, logq: callables x -> log density (scalar float in, scalar float out).
        lo, hi: integration limits.
    Returns:
        the advantage, in [H², min(2H², TV)].

    Used in chapter 4.
    """

    def integrand(x):
        a, b = logp(x), logq(x)
        m = max(a, b)
        if not np.isfinite(m):
            return 0.0
        pa, pb = np.exp(a - m), np.exp(b - m)
        return 0.5 * np.exp(m) * (pa - pb) ** 2 / (pa + pb)

    return float(quad(integrand, lo, hi, limit=200)[0])


def advantage_from_llr_samples(llr_p, llr_q, soft: bool = False) -> float:
    """Monte Carlo advantage of the LLR test (member iff LLR > 0) or of the soft LLR test.

    Args:
        llr_p: float [n] log p(x) − log q(x) at draws x ~ P; llr_q: float [m], the same at draws x ~ Q.
        soft: False for the hard test (estimates TV), True for the sLLR test (guess P with prob. sigmoid(LLR)).
    Returns:
        TPR − FPR.

    Used in chapter 4.
    """
    llr_p, llr_q = np.asarray(llr_p, dtype=np.float64), np.asarray(llr_q, dtype=np.float64)
    if soft:
        return float(expit(llr_p).mean() - expit(llr_q).mean())
    return float((llr_p > 0).mean() - (llr_q > 0).mean())


def per_example_advantage(guess, is_member) -> tuple[np.ndarray, np.ndarray]:
    """Per-example advantage TPR − FPR of a fixed test, with a standard error, over models.

    With ``guess = correct`` (the model classifies the example correctly), this is exactly Feldman–Zhang
    memorization: the advantage of Theorem 2's adversary.

    Args:
        guess: bool [M, N], the test says "member" for (model m, example n).
        is_member: bool [M, N], the truth (the keep matrix of those models).
    Returns:
        (adv [N], se [N]); adv = P[guess | member] − P[guess | non-member] (NaN where an example has no member or
        no non-member among the models); se from the Agresti–Caffo adjusted proportions (one success and one
        failure added per side), so it is never 0.

    Used in chapter 4.
    """
    g, m = np.asarray(guess, dtype=bool), np.asarray(is_member, dtype=bool)
    if g.shape != m.shape:
        raise ValueError(f"guess {g.shape} and is_member {m.shape} must have the same [M, N] shape")
    n_in, n_out = m.sum(0), (~m).sum(0)
    hit_in, hit_out = (g & m).sum(0), (g & ~m).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        adv = hit_in / n_in - hit_out / n_out
    p_in, p_out = (hit_in + 1) / (n_in + 2), (hit_out + 1) / (n_out + 2)
    se = np.sqrt(p_in * (1 - p_in) / (n_in + 2) + p_out * (1 - p_out) / (n_out + 2))
    return adv, se


# ----------------------------------------------------------------------------------------------------------------
# Per-example Gaussian fits from a pool


def fit_gaussians(phi, keep, shadow_ids=None, ddof: int = 1) -> dict:
    """Per-example IN and OUT Gaussians of a scalar statistic over a set of models.

    Args:
        phi: float [K, N] (or [K, N, A]: the query views are averaged first).
        keep: bool [K, N] membership. shadow_ids: the models to use (default all).
        ddof: delta degrees of freedom of the variances (1: unbiased).
    Returns:
        dict of float [N]: ``mean_in``, ``var_in``, ``mean_out``, ``var_out``, ``n_in``, ``n_out``; means and
        variances are NaN where fewer than ddof + 1 models are on that side.

    Used in chapters 4, 5.
    """
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim == 3:
        phi = phi.mean(-1)
    keep = np.asarray(keep, dtype=bool)
    if shadow_ids is not None:
        phi, keep = phi[np.asarray(shadow_ids)], keep[np.asarray(shadow_ids)]
    out = {}
    for side, w in (("in", keep), ("out", ~keep)):
        w = w.astype(np.float64)
        n = w.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (w * phi).sum(0) / n
            var = (w * (phi - mean) ** 2).sum(0) / (n - ddof)
        bad = n <= ddof
        mean[bad], var[bad] = np.nan, np.nan
        out[f"mean_{side}"], out[f"var_{side}"], out[f"n_{side}"] = mean, var, n
    return out


def fit_mvn(phi, keep, shadow_ids=None, ridge: float = 1e-6) -> dict:
    """Per-example IN and OUT multivariate normals of the A query views' statistics.

    Args:
        phi: float [K, N, A]. keep: bool [K, N]. shadow_ids: the models to use (default all).
        ridge: added to each covariance's diagonal, relative to its mean variance (views are strongly correlated,
            so the sample covariance can be near-singular).
    Returns:
        dict with ``mean_in``, ``mean_out`` float [N, A] and ``cov_in``, ``cov_out`` float [N, A, A] (ddof = 1).

    Used in chapter 4.
    """
    phi = np.asarray(phi, dtype=np.float64)
    keep = np.asarray(keep, dtype=bool)
    if shadow_ids is not None:
        phi, keep = phi[np.asarray(shadow_ids)], keep[np.asarray(shadow_ids)]
    a = phi.shape[-1]
    out = {}
    for side, w in (("in", keep), ("out", ~keep)):
        w = w.astype(np.float64)[..., None]
        n = w.sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (w * phi).sum(0) / n
            d = (phi - mean) * np.sqrt(w)
            cov = np.einsum("kni,knj->nij", d, d) / (n[..., None] - 1)
        scale = np.trace(cov, axis1=-2, axis2=-1) / a
        cov = cov + (ridge * np.maximum(scale, _MIN_VAR))[:, None, None] * np.eye(a)
        out[f"mean_{side}"], out[f"cov_{side}"] = mean, cov
    return out


# ----------------------------------------------------------------------------------------------------------------
# Sample complexity


def sample_complexity(h2, delta: float = 1 / 3) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on the number n of i.i.d. observations the optimal test needs to tell P from Q with error ≤ δ.

    With BC = 1 − H², the optimal error from n observations (equal priors) is (1 − TV(Pⁿ, Qⁿ))/2 and
    BC(Pⁿ, Qⁿ) = BCⁿ. From (1 − √(1 − BC²ⁿ))/2 ≤ error ≤ BCⁿ/2:

    * necessary:  n ≥ log(1 / (4δ(1 − δ))) / (2 log(1/BC));
    * sufficient: n ≥ log(1 / (2δ)) / log(1/BC).

    Both are Θ(log(1/δ) / H²) (Lemma 2).

    Args:
        h2: float array of H² (½-convention), in (0, 1]. delta: target error probability in (0, ½).
    Returns:
        (n_lower, n_upper), float arrays (not rounded); inf where H² = 0.

    Used in chapter 4.
    """
    if not 0 < delta < 0.5:
        raise ValueError(f"delta must be in (0, 0.5), got {delta}")
    h2 = np.clip(np.asarray(h2, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        rate = -np.log1p(-h2)  # log(1/BC), = H² + O(H⁴)
        lower = np.log(1 / (4 * delta * (1 - delta))) / (2 * rate)
        upper = np.log(1 / (2 * delta)) / rate
    return lower, upper


def shadow_models_bound(mem) -> np.ndarray:
    """Corollary 1's bound 2 / mem² on 1/H² (inf where mem ≤ 0).

    mem is the TV between the two Bernoulli distributions of the correctness bit, so H² ≥ H²_bernoulli ≥ mem²/2
    (data processing, then TV ≤ √2·H): the Θ(1/H²) count of Lemma 2 is at most of order 2/mem².

    Used in chapters 4, 5.
    """
    mem = np.asarray(mem, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(mem > 0, 2 / np.square(mem), np.inf)


# ----------------------------------------------------------------------------------------------------------------
# What (ε, δ)-DP promises about membership inference: the limits on any attack drawn in the DP chapter


def yeom_accuracy_bound(eps) -> np.ndarray:
    """Yeom et al.'s bound on a balanced-prior attacker's accuracy under ε-DP: min(1, e^ε / 2) (advantage ≤ e^ε − 1).

    It promises nothing (reaches 1) from ε = ln 2 on.

    Used in chapter 6.
    """
    return np.minimum(1.0, np.exp(np.asarray(eps, dtype=np.float64)) / 2)


def accuracy_bound(eps, delta: float = 0.0) -> np.ndarray:
    """The tight bound on a balanced-prior attacker's accuracy under (ε, δ)-DP, from the hypothesis-testing region:
    (1 + max(TPR − FPR)) / 2 with max(TPR − FPR) = (e^ε − 1)(1 − δ)/(e^ε + 1) + δ; e^ε/(1 + e^ε) when δ = 0.

    Used in chapter 6.
    """
    e = np.exp(np.asarray(eps, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        adv = np.where(np.isinf(e), 1.0, (e - 1) * (1 - delta) / (e + 1) + delta)
    return (1 + np.minimum(adv, 1.0)) / 2


def tpr_bound(fpr, eps: float, delta: float = 0.0) -> np.ndarray:
    """Largest TPR any attack can have at false-positive rate ``fpr`` against an (ε, δ)-DP mechanism.

    The region is TPR ≤ e^ε FPR + δ and 1 − FPR ≤ e^ε (1 − TPR) + δ (Kairouz et al.), i.e.
    TPR ≤ min(1, e^ε FPR + δ, 1 − e^{−ε}(1 − δ − FPR)). Args: fpr array [P] in [0, 1]. Returns: [P].

    Used in chapter 6.
    """
    f = np.asarray(fpr, dtype=np.float64)
    if math.isinf(eps):
        return np.ones_like(f)
    e = math.exp(eps)
    return np.clip(np.minimum(e * f + delta, 1 - (1 - delta - f) / e), 0.0, 1.0)


def posterior_bound(prior, eps: float, kind: str = "bayes") -> np.ndarray:
    """Largest posterior belief in membership after seeing an ε-DP output, for prior ``prior`` [P].

    ``kind="bayes"``: the likelihood ratio is at most e^ε, so posterior ≤ e^ε p / (e^ε p + 1 − p).
    ``kind="pmp"``: Li et al.'s positive membership privacy with γ = e^ε (DP ⇔ PMP under mutually independent
    priors): posterior ≤ min(γ p, 1 − (1 − p)/γ), the bound on Ninghui Li's slides.

    Used in chapter 6.
    """
    p = np.asarray(prior, dtype=np.float64)
    g = math.exp(eps)
    if kind == "bayes":
        return g * p / (g * p + 1 - p)
    if kind == "pmp":
        return np.minimum(g * p, 1 - (1 - p) / g)
    raise ValueError(f"kind must be 'bayes' or 'pmp', got {kind!r}")
