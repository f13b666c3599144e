"""Stolen Memories (Leino & Fredrikson, USENIX Security 2020): the white-box attack that compares a model's
(local linear) weights with a proxy's, from the Bayes-optimal linear attack to the layer-wise meta attack.

**Idea.** A model that overfits uses features *idiosyncratically*: a feature that happens to be more common in
the training set than in the population (sunglasses on photos of one celebrity) gets weight for that class. A
white-box attacker who compares the target's weights with those of a *proxy* model, trained on data from the
population, sees which features the target uses differently, and an example that carries those features is
evidence of membership.

**Bayes-optimal attack on a linear model** (:func:`bayes_membership_llr`, :func:`gaussian_linear_model`,
:func:`linear_attack`). Let the population be Gaussian naive Bayes, x | y ~ N(μ*_y, diag σ²), and model the
training set S as N(μ̂_y, diag σ²) with its empirical class means μ̂_y. The Bayes-optimal membership test
compares the two densities:

    log Pr_S[x | y] − log Pr_pop[x | y] = Σ_j [x_j (μ̂_yj − μ*_yj) − ½ (μ̂_yj² − μ*_yj²)] / σ_j².

The Bayes-optimal linear classifier for Gaussian naive-Bayes data has weights w_yj = μ_yj / σ_j² (and bias
b_y = −½ Σ_j σ_j² w_yj² + log π_y), so the same test written with the *weights alone* is

    s(x, y) = Σ_j x_j (ŵ_yj − w*_yj) − ½ Σ_j σ_j² (ŵ_yj² − w*_yj²),

with ŵ the target's weights and w* the population's. The attacker replaces w* by a proxy trained on its
auxiliary data and σ² by the pooled within-class variance of that data. A feature j contributes
x_j (ŵ_yj − w̃_yj): used more by the target than by the proxy, and present in x, it is evidence *for* membership.

**Deep models, layer by layer** (:func:`stolen_memories`). Slice f = g ∘ h after each layer (``h`` computes
features a = h(x), ``g`` classifies them). Target and proxy must share the same h, so the proxy for a slice is
the target's own h with a fresh g trained on auxiliary data (for the input slice, h is the identity and the proxy
is a whole model). Around each example, g is replaced by its local linear approximation: the weights are the
gradient of the class-y logit with respect to a (logits centred over classes first, because a softmax model's
weights are only defined up to a vector shared by all classes). The linear attack then gives, per layer, the
linear term Σ_j a_j (ŵ_j − w̃_j), the quadratic term ½ Σ_j σ_j² (ŵ_j² − w̃_j²) and the difference of the local
offsets (the biases of the local linear models). A scikit-learn logistic regression (the *meta attack model*)
combines these per-layer terms; it is fitted on *practice* models: shadow models whose membership the attacker
knows, attacked exactly like the target.

Where the paper had to be interpreted (the notebook states these too):

* the training-set Gaussian shares the population's variance (a linear model's weights carry μ/σ² only, so a
  variance that differs between S and the population is invisible to a weights-only attack);
* softmax weights are centred over classes (the gauge a softmax model leaves free);
* the attacker splits its auxiliary data into two halves A and B and trains one proxy on each; an example is
  always compared with the proxy that did *not* train on it, so the proxy stands for the population;
* the meta model is fitted, and the precision threshold calibrated, on practice (shadow) models that share the
  target's architecture and recipe.

Calibrating the scores for precision (:func:`mia_lib.metrics.calibrate_threshold`,
:func:`mia_lib.metrics.calibrated_precision`) lives in :mod:`mia_lib.metrics`; activation signals in
:mod:`mia_lib.attacks.activations`, the gradient norm in :mod:`mia_lib.attacks.gradnorm`.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from .. import models, train
from ..pool import recipe

TERMS = ("linear", "quadratic", "offset")
_PROXY_TAG = 0x70726F78  # "prox": keeps the proxies' random streams apart from the pool's


# ---------------------------------------------------------------------------------------------------------------
# Linear models on Gaussian naive-Bayes data
# ---------------------------------------------------------------------------------------------------------------


def pooled_variance(A, y, n_classes: int) -> np.ndarray:
    """Within-class variance of each feature, pooled over classes (ddof = 0).

    Args:
        A: float [N, d] features; y: int [N] labels in ``range(n_classes)``.
    Returns:
        var float64 [d] = mean over examples of (a_nj − mean of a_j within class y_n)².
    """
    A = np.asarray(A, dtype=np.float64)
    y = np.asarray(y)
    means = np.zeros((n_classes, A.shape[1]))
    for c in np.unique(y):
        means[c] = A[y == c].mean(0)
    return ((A - means[y]) ** 2).mean(0)


def gaussian_linear_model(X, y, n_classes: int, var=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Bayes-optimal linear classifier for Gaussian naive-Bayes data with a shared per-feature variance.

    Args:
        X: float [N, d] training inputs; y: int [N] labels; n_classes: C (every class must occur).
        var: float [d] shared variance σ² (default: :func:`pooled_variance` of the training data).
    Returns:
        (W float64 [C, d], b float64 [C], var [d]) with W_c = μ_c / σ² and b_c = −½ Σ_j μ_cj² / σ_j² + log π_c,
        μ_c the class means and π_c the class frequencies of the training data.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    counts = np.bincount(y, minlength=n_classes)
    if (counts == 0).any():
        raise ValueError(f"every class needs at least one training example; counts per class: {counts.tolist()}")
    mu = np.stack([X[y == c].mean(0) for c in range(n_classes)])
    var = pooled_variance(X, y, n_classes) if var is None else np.asarray(var, dtype=np.float64)
    W = mu / var
    b = -0.5 * (mu**2 / var).sum(1) + np.log(counts / counts.sum())
    return W, b, var


def bayes_membership_llr(X, y, mu_train, mu_pop, var) -> np.ndarray:
    """Closed-form Bayes-optimal membership test: log N(x; μ̂_y, σ²) − log N(x; μ*_y, σ²) (naive Bayes).

    Args:
        X: float [N, d]; y: int [N]; mu_train: [C, d] training-set class means μ̂; mu_pop: [C, d] population
        class means μ*; var: [d] shared variance σ².
    Returns:
        float64 [N] log-likelihood ratios (higher = member).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    mt, mp = np.asarray(mu_train)[y], np.asarray(mu_pop)[y]
    return (((X - mp) ** 2 - (X - mt) ** 2) / (2 * np.asarray(var))).sum(1)


def linear_attack_terms(A, w_target, w_proxy, var) -> tuple[np.ndarray, np.ndarray]:
    """The two terms of the weights-only Bayes-optimal attack, per example.

    Args:
        A: float [N, d] features of each example; w_target, w_proxy: [N, d] the weight row each model uses for
            the example's class (for a linear model ``W[y]``; for a deep model the local linear weights);
        var: [d] per-feature variance σ² (or [N, d]).
    Returns:
        (linear [N] = Σ_j a_j (ŵ_j − w̃_j), quadratic [N] = ½ Σ_j σ_j² (ŵ_j² − w̃_j²)), float64.
    """
    A, wt, wp = (np.asarray(v, dtype=np.float64) for v in (A, w_target, w_proxy))
    var = np.asarray(var, dtype=np.float64)
    return (A * (wt - wp)).sum(-1), 0.5 * (var * (wt**2 - wp**2)).sum(-1)


def linear_attack(X, y, W_target, W_proxy, var) -> np.ndarray:
    """Leino & Fredrikson's Bayes-optimal membership attack on a linear model, from the weights alone.

    Args:
        X: float [N, d] examples; y: int [N] labels; W_target, W_proxy: [C, d] weights of the target and of a
            proxy trained on auxiliary (population) data; var: [d] per-feature variance of the population.
    Returns:
        scores float64 [N] = Σ_j x_j (ŵ_yj − w̃_yj) − ½ Σ_j σ_j² (ŵ_yj² − w̃_yj²); higher = member. Equals
        :func:`bayes_membership_llr` when both models are :func:`gaussian_linear_model` fits with variance σ².
    """
    y = np.asarray(y)
    lin, quad = linear_attack_terms(X, np.asarray(W_target)[y], np.asarray(W_proxy)[y], var)
    return lin - quad


def gaussian_membership_demo(
    d: int = 50, n_classes: int = 10, n_per_class: int = 20, n_aux: int = 20000, spread: float = 0.5, seed: int = 0
) -> dict:
    """The linear attack on synthetic Gaussian naive-Bayes data, next to the closed-form Bayes-optimal test.

    The population is x | y ~ N(μ*_y, diag σ²) with random μ*, σ. The target is the Bayes-optimal linear model
    (:func:`gaussian_linear_model` with the population's σ²) of a training set of ``n_per_class`` examples per
    class; the proxy is the same kind of model fitted on ``n_aux`` auxiliary examples (with their own pooled
    variance, which the attacker also uses). Queries: the training set (members) and as many fresh examples.

    Returns:
        dict with ``X`` [2M, d], ``y`` [2M], ``is_member`` bool [2M], ``closed_form`` [2M]
        (:func:`bayes_membership_llr` with the true μ*, σ² and the training means), ``scores`` [2M]
        (:func:`linear_attack` from the two models' weights), ``W_target``, ``W_proxy`` [C, d], ``var`` [d].

    Used in chapter 7.
    """
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(n_classes, d)) * spread
    sd = np.exp(rng.normal(size=d) * 0.3)

    def sample(m):
        y = np.repeat(np.arange(n_classes), m // n_classes)
        return mu[y] + rng.normal(size=(y.size, d)) * sd, y

    xs, ys = sample(n_per_class * n_classes)
    xo, yo = sample(n_per_class * n_classes)
    xa, ya = sample(n_aux)
    W_t, _, _ = gaussian_linear_model(xs, ys, n_classes, var=sd**2)
    W_p, _, var = gaussian_linear_model(xa, ya, n_classes)
    X, y = np.concatenate([xs, xo]), np.concatenate([ys, yo])
    mu_train = np.stack([xs[ys == c].mean(0) for c in range(n_classes)])
    return {
        "X": X,
        "y": y,
        "is_member": np.r_[np.ones(ys.size, bool), np.zeros(yo.size, bool)],
        "closed_form": bayes_membership_llr(X, y, mu_train, mu, sd**2),
        "scores": linear_attack(X, y, W_t, W_p, var),
        "W_target": W_t,
        "W_proxy": W_p,
        "var": var,
    }


# ---------------------------------------------------------------------------------------------------------------
# Slicing deep models: f = g ∘ h
# ---------------------------------------------------------------------------------------------------------------


def layer_names(model: nn.Module) -> list[str]:
    """Names of the slices :func:`split` supports for ``model``: ``input`` and one per hidden block.

    MLP: ``["input", "hidden"]``; SmallCNN (``cnn32``/``cnn64``): ``["input", "block1", "block2", "block3"]``.
    """
    if isinstance(model, models.MLP):
        return ["input", "hidden"]
    if isinstance(model, models.SmallCNN):
        return ["input"] + [f"block{i + 1}" for i in range(len(_cnn_block_ends(model)))]
    raise ValueError(f"Stolen Memories slicing supports the mlp and cnn32/cnn64 models, not {type(model).__name__}")


def _cnn_block_ends(model: models.SmallCNN) -> list[int]:
    layers = list(model.features)
    ends = []
    for i, m in enumerate(layers):
        if isinstance(m, nn.ReLU):
            nxt = i + 1
            if nxt < len(layers) and isinstance(layers[nxt], nn.MaxPool2d):
                nxt += 1
            ends.append(nxt)
    return ends


def split(model: nn.Module, layer: int) -> tuple[nn.Module, nn.Module]:
    """Slice ``model`` = g ∘ h after slice ``layer`` (an index into :func:`layer_names`).

    Returns:
        (h, g): modules that share their parameters with ``model``; ``g(h(x)) == model(x)``. Slice 0 is the input
        (h = identity, g = the whole model).
    """
    names = layer_names(model)
    if not 0 <= layer < len(names):
        raise ValueError(f"layer must lie in [0, {len(names)}) for {type(model).__name__}, got {layer}")
    if layer == 0:
        return nn.Identity(), model
    if isinstance(model, models.MLP):
        return nn.Sequential(nn.Flatten(1), model.fc1, nn.ReLU()), model.fc2
    end = _cnn_block_ends(model)[layer - 1]
    feats = list(model.features)
    return nn.Sequential(*feats[:end]), nn.Sequential(*feats[end:], nn.Flatten(1), model.head)


def local_linear(g: nn.Module, A: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> tuple[np.ndarray, ...]:
    """Local linear approximation of g's class-y logit around each feature vector (logits centred over classes).

    Args:
        g: the classifying part of a slice (eval mode, no cross-example coupling). A: float [N, ...] features
            h(x); y: int64 [N] labels. batch_size: examples per backward pass.
    Returns:
        (w float64 [N, d], offset float64 [N]) with d = prod(A.shape[1:]), w = ∇_a (z_y − mean_c z_c) at a and
        offset = (z_y − mean_c z_c)(a) − w · a, so z_y − mean_c z_c ≈ w · a' + offset near a.
    """
    ws, offs = [], []
    for i in range(0, A.shape[0], batch_size):
        a = A[i : i + batch_size].detach().clone().requires_grad_(True)
        z = g(a)
        zc = z - z.mean(1, keepdim=True)
        s = zc.gather(1, y[i : i + batch_size, None]).squeeze(1)
        (w,) = torch.autograd.grad(s.sum(), a)
        w = w.flatten(1)
        ws.append(w.double())
        offs.append((s - (w * a.detach().flatten(1)).sum(1)).double())
    return torch.cat(ws).numpy(), torch.cat(offs).detach().numpy()


# ---------------------------------------------------------------------------------------------------------------
# Proxies that share the target's h
# ---------------------------------------------------------------------------------------------------------------


def aux_halves(n: int, seed: int) -> np.ndarray:
    """The attacker's split of its auxiliary data into halves A (True) and B (False), exactly half each.

    Returns:
        bool [N]; independent of every model's membership (its own random stream, derived from ``seed``).
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, _PROXY_TAG, 0]))
    half = np.zeros(n, dtype=bool)
    half[rng.permutation(n)[: n // 2]] = True
    return half


def _proxy_seed(seed: int, model_id: int, layer: int, half: int) -> int:
    return int(np.random.SeedSequence([seed, _PROXY_TAG, model_id, layer, half]).generate_state(1)[0])


def _fresh_g(pool, layer: int, seed: int) -> nn.Module:
    fresh = train.init_states(pool.cfg.model, tuple(pool.dataset.X.shape[1:]), pool.dataset.n_classes, [seed])[0]
    return split(fresh, layer)[1]


def _train_heads(
    pool, feats: list[torch.Tensor], layer: int, heads: list[tuple[int, int, int]], half_a: np.ndarray, dev
) -> list[nn.Module]:
    """Train one fresh g per (feature set index, half, seed) on that half, all at once with the pool trainer.

    The K feature sets are stacked into one tensor [K·N, ...]; each head's batches index its own block.
    """
    n = len(half_a)
    y = pool.dataset.y
    keep = np.stack([half_a if h == 0 else ~half_a for _, h, _ in heads])
    seeds = [s for _, _, s in heads]
    schedule = train.batch_schedule(keep, seeds, pool.cfg.epochs, pool.cfg.batch_size)
    offsets = torch.tensor([f * n for f, _, _ in heads], dtype=torch.int64)[None, None, :, None]
    modules = [_fresh_g(pool, layer, s) for s in seeds]
    X_all = torch.cat(feats)
    params, buffers = train.train_vmapped(
        modules, X_all, y.repeat(len(feats)), schedule + offsets, recipe(pool.cfg), dev, progress=False
    )
    out = []
    for j, m in enumerate(modules):
        m = copy.deepcopy(m)
        m.load_state_dict({**{k: v[j].cpu() for k, v in params.items()}, **{k: v[j].cpu() for k, v in buffers.items()}})
        out.append(m.eval())
    return out


@torch.no_grad()
def _features(h: nn.Module, X: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    return torch.cat([h(X[i : i + batch_size]) for i in range(0, X.shape[0], batch_size)])


def stolen_memories_features(
    pool, model_ids, layers=None, seed: int | None = None, n_proxies: int = 1, chunk: int = 32
) -> np.ndarray:
    """Per-layer terms of the linear attack applied to each model's local linear approximations.

    For every model m in ``model_ids``, slice ``layer`` and example n: a = h_m(x_n); ŵ, ô = local linear weights
    and offset of the model's own g_m at a; w̃, õ = those of the proxy g trained, on top of the same h_m, on the
    auxiliary half that does *not* contain n (averaged over ``n_proxies`` proxies per half); σ² = pooled
    within-class variance of a over all N examples. The terms are (Σ a (ŵ − w̃), ½ Σ σ² (ŵ² − w̃²), ô − õ).

    Args:
        pool: a :class:`mia_lib.pool.ShadowPool` with ``cfg.save_params=True`` (an ``mlp`` or ``cnn32/64`` pool).
        model_ids: models to compute features for (targets and practice models alike).
        layers: slice indices (default: all of :func:`layer_names`).
        seed: seed of the auxiliary split and the proxies' initialisation (default: the pool's seed).
        n_proxies: proxies trained per auxiliary half and slice (their local weights are averaged).
        chunk: models whose hidden features are held in memory at once.
    Returns:
        float64 [M, N, L, 3] with the last axis ordered as :data:`TERMS`.
    """
    ids = np.asarray(model_ids, dtype=np.int64).ravel()
    seed = pool.cfg.seed if seed is None else seed
    n = len(pool.dataset.y)
    names = layer_names(pool.model(int(ids[0])))
    layers = list(range(len(names))) if layers is None else [int(v) for v in layers]
    half_a = aux_halves(n, seed)
    out = np.zeros((ids.size, n, len(layers), len(TERMS)))
    for li, layer in enumerate(layers):
        if layer == 0:  # h is the identity for every model, so one set of proxies serves all of them
            proxies = _slice_proxies(pool, [pool.dataset.X], [0], layer, half_a, seed, n_proxies)
            for i, m in enumerate(ids):
                out[i, :, li] = _slice_terms(pool, pool.model(int(m)), layer, pool.dataset.X, proxies, half_a)
            continue
        for start in range(0, ids.size, chunk):
            part = ids[start : start + chunk]
            nets = [pool.model(int(m)) for m in part]
            feats = [_features(split(t, layer)[0], pool.dataset.X) for t in nets]
            proxies = _slice_proxies(pool, feats, part, layer, half_a, seed, n_proxies)
            r2 = 2 * n_proxies
            for i, t in enumerate(nets):
                out[start + i, :, li] = _slice_terms(pool, t, layer, feats[i], proxies[r2 * i : r2 * (i + 1)], half_a)
    return out


def _slice_proxies(pool, feats, owners, layer, half_a, seed, r):
    """r proxies per auxiliary half for each feature set: [owner0: A×r, B×r, owner1: ...]."""
    heads = [
        (i, half, _proxy_seed(seed, int(m), layer, half * r + j))
        for i, m in enumerate(owners)
        for half in (0, 1)
        for j in range(r)
    ]
    return _train_heads(pool, feats, layer, heads, half_a, train.device(pool.cfg.device))


def _slice_terms(pool, model, layer, a, proxies, half_a) -> np.ndarray:
    """[N, 3] linear-attack terms of one model's slice against its proxies (first half: trained on A)."""
    y = pool.dataset.y
    r = len(proxies) // 2
    w_t, o_t = local_linear(split(model, layer)[1], a, y)
    fits = [local_linear(g, a, y) for g in proxies]
    w_a, o_a = (np.mean([f[j] for f in fits[:r]], 0) for j in (0, 1))
    w_b, o_b = (np.mean([f[j] for f in fits[r:]], 0) for j in (0, 1))
    # an example in half A is compared with the proxies trained on half B, and vice versa
    w_p = np.where(half_a[:, None], w_b, w_a)
    o_p = np.where(half_a, o_b, o_a)
    a_flat = a.flatten(1).double().numpy()
    var = pooled_variance(a_flat, y.numpy(), pool.dataset.n_classes)
    lin, quad = linear_attack_terms(a_flat, w_t, w_p, var)
    return np.stack([lin, quad, o_t - o_p], axis=-1)


def layer_scores(features: np.ndarray) -> np.ndarray:
    """Each layer's own linear attack, unfitted: linear − quadratic term.

    Args:
        features: [M, N, L, 3] from :func:`stolen_memories_features`.
    Returns:
        float64 [M, N, L] Bayes-form scores (higher = member).
    """
    return features[..., 0] - features[..., 1]


def fit_meta(features: np.ndarray, is_member: np.ndarray, C: float = 1.0):
    """Fit the meta attack model (standardise → logistic regression) on practice models' per-layer terms.

    Args:
        features: [P, N, L, 3] practice models' terms; is_member: bool [P, N] their membership.
        C: inverse L2 strength of the logistic regression.
    Returns:
        a fitted scikit-learn pipeline; ``meta_scores(meta, features)`` applies it.
    """
    f = np.asarray(features).reshape(-1, math.prod(features.shape[2:]))
    m = np.asarray(is_member, dtype=bool).ravel()
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)).fit(f, m)


def meta_scores(meta, features: np.ndarray) -> np.ndarray:
    """Scores [M, N] (the meta model's log-odds of membership, higher = member) for features [M, N, L, 3]."""
    m, n = features.shape[:2]
    return meta.decision_function(features.reshape(m * n, -1)).reshape(m, n)


def stolen_memories(pool, target_ids, practice_ids, layers=None, seed: int | None = None, n_proxies: int = 1) -> dict:
    """The full white-box attack: per-layer linear attacks on local linear approximations + a meta model.

    Args:
        pool: a ShadowPool with saved parameters. target_ids: models to attack. practice_ids: shadow models whose
            membership the attacker knows (disjoint from the targets); the meta model is fitted on them.
        layers, seed, n_proxies: as in :func:`stolen_memories_features`.
    Returns:
        dict with ``scores`` [T, N] (meta log-odds, higher = member), ``practice_scores`` [P, N] (cross-fitted:
        each half of the practice models is scored by a meta model fitted on the other half, so the attacker can
        calibrate thresholds on scores it did not fit), ``layer_scores`` [T, N, L] (each layer's unfitted attack),
        ``features`` [T, N, L, 3], ``practice_features`` [P, N, L, 3], ``meta`` (the pipeline fitted on all
        practice models), ``layer_names`` [L] and ``calibration``: one scorer for calibrating thresholds, the meta
        model fitted on one half of the practice models, with its scores on the other half (``practice_scores``,
        ``practice_member``) and on the targets (``target_scores``), so that a threshold chosen on its practice
        scores is applied to the very scorer it was chosen for.

    Used in chapter 7.
    """
    targets = np.asarray(target_ids, dtype=np.int64).ravel()
    practice = np.asarray(practice_ids, dtype=np.int64).ravel()
    if np.intersect1d(targets, practice).size:
        raise ValueError("practice models must not include a target: the attacker does not know its membership")
    if practice.size < 2:
        raise ValueError("Stolen Memories needs at least 2 practice models (one to fit, one to calibrate on)")
    feats = stolen_memories_features(pool, np.concatenate([practice, targets]), layers, seed, n_proxies)
    f_p, f_t = feats[: practice.size], feats[practice.size :]
    keep_p = pool.keep[practice]
    meta = fit_meta(f_p, keep_p)
    folds = np.arange(practice.size) % 2 == 0
    cross = np.empty(keep_p.shape)
    half_meta = {}
    for i, fold in enumerate((folds, ~folds)):
        half_meta[i] = fit_meta(f_p[~fold], keep_p[~fold])
        cross[fold] = meta_scores(half_meta[i], f_p[fold])
    names = layer_names(pool.model(int(targets[0])))
    used = list(range(len(names))) if layers is None else [int(v) for v in layers]
    return {
        "scores": meta_scores(meta, f_t),
        "practice_scores": cross,
        "layer_scores": layer_scores(f_t),
        "features": f_t,
        "practice_features": f_p,
        "meta": meta,
        "layer_names": [names[i] for i in used],
        "calibration": {
            "practice_scores": cross[folds],
            "practice_member": keep_p[folds],
            "target_scores": meta_scores(half_meta[0], f_t),
        },
    }


def fewest_shadows(keep, shadow_ids, least: int = 2) -> int | None:
    """Smallest n such that the first n of ``shadow_ids`` give every example ≥ ``least`` IN and OUT models.

    Used to give LiRA the same number of trained models as another attack. Returns None when even all of them
    do not.

    Used in chapter 7.
    """
    k = np.asarray(keep, dtype=bool)[np.asarray(shadow_ids, dtype=np.int64)]
    n_in = np.cumsum(k, axis=0)
    n_out = np.arange(1, k.shape[0] + 1)[:, None] - n_in
    ok = ((n_in >= least) & (n_out >= least)).all(1)
    return int(np.flatnonzero(ok)[0]) + 1 if ok.any() else None
