"""K models of one architecture as batched matrix products, without ``vmap``: the pool trainer's fast path.

``vmap(functional_call(...))`` turns every ``nn.Linear`` of K stacked models into a batched matrix product, which
is the right forward; its backward computes each model's weight gradient ``dyᵀ · x`` (a reduction over the batch of
B examples) with one batched product too, and on a CPU torch's ``bmm`` runs that shape at about half the speed
that a plain ``mm`` per model reaches (measured by ``benchmarks/pool_throughput.py``). :class:`BatchedLinear` is a
linear layer over stacked weights whose backward computes the weight gradient model by model with ``mm`` on a CPU
(``bmm`` on a GPU, where it is fast), and :func:`mlp_loss` runs :class:`mia_lib.models.MLP` on stacked parameters
with it: no ``functional_call``, no ``vmap`` tracing per step.

Every model's numbers are computed from its own slice only, so a model trained in a pool of K is the model trained
alone, up to the floating-point order of the batched forward (tests: the pool equals the per-model loop).

Used by :func:`mia_lib.train.train_vmapped` (every chapter's MLP pools).
"""

from __future__ import annotations

import torch
from torch import nn

from . import models


class BatchedLinear(torch.autograd.Function):
    """``y[k] = x[k] · w[k]ᵀ + b[k]`` for K stacked linear layers.

    Shapes: x [K, B, D], w [K, O, D], b [K, O] → y [K, B, O]. The backward returns dx = dy · w (one ``bmm``), dw
    per model (:func:`weight_grad`) and db = Σ_B dy.
    """

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return torch.baddbmm(b.unsqueeze(1), x, w.transpose(1, 2))

    @staticmethod
    def backward(ctx, dy):
        x, w = ctx.saved_tensors
        dx = torch.bmm(dy, w) if ctx.needs_input_grad[0] else None
        return dx, weight_grad(dy, x), dy.sum(1)


def weight_grad(dy: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-model weight gradients ``dy[k]ᵀ · x[k]``: dy [K, B, O], x [K, B, D] → [K, O, D].

    On a CPU one ``mm`` per model (a long reduction over B that BLAS runs near its peak); elsewhere one ``bmm``.
    """
    if dy.device.type != "cpu":
        return torch.bmm(dy.transpose(1, 2), x)
    return torch.stack([d.t() @ a for d, a in zip(dy.unbind(0), x.unbind(0))])


def supports(module: nn.Module, buffers: dict) -> bool:
    """Whether :func:`mlp_loss` can train K copies of ``module``: an :class:`mia_lib.models.MLP` without buffers."""
    return type(module) is models.MLP and not buffers


def mlp_logits(params: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
    """Logits of K stacked MLPs, each on its own batch: params stacked [K, ...], xb [K, B, C, H, W] → [K, B, C]."""
    h = torch.relu(BatchedLinear.apply(xb.flatten(2), params["fc1.weight"], params["fc1.bias"]))
    return BatchedLinear.apply(h, params["fc2.weight"], params["fc2.bias"])


def mlp_loss(params: dict[str, torch.Tensor], xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """Σ_k mean-over-batch cross-entropy of model k on its batch (the pool's objective): xb [K, B, ...], yb [K, B]
    → a scalar whose gradient with respect to model k's parameters is model k's own gradient."""
    z = mlp_logits(params, xb)
    k, b, c = z.shape
    return nn.functional.cross_entropy(z.reshape(k * b, c), yb.reshape(k * b), reduction="sum") / b
