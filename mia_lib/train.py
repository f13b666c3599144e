"""Training many models at once: the pool trainer (``torch.func`` + ``vmap``) and its per-model twin.

Both trainers consume the same inputs, so they train the *same* models:

* initial weights from :func:`init_states` (model m's weights depend only on its own seed),
* a batch schedule from :func:`batch_schedule` (model m's batches depend only on its seed and its IN set),
* one recipe (SGD with momentum or Adam, weight decay, cross-entropy averaged over the batch, and the defenses of
  :mod:`mia_lib.regularization`: label smoothing, dropout, mix-up, MMD, their random draws from each model's seed).

:func:`train_vmapped` stacks the K parameter sets and runs one ``vmap``-ed forward/backward per step on a gathered
batch ``X[idx]`` of shape [K, B, ...]; since the models never interact, this equals :func:`train_loop` (one model
after the other) up to floating-point reordering. A test checks exactly that.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from . import config, models, regularization, stacked
from .progress import bar


def device(preference: str = "auto") -> torch.device:
    """The torch device to train on: CUDA when available (``"auto"``), or exactly what is asked for.

    Raises ValueError when ``"cuda"`` is asked for on a machine without a CUDA GPU.
    """
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but torch sees no CUDA GPU; use device='auto' or 'cpu'.")
    return torch.device(preference)


@dataclass(frozen=True)
class Recipe:
    """Optimisation recipe shared by every model of a pool."""

    epochs: int = 40
    batch_size: int = 64
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    optimizer: str = "sgd"
    precision: str = "fp32"  #: "fp32", "tf32" or "bf16" (:data:`mia_lib.config.PRECISIONS`)
    label_smoothing: float = 0.0  #: the defenses of :mod:`mia_lib.regularization` (0: off)
    dropout: float = 0.0
    mixup_alpha: float = 0.0
    mmd_weight: float = 0.0

    @property
    def regularized(self) -> bool:
        """Whether a defense of :mod:`mia_lib.regularization` is on (the objective is then its :func:`loss`)."""
        return any(getattr(self, k) != off for k, off in config.DEFENSES.items())

    def make_optimizer(self, params, dev: torch.device | None = None) -> torch.optim.Optimizer:
        """An optimizer over ``params``; element-wise updates only, so stacked models stay independent. Given the
        device ``dev`` (CPU or CUDA), SGD uses the fused kernel: one pass over each tensor instead of one per term of
        the update, which is memory-bound for a stacked pool. Adam, and the DP-SGD trainers (no ``dev``), keep
        torch's default (Adam's division by √v amplifies the last-bit differences of a fused update)."""
        fused = True if dev is not None and dev.type in ("cpu", "cuda") else None
        if self.optimizer == "sgd":
            return torch.optim.SGD(
                params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay, fused=fused
            )
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        raise ValueError(f"Unknown optimizer {self.optimizer!r}; use 'sgd' or 'adam'.")


@contextlib.contextmanager
def numerics(precision: str, dev: torch.device):
    """The arithmetic of a training run: ``"fp32"`` as is; ``"tf32"`` TF32 matrix products and convolutions (CUDA
    only; a CPU has none); ``"bf16"`` bfloat16 autocast on ``dev``. Restores the global TF32 flags afterwards."""
    if precision not in config.PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; use 'fp32', 'tf32' or 'bf16'.")
    flags = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    tf32 = precision == "tf32" and dev.type == "cuda"
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    try:
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = flags


@contextlib.contextmanager
def torch_threads(n: int):
    """Run the block with ``n`` torch CPU threads, then restore the count (a Dask worker trains with the client's
    count, since CPU kernels sum in an order that depends on it; scoring threads use one each)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def model_seed(master_seed: int, model_id: int) -> int:
    """Seed of model ``model_id`` in a pool with master seed ``master_seed`` (independent of shard layout)."""
    return int(np.random.SeedSequence([master_seed, model_id]).generate_state(1, dtype=np.uint32)[0])


def balanced_keep(n_models: int, n_examples: int, seed: int) -> np.ndarray:
    """Balanced membership matrix: each example is IN for exactly ``n_models // 2`` models.

    Returns:
        keep: bool [K, N]; column n has exactly K/2 True entries, chosen uniformly at random.
    """
    if n_models % 2:
        raise ValueError(f"n_models must be even for a balanced keep matrix, got {n_models}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x6B656570]))
    order = rng.random((n_examples, n_models)).argsort(axis=1)
    return (order < n_models // 2).T.copy()


def init_states(model_name: str, in_shape: tuple[int, int, int], n_classes: int, seeds: list[int]) -> list[nn.Module]:
    """One freshly initialised model per seed (PyTorch's default init under ``torch.manual_seed(seed)``)."""
    out = []
    for s in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(s)
            out.append(models.build(model_name, in_shape, n_classes))
    return out


def batch_schedule(
    keep: np.ndarray, seeds: list[int], epochs: int, batch_size: int, n_in_max: int | None = None
) -> torch.Tensor:
    """Per-model minibatch indices for the whole run.

    Every epoch, model k visits a fresh random permutation of its IN examples; the last batch is topped up with
    examples drawn from a second permutation so that all models take the same number of steps
    ``ceil(n_in_max / batch_size)`` per epoch (n_in_max = the largest IN-set size in the pool).

    Args:
        keep: bool [K, N] IN mask of the models being trained.
        seeds: K per-model seeds (:func:`model_seed`).
        n_in_max: IN-set size that fixes the step count (default: the largest row sum of ``keep``); pass the
            whole pool's value so that a model's schedule does not depend on which shard it is trained in.
    Returns:
        idx: int64 [epochs, steps, K, B] example indices.
    """
    keep = np.asarray(keep, dtype=bool)
    k, n = keep.shape
    n_in = keep.sum(1)
    if (n_in == 0).any():
        raise ValueError("a model has an empty training set")
    n_in_max = int(n_in.max() if n_in_max is None else n_in_max)
    steps = -(-n_in_max // batch_size)
    length = steps * batch_size
    out = np.empty((epochs, steps, k, batch_size), dtype=np.int64)
    for m in range(k):
        rng = np.random.default_rng(np.random.SeedSequence([seeds[m], 0x62617463]))
        members = np.flatnonzero(keep[m])
        for e in range(epochs):
            seq = rng.permutation(members)
            while seq.size < length:
                seq = np.concatenate([seq, rng.permutation(members)])
            out[e, :, m, :] = seq[:length].reshape(steps, batch_size)
    return torch.from_numpy(out)


def _loss_fn(base: nn.Module):
    def loss(params, buffers, xb, yb):
        return nn.functional.cross_entropy(functional_call(base, (params, buffers), (xb,)), yb)

    return loss


def _regularized_loss_fn(base: nn.Module, recipe: Recipe):
    def loss(params, buffers, xb, yb, noise):
        def forward(x, drop):
            return functional_call(base, (params, buffers), (x, drop))

        return regularization.loss(forward, xb, yb, noise, recipe)

    return loss


def _noise(recipe: Recipe, seeds, y: torch.Tensor, module: nn.Module, reference) -> regularization.Noise | None:
    """The defenses' random draws for models ``seeds`` (None for a plain recipe)."""
    if not recipe.regularized:
        return None
    if seeds is None:
        raise ValueError("a recipe with defenses needs the models' seeds (seeds=...) for its random draws")
    if recipe.mmd_weight > 0 and reference is None:
        raise ValueError("a recipe with the MMD defense needs the defender's reference set (reference=(X, y))")
    width = models.features_width(module) if recipe.dropout > 0 else None
    ref_y = None if reference is None else reference[1].cpu().numpy()
    return regularization.Noise(seeds, recipe, y.cpu().numpy(), ref_y, width)


def train_vmapped(
    modules: list[nn.Module],
    X: torch.Tensor,
    y: torch.Tensor,
    schedule: torch.Tensor,
    recipe: Recipe,
    dev: torch.device | None = None,
    progress: bool | None = None,
    desc: str = "training pool",
    seeds: list[int] | None = None,
    reference: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[dict, dict]:
    """Train K models at once with ``vmap`` over stacked parameters.

    MLPs take the faster path of :mod:`mia_lib.stacked` (the backward written out, gradients into buffers kept for
    the run, no ``vmap``); every other architecture goes through ``vmap(functional_call(...))``.

    Args:
        modules: K initialised models of one architecture (from :func:`init_states`); not modified.
        X: float32 [N, C, H, W] training inputs; y: int64 [N] labels.
        schedule: int64 [epochs, steps, K, B] from :func:`batch_schedule`.
        recipe: optimisation recipe; dev: device (default: :func:`device`).
        progress: a bar over epochs (:func:`mia_lib.progress.enabled` decides when None).
        seeds: the K models' seeds (:func:`model_seed`), needed when the recipe has defenses (their random draws).
        reference: (X [R, C, H, W], y [R]) the defender's held-out set, for the MMD defense
            (:func:`mia_lib.regularization.reference_set`).
    Returns:
        (params, buffers): dicts name → stacked tensor [K, ...] on ``dev`` (detached).
    """
    dev = dev or device()
    noise = _noise(recipe, seeds, y, modules[0], reference)
    params, buffers = stack_module_state([m.to(dev) for m in modules])
    params = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    plain_mlp = stacked.supports(modules[0], buffers) and recipe.precision != "bf16" and noise is None
    fast = stacked.MLPStep(params) if plain_mlp else None
    if fast is None:
        base = copy.deepcopy(modules[0]).to("meta").train()
        fn = _loss_fn(base) if noise is None else _regularized_loss_fn(base, recipe)
        step_loss = vmap(fn, randomness="different")
    opt = recipe.make_optimizer(list(params.values()), dev)
    X, y = X.to(dev), y.to(dev)
    ref_X = None if reference is None else reference[0].to(dev)
    epochs, steps = schedule.shape[:2]
    with numerics(recipe.precision, dev):
        for e in bar(range(epochs), progress, desc=desc, unit="epoch", leave=False):
            epoch = schedule[e].to(dev, non_blocking=True)  # one copy per epoch, no host sync inside the loop
            drawn = None if noise is None else {k: v.to(dev) for k, v in noise.epoch(schedule[e]).items()}
            for s in range(steps):
                idx = epoch[s]
                if fast is not None:
                    fast(X[idx], y[idx])  # gradients into the kept .grad buffers
                else:
                    opt.zero_grad(set_to_none=True)
                    draws = () if drawn is None else (regularization.step(drawn, s, ref_X),)
                    step_loss(params, buffers, X[idx], y[idx], *draws).sum().backward()
                opt.step()
    return {k: v.detach() for k, v in params.items()}, buffers


def train_loop(
    modules: list[nn.Module],
    X: torch.Tensor,
    y: torch.Tensor,
    schedule: torch.Tensor,
    recipe: Recipe,
    dev: torch.device | None = None,
    progress: bool | None = None,
    seeds: list[int] | None = None,
    reference: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> list[nn.Module]:
    """Train the same K models one after the other (same init, same batches, same draws of the defenses): the
    reference for the pool.

    Args: as :func:`train_vmapped`. Returns: the K trained modules (copies; inputs untouched).
    """
    dev = dev or device()
    ref_X = None if reference is None else reference[0].to(dev)
    Xd, yd = X.to(dev), y.to(dev)
    trained = []
    epochs, steps = schedule.shape[:2]
    for k, module in enumerate(bar(modules, progress, desc="training loop", leave=False)):
        noise = _noise(recipe, None if seeds is None else seeds[k : k + 1], y, module, reference)
        model = copy.deepcopy(module).to(dev).train()
        opt = recipe.make_optimizer(list(model.parameters()), dev)
        with numerics(recipe.precision, dev):
            for e in range(epochs):
                drawn = (
                    None if noise is None else {n: v.to(dev) for n, v in noise.epoch(schedule[e, :, k : k + 1]).items()}
                )
                for s in range(steps):
                    idx = schedule[e, s, k].to(dev)
                    opt.zero_grad(set_to_none=True)
                    if drawn is None:
                        loss = nn.functional.cross_entropy(model(Xd[idx]), yd[idx])
                    else:
                        draws = regularization.step(drawn, s, ref_X, model=0)
                        loss = regularization.loss(model, Xd[idx], yd[idx], draws, recipe)
                    loss.backward()
                    opt.step()
        trained.append(model)
    return trained


@torch.no_grad()
def predict_vmapped(
    module: nn.Module, params: dict, buffers: dict, X: torch.Tensor, views=None, chunk: int = 1024
) -> torch.Tensor:
    """Logits of K stacked models on A query views of N examples, in eval mode.

    Args:
        module: one model of the architecture (structure only); params/buffers: stacked [K, ...].
        X: float32 [N, C, H, W] examples.
        views: function mapping a chunk [n, C, H, W] to its query views [A, n, C, H, W] (default: identity only,
            A = 1); applied chunk by chunk so all views of a large dataset never sit in memory at once.
    Returns:
        logits: float32 [K, N, A, n_classes] on the CPU.
    """
    dev = next(iter(params.values())).device
    base = copy.deepcopy(module).to("meta").eval()
    fwd = vmap(lambda p, b, xb: functional_call(base, (p, b), (xb,)), in_dims=(0, 0, None))
    parts = []
    for i in range(0, X.shape[0], chunk):
        v = views(X[i : i + chunk]) if views is not None else X[i : i + chunk].unsqueeze(0)
        a, n = v.shape[:2]
        out = fwd(params, buffers, v.flatten(0, 1).to(dev)).cpu()  # [K, A*n, C]
        parts.append(out.unflatten(1, (a, n)).transpose(1, 2))
    return torch.cat(parts, dim=1)
