"""The Opacus reference: one model trained with Opacus's ``PrivacyEngine`` (:func:`train_opacus`), and the twin
checks that retrain models of a DP pool through Opacus and compare them with the pool's (:func:`opacus_twin`,
:func:`opacus_twin_check`)."""

from __future__ import annotations

import functools
import math
import time
import warnings

import numpy as np
import torch
from torch import nn
from torch.func import stack_module_state

from .. import data, pool, train
from .accounting import check_privacy, expected_batch_size, noise_multiplier_for, opacus_sample_rate
from .clipping import _check_dp_compatible, noise_seed


def train_opacus(
    module: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    recipe: train.Recipe,
    max_grad_norm: float = 1.0,
    noise_multiplier: float | None = None,
    target_epsilon: float | None = None,
    delta: float = 1e-5,
    accountant: str = "rdp",
    seed: int = 0,
    dev: torch.device | None = None,
    sample_rate: float | None = None,
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
    sigma = (
        noise_multiplier
        if noise_multiplier is not None
        else noise_multiplier_for(target_epsilon, delta, q, steps, accountant)
    )
    module = module.to(dev).train()
    loader = DPDataLoader(
        TensorDataset(X.to(dev), y.to(dev)), sample_rate=q, generator=torch.Generator(device="cpu").manual_seed(seed)
    )
    loader.batch_sampler.steps = round(1 / q)  # batches per epoch; make_private reads q back as 1/len(loader)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Opacus warns about secure_mode=False (we want reproducible runs)
        engine = PrivacyEngine(accountant=accountant)
        gsm, opt, loader = engine.make_private(
            module=module,
            optimizer=recipe.make_optimizer(module.parameters()),
            data_loader=loader,
            noise_multiplier=sigma,
            max_grad_norm=max_grad_norm,
            poisson_sampling=False,  # already Poisson
            noise_generator=torch.Generator(device=dev).manual_seed(noise_seed(seed)),
        )
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
    info = {
        "noise_multiplier": sigma,
        "sample_rate": q,
        "steps": steps,
        "epsilon": float(eps_engine),
        "accountant": accountant,
        "delta": delta,
        "seconds": seconds,
    }
    return gsm._module.eval(), info


def opacus_twin(shadow: pool.ShadowPool, k: int = 0, dev: torch.device | None = None) -> tuple[np.ndarray, dict]:
    """Train model ``k`` of a DP pool once more, alone, through Opacus (:func:`train_opacus`).

    Same initial weights, training set, recipe, sample rate q, steps, clipping norm and σ as the pool's model
    ``k``; Opacus draws its own Poisson batches and noise, so the twin agrees with the pool model in distribution,
    not bit for bit.

    Args:
        shadow: a pool from :func:`mia_lib.dp.pools.load_or_train_dp_pool` (it carries ``.dp``).
    Returns:
        (logits float32 [N, A, C] on the pool's query views, the info dict of :func:`train_opacus`).
    """
    cfg, ds, s = shadow.cfg, shadow.dataset, shadow.dp
    dev = dev or train.device(cfg.device)
    seed = train.model_seed(cfg.seed, k)
    module = train.init_states(cfg.model, tuple(ds.X.shape[1:]), ds.n_classes, [seed])[0]
    members = torch.from_numpy(np.flatnonzero(shadow.keep[k]))
    model, info = train_opacus(
        module,
        ds.X[members],
        ds.y[members],
        pool.recipe(cfg),
        s.max_grad_norm,
        noise_multiplier=s.noise_multiplier,
        delta=s.delta,
        accountant=s.accountant,
        seed=seed,
        dev=dev,
        sample_rate=s.sample_rate,
    )
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

    Used in chapter 6.
    """
    from .. import metrics, signals
    from ..attacks import lira

    rows = []
    for k in model_ids:
        logits, info = opacus_twin(shadow, k, dev)
        keep = np.concatenate([shadow.keep, shadow.keep[k : k + 1]])
        phi = np.concatenate([shadow.phi, signals.phi(logits[None], shadow.y)])
        others = np.delete(np.arange(shadow.n_shadow), k)
        s = lira.lira_scores(phi, keep, target_ids=[k, shadow.n_shadow], shadow_ids=others, variants=["online"])
        rows.append(
            {
                "model": int(k),
                "opacus_eps": info["epsilon"],
                "pool_eps": shadow.dp.epsilon_rdp,
                "opacus_test_acc": signals.correct(logits[None, :, 0], shadow.y)[0][~shadow.keep[k]].mean(),
                "pool_test_acc": shadow.test_acc[k],
                "opacus_lira_auroc": metrics.auroc(s["online"][1], shadow.keep[k]),
                "pool_lira_auroc": metrics.auroc(s["online"][0], shadow.keep[k]),
            }
        )
    return rows
