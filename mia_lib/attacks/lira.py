"""LiRA, the likelihood-ratio attack of Carlini et al. (2022), scored from a cached pool.

Per example n and query view a, the shadow models' logit-scaled confidences φ are modelled as Gaussians:
N(μ_in, σ_in²) over models that trained on n, N(μ_out, σ_out²) over models that did not. For a target model t:

* **online**: score = mean_a [log N(φ_t; μ_in, σ_in²) − log N(φ_t; μ_out, σ_out²)]
* **offline, one-sided** (the paper's test Λ = Pr[Z ≤ φ_t], Z ~ N(μ_out, σ_out²)): per view the one-sided
  p-value is p_a = Pr[Z > φ_t] = 1 − Φ((φ_t − μ_out) / σ_out); views are combined as in Fisher's method,
  score = −mean_a log p_a. (Averaging log Φ instead would saturate at 0 for every confident member and lose the
  low-FPR region.)
* **offline, two-sided** (Carlini et al.'s code): score = −mean_a log N(φ_t; μ_out, σ_out²)

With **fixed variance**, the per-example variances are replaced by global ones, one per (target, view): σ_in² is the
mean over examples of the per-example IN variances and σ_out² that of the OUT variances, i.e. the residual variance
around each example's own mean, kept **separately** for IN and OUT as TF Privacy's ``compute_score_lira`` does
(online uses both, offline σ_out² only). Carlini et al.'s plotting code uses one spread, that of the IN values, for
both sides; with σ_in ≠ σ_out (members' φ is tighter) the two give different scores. Means are averages (the
reference code uses medians).
Averages let us use sum-minus-self statistics, which is what keeps this O(K·N) instead of O(K²·N).

Protocol: a target's statistics never include the target itself. Statistics are summed over the shadow models
once; for each target that is also a shadow model its own contribution is subtracted (leave-one-model-out).
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_ndtr

VARIANTS = ("online", "online_fixed", "offline", "offline_fixed", "offline_two_sided", "offline_two_sided_fixed")
_LOG_2PI = np.log(2 * np.pi)
_MIN_VAR = 1e-12


def _ids(ids, k: int) -> np.ndarray:
    return np.arange(k) if ids is None else np.asarray(ids, dtype=np.int64).ravel()


def _log_normal(x, mean, var):
    return -0.5 * (_LOG_2PI + np.log(var) + (x - mean) ** 2 / var)


def loo_moments(phi: np.ndarray, keep: np.ndarray, target_ids=None, shadow_ids=None) -> dict:
    """Leave-target-out IN/OUT means, variances and counts of φ for every (target, example, view).

    Args:
        phi: float [K, N, A] logit-scaled confidences of all pool models.
        keep: bool [K, N] membership matrix.
        target_ids: models to attack (default: all K). shadow_ids: models whose outputs form the statistics
            (default: all K); a target that is also a shadow is left out of its own statistics.
    Returns:
        dict with ``x`` [T,N,A] (the targets' centred φ), ``mean_in``, ``var_in``, ``mean_out``, ``var_out``
        [T,N,A] (var with ddof=0), ``n_in``, ``n_out`` [T,N,1] shadow counts.
    """
    phi = np.asarray(phi, dtype=np.float64)
    if phi.ndim == 2:
        phi = phi[..., None]
    keep = np.asarray(keep, dtype=bool)
    k = phi.shape[0]
    if keep.shape != phi.shape[:2]:
        raise ValueError(f"keep {keep.shape} does not match phi {phi.shape[:2]} (models × examples)")
    targets, shadows = _ids(target_ids, k), _ids(shadow_ids, k)
    shadow = np.zeros(k, dtype=bool)
    shadow[shadows] = True
    centre = phi[shadows].mean(0)  # centring keeps the sum-of-squares trick numerically exact enough
    d = phi - centre
    w_in = (keep & shadow[:, None]).astype(np.float64)[..., None]
    w_out = (~keep & shadow[:, None]).astype(np.float64)[..., None]
    x = d[targets]
    own_in, own_out = w_in[targets], w_out[targets]
    out = {"x": x}
    for side, w, own in (("in", w_in, own_in), ("out", w_out, own_out)):
        n = w.sum(0) - own
        s1 = (w * d).sum(0) - own * x
        s2 = (w * d * d).sum(0) - own * x * x
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = s1 / n
            var = np.maximum(s2 / n - mean * mean, _MIN_VAR)
        out[f"mean_{side}"], out[f"var_{side}"], out[f"n_{side}"] = mean, var, n
    return out


def _check_counts(m: dict, online: bool) -> None:
    need = (("in", "IN"), ("out", "OUT")) if online else (("out", "OUT"),)
    for side, name in need:
        least = int(m[f"n_{side}"].min())
        if least < 2:
            raise ValueError(
                f"LiRA {'online' if online else 'offline'} needs at least 2 {name} shadow models per example after "
                f"leaving the target out, but some example has {least}; use more shadow models (n_shadow ≥ 6 for "
                f"leave-one-out on a balanced pool) or other shadow_ids."
            )


#: Online LiRA needs 2 IN and 2 OUT shadow models per example after leaving the target out: on a balanced pool
#: (each example IN for K/2 models) that is K/2 − 1 ≥ 2.
MIN_SHADOW_ONLINE = 6


def check_n_shadow(n_shadow: int, online: bool = True) -> None:
    """Fail early, before any training, when a pool of ``n_shadow`` models is too small for leave-one-out LiRA.

    Raises:
        ValueError: naming the smallest pool that works. Chapters 1, 3, 6, 7 (setup cells).
    """
    least = MIN_SHADOW_ONLINE if online else 4
    if n_shadow < least:
        raise ValueError(
            f"n_shadow = {n_shadow} is too small: {'online' if online else 'offline'} LiRA with the target left out "
            f"needs at least 2 IN and 2 OUT shadow models per example, i.e. n_shadow ≥ {least} on a balanced pool; "
            f"run with -p n_shadow {least} or more"
        )


def lira_scores(
    phi: np.ndarray, keep: np.ndarray, target_ids=None, shadow_ids=None, variants=VARIANTS
) -> dict[str, np.ndarray]:
    """Scores of several LiRA variants at once (the moments are computed once).

    Args:
        phi: float [K, N, A]; keep: bool [K, N]; target_ids / shadow_ids: as in :func:`loo_moments`.
        variants: names from :data:`VARIANTS`.
    Returns:
        {variant: float64 scores [T, N]}, higher = member. Members are ``keep[target_ids]``.

    Used in chapters 1, 6, 7.
    """
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"Unknown LiRA variant(s) {sorted(unknown)}; choose from {VARIANTS}.")
    m = loo_moments(phi, keep, target_ids, shadow_ids)
    _check_counts(m, online=any(v.startswith("online") for v in variants))
    x = m["x"]
    fixed_in, fixed_out = m["var_in"].mean(1, keepdims=True), m["var_out"].mean(1, keepdims=True)
    out = {}
    for v in variants:
        if v == "online":
            s = _log_normal(x, m["mean_in"], m["var_in"]) - _log_normal(x, m["mean_out"], m["var_out"])
        elif v == "online_fixed":
            s = _log_normal(x, m["mean_in"], fixed_in) - _log_normal(x, m["mean_out"], fixed_out)
        elif v in ("offline", "offline_fixed"):
            var = m["var_out"] if v == "offline" else fixed_out
            s = -log_ndtr(-(x - m["mean_out"]) / np.sqrt(var))  # −log Pr[Z > φ], stable in the far tail
        else:
            var = m["var_out"] if v == "offline_two_sided" else fixed_out
            s = -_log_normal(x, m["mean_out"], var)
        out[v] = s.mean(-1)
    return out


def lira(
    phi: np.ndarray,
    keep: np.ndarray,
    target_ids=None,
    shadow_ids=None,
    online: bool = True,
    fixed_variance: bool = False,
    two_sided: bool = False,
) -> np.ndarray:
    """One LiRA variant's scores [T, N] (higher = member); see the module docstring for the formulas.

    Used in chapter 1.
    """
    name = "online" if online else ("offline_two_sided" if two_sided else "offline")
    return lira_scores(phi, keep, target_ids, shadow_ids, [name + ("_fixed" if fixed_variance else "")])[
        name + ("_fixed" if fixed_variance else "")
    ]
