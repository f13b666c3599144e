"""The passive gradient-orthogonality attack on federated updates (the lecture's intuition; Nasr et al. 2019).

A server that runs FedAvg sees, in every round t, the global model θ_t it sent and each client's update
Δ_{c,t} = θ_{c,t} − θ_t. A client's update is (for full-batch local steps, to first order) a sum of its examples'
negative loss gradients at θ_t. In an over-parameterized model, per-example gradients are nearly orthogonal at
later rounds, so the update has a component along the negative gradient of each of the client's own examples and
is nearly orthogonal to the gradient of an example it did not use. The attack's statistic for client c, round t
and a target x:

    cos_{c,t}(x) = ⟨Δ_{c,t}, −∇_θ ℓ(θ_t; x)⟩ / (‖Δ_{c,t}‖ · ‖∇_θ ℓ(θ_t; x)‖)

(higher = member), aggregated over a set of rounds by its mean or its maximum (:func:`orthogonality_scores`).
It is passive (the server follows the protocol) and needs no shadow models.

:func:`round_statistics` computes it for every (run, client, example) of a stacked MLP in closed form: for a
linear layer with input a and output gradient δ, the per-example weight gradient is δ aᵀ, so
⟨δ aᵀ, ΔW⟩ = δᵀ ΔW a and ‖δ aᵀ‖ = ‖δ‖ ‖a‖ (the "ghost norm" identity), without ever materializing a per-example
gradient. A test checks it against ``torch.func.vmap(grad(...))``.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import memorization, metrics

MLP_KEYS = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")
_EPS = 1e-12


@torch.no_grad()
def round_statistics(
    global_params: dict, updates: dict, X: torch.Tensor, y: torch.Tensor, group: torch.Tensor
) -> dict[str, torch.Tensor]:
    """What the attacker needs from one round of R federations of C clients, for every example.

    Args:
        global_params: stacked :class:`mia_lib.models.MLP` parameters {name: [R, ...]} (θ_t of each run).
        updates: the clients' updates {name: [R, C, ...]} (Δ_{c,t}).
        X: float [N, ...] examples; y: int64 [N] labels; group: int64 [N] the client each example is scored
            against (its own client in the simulation).
    Returns:
        dict of tensors: ``cos`` [R, N] (the cosine between Δ_{group[n],t} and −∇ℓ(θ_t; x_n); 0 where a norm is
        0), ``grad_norm`` [R, N] (‖∇_θ ℓ(θ_t; x_n)‖ over all weights), ``loss`` [R, N] (cross-entropy of θ_t),
        ``correct`` [R, N] (bool), ``update_norm`` [R, C].

    Used in chapter 10 (through :func:`mia_lib.federated.simulate`).
    """
    if set(global_params) != set(MLP_KEYS):
        raise ValueError(f"round_statistics is written for mia_lib.models.MLP; got parameters {sorted(global_params)}")
    w1, b1, w2, b2 = (global_params[k] for k in MLP_KEYS)
    d1, e1, d2, e2 = (updates[k] for k in MLP_KEYS)
    order = torch.argsort(group, stable=True)  # examples sorted by client: each client's slice is contiguous
    bounds = torch.searchsorted(group[order], torch.arange(d1.shape[1] + 1, device=group.device)).tolist()
    a0 = X[order].flatten(1).to(w1.dtype)  # [N, D]
    ys = y[order]
    z1 = torch.einsum("nd,rhd->rnh", a0, w1) + b1[:, None, :]
    a1 = torch.relu(z1)  # [R, N, H]
    z2 = torch.einsum("rnh,rkh->rnk", a1, w2) + b2[:, None, :]  # [R, N, K]
    logp = torch.log_softmax(z2, dim=-1)
    delta2 = logp.exp() - torch.nn.functional.one_hot(ys, z2.shape[-1]).to(z2.dtype)  # ∂ℓ/∂z2, [R, N, K]
    delta1 = torch.einsum("rnk,rkh->rnh", delta2, w2) * (z1 > 0)  # ∂ℓ/∂z1, [R, N, H]
    sq = (delta2**2).sum(-1) * ((a1**2).sum(-1) + 1) + (delta1**2).sum(-1) * ((a0**2).sum(-1) + 1)[None]
    grad_norm = sq.sqrt()
    # ⟨∇ℓ(x_n), Δ_c⟩ layer by layer, c = group[n]: δ2ᵀ ΔW2 a1 + δ2·Δb2 + δ1ᵀ ΔW1 a0 + δ1·Δb1
    dot = torch.empty_like(grad_norm)
    for c, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        g2, g1, h1 = delta2[:, lo:hi], delta1[:, lo:hi], a1[:, lo:hi]
        part = (torch.einsum("rnh,rkh->rnk", h1, d2[:, c]) * g2).sum(-1) + (g2 @ e2[:, c, :, None])[..., 0]
        part += (torch.einsum("nd,rhd->rnh", a0[lo:hi], d1[:, c]) * g1).sum(-1) + (g1 @ e1[:, c, :, None])[..., 0]
        dot[:, lo:hi] = part
    update_norm = sum(v.flatten(2).pow(2).sum(-1) for v in (d1, e1, d2, e2)).sqrt()  # [R, C]
    denom = grad_norm * update_norm[:, group[order]]
    cos = torch.where(denom > _EPS, -dot / denom.clamp_min(_EPS), torch.zeros_like(dot))
    loss = -logp.gather(-1, ys.expand(z2.shape[0], -1)[..., None])[..., 0]
    inverse = torch.argsort(order)
    cos, grad_norm, loss = cos[:, inverse], grad_norm[:, inverse], loss[:, inverse]
    correct = (z2.argmax(-1) == ys)[:, inverse]
    return {
        "cos": cos,
        "grad_norm": grad_norm,
        "loss": loss,
        "correct": correct,
        "update_norm": update_norm,
    }


def select_rounds(n_rounds: int, which: str | slice | list, window: int) -> np.ndarray:
    """Round indices: ``"early"`` (the first ``window``), ``"late"`` (the last ``window``), ``"all"``, or an explicit
    slice / list. Returns int64 [W]. Used in chapter 10."""
    if isinstance(which, str):
        if which == "early":
            return np.arange(min(window, n_rounds))
        if which == "late":
            return np.arange(max(n_rounds - window, 0), n_rounds)
        if which == "all":
            return np.arange(n_rounds)
        raise ValueError(f"rounds must be 'early', 'late', 'all', a slice or a list, got {which!r}")
    return np.arange(n_rounds)[which] if isinstance(which, slice) else np.asarray(which, dtype=np.int64)


def orthogonality_scores(cos: np.ndarray, rounds, how: str = "mean") -> np.ndarray:
    """The gradient-orthogonality attack's scores: a client's cosine with the target's negative gradient,
    aggregated over rounds.

    Args:
        cos: float [R, T, N] cosine of each example with its own client's update in each round
            (:attr:`mia_lib.federated.FederatedRun.cos`).
        rounds: int indices of the rounds to aggregate (:func:`select_rounds`).
        how: ``"mean"`` or ``"max"`` over those rounds.
    Returns:
        scores float64 [R, N], higher = member (the members are ``keep``). Used in chapter 10.
    """
    sel = np.asarray(cos, dtype=np.float64)[:, np.asarray(rounds, dtype=np.int64)]
    if sel.shape[1] == 0:
        raise ValueError("no rounds selected")
    if how == "mean":
        return sel.mean(1)
    if how == "max":
        return sel.max(1)
    raise ValueError(f"how must be 'mean' or 'max', got {how!r}")


def side_means(stat: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-example means of a statistic over the runs where the example is IN and over those where it is OUT.

    Args:
        stat: float [R, N] (e.g. a round's cosine); keep: bool [R, N].
    Returns:
        (mean_in, mean_out): float64 [N] each, NaN where an example has no IN (or no OUT) run. Used in chapter 10.
    """
    stat, keep = np.asarray(stat, dtype=np.float64), np.asarray(keep, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_in = (stat * keep).sum(0) / keep.sum(0)
        mean_out = (stat * ~keep).sum(0) / (~keep).sum(0)
    return mean_in, mean_out


def exposure(scores: np.ndarray, keep: np.ndarray, run_ids=None) -> np.ndarray:
    """Per-example exposure to an attack: Carlini et al.'s privacy score |μ_in − μ_out| / (σ_in + σ_out) of its
    scores over runs (:func:`mia_lib.memorization.privacy_score`).

    Args:
        scores: float [R, N] an attack's scores; keep: bool [R, N]; run_ids: the runs to use (default all).
    Returns:
        float64 [N]; NaN for an example without an IN or an OUT run among them. Used in chapter 10.
    """
    scores, keep = np.asarray(scores, dtype=np.float64), np.asarray(keep, dtype=bool)
    if run_ids is not None:
        scores, keep = scores[np.asarray(run_ids)], keep[np.asarray(run_ids)]
    ok = keep.any(0) & (~keep).any(0)
    out = np.full(keep.shape[1], np.nan)
    out[ok] = memorization.privacy_score(scores[:, ok], keep[:, ok])
    return out


def round_curve(cos: np.ndarray, keep: np.ndarray, every: int = 1, n_boot: int = 200, seed: int = 0) -> list[dict]:
    """Attack success of the single-round statistic, round by round.

    Args:
        cos: float [R, T, N] (own client's cosine); keep: bool [R, N]. every: score every ``every``-th round
            (and always the last).
    Returns:
        one dict per scored round: ``round`` (1-based) and :func:`mia_lib.metrics.summary_with_ci`'s measures.
        Used in chapter 10.
    """
    t = np.asarray(cos).shape[1]
    rounds = sorted(set(range(0, t, every)) | {t - 1})
    return [
        {"round": r + 1, **metrics.summary_with_ci(np.asarray(cos[:, r], np.float64), keep, n_boot, seed)}
        for r in rounds
    ]
