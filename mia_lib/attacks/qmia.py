"""Quantile-regression membership inference (Bertran et al., NeurIPS 2023): no shadow models at all.

The attacker queries the target on public examples it knows were not in the training set, records the target's
score on each (here φ, the logit-scaled confidence of the true class), and fits a regression model that predicts,
from an example's features alone, a high quantile q_{1−α}(x) of the score a *non-member* like x gets. The attack
score of an example is its observed score minus its predicted quantile, s(x) − q_{1−α}(x): above 0 means "more
confident than all but a share α of comparable non-members", and sweeping a threshold over it traces the ROC curve.
The regression replaces the per-example OUT distribution that LiRA estimates from shadow models.

What the attacker uses: the target's scores (black-box, confidences) on the attacked examples and on the public
non-members, and the examples' features (here the images' leading principal components and their labels). In a
pool every example is a member of half the models, so the public non-members of a target are found by
**cross-fitting**: the examples are split into folds, and an example's quantile comes from a regressor fitted on the
target's non-members in the *other* folds. No example's quantile is fitted on its own score, and the attacker never
uses the membership of an example it attacks.

Two regressors (``regressor``):

* ``"knn"`` (default): k-nearest-neighbour quantile regression, the empirical (1−α) quantile of the scores of the
  ``n_neighbors`` public non-members closest in feature space (Euclidean; same label when ``by_class``), for every
  target at once from one distance matrix per fold and class;
* ``"hgb"``: scikit-learn's ``HistGradientBoostingRegressor(loss="quantile")`` on the features and the label (as a
  categorical feature), one fit per (target, fold).
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.metrics.pairwise import euclidean_distances
from threadpoolctl import threadpool_limits

REGRESSORS = ("knn", "hgb")
#: Defaults of the ``"hgb"`` regressor (small trees: a few hundred public non-members per fit).
HGB_DEFAULTS = {"max_iter": 50, "max_leaf_nodes": 15, "learning_rate": 0.1, "early_stopping": False}


def features(X, n_components: int = 16, seed: int = 0) -> np.ndarray:
    """The regressors' features of each example: its leading principal components, each scaled to unit variance.

    PCA (scikit-learn) is fitted on the images of all N examples (pixels only: no label, no membership).

    Args:
        X: float [N, C, H, W] (or [N, D]) images. n_components: components kept (at most min(N, D)).
        seed: PCA's random state (used by randomized solvers only).
    Returns:
        float64 [N, d] features.

    Used in chapters 3, 5.
    """
    flat = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    d = int(min(n_components, *flat.shape))
    z = PCA(d, random_state=seed).fit_transform(flat)
    sd = z.std(0)
    return z / np.where(sd > 0, sd, 1.0)


def folds(n: int, n_folds: int = 2, seed: int = 0) -> np.ndarray:
    """Random balanced assignment of N examples to ``n_folds`` folds (sizes differ by at most one).

    Returns:
        int64 [N] fold ids in [0, n_folds). Chapters 3, 5.
    """
    if n_folds < 2:
        raise ValueError(f"cross-fitting needs n_folds >= 2, got {n_folds}")
    return (np.random.default_rng(seed).permutation(n) % n_folds).astype(np.int64)


def quantiles(
    score,
    keep,
    feats,
    y,
    target_ids=None,
    alpha: float = 0.05,
    n_folds: int = 2,
    regressor: str = "knn",
    n_neighbors: int = 32,
    by_class: bool = True,
    seed: int = 0,
    hgb: dict | None = None,
) -> np.ndarray:
    """Predicted (1−α) quantile of a non-member's score for every (target, example), cross-fitted.

    For target t and fold f, the regressor is fitted on the examples outside fold f that t did not train on (its
    public non-members: features → t's score) and predicts the examples of fold f.

    Args:
        score: float [K, N] the models' scores (higher = more member-like, e.g. φ). keep: bool [K, N] membership;
            only ``~keep`` outside the predicted fold is read. feats: float [N, d] (:func:`features`). y: int [N].
        target_ids: models to attack (default all K). alpha: 1 − the quantile level. n_folds: cross-fitting folds.
        regressor: one of :data:`REGRESSORS`. n_neighbors: neighbours of ``"knn"`` (fewer when some target has
            fewer public non-members of a class). by_class: ``"knn"`` looks for neighbours with the same label.
            seed: fold split. hgb: options of ``HistGradientBoostingRegressor`` over :data:`HGB_DEFAULTS`.
    Returns:
        float64 [T, N] predicted quantiles.
    Raises:
        ValueError: an unknown regressor, alpha outside (0, 1), or a fold (class) without public non-members.

    Used in chapters 3, 5.
    """
    if regressor not in REGRESSORS:
        raise ValueError(f"unknown regressor {regressor!r}; choose from {REGRESSORS}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    score = np.asarray(score, dtype=np.float64)
    keep = np.asarray(keep, dtype=bool)
    feats = np.asarray(feats, dtype=np.float64)
    y = np.asarray(y)
    targets = np.arange(keep.shape[0]) if target_ids is None else np.asarray(target_ids, dtype=np.int64).ravel()
    fold = folds(keep.shape[1], n_folds, seed)
    out = np.empty((targets.size, keep.shape[1]))
    s_t, public_t = score[targets], ~keep[targets]
    for f in range(n_folds):
        if regressor == "knn":
            for c in np.unique(y) if by_class else [None]:
                same = np.ones_like(fold, dtype=bool) if c is None else y == c
                ask, ref = np.flatnonzero((fold == f) & same), np.flatnonzero((fold != f) & same)
                if ask.size:
                    out[:, ask] = _knn_quantile(feats, s_t, public_t, ask, ref, 1 - alpha, n_neighbors, c)
        else:
            for i in range(targets.size):
                public, ask = (fold != f) & public_t[i], fold == f
                out[i, ask] = _hgb_quantile(feats, y, s_t[i], public, ask, 1 - alpha, seed, hgb)
    return out


def qmia(score, keep, feats, y, target_ids=None, **options) -> np.ndarray:
    """QMIA scores: the target's score minus its cross-fitted predicted (1−α) non-member quantile.

    Args:
        score, keep, feats, y, target_ids: as in :func:`quantiles`. options: the rest of :func:`quantiles`'s.
    Returns:
        scores float64 [T, N], higher = member.

    Used in chapters 3, 5.
    """
    score = np.asarray(score, dtype=np.float64)
    targets = np.arange(score.shape[0]) if target_ids is None else np.asarray(target_ids, dtype=np.int64).ravel()
    return score[targets] - quantiles(score, keep, feats, y, targets, **options)


def pool_scores(pool, target_ids=None, n_components: int = 16, **options) -> np.ndarray:
    """:func:`qmia` on a pool's targets with φ of the un-augmented view as the score and :func:`features` of the
    pool's images.

    Args:
        pool: a :class:`mia_lib.pool.ShadowPool`. target_ids: [T] (default all). n_components: PCA features.
        options: passed to :func:`quantiles` (``alpha``, ``regressor``, ``n_neighbors``, ``seed``, ...).
    Returns:
        scores float64 [T, N], higher = member.

    Used in chapters 3, 5.
    """
    feats = features(pool.dataset.X.numpy(), n_components, options.get("seed", 0))
    return qmia(pool.phi[:, :, 0], pool.keep, feats, pool.y, target_ids, **options)


def _knn_quantile(feats, s_t, public_t, ask, ref, level, k, label, chunk_elems: int = 2**24) -> np.ndarray:
    """[T, |ask|] empirical quantiles of each target's scores over the k nearest of its public non-members in
    ``ref``: one distance matrix for all targets (scikit-learn's ``euclidean_distances``), members of a target set to
    +inf for that target, the k smallest picked by ``np.argpartition``."""
    public = public_t[:, ref]  # [T, R]
    k = int(min(k, public.sum(1).min()))
    if k == 0:
        raise ValueError(f"no public non-members {'' if label is None else f'of class {label} '}to fit quantiles on")
    out = np.empty((s_t.shape[0], ask.size))
    step = max(1, chunk_elems // max(1, public.size))
    for i in range(0, ask.size, step):
        rows = ask[i : i + step]
        dist = euclidean_distances(feats[rows], feats[ref], squared=True)  # [q, R]
        masked = np.where(public[:, None, :], dist[None], np.inf)  # [T, q, R]
        nearest = np.argpartition(masked, k - 1, axis=-1)[..., :k]
        values = np.take_along_axis(np.broadcast_to(s_t[:, None, ref], masked.shape), nearest, axis=-1)
        out[:, i : i + step] = np.quantile(values, level, axis=-1)
    return out


def _hgb_quantile(feats, y, s, public, ask, level, seed, options) -> np.ndarray:
    if not public.any():
        raise ValueError("no public non-members to fit quantiles on")
    design = np.column_stack([feats, y])
    model = HistGradientBoostingRegressor(
        loss="quantile",
        quantile=level,
        categorical_features=[feats.shape[1]],
        random_state=seed,
        **{**HGB_DEFAULTS, **(options or {})},
    )
    with threadpool_limits(1, user_api="openmp"):  # hundreds of rows: OpenMP's start-up costs more than it saves
        return model.fit(design[public], s[public]).predict(design[ask])
