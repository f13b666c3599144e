"""RMIA, the relative membership inference attack of Zarifzadeh et al. (2024), scored from a cached pool.

Signal: p(x|θ), the target model's softmax probability of the true label (temperature 1), per query view.

* Pr(x), the probability of x under models drawn from the training algorithm, is estimated from shadow models
  (leave-target-out): **offline** Pr(x) = ½[(1 + a)·mean_OUT p(x|θ') + (1 − a)], which approximates the missing IN
  models by P_IN ≈ a·P_OUT + (1 − a) (Privacy Meter's ``run_rmia``; 0 ≤ a ≤ 1); **online** Pr(x) = ½(mean_IN +
  mean_OUT).
* LR(x, z) = [p(x|θ)/Pr(x)] / [p(z|θ)/Pr(z)] compares x with population examples z.
* Score(x) = Pr_z[LR(x, z) ≥ γ] (the paper's definition, γ ≥ 1), averaged over query views (a soft version of the
  paper code's majority vote across augmentations).

Population z: by default, for each target, the examples that are OUT for that target (known non-members of the
target's training set, as the paper's population data are); ``population_ids`` fixes one set of examples for all
targets instead, and ``n_population`` subsamples it.
"""

from __future__ import annotations

import numpy as np

from .. import metrics, signals


def true_class_prob(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """p(y|x) = softmax probability of the true label, float64, shape = leading shape of ``logits`` ([K, N, A])."""
    return np.exp(-signals.loss(logits, y))


def _loo_mean(p: np.ndarray, w: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of p [K,N,A] over the rows with weight w [K,N,1], leaving each target's own row out → ([T,N,A], [T,N,1])."""
    own = w[targets]
    n = w.sum(0) - own
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((w * p).sum(0) - own * p[targets]) / n, n


def rmia(
    logits: np.ndarray,
    keep: np.ndarray,
    y: np.ndarray,
    target_ids=None,
    shadow_ids=None,
    a: float = 0.3,
    gamma: float = 2.0,
    online: bool = False,
    population_ids=None,
    n_population: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """RMIA scores of target models.

    Args:
        logits: float [K, N, A, C] (or [K, N, C]). keep: bool [K, N]. y: int [N].
        target_ids: models to attack (default: all). shadow_ids: models whose outputs estimate Pr(x) (default:
            all); a target is never among its own shadows.
        a: offline mixing coefficient (ignored online). gamma: likelihood-ratio threshold γ ≥ 1.
        online: use IN and OUT shadow models for Pr(x).
        population_ids: example indices of the population z (default: each target's OUT examples).
        n_population: draw at most this many z per target (seeded by ``seed``).
    Returns:
        scores float64 [T, N] in [0, 1], higher = member.
    Raises:
        ValueError: bad a or γ, or an example without the OUT (offline) or IN and OUT (online) shadows it needs.
    """
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"a must lie in [0, 1], got {a}")
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    z = np.asarray(logits)
    p = true_class_prob(z if z.ndim == 4 else z[:, :, None], y)
    keep = np.asarray(keep, dtype=bool)
    k, n = keep.shape
    targets = np.arange(k) if target_ids is None else np.asarray(target_ids, dtype=np.int64).ravel()
    shadow = np.zeros(k, dtype=bool)
    shadow[np.arange(k) if shadow_ids is None else np.asarray(shadow_ids, dtype=np.int64).ravel()] = True
    mean_out, n_out = _loo_mean(p, (~keep & shadow[:, None])[..., None].astype(np.float64), targets)
    need = [("OUT", n_out)]
    if online:
        mean_in, n_in = _loo_mean(p, (keep & shadow[:, None])[..., None].astype(np.float64), targets)
        need.append(("IN", n_in))
    for name, count in need:
        if count.min() < 1:
            raise ValueError(
                f"RMIA {'online' if online else 'offline'} needs at least 1 {name} shadow model per "
                f"example after leaving the target out; some example has none (use more shadow models)."
            )
    prior = 0.5 * (mean_in + mean_out) if online else 0.5 * ((1 + a) * mean_out + (1 - a))
    ratio = p[targets] / np.maximum(prior, 1e-300)
    rng = np.random.default_rng(seed)
    out = np.empty((targets.size, n))
    for i, t in enumerate(targets):
        pop = np.flatnonzero(~keep[t]) if population_ids is None else np.asarray(population_ids).ravel()
        if n_population is not None and pop.size > n_population:
            pop = rng.choice(pop, n_population, replace=False)
        if pop.size == 0:
            raise ValueError("the RMIA population is empty")
        ref = np.sort(ratio[i, pop], axis=0)  # [Z, A]
        frac = [np.searchsorted(ref[:, v], ratio[i, :, v] / gamma, side="right") for v in range(ref.shape[1])]
        out[i] = np.mean(frac, axis=0) / pop.size
    return out


def tune_offline_a(
    logits: np.ndarray,
    keep: np.ndarray,
    y: np.ndarray,
    reference_id: int,
    shadow_ids=None,
    grid=tuple(np.round(np.linspace(0, 1, 11), 2)),
    gamma: float = 2.0,
    **kw,
) -> tuple[float, dict]:
    """Choose the offline ``a`` by attacking one reference model with the others (Privacy Meter's grid search).

    Args:
        logits, keep, y: as in :func:`rmia`. reference_id: the model attacked while tuning (use a model that is
            not a target). shadow_ids: models available to the attacker. grid: candidate values of a.
        gamma, kw: passed to :func:`rmia`.
    Returns:
        (best a, {a: AUROC on the reference model}).
    """
    aucs = {}
    for a in grid:
        s = rmia(logits, keep, y, target_ids=[reference_id], shadow_ids=shadow_ids, a=float(a), gamma=gamma, **kw)
        aucs[float(a)] = metrics.auroc(s, np.asarray(keep)[[reference_id]])
    return max(aucs, key=aucs.get), aucs
