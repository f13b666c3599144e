"""Training-time defenses against membership inference, as terms of the pool trainer's objective (chapter 8).

The lecture's defenses reduce the generalization gap, or match the outputs on members to those on non-members:

* **label smoothing**: cross-entropy against (1 − s)·one-hot + s/C;
* **dropout**: the classifier layer's inputs multiplied by a mask of Bernoulli(1 − p)/(1 − p) entries
  (:func:`mia_lib.models.features_width`);
* **mix-up** (Zhang et al. 2018): the model sees λ·x + (1 − λ)·x[π] and is scored against λ·y + (1 − λ)·y[π],
  with λ ~ Beta(α, α) and π a permutation of the batch;
* **MMD regularization** (Li, Li & Ribeiro, CODASPY 2021): a penalty w·MMD² (Gaussian kernel, bandwidth
  :data:`MMD_BANDWIDTH`, the biased estimate) between the model's softmax outputs on its (clean) training batch and
  on a class-matched batch of the defender's own held-out data, :func:`reference_set`. The reference outputs are
  held fixed (no gradient), as in the authors' code; the penalty is added at every step rather than in alternate
  passes.

Weight decay and early stopping need nothing here (``Experiment.weight_decay``, fewer ``epochs``).

Every random choice (λ, π, the dropout masks, the reference examples) comes from a generator of the model's own
seed (:class:`Noise`), drawn epoch by epoch, so a model's training does not depend on the pool around it: the pool
trainer (``vmap``) and the per-model loop draw the same numbers and train the same models (tests). Each defense has
its own stream, so mix-up + MMD draws the very λ and pairings of mix-up alone: the two recipes differ by the
penalty only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import data

#: Bandwidth σ of the Gaussian kernel exp(−‖p − q‖² / 2σ²) between softmax vectors (Li et al.'s code: 1).
MMD_BANDWIDTH = 1.0
#: Largest number of examples in the defender's held-out reference set of the MMD defense.
N_REFERENCE = 1000
_NOISE_STREAM = 0x72656775  # "regu": the regularizers' streams of a model's seed, apart from its batch schedule
_DRAWS = ("mixup", "dropout", "mmd")


def reference_set(cfg, n: int = N_REFERENCE):
    """The defender's held-out data for the MMD penalty: same distribution, disjoint from every attacked example.

    A pool attacks every example of its dataset (each is IN for half of the models and OUT for the others), so the
    defender's validation data must come from outside it: a torchvision source gives up to ``n`` examples of its
    *test* split; an embedded source subsetted with ``n_data`` gives up to ``n`` of the examples the subset leaves
    out (:func:`mia_lib.data.held_out`), chosen class-balanced at random.

    Args:
        cfg: the pool's :class:`mia_lib.config.Experiment` (a single source, no mixture).
    Returns:
        :class:`mia_lib.data.Dataset` with X float32 [R, C, H, W] and y int64 [R], R ≤ ``n``.
    Raises:
        ValueError: when every example of the source is in the pool (set ``n_data`` below the source's size).
    """
    if cfg.under is not None:
        raise ValueError("the MMD defense is available for a single source, not a mixture")
    if cfg.dataset in data.TORCHVISION:
        return data.load(cfg.dataset, data_dir=cfg.data_dir, n=n, split="test", seed=cfg.seed)
    if cfg.n_data is None:
        raise ValueError(
            f"the MMD defense needs held-out data of the same distribution, and the pool uses every example of "
            f"{cfg.dataset!r}: set n_data below the source's size (the rest becomes the defender's reference set)"
        )
    return data.held_out(cfg.dataset, cfg.n_data, limit=n, data_dir=cfg.data_dir, seed=cfg.seed)


def mmd2(p: torch.Tensor, q: torch.Tensor, bandwidth: float = MMD_BANDWIDTH) -> torch.Tensor:
    """Biased estimate of the squared MMD between two samples under the kernel exp(−‖a − b‖² / 2σ²).

    Args:
        p: [B, C]; q: [B', C] (e.g. softmax outputs on members and on held-out data).
    Returns:
        scalar tensor ≥ 0; exactly 0 when the two samples are the same.
    """

    def kernel(a, b):  # ‖a − b‖² as ‖a‖² + ‖b‖² − 2a·b: one matrix product instead of a [B, B', C] difference
        d2 = (a.pow(2).sum(-1).unsqueeze(1) + b.pow(2).sum(-1).unsqueeze(0) - 2 * a @ b.T).clamp_min(0)
        return torch.exp(-d2 / (2 * bandwidth**2)).mean()

    return kernel(p, p) + kernel(q, q) - 2 * kernel(p, q)


def loss(forward: Callable, xb: torch.Tensor, yb: torch.Tensor, noise: dict, recipe) -> torch.Tensor:
    """One model's training objective on one batch, every defense of ``recipe`` included.

    Args:
        forward: ``f(x, drop) -> logits`` of the model (``drop``: a dropout mask or None).
        xb: [B, C, H, W]; yb: int64 [B]. noise: this model's draws for this step (:meth:`Noise.epoch`): ``lam``
            (scalar) and ``perm`` [B] for mix-up, ``drop`` [B, F] for dropout, ``xref`` [B, C, H, W] for MMD.
        recipe: a :class:`mia_lib.train.Recipe`.
    Returns:
        scalar loss (mean over the batch).
    """
    drop, s = noise.get("drop"), recipe.label_smoothing
    if "lam" in noise:
        lam, perm = noise["lam"], noise["perm"]
        out = forward(lam * xb + (1 - lam) * xb[perm], drop)
        objective = lam * F.cross_entropy(out, yb, label_smoothing=s) + (1 - lam) * F.cross_entropy(
            out, yb[perm], label_smoothing=s
        )
    else:
        out = forward(xb, drop)
        objective = F.cross_entropy(out, yb, label_smoothing=s)
    if recipe.mmd_weight > 0:
        clean = out if "lam" not in noise else forward(xb, drop)
        with torch.no_grad():  # the reference outputs are held fixed
            held_out = torch.softmax(forward(noise["xref"], None), -1)
        objective = objective + recipe.mmd_weight * mmd2(torch.softmax(clean, -1), held_out)
    return objective


class Noise:
    """Every model's random draws for the defenses of a recipe, epoch by epoch, from the model's own seed.

    Args:
        seeds: K per-model seeds (:func:`mia_lib.train.model_seed`); recipe: the :class:`mia_lib.train.Recipe`.
        y: int64 [N] labels of the training examples (the MMD batch matches each example's class).
        ref_y: int64 [R] labels of the reference set (MMD only). width: the dropout mask's width (dropout only).
    """

    def __init__(self, seeds, recipe, y, ref_y=None, width: int | None = None):
        self.recipe = recipe
        # one stream per defense, so that adding a defense to a recipe leaves the other defenses' draws unchanged
        self.rngs = [
            {d: np.random.default_rng(np.random.SeedSequence([int(s), _NOISE_STREAM, i])) for i, d in enumerate(_DRAWS)}
            for s in seeds
        ]
        self.y = np.asarray(y)
        self.width = width
        if recipe.dropout > 0 and width is None:
            raise ValueError("dropout needs the width of the masked features")
        if recipe.mmd_weight > 0:
            if ref_y is None:
                raise ValueError("the MMD defense needs the labels of its reference set")
            ref_y = np.asarray(ref_y)
            self.ref_order = np.argsort(ref_y, kind="stable")
            counts = np.bincount(ref_y, minlength=int(max(self.y.max(), ref_y.max())) + 1)
            missing = [int(c) for c in np.unique(self.y) if counts[c] == 0]
            if missing:
                raise ValueError(f"the reference set has no example of the classes {missing}")
            self.ref_start, self.ref_count = np.cumsum(counts) - counts, counts

    def epoch(self, idx: np.ndarray) -> dict[str, torch.Tensor]:
        """The draws of one epoch; call once per epoch, in order (the generators advance).

        Args:
            idx: int64 [S, K, B] the epoch's batch indices (:func:`mia_lib.train.batch_schedule`).
        Returns:
            {"lam": float32 [S, K], "perm": int64 [S, K, B]} (mix-up), {"drop": float32 [S, K, B, F]} (dropout),
            {"ref": int64 [S, K, B]} (MMD: indices into the reference set, each of its batch example's class).
        """
        r = self.recipe
        idx = np.asarray(idx)
        steps, k, b = idx.shape
        out: dict[str, list] = {}
        for m, rng in enumerate(self.rngs):
            if r.mixup_alpha > 0:
                out.setdefault("lam", []).append(rng["mixup"].beta(r.mixup_alpha, r.mixup_alpha, size=steps))
                out.setdefault("perm", []).append(rng["mixup"].permuted(np.tile(np.arange(b), (steps, 1)), axis=1))
            if r.dropout > 0:
                kept = rng["dropout"].random((steps, b, self.width), dtype=np.float32) >= r.dropout
                out.setdefault("drop", []).append(kept.astype(np.float32) / np.float32(1 - r.dropout))
            if r.mmd_weight > 0:
                c = self.y[idx[:, m]]
                pick = (rng["mmd"].random((steps, b)) * self.ref_count[c]).astype(np.int64)
                out.setdefault("ref", []).append(self.ref_order[self.ref_start[c] + pick])
        dtypes = {"lam": torch.float32, "perm": torch.int64, "drop": torch.float32, "ref": torch.int64}
        return {name: torch.as_tensor(np.stack(v, axis=1), dtype=dtypes[name]) for name, v in out.items()}


def step(epoch_noise: dict, s: int, ref_X: torch.Tensor | None = None, model: slice | int | None = None) -> dict:
    """The draws of step ``s`` (for one model ``model``, or all K), the reference images gathered from ``ref_X``."""
    noise = {k: v[s] if model is None else v[s, model] for k, v in epoch_noise.items()}
    if "ref" in noise:
        noise["xref"] = ref_X[noise.pop("ref")]
    return noise
