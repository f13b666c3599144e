"""Differential privacy: DP-SGD through Opacus, a vmapped DP-SGD pool trainer with Opacus's semantics, the
accountant, and the bounds that DP puts on any membership inference attack.

* :func:`train_opacus` trains one model with Opacus (``PrivacyEngine``, Poisson sampling, per-sample clipping,
  Gaussian noise) and reports the accountant's ε(δ).
* :func:`train_dp_vmapped` trains K models at once with the same algorithm. One step of model k, exactly as
  Opacus's ``DPOptimizer`` does it:

  1. Poisson sampling: every example of model k's training set joins the batch independently with probability q
     (:func:`poisson_batches`; batches are padded to a common length and the padding is masked out);
  2. per-sample gradients g_i of the per-sample loss, their norm over *all* parameters, clip factor
     c_i = min(1, C / (‖g_i‖ + 1e-6)) (Opacus's formula, including its 1e-6);
  3. sum Σ_i c_i g_i, plus Gaussian noise N(0, σ²C²) per coordinate (one generator per model);
  4. divide by the expected batch size ⌊n_k q⌋ (``loss_reduction="mean"``) and take an ordinary optimizer step.

  Per-sample gradients come from one ``torch.func.vmap``-ed ``functional_call`` over the stacked models, which
  returns each layer's input a_i, and one backward pass to a zero "probe" added to each layer's output, which
  gives the gradient δ_i of the per-sample loss with respect to that output (examples never mix, so the gradient
  of the summed loss is every example's own). For ``nn.Linear`` the per-sample weight gradient is δ_i a_iᵀ, so its norm is
  ‖δ_i‖·‖a_i‖ and the clipped sum is one batched matmul Σ_i c_i δ_i a_iᵀ: the per-sample gradients are never
  materialised. ``nn.Conv2d`` uses the unfolded input, as Opacus does. This is exact (a test checks it against
  Opacus and against materialised ``torch.func.grad`` per-sample gradients) and about as fast as a non-private
  vmapped step; materialising per-sample gradients with ``vmap(vmap(grad))`` was slower per model than Opacus
  itself on CPU. ``method="materialize"`` keeps that route for other layer types.
* :func:`epsilon` and :func:`noise_multiplier_for` are Opacus's accountants (RDP, PRV) and ``get_noise_multiplier``.
* :func:`load_or_train_dp_pool` is :func:`mia_lib.pool.load_or_train` for a DP-SGD pool: same
  :class:`~mia_lib.pool.ShadowPool`, same cache (keyed by the experiment's hash plus the DP settings), same shards.
* :func:`yeom_accuracy_bound`, :func:`accuracy_bound`, :func:`tpr_bound` and :func:`posterior_bound` are the
  limits (ε, δ)-DP puts on any attack, drawn in the book.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap
from tqdm import tqdm

from . import cache, data, pool, train
from .config import Experiment

ACCOUNTANTS = ("rdp", "prv")
METHODS = ("auto", "factored", "materialize")
TRAINER_VERSION = "dp-sgd-1"  # part of the cache key; bump when the DP trainer's numerics change


# ---------------------------------------------------------------------------------------------------------------
# Privacy parameters and accounting


def check_privacy(epsilon=None, delta=None, noise_multiplier=None, sample_rate=None) -> None:
    """Validate privacy parameters; raise one ValueError that lists every problem.

    Args: ``epsilon`` > 0 (``math.inf`` allowed: no noise), ``delta`` in (0, 1), ``noise_multiplier`` σ ≥ 0,
    ``sample_rate`` q in (0, 1]. Arguments left as None are not checked.
    """
    errors = []
    if epsilon is not None and not (epsilon > 0):
        errors.append(f"epsilon must be > 0 (math.inf for no noise), got {epsilon}")
    if delta is not None and not (0 < delta < 1):
        errors.append(f"delta must lie in (0, 1), got {delta}")
    if noise_multiplier is not None and not (noise_multiplier >= 0 and math.isfinite(noise_multiplier)):
        errors.append(f"noise multiplier sigma must be a finite number >= 0, got {noise_multiplier}")
    if sample_rate is not None and not (0 < sample_rate <= 1):
        errors.append(f"sample rate q must lie in (0, 1], got {sample_rate}")
    if errors:
        raise ValueError("Invalid privacy parameters: " + "; ".join(errors) + ".")


def epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str = "rdp") -> float:
    """ε(δ) of ``steps`` Poisson-subsampled Gaussian steps (rate q, noise σ), from Opacus's accountant.

    Args:
        noise_multiplier: σ (noise std / clipping norm); 0 gives ε = inf.
        accountant: ``"rdp"`` (Rényi DP, Opacus's default α grid) or ``"prv"`` (privacy random variables).
    Returns:
        ε, an upper bound on the privacy loss of the training run at this δ.
    """
    from opacus.accountants import create_accountant

    check_privacy(delta=delta, noise_multiplier=noise_multiplier, sample_rate=sample_rate)
    if accountant not in ACCOUNTANTS:
        raise ValueError(f"accountant must be one of {ACCOUNTANTS}, got {accountant!r}")
    if noise_multiplier == 0:
        return math.inf
    if steps == 0:
        return 0.0
    acc = create_accountant(mechanism=accountant)
    acc.history = [(float(noise_multiplier), float(sample_rate), int(steps))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RDP: "optimal order is the largest alpha" at large ε
        return float(acc.get_epsilon(delta=delta))


def noise_multiplier_for(target_epsilon: float, delta: float, sample_rate: float, steps: int,
                         accountant: str = "rdp") -> float:
    """Smallest σ (to Opacus's tolerance 0.01 in ε) whose run has ε(δ) ≤ ``target_epsilon``.

    Wraps ``opacus.accountants.utils.get_noise_multiplier``; ``target_epsilon = math.inf`` gives σ = 0.
    """
    from opacus.accountants.utils import get_noise_multiplier

    check_privacy(epsilon=target_epsilon, delta=delta, sample_rate=sample_rate)
    if math.isinf(target_epsilon):
        return 0.0
    if accountant == "rdp" and target_epsilon <= rdp_epsilon_floor(delta):
        raise ValueError(f"No noise multiplier reaches epsilon={target_epsilon} at delta={delta} under the rdp "
                         f"accountant: even infinite noise gives epsilon {rdp_epsilon_floor(delta):.3f} with Opacus's "
                         f"orders; raise epsilon or delta, or use accountant='prv'.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return float(get_noise_multiplier(target_epsilon=target_epsilon, target_delta=delta,
                                              sample_rate=sample_rate, steps=int(steps), accountant=accountant))
        except ValueError as e:  # Opacus: "The privacy budget is too low."
            raise ValueError(f"No noise multiplier reaches epsilon={target_epsilon} at delta={delta} with q="
                             f"{sample_rate:.4g} and {steps} steps under the {accountant} accountant ({e}); "
                             f"raise epsilon or delta, or use the other accountant.") from None


def rdp_epsilon_floor(delta: float) -> float:
    """The smallest ε Opacus's RDP accountant can certify at ``delta`` (zero RDP at its default orders)."""
    from opacus.accountants import RDPAccountant
    from opacus.accountants.analysis.rdp import get_privacy_spent

    orders = RDPAccountant.DEFAULT_ALPHAS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(get_privacy_spent(orders=orders, rdp=np.zeros(len(orders)), delta=delta)[0])


def opacus_sample_rate(n: int, batch_size: int) -> float:
    """Opacus's Poisson sample rate for a DataLoader of ``n`` examples in batches of ``batch_size``: 1/⌈n/B⌉."""
    return 1.0 / math.ceil(n / batch_size)


def expected_batch_size(n: int, sample_rate: float) -> int:
    """Opacus's divisor for ``loss_reduction="mean"``: ⌊n q⌋ (at least 1)."""
    return max(1, int(n * sample_rate))


@dataclass(frozen=True)
class DPSettings:
    """Everything that fixes a DP-SGD run's privacy: the mechanism (σ, q, steps, C) and its ε(δ).

    ``epsilon`` is the target given by the user; ``epsilon_rdp`` and ``epsilon_prv`` are what the two accountants
    give for (σ, q, steps) (σ was chosen with ``accountant``).
    """

    epsilon: float
    delta: float
    max_grad_norm: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    accountant: str
    epsilon_rdp: float
    epsilon_prv: float

    def to_dict(self) -> dict:
        """Plain dict (inf as the string "inf" so the JSON stays standard)."""
        return {k: ("inf" if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(self).items()}


@functools.lru_cache(maxsize=256)
def settings(epsilon_target: float, delta: float, n_train: float, batch_size: int, epochs: int,
             max_grad_norm: float = 1.0, accountant: str = "rdp") -> DPSettings:
    """DP-SGD settings for a target ε: q from Opacus's convention, steps = epochs / q, σ from the accountant.

    Args:
        n_train: training-set size (for a pool: the mean IN-set size); batch_size: expected batch size.
    Returns:
        :class:`DPSettings`; the PRV ε is NaN when Opacus's PRV accountant cannot evaluate these parameters.
        Results are memoised (the σ search takes seconds).
    """
    check_privacy(epsilon=epsilon_target, delta=delta)
    if not (max_grad_norm > 0):
        raise ValueError(f"max_grad_norm (clipping norm C) must be > 0, got {max_grad_norm}")
    q = opacus_sample_rate(int(math.ceil(n_train)), batch_size)
    steps = int(epochs * round(1 / q))
    sigma = noise_multiplier_for(epsilon_target, delta, q, steps, accountant)
    eps = {}
    for acc in ACCOUNTANTS:
        try:
            eps[acc] = epsilon(sigma, q, steps, delta, acc)
        except (ValueError, RuntimeError):  # PRV refuses some (σ, q, steps) (Opacus issue #591)
            eps[acc] = math.nan
    return DPSettings(float(epsilon_target), float(delta), float(max_grad_norm), sigma, q, steps, accountant,
                      eps["rdp"], eps["prv"])


# ---------------------------------------------------------------------------------------------------------------
# Per-sample clipping, vectorised over models


def poisson_batches(keep: np.ndarray, seeds: list[int], sample_rate: float, steps: int):
    """Poisson-sampled minibatches for K models, one step at a time.

    At every step each IN example of model k joins its batch independently with probability ``sample_rate``
    (Opacus's ``UniformWithReplacementSampler`` semantics, drawn from a generator seeded by model k's seed, so a
    model's batches do not depend on the other models). Batches are padded to the step's largest batch.

    Args:
        keep: bool [K, N] training sets; seeds: K per-model seeds; steps: number of steps.
    Yields:
        (idx int64 [K, b], valid bool [K, b]): example indices and a mask of the real (non-padding) entries; the
        real entries come first, in increasing index order. b ≥ 1 (all-padding when every batch is empty).
    """
    check_privacy(sample_rate=sample_rate)
    keep = np.asarray(keep, dtype=bool)
    members = [np.flatnonzero(row) for row in keep]
    rngs = [np.random.default_rng(np.random.SeedSequence([int(s), 0x706F6973])) for s in seeds]
    for _ in range(steps):
        chosen = [m[r.random(m.size) < sample_rate] for m, r in zip(members, rngs)]
        b = max(1, max(c.size for c in chosen))
        idx = np.zeros((len(chosen), b), dtype=np.int64)
        valid = np.zeros((len(chosen), b), dtype=bool)
        for k, c in enumerate(chosen):
            idx[k, :c.size], valid[k, :c.size] = c, True
        yield torch.from_numpy(idx), torch.from_numpy(valid)


def _check_dp_compatible(module: nn.Module) -> None:
    bad = [type(m).__name__ for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if bad:
        raise ValueError(f"DP-SGD needs per-example gradients, but the model has {bad[0]} layers, which mix the "
                         f"examples of a batch; use a model without BatchNorm (mlp, cnn32, cnn64).")


def _factorable(module: nn.Module) -> bool:
    names = set()
    for prefix, m in module.named_modules():
        own = [n for n, _ in m.named_parameters(recurse=False)]
        if not own:
            continue
        if isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.groups == 1 and m.padding_mode == "zeros"
                                        and isinstance(m.padding, tuple)):
            names |= {f"{prefix}.{n}" for n in own}
        else:
            return False
    return names == {n for n, _ in module.named_parameters()}


class PerSampleClipper:
    """Clipped per-sample gradient sums for K stacked models of one architecture.

    Call with (params, buffers, x, y, valid, max_grad_norm) where params/buffers are stacked {name: [K, ...]},
    x [K, B, C, H, W], y int64 [K, B], valid bool/float [K, B] (0 for padding). Returns (sums, norms):
    sums {name: [K, ...]} = Σ_i c_i g_i with Opacus's clip factor c_i = min(1, C / (‖g_i‖ + 1e-6)) · valid_i, and
    norms [K, B] = ‖g_i‖ (2-norm over all parameters of the per-sample loss gradient).

    Args:
        module: one model of the architecture (structure only; copied to the meta device).
        method: ``"factored"`` (Linear/Conv2d layers; per-sample gradients from layer inputs and output
            gradients), ``"materialize"`` (``torch.func`` ``vmap(vmap(grad))``, any layer without BatchNorm), or
            ``"auto"`` (factored when every parameter belongs to a Linear or Conv2d layer).
    """

    def __init__(self, module: nn.Module, method: str = "auto"):
        _check_dp_compatible(module)
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if method == "auto":
            method = "factored" if _factorable(module) else "materialize"
        elif method == "factored" and not _factorable(module):
            raise ValueError("method='factored' needs every parameter in an nn.Linear or nn.Conv2d (groups=1) layer")
        self.method = method
        self.base = copy.deepcopy(module).to("meta")
        self.layers = [(n, m) for n, m in self.base.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
        self._ctx: dict = {}
        if method == "factored":
            for i, (_, m) in enumerate(self.layers):
                m.register_forward_hook(functools.partial(self._hook, i))
        self._shapes: dict = {}

    def _hook(self, i, mod, inp, out):
        self._ctx["acts"].append(inp[0])
        return out + self._ctx["probes"][i]

    def _out_shapes(self, params, buffers, x):
        key = tuple(x.shape[2:])
        if key not in self._shapes:
            shapes = []
            plain = copy.deepcopy(self.base)
            for _, m in plain.named_modules():
                if isinstance(m, (nn.Linear, nn.Conv2d)):
                    m._forward_hooks.clear()
                    m.register_forward_hook(lambda mod, inp, out: shapes.append(tuple(out.shape[1:])))
            plain(x[0, :1].to("meta"))
            self._shapes[key] = shapes
        return self._shapes[key]

    def _forward(self, probes, params, buffers, x):
        self._ctx["acts"], self._ctx["probes"] = [], probes
        out = functional_call(self.base, (params, buffers), (x,))
        acts = tuple(self._ctx["acts"])
        self._ctx.clear()
        return out, acts

    def _factored(self, params, buffers, x, y, valid, max_grad_norm):
        k, b = y.shape
        probes = tuple(torch.zeros(k, b, *s, device=x.device, requires_grad=True)
                       for s in self._out_shapes(params, buffers, x))
        params = {n: p.detach() for n, p in params.items()}
        logits, acts = vmap(self._forward, randomness="different")(probes, params, buffers, x)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum")
        deltas = torch.autograd.grad(loss, probes)
        sq = torch.zeros(k, b, device=x.device, dtype=logits.dtype)
        parts = []
        for (name, m), d, a in zip(self.layers, deltas, acts):
            if isinstance(m, nn.Linear) and a.dim() == 3:  # [K, B, in]: per-sample weight gradient δ aᵀ
                sq = sq + d.pow(2).sum(-1) * (a.pow(2).sum(-1) + (m.bias is not None))
                parts.append((name, m, "outer", d, a))
                continue
            if isinstance(m, nn.Conv2d):
                a = nn.functional.unfold(a.flatten(0, 1), m.kernel_size, m.dilation, m.padding, m.stride)
                a = a.unflatten(0, (k, b))  # [K, B, in·kh·kw, L]
                d = d.flatten(3)  # [K, B, out, L]
            else:  # Linear on [K, B, ..., in]: sum over the extra positions
                a, d = a.flatten(2, -2).transpose(2, 3), d.flatten(2, -2).transpose(2, 3)
            g = torch.einsum("kbol,kbil->kboi", d, a)
            db = d.sum(-1)
            sq = sq + g.pow(2).sum((-1, -2)) + (db.pow(2).sum(-1) if m.bias is not None else 0)
            parts.append((name, m, "full", db, g))
        norms = sq.sqrt()
        c = (max_grad_norm / (norms + 1e-6)).clamp(max=1.0) * valid.to(norms.dtype)
        sums = {}
        for name, m, kind, d, a in parts:
            if kind == "outer":
                sums[f"{name}.weight"] = torch.einsum("kbo,kbi->koi", d * c[..., None], a)
            else:
                sums[f"{name}.weight"] = torch.einsum("kb,kboi->koi", c, a).reshape(k, *m.weight.shape)
            if m.bias is not None:
                sums[f"{name}.bias"] = torch.einsum("kb,kbo->ko", c, d)
        return sums, norms

    def _materialize(self, params, buffers, x, y, valid, max_grad_norm):
        base = self.base

        def one_loss(p, bufs, xi, yi):
            return nn.functional.cross_entropy(functional_call(base, (p, bufs), (xi[None],)), yi[None])

        params = {n: p.detach() for n, p in params.items()}
        per_sample = vmap(vmap(grad(one_loss), in_dims=(None, None, 0, 0)), randomness="different")(
            params, buffers, x, y)
        norms = torch.stack([g.flatten(2).norm(2, dim=-1) for g in per_sample.values()], dim=-1).norm(2, dim=-1)
        c = (max_grad_norm / (norms + 1e-6)).clamp(max=1.0) * valid.to(norms.dtype)
        return {n: torch.einsum("kb,kb...->k...", c, g) for n, g in per_sample.items()}, norms

    def __call__(self, params, buffers, x, y, valid, max_grad_norm: float):
        fn = self._factored if self.method == "factored" else self._materialize
        return fn(params, buffers, x, y, valid, max_grad_norm)


def clipped_grad_sum(module: nn.Module, params: dict, buffers: dict, x: torch.Tensor, y: torch.Tensor,
                     valid: torch.Tensor, max_grad_norm: float, method: str = "auto") -> tuple[dict, torch.Tensor]:
    """Σ_i c_i g_i per model, with Opacus's clipping (see :class:`PerSampleClipper`); noise not added.

    Args:
        module: the architecture; params/buffers: stacked {name: [K, ...]}; x [K, B, C, H, W]; y int64 [K, B];
        valid [K, B] (0 = padding); max_grad_norm: clipping norm C.
    Returns:
        (sums {name: [K, ...]}, norms [K, B] per-sample gradient norms before clipping).
    """
    return PerSampleClipper(module, method)(params, buffers, x, y, valid, max_grad_norm)


def noise_seed(model_seed: int) -> int:
    """Seed of model ``model_seed``'s noise generator (a stream separate from its init and batches)."""
    return int(np.random.SeedSequence([int(model_seed), 0x6E6F6973]).generate_state(1, dtype=np.uint32)[0])


def train_dp_vmapped(modules: list[nn.Module], X: torch.Tensor, y: torch.Tensor, keep: np.ndarray,
                     seeds: list[int], recipe: train.Recipe, max_grad_norm: float, noise_multiplier: float,
                     sample_rate: float, steps: int, dev: torch.device | None = None, progress: bool = True,
                     desc: str = "training DP pool", method: str = "auto") -> tuple[dict, dict]:
    """Train K models at once with DP-SGD (Opacus semantics; see the module docstring).

    Args:
        modules: K initialised models of one architecture (:func:`mia_lib.train.init_states`); not modified.
        X: float32 [N, C, H, W]; y: int64 [N]. keep: bool [K, N] training sets. seeds: K model seeds (batches
            and noise derive from them). recipe: optimizer settings (``epochs``/``batch_size`` are ignored:
            ``sample_rate`` and ``steps`` say how long to train). max_grad_norm: C. noise_multiplier: σ.
    Returns:
        (params, buffers): dicts name → stacked tensor [K, ...] on ``dev`` (detached).
    """
    check_privacy(noise_multiplier=noise_multiplier, sample_rate=sample_rate)
    dev = dev or train.device()
    clipper = PerSampleClipper(modules[0], method)
    params, buffers = stack_module_state([copy.deepcopy(m).to(dev) for m in modules])
    params = {n: p.detach().clone().requires_grad_(True) for n, p in params.items()}
    opt = recipe.make_optimizer(list(params.values()))
    n_in = np.asarray(keep, dtype=bool).sum(1)
    ebs = torch.tensor([expected_batch_size(int(n), sample_rate) for n in n_in], dtype=X.dtype, device=dev)
    gens = [torch.Generator(device=dev).manual_seed(noise_seed(s)) for s in seeds]
    sizes = [p[0].numel() for p in params.values()]
    X, y = X.to(dev), y.to(dev)
    batches = poisson_batches(keep, seeds, sample_rate, steps)
    for idx, valid in tqdm(batches, total=steps, desc=desc, unit="step", disable=not progress, leave=False,
                           mininterval=1.0):
        idx, valid = idx.to(dev), valid.to(dev)
        sums, _ = clipper(params, buffers, X[idx], y[idx], valid, max_grad_norm)
        if noise_multiplier > 0:
            noise = torch.stack([torch.randn(sum(sizes), generator=g, device=dev, dtype=X.dtype) for g in gens])
            noise = noise.mul_(noise_multiplier * max_grad_norm).split(sizes, dim=1)
        for j, (name, p) in enumerate(params.items()):
            g = sums[name]
            if noise_multiplier > 0:
                g = g + noise[j].view_as(g)
            p.grad = g / ebs.view(-1, *([1] * (g.dim() - 1)))
        opt.step()
        opt.zero_grad(set_to_none=True)
    return {n: p.detach() for n, p in params.items()}, buffers


# ---------------------------------------------------------------------------------------------------------------
# One model through Opacus


def train_opacus(module: nn.Module, X: torch.Tensor, y: torch.Tensor, recipe: train.Recipe,
                 max_grad_norm: float = 1.0, noise_multiplier: float | None = None,
                 target_epsilon: float | None = None, delta: float = 1e-5, accountant: str = "rdp",
                 seed: int = 0, dev: torch.device | None = None, sample_rate: float | None = None,
                 ) -> tuple[nn.Module, dict]:
    """Train one model with Opacus DP-SGD: ``PrivacyEngine.make_private`` on a Poisson-sampling ``DPDataLoader``.

    Args:
        module: an initialised model (trained in place and returned, hooks removed).
        X: float32 [n, C, H, W] its training set; y: int64 [n].
        recipe: optimizer, ``epochs`` and ``batch_size``: q = 1/⌈n/B⌉ (what ``make_private(poisson_sampling=True)``
            uses) unless ``sample_rate`` is given (it must be 1/integer); steps = epochs/q.
        noise_multiplier or target_epsilon: give exactly one; σ for a target ε comes from :func:`noise_multiplier_for`
            with ``accountant`` (the same accountant then tracks the run).
        seed: seeds the Poisson sampler and the noise.
    Returns:
        (model in eval mode, info dict with ``noise_multiplier``, ``sample_rate``, ``steps``, ``epsilon`` (from
        the engine's own accountant after training), ``accountant``, ``delta``, ``seconds`` (training loop only)).
    """
    from opacus import PrivacyEngine
    from opacus.data_loader import DPDataLoader
    from torch.utils.data import TensorDataset

    if (noise_multiplier is None) == (target_epsilon is None):
        raise ValueError("give exactly one of noise_multiplier and target_epsilon")
    check_privacy(epsilon=target_epsilon, delta=delta, noise_multiplier=noise_multiplier)
    _check_dp_compatible(module)
    dev = dev or train.device()
    q = opacus_sample_rate(len(X), recipe.batch_size) if sample_rate is None else float(sample_rate)
    check_privacy(sample_rate=q)
    if abs(1 / q - round(1 / q)) > 1e-6:
        raise ValueError(f"Opacus derives q from the number of batches per epoch, so q must be 1/integer; got {q}")
    steps = int(recipe.epochs * round(1 / q))
    sigma = noise_multiplier if noise_multiplier is not None else noise_multiplier_for(
        target_epsilon, delta, q, steps, accountant)
    module = module.to(dev).train()
    loader = DPDataLoader(TensorDataset(X.to(dev), y.to(dev)), sample_rate=q,
                          generator=torch.Generator(device="cpu").manual_seed(seed))
    loader.batch_sampler.steps = round(1 / q)  # batches per epoch; make_private reads q back as 1/len(loader)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Opacus warns about secure_mode=False (we want reproducible runs)
        engine = PrivacyEngine(accountant=accountant)
        gsm, opt, loader = engine.make_private(
            module=module, optimizer=recipe.make_optimizer(module.parameters()), data_loader=loader,
            noise_multiplier=sigma, max_grad_norm=max_grad_norm, poisson_sampling=False,  # already Poisson
            noise_generator=torch.Generator(device=dev).manual_seed(noise_seed(seed)))
    if opt.expected_batch_size != expected_batch_size(len(X), q):
        raise RuntimeError("Opacus's expected batch size differs from the pool trainer's")
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "full backward hook is firing ..." (inputs do not require grad)
        for _ in range(recipe.epochs):
            for xb, yb in loader:
                opt.zero_grad(set_to_none=True)
                nn.functional.cross_entropy(gsm(xb), yb).backward()
                opt.step()
    seconds = time.perf_counter() - t0
    gsm.remove_hooks()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eps_engine = engine.get_epsilon(delta) if sigma > 0 else math.inf
    info = {"noise_multiplier": sigma, "sample_rate": q, "steps": steps, "epsilon": float(eps_engine),
            "accountant": accountant, "delta": delta, "seconds": seconds}
    return gsm._module.eval(), info


def opacus_twin(shadow: pool.ShadowPool, k: int = 0, dev: torch.device | None = None) -> tuple[np.ndarray, dict]:
    """Train model ``k`` of a DP pool once more, alone, through Opacus (:func:`train_opacus`).

    Same initial weights, training set, recipe, sample rate q, steps, clipping norm and σ as the pool's model
    ``k``; Opacus draws its own Poisson batches and noise, so the twin agrees with the pool model in distribution,
    not bit for bit.

    Args:
        shadow: a pool from :func:`load_or_train_dp_pool` (it carries ``.dp``).
    Returns:
        (logits float32 [N, A, C] on the pool's query views, the info dict of :func:`train_opacus`).
    """
    cfg, ds, s = shadow.cfg, shadow.dataset, shadow.dp
    dev = dev or train.device(cfg.device)
    seed = train.model_seed(cfg.seed, k)
    module = train.init_states(cfg.model, tuple(ds.X.shape[1:]), ds.n_classes, [seed])[0]
    members = torch.from_numpy(np.flatnonzero(shadow.keep[k]))
    model, info = train_opacus(module, ds.X[members], ds.y[members], pool._recipe(cfg), s.max_grad_norm,
                               noise_multiplier=s.noise_multiplier, delta=s.delta, accountant=s.accountant,
                               seed=seed, dev=dev, sample_rate=s.sample_rate)
    params, buffers = stack_module_state([model])
    views = functools.partial(data.query_views, n_queries=cfg.n_queries, flippable=ds.flippable)
    logits = train.predict_vmapped(model, {n: p.detach() for n, p in params.items()}, buffers, ds.X, views)
    return logits[0].numpy(), info


def opacus_twin_check(shadow: pool.ShadowPool, model_ids, dev: torch.device | None = None) -> list[dict]:
    """Compare pool models with their Opacus twins (:func:`opacus_twin`) on accountant ε, accuracy and LiRA.

    Both a pool model k and its twin are attacked with online LiRA whose shadow models are the pool minus model k.

    Args:
        shadow: a DP pool; model_ids: the models to retrain through Opacus.
    Returns:
        one dict per model: ``model``, ``opacus_eps`` (Opacus's own accountant), ``pool_eps`` (the pool's RDP ε),
        ``opacus_test_acc``, ``pool_test_acc``, ``opacus_lira_auroc``, ``pool_lira_auroc``.
    """
    from . import metrics, signals
    from .attacks import lira

    rows = []
    for k in model_ids:
        logits, info = opacus_twin(shadow, k, dev)
        keep = np.concatenate([shadow.keep, shadow.keep[k:k + 1]])
        phi = np.concatenate([shadow.phi, signals.phi(logits[None], shadow.y)])
        others = np.delete(np.arange(shadow.n_shadow), k)
        s = lira.lira_scores(phi, keep, target_ids=[k, shadow.n_shadow], shadow_ids=others, variants=["online"])
        rows.append({"model": int(k), "opacus_eps": info["epsilon"], "pool_eps": shadow.dp.epsilon_rdp,
                     "opacus_test_acc": signals.correct(logits[None, :, 0], shadow.y)[0][~shadow.keep[k]].mean(),
                     "pool_test_acc": shadow.test_acc[k],
                     "opacus_lira_auroc": metrics.auroc(s["online"][1], shadow.keep[k]),
                     "pool_lira_auroc": metrics.auroc(s["online"][0], shadow.keep[k])})
    return rows


# ---------------------------------------------------------------------------------------------------------------
# Cached DP pools


def dp_pool_key(cfg: Experiment, epsilon: float, delta: float = 1e-5, max_grad_norm: float = 1.0,
                accountant: str = "rdp") -> str:
    """Cache key of a DP pool: SHA-256 of the experiment's hash, the DP request and the trainer version.

    (σ, q and steps follow deterministically from these, so they are stored next to the pool, not hashed.)
    """
    request = {"epsilon": "inf" if math.isinf(epsilon) else float(epsilon), "delta": float(delta),
               "max_grad_norm": float(max_grad_norm), "accountant": accountant}
    canonical = json.dumps({"experiment": cfg.hash(), "dp": request, "trainer": TRAINER_VERSION},
                           sort_keys=True, separators=(",", ":"))
    return "dp-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def dp_settings_for(cfg: Experiment, epsilon: float, delta: float = 1e-5, max_grad_norm: float = 1.0,
                    accountant: str = "rdp") -> DPSettings:
    """The :class:`DPSettings` a DP pool for ``cfg`` uses: n_train = mean IN-set size (N/2 on a balanced pool),
    expected batch ``cfg.batch_size``, ``cfg.epochs`` epochs."""
    n = len(pool.load_data(cfg))
    return settings(float(epsilon), float(delta), n / 2, cfg.batch_size, cfg.epochs, float(max_grad_norm),
                    accountant)


def _train_dp_shard(cfg, ds, keep, ids, s: DPSettings, dev, progress, desc):
    seeds = [train.model_seed(cfg.seed, int(m)) for m in ids]
    modules = train.init_states(cfg.model, tuple(ds.X.shape[1:]), ds.n_classes, seeds)
    params, buffers = train_dp_vmapped(modules, ds.X, ds.y, keep[ids], seeds, pool._recipe(cfg), s.max_grad_norm,
                                       s.noise_multiplier, s.sample_rate, s.steps, dev, progress, desc)
    views = functools.partial(data.query_views, n_queries=cfg.n_queries, flippable=ds.flippable)
    logits = train.predict_vmapped(modules[0], params, buffers, ds.X, views).numpy()
    return logits, {**params, **buffers}


def load_or_train_dp_pool(cfg: Experiment, epsilon: float, delta: float = 1e-5, progress: bool = True,
                          store: str | Path | None = None, on_shard_done=None, max_grad_norm: float = 1.0,
                          accountant: str = "rdp") -> pool.ShadowPool:
    """Load or train a pool of DP-SGD models: :func:`mia_lib.pool.load_or_train` with the DP trainer.

    Same keep matrix, initial weights and query views as the non-private pool of ``cfg``; each model trains with
    DP-SGD (clipping norm ``max_grad_norm``, q = 1/⌈(N/2)/B⌉, ``cfg.epochs`` epochs, σ chosen for (``epsilon``,
    ``delta``) by ``accountant``; ``epsilon=math.inf`` clips without noise). Shards are cached atomically under
    :func:`dp_pool_key` (next to a ``config.json`` holding the :class:`DPSettings`, so a cache hit needs no
    accountant call) and an interrupted run resumes; ``cfg.save_params`` keeps the parameters.

    Returns:
        a :class:`mia_lib.pool.ShadowPool`, with the run's :class:`DPSettings` attached as ``.dp``.
    """
    check_privacy(epsilon=epsilon, delta=delta)
    key = dp_pool_key(cfg, epsilon, delta, max_grad_norm, accountant)
    saved = cache.load_json(cache.entry(key, store) / "config.json")
    if saved is not None and "dp" in saved:
        s = DPSettings(**{k: (math.inf if v == "inf" else v) for k, v in saved["dp"].items()})
    else:
        n_examples = len(pool.load_data(cfg))
        s = settings(float(epsilon), float(delta), n_examples / 2, cfg.batch_size, cfg.epochs, float(max_grad_norm),
                     accountant)

    def train_shard(cfg, ds, keep, ids, dev, progress, desc):
        return _train_dp_shard(cfg, ds, keep, ids, s, dev, progress, desc)

    out = pool.load_or_train(cfg, progress, store, on_shard_done, train_shard=train_shard, key=key,
                             extra_config={"dp": s.to_dict(), "trainer": TRAINER_VERSION})
    out.dp = s
    return out


# ---------------------------------------------------------------------------------------------------------------
# What (ε, δ)-DP promises about membership inference


def yeom_accuracy_bound(eps) -> np.ndarray:
    """Yeom et al.'s bound on a balanced-prior attacker's accuracy under ε-DP: min(1, e^ε / 2) (advantage ≤ e^ε − 1).

    It promises nothing (reaches 1) from ε = ln 2 on.
    """
    return np.minimum(1.0, np.exp(np.asarray(eps, dtype=np.float64)) / 2)


def accuracy_bound(eps, delta: float = 0.0) -> np.ndarray:
    """The tight bound on a balanced-prior attacker's accuracy under (ε, δ)-DP, from the hypothesis-testing region:
    (1 + max(TPR − FPR)) / 2 with max(TPR − FPR) = (e^ε − 1)(1 − δ)/(e^ε + 1) + δ; e^ε/(1 + e^ε) when δ = 0."""
    e = np.exp(np.asarray(eps, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        adv = np.where(np.isinf(e), 1.0, (e - 1) * (1 - delta) / (e + 1) + delta)
    return (1 + np.minimum(adv, 1.0)) / 2


def tpr_bound(fpr, eps: float, delta: float = 0.0) -> np.ndarray:
    """Largest TPR any attack can have at false-positive rate ``fpr`` against an (ε, δ)-DP mechanism.

    The region is TPR ≤ e^ε FPR + δ and 1 − FPR ≤ e^ε (1 − TPR) + δ (Kairouz et al.), i.e.
    TPR ≤ min(1, e^ε FPR + δ, 1 − e^{−ε}(1 − δ − FPR)). Args: fpr array [P] in [0, 1]. Returns: [P].
    """
    f = np.asarray(fpr, dtype=np.float64)
    if math.isinf(eps):
        return np.ones_like(f)
    e = math.exp(eps)
    return np.clip(np.minimum(e * f + delta, 1 - (1 - delta - f) / e), 0.0, 1.0)


def posterior_bound(prior, eps: float, kind: str = "bayes") -> np.ndarray:
    """Largest posterior belief in membership after seeing an ε-DP output, for prior ``prior`` [P].

    ``kind="bayes"``: the likelihood ratio is at most e^ε, so posterior ≤ e^ε p / (e^ε p + 1 − p).
    ``kind="pmp"``: Li et al.'s positive membership privacy with γ = e^ε (DP ⇔ PMP under mutually independent
    priors): posterior ≤ min(γ p, 1 − (1 − p)/γ), the bound on Ninghui Li's slides.
    """
    p = np.asarray(prior, dtype=np.float64)
    g = math.exp(eps)
    if kind == "bayes":
        return g * p / (g * p + 1 - p)
    if kind == "pmp":
        return np.minimum(g * p, 1 - (1 - p) / g)
    raise ValueError(f"kind must be 'bayes' or 'pmp', got {kind!r}")
