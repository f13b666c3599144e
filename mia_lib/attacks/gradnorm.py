"""White-box baseline: the norm of the per-example gradient of the loss with respect to the parameters.

A model that trained on an example has, on average, pushed that example's loss towards a minimum, so the gradient
there is small: score = −‖∇_θ ℓ(f_θ(x_n), y_n)‖₂ (higher = member). The norm is taken over all trainable parameters
of the target model in eval mode, on the un-augmented image, with the same cross-entropy the pool was trained with.

Two exact ways to get per-example norms, chosen automatically:

* models that Opacus supports (no BatchNorm: ``mlp``, ``cnn32``, ``cnn64``) go through Opacus's
  ``GradSampleModuleFastGradientClipping`` with ghost norms: ‖∇W‖² = ‖a‖²‖δ‖² for a linear layer, without ever
  materialising a per-example gradient (about 100× faster than a ``vmap`` of ``grad`` on the MLP);
* anything else (the ResNets, whose BatchNorm Opacus rejects) uses ``torch.func.vmap(grad(...))``.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

from .. import train


def gradient_norm(pool, target_ids=None, batch_size: int = 256) -> np.ndarray:
    """Per-example gradient-norm scores of target models of a pool.

    Args:
        pool: a :class:`mia_lib.pool.ShadowPool` trained with ``cfg.save_params=True``.
        target_ids: models to attack (default: all K).
        batch_size: examples per backward pass.
    Returns:
        scores float64 [T, N] = −‖∇_θ loss‖₂ per (target, example); higher = member. Members are
        ``pool.keep[target_ids]``.
    Raises:
        ValueError: the pool has no saved parameters, or a target id is out of range.

    Used in chapter 7.
    """
    if pool.params is None:
        raise ValueError(
            "gradient_norm is a white-box attack: it needs the pool's parameters; train the pool with "
            "Experiment(..., save_params=True)."
        )
    k = pool.keep.shape[0]
    targets = np.arange(k) if target_ids is None else np.asarray(target_ids, dtype=np.int64).ravel()
    if targets.size and (targets.min() < 0 or targets.max() >= k):
        raise ValueError(f"target_ids must lie in [0, {k}), got {targets.min()}..{targets.max()}")
    dev = train.device(pool.cfg.device)
    X, y = pool.dataset.X, pool.dataset.y
    out = np.empty((targets.size, len(y)), dtype=np.float64)
    for i, t in enumerate(targets):
        out[i] = -per_example_grad_norm(pool.model(int(t)), X, y, batch_size=batch_size, device=dev)
    return out


def per_example_grad_norm(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 256, device: torch.device | str | None = None
) -> np.ndarray:
    """‖∇_θ CE(model(x_n), y_n)‖₂ for every example, over all trainable parameters (the model is not modified).

    Args:
        model: an ``nn.Module`` (evaluated in eval mode). X: float [N, C, H, W]; y: int64 [N].
        batch_size: examples per pass. device: where to compute (default: CPU).
    Returns:
        float64 [N] gradient norms.
    """
    from opacus.validators import ModuleValidator

    dev = torch.device(device or "cpu")
    model = copy.deepcopy(model).to(dev)
    ghost = ModuleValidator.is_valid(model.train())  # Opacus validates train-mode modules only
    model.eval()
    batches = [(X[i : i + batch_size].to(dev), y[i : i + batch_size].to(dev)) for i in range(0, len(y), batch_size)]
    if not batches:
        return np.zeros(0)
    if ghost:
        parts = _ghost_norms(model, batches)
    else:
        parts = [_functorch_norms(model, xb, yb) for xb, yb in batches]
    return torch.cat(parts).double().cpu().numpy()


def _ghost_norms(model: nn.Module, batches) -> list[torch.Tensor]:
    from opacus.grad_sample import GradSampleModuleFastGradientClipping

    gsm = GradSampleModuleFastGradientClipping(
        model, batch_first=True, loss_reduction="sum", max_grad_norm=1.0, use_ghost_clipping=True
    )
    gsm.train()  # Opacus captures activations only in train mode; these models have no mode-dependent layers
    parts = []
    try:
        for xb, yb in batches:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Full backward hook is firing")
                nn.functional.cross_entropy(gsm(xb), yb, reduction="sum").backward()
            parts.append(gsm.get_norm_sample().detach().clone())
            model.zero_grad(set_to_none=True)
    finally:
        gsm._close()
    return parts


def _functorch_norms(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    buffers = dict(model.named_buffers())

    def loss(p, x, t):
        return nn.functional.cross_entropy(functional_call(model, (p, buffers), (x[None],)), t[None])

    grads = vmap(grad(loss), in_dims=(None, 0, 0))(params, xb, yb)
    return torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads.values()))
