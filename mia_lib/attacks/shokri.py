"""Shokri et al. (2017): an attack classifier trained on shadow models' outputs for IN and OUT examples.

Each (shadow model, example) pair is one training row, labelled IN or OUT by the keep matrix. As in *Why Train
More?* the attack model is a fully connected network with one hidden layer of 64 ReLU units (scikit-learn
``MLPClassifier``), optionally one per class (Shokri et al.'s per-class attack models).

Features: the model's log-probabilities in float64, true class first, then the other classes sorted in decreasing
order. This is the prediction vector Shokri et al. feed to the attack model, on a log scale (probabilities of 1 − 1e-9
and 1 − 1e-6 are indistinguishable to a standardised MLP; their logarithms are not), made label-aware for the global
model by putting the true class first.

Protocol (no target trains its own attack model): the targets are split into ``n_folds`` folds; the attack model
that scores a fold is trained on shadow models outside that fold. The score is the attack network's output logit
(the log-odds of "member"), computed from its weights so that it does not saturate at probability 1.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def features(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Attack features of every (model, example): [log p_y, log-probabilities of the other classes, sorted].

    Args:
        logits: float [K, N, C] (or [K, N, A, C]: view 0 is used). y: int [N].
    Returns:
        float64 [K, N, C].
    """
    z = torch.as_tensor(np.asarray(logits)).to(torch.float64)
    z = z[:, :, 0] if z.ndim == 4 else z
    logp = torch.log_softmax(z, dim=-1).clamp_min(-1e3)
    lab = torch.as_tensor(np.asarray(y)).long().view(1, -1, 1).expand(z.shape[0], -1, 1)
    true = logp.gather(-1, lab)
    rest = logp.scatter(-1, lab, float("inf")).sort(-1, descending=True).values[..., 1:]
    return torch.cat([true, rest], dim=-1).numpy()


def shokri(
    logits: np.ndarray,
    keep: np.ndarray,
    y: np.ndarray,
    target_ids=None,
    shadow_ids=None,
    per_class: bool = False,
    hidden: int = 64,
    n_train: int = 20_000,
    n_folds: int = 2,
    max_iter: int = 200,
    seed: int = 0,
) -> np.ndarray:
    """Scores of Shokri et al.'s trained attack model.

    Args:
        logits: float [K, N, A, C] or [K, N, C]. keep: bool [K, N]. y: int [N].
        target_ids: models to attack (default: all). shadow_ids: models whose outputs may train attack models
            (default: all); a fold's attack model never sees the fold's targets.
        per_class: one attack model per class (trained on that class's rows) instead of one for all classes.
        hidden: width of the attack network's hidden layer. n_train: training rows per attack model (balanced IN/
            OUT, drawn at random; per class: ``n_train // n_classes`` each).
        n_folds: folds of targets (at most the number of targets). max_iter: Adam epochs of ``MLPClassifier``.
        seed: seed of the row sampling, fold split and network initialisation.
    Returns:
        scores float64 [T, N], the attack network's member log-odds; higher = member.
    Raises:
        ValueError: a fold has no shadow model outside it, or no IN/OUT rows to train on.
    """
    keep = np.asarray(keep, dtype=bool)
    y = np.asarray(y)
    k, n = keep.shape
    feats = features(logits, y)
    targets = np.arange(k) if target_ids is None else np.asarray(target_ids, dtype=np.int64).ravel()
    shadows = np.arange(k) if shadow_ids is None else np.asarray(shadow_ids, dtype=np.int64).ravel()
    rng = np.random.default_rng(seed)
    fold_of = np.empty(targets.size, dtype=np.int64)
    fold_of[rng.permutation(targets.size)] = np.arange(targets.size) % max(1, min(n_folds, targets.size))
    classes = np.unique(y) if per_class else [None]
    out = np.empty((targets.size, n))
    for f in np.unique(fold_of):
        fold = targets[fold_of == f]
        train_models = np.setdiff1d(shadows, fold)
        if train_models.size == 0:
            raise ValueError(
                "Shokri's attack needs shadow models outside each fold of targets; pass more shadow "
                "models or fewer targets (e.g. target the second half of the pool)."
            )
        for c in classes:
            cols = np.arange(n) if c is None else np.flatnonzero(y == c)
            budget = n_train if c is None else max(2, n_train // len(classes))
            net = _fit(feats[train_models][:, cols], keep[train_models][:, cols], budget, hidden, max_iter, rng)
            rows = np.flatnonzero(fold_of == f)
            out[np.ix_(rows, cols)] = _logit(net, feats[fold][:, cols])
    return out


def _fit(x: np.ndarray, m: np.ndarray, budget: int, hidden: int, max_iter: int, rng: np.random.Generator):
    """Train one attack network on a balanced random sample of (model, example) rows."""
    x, m = x.reshape(-1, x.shape[-1]), m.ravel()
    ins, outs = np.flatnonzero(m), np.flatnonzero(~m)
    if ins.size == 0 or outs.size == 0:
        raise ValueError("Shokri's attack needs both IN and OUT shadow rows to train an attack model.")
    half = max(1, budget // 2)
    rows = np.concatenate(
        [rng.choice(ins, min(half, ins.size), replace=False), rng.choice(outs, min(half, outs.size), replace=False)]
    )
    net = make_pipeline(
        StandardScaler(),
        MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=max_iter, random_state=int(rng.integers(2**31))),
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        net.fit(x[rows], m[rows])
    return net


def _logit(net, x: np.ndarray) -> np.ndarray:
    """Pre-sigmoid output of a fitted binary ``MLPClassifier`` pipeline on x [..., F] → [...]."""
    scaler, mlp = net[0], net[-1]
    h = scaler.transform(x.reshape(-1, x.shape[-1]))
    for i, (w, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_)):
        h = h @ w + b
        if i < len(mlp.coefs_) - 1:
            h = np.maximum(h, 0.0)
    return h[:, 0].reshape(x.shape[:-1])  # classes_ = [False, True]: the single output unit is the logit of True
