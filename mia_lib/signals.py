"""Per-(model, example) statistics computed from cached logits.

All functions take ``logits`` of shape [..., C] (any leading axes, typically [K, N, A, C]) and labels ``y`` of
shape [N] broadcast against the example axis (second-to-last leading axis, i.e. ``logits[..., n, a, :]`` pairs
with ``y[n]``) and return float64 arrays of shape [...] (the leading axes). Everything is computed in float64
from log-softmax, so a model that is certain (p_y = 1 in float32) still gives finite values.
"""

from __future__ import annotations

import numpy as np
import torch


def _as_tensors(logits, y) -> tuple[torch.Tensor, torch.Tensor]:
    z = torch.as_tensor(np.asarray(logits) if not torch.is_tensor(logits) else logits).to(torch.float64)
    lab = torch.as_tensor(np.asarray(y) if not torch.is_tensor(y) else y).long()
    if z.ndim < 2:
        raise ValueError(f"logits must have a class axis, got shape {tuple(z.shape)}")
    if lab.ndim != 1 or (z.ndim == 2 and lab.numel() != z.shape[0]) or (z.ndim > 2 and lab.numel() != z.shape[1]):
        raise ValueError(f"labels of shape {tuple(lab.shape)} do not match logits of shape {tuple(z.shape)}")
    lab = torch.broadcast_to(lab.reshape(_label_shape(z.ndim, lab.numel())), z.shape[:-1])
    return z, lab


def _label_shape(ndim: int, n: int) -> tuple[int, ...]:
    if ndim == 2:  # [N, C]
        return (n,)
    if ndim == 3:  # [K, N, C]
        return (1, n)
    return (1, n) + (1,) * (ndim - 3)  # [K, N, A, ..., C]


def _true_and_rest(logits, y) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    z, lab = _as_tensors(logits, y)
    z_true = z.gather(-1, lab.unsqueeze(-1)).squeeze(-1)
    others = z.scatter(-1, lab.unsqueeze(-1), float("-inf"))
    return z, z_true, torch.logsumexp(others, dim=-1)


def phi(logits, y) -> np.ndarray:
    """Logit-scaled confidence φ = log p_y − log(1 − p_y) = z_y − logsumexp_{j≠y} z_j (LiRA's statistic).

    Args:
        logits: [K, N, A, C] (or [N, C], [K, N, C]) raw model outputs.
        y: [N] integer labels.
    Returns:
        float64 array of the leading shape, e.g. [K, N, A]; finite wherever the logits are finite.
    """
    _, z_true, lse_rest = _true_and_rest(logits, y)
    return (z_true - lse_rest).numpy()


def loss(logits, y) -> np.ndarray:
    """Cross-entropy loss −log p_y, float64, shape = leading shape of ``logits``."""
    z, z_true, _ = _true_and_rest(logits, y)
    return (torch.logsumexp(z, dim=-1) - z_true).numpy()


def entropy(logits) -> np.ndarray:
    """Prediction entropy −Σ_j p_j log p_j, float64, shape = leading shape of ``logits``."""
    z = torch.as_tensor(np.asarray(logits)).to(torch.float64)
    logp = torch.log_softmax(z, dim=-1)
    return -(logp.exp() * logp).sum(-1).numpy()


def modified_entropy(logits, y) -> np.ndarray:
    """Song & Mittal's modified entropy −(1−p_y) log p_y − Σ_{j≠y} p_j log(1−p_j), float64.

    Uses log(1 − p_j) = log-sum-exp of the other classes' log-probabilities, which stays finite as p_j → 1.
    """
    z, lab = _as_tensors(logits, y)
    logp = torch.log_softmax(z, dim=-1)
    p = logp.exp()
    onehot = torch.zeros_like(p).scatter(-1, lab.unsqueeze(-1), 1.0).bool()
    c = z.shape[-1]
    # log(1 - p_j) = logsumexp_{i != j} log p_i, computed for every j at once.
    eye = torch.eye(c, dtype=torch.bool)
    log1m = torch.logsumexp(logp.unsqueeze(-2).masked_fill(eye, float("-inf")), dim=-1)
    term_true = -(1 - p) * logp
    term_rest = -p * log1m
    return torch.where(onehot, term_true, term_rest).sum(-1).numpy()


def hinge(logits, y) -> np.ndarray:
    """Margin z_y − max_{j≠y} z_j, float64, shape = leading shape of ``logits``."""
    z, lab = _as_tensors(logits, y)
    z_true = z.gather(-1, lab.unsqueeze(-1)).squeeze(-1)
    return (z_true - z.scatter(-1, lab.unsqueeze(-1), float("-inf")).amax(-1)).numpy()


def correct(logits, y) -> np.ndarray:
    """Whether argmax of the logits equals the label: bool, shape = leading shape of ``logits``."""
    z, lab = _as_tensors(logits, y)
    return (z.argmax(-1) == lab).numpy()
