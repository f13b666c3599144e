"""K models of one architecture as batched matrix products, without ``vmap``: the pool trainer's fast path.

``vmap(functional_call(...))`` turns every ``nn.Linear`` of K stacked models into a batched matrix product, and
autograd then allocates every gradient afresh at each step. For a pool of MLPs the first-layer gradient is [K, H, D]
(51 MB for 64 MNIST-sized models), and on a CPU touching a new allocation of that size costs more than the product
that fills it: measured side by side, ``bmm`` writing into a fresh tensor ran at 35 GFLOP/s and into a kept buffer
at 99 (the machine's large GEMM: 108). :class:`MLPStep` therefore writes the backward of
:class:`mia_lib.models.MLP` out by hand, on stacked parameters, into gradient buffers kept for the whole run: no
``functional_call``, no ``vmap`` tracing, no autograd graph, no allocation of parameter size per step.

Every model's numbers are computed from its own slice only, so a model trained in a pool of K is the model trained
alone, up to the floating-point order of the batched forward (tests: the pool equals the per-model loop).

Used by :func:`mia_lib.train.train_vmapped` (every chapter's MLP pools).
"""

from __future__ import annotations

import torch
from torch import nn

from . import models


def supports(module: nn.Module, buffers: dict) -> bool:
    """Whether :class:`MLPStep` can train K copies of ``module``: an :class:`mia_lib.models.MLP` without buffers."""
    return type(module) is models.MLP and not buffers


def mlp_logits(params: dict[str, torch.Tensor], xb: torch.Tensor) -> torch.Tensor:
    """Logits of K stacked MLPs, each on its own batch: params stacked [K, ...], xb [K, B, C, H, W] → [K, B, C]."""
    h = torch.relu(torch.baddbmm(params["fc1.bias"].unsqueeze(1), xb.flatten(2), params["fc1.weight"].transpose(1, 2)))
    return torch.baddbmm(params["fc2.bias"].unsqueeze(1), h, params["fc2.weight"].transpose(1, 2))


class MLPStep:
    """Gradients of K stacked MLPs written into buffers that live as long as the run.

    The objective is the pool's: Σ_k (mean over model k's batch of its cross-entropy), so model k's gradient is its
    own. The backward is written out (softmax − one-hot, then two batched products per layer) and every gradient
    goes into a preallocated ``.grad`` with ``out=``: a fresh [K, H, D] gradient per step costs more than its
    product (the first touch of every page of a new allocation), which is what made the autograd version of
    this step slow.

    Args:
        params: stacked parameters {name: [K, ...]} of :class:`mia_lib.models.MLP` (``fc1.weight`` [K, H, D],
            ``fc1.bias`` [K, H], ``fc2.weight`` [K, C, H], ``fc2.bias`` [K, C]); their ``.grad`` are set once here.
    """

    def __init__(self, params: dict[str, torch.Tensor]):
        self.p = params
        for v in params.values():
            v.grad = torch.zeros_like(v)

    @torch.no_grad()
    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        """Write the gradients of the batch xb [K, B, C, H, W], yb [K, B] into the parameters' ``.grad``."""
        p = self.p
        w1, b1, w2, b2 = p["fc1.weight"], p["fc1.bias"], p["fc2.weight"], p["fc2.bias"]
        x = xb.flatten(2)
        h = torch.baddbmm(b1.unsqueeze(1), x, w1.transpose(1, 2))
        a = torch.relu(h)
        z = torch.baddbmm(b2.unsqueeze(1), a, w2.transpose(1, 2))
        dz = torch.softmax(z, dim=-1)
        dz.scatter_add_(-1, yb.unsqueeze(-1), torch.full_like(yb, -1, dtype=dz.dtype).unsqueeze(-1))
        dz.div_(x.shape[1])
        torch.bmm(dz.transpose(1, 2), a, out=w2.grad)
        torch.sum(dz, dim=1, out=b2.grad)
        da = torch.bmm(dz, w2)
        da.mul_(h > 0)
        torch.bmm(da.transpose(1, 2), x, out=w1.grad)
        torch.sum(da, dim=1, out=b1.grad)
