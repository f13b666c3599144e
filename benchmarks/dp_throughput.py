"""DP-SGD throughput: the vmapped DP pool against Opacus one model at a time, measured side by side in one run.

Same K models (same initial weights, same training sets), same recipe (SGD with momentum, Poisson sampling at
q = 1/⌈n/B⌉ for the mean training-set size n, clipping norm C, noise multiplier σ, the same number of
steps). Prints models/s of

* :func:`mia_lib.dp.train_dp_vmapped` (all K models in one vmapped run),
* :func:`mia_lib.dp.train_opacus` (Opacus ``PrivacyEngine``, one model after the other), and their ratio
  (target ≥ 5× on a 2-core CPU for the digits MLP),
* for reference, the non-private vmapped pool (:func:`mia_lib.train.train_vmapped`) on the same models.

Usage: ``python benchmarks/dp_throughput.py [--k 64] [--epochs 5] [--opacus-models 16] [--device auto]
[--dataset digits] [--model mlp] [--repeat 2] [--json out]``. Opacus is timed on the first
``--opacus-models`` models (its
per-model time does not depend on K); the vmapped pool trains all K.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import time

import torch

from mia_lib import data, dp, train


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def run(
    ds: data.Dataset,
    model: str,
    k: int,
    epochs: int,
    n_opacus: int,
    dev: torch.device,
    batch_size: int = 64,
    sigma: float = 1.0,
    clip: float = 1.0,
    repeat: int = 2,
) -> dict:
    """Time the vmapped DP pool, Opacus per model and the non-private pool on the same K models (best of
    ``repeat`` timings each, which damps the noise of a shared machine)."""
    keep = train.balanced_keep(k, len(ds), 0)
    seeds = [train.model_seed(0, m) for m in range(k)]
    shape = tuple(ds.X.shape[1:])
    mods = train.init_states(model, shape, ds.n_classes, seeds)
    n_in = int(keep.sum(1).mean())
    q = dp.opacus_sample_rate(n_in, batch_size)
    steps = int(epochs * round(1 / q))
    recipe = train.Recipe(epochs=epochs, batch_size=batch_size, lr=0.1, momentum=0.9)
    dp.train_dp_vmapped(mods, ds.X, ds.y, keep, seeds, recipe, clip, sigma, q, 2, dev, progress=False)  # warm-up
    pool_s = math.inf
    for _ in range(repeat):
        _sync(dev)
        t = time.perf_counter()
        dp.train_dp_vmapped(mods, ds.X, ds.y, keep, seeds, recipe, clip, sigma, q, steps, dev, progress=False)
        _sync(dev)
        pool_s = min(pool_s, time.perf_counter() - t)

    one = train.Recipe(epochs=1, batch_size=batch_size, lr=0.1, momentum=0.9)
    members = [torch.from_numpy(keep[m].nonzero()[0]) for m in range(k)]
    dp.train_opacus(
        train.init_states(model, shape, ds.n_classes, [0])[0],
        ds.X[members[0]],
        ds.y[members[0]],
        one,
        clip,
        noise_multiplier=sigma,
        dev=dev,
    )  # warm-up
    _sync(dev)
    opacus_s, opacus_steps = 0.0, 0
    for m in range(n_opacus):  # time the training loops only (not make_private, not the accountant)
        best = math.inf
        for _ in range(repeat):
            _, info = dp.train_opacus(
                copy.deepcopy(mods[m]),
                ds.X[members[m]],
                ds.y[members[m]],
                recipe,
                clip,
                noise_multiplier=sigma,
                seed=seeds[m],
                dev=dev,
                sample_rate=q,
            )
            best = min(best, info["seconds"])
        opacus_s += best
        opacus_steps += info["steps"]

    sched = train.batch_schedule(keep, seeds, epochs, batch_size)
    train.train_vmapped(mods, ds.X, ds.y, sched[:1], one, dev, progress=False)
    plain_s = math.inf
    for _ in range(repeat):
        _sync(dev)
        t = time.perf_counter()
        train.train_vmapped(mods, ds.X, ds.y, sched, recipe, dev, progress=False)
        _sync(dev)
        plain_s = min(plain_s, time.perf_counter() - t)
    return {
        "k": k,
        "epochs": epochs,
        "steps": steps,
        "sample_rate": q,
        "pool_s": pool_s,
        "pool_models_per_s": k / pool_s,
        "opacus_models": n_opacus,
        "opacus_s": opacus_s,
        "opacus_steps_per_model": opacus_steps / n_opacus,
        "opacus_models_per_s": n_opacus / opacus_s,
        "ratio": (k / pool_s) / (n_opacus / opacus_s),
        "ratio_per_step": (k * steps / pool_s) / (opacus_steps / opacus_s),
        "plain_pool_s": plain_s,
        "plain_models_per_s": k / plain_s,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=64, help="models in the vmapped DP pool")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--opacus-models", type=int, default=16, help="models trained one by one with Opacus")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--model", default="mlp", help="mlp, cnn32 or cnn64 (no BatchNorm under DP)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeat", type=int, default=2, help="time each trainer this many times, keep the best")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    dev = train.device(args.device)
    hw = (
        torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else f"{platform.processor() or 'CPU'}, {torch.get_num_threads()} threads"
    )
    print(
        f"device: {dev} ({hw}); torch {torch.__version__}; {args.dataset} {args.model}, K={args.k}, "
        f"epochs={args.epochs}, expected batch 64, sigma 1.0, C 1.0"
    )
    r = run(
        data.load(args.dataset),
        args.model,
        args.k,
        args.epochs,
        min(args.opacus_models, args.k),
        dev,
        repeat=args.repeat,
    )
    print(
        f"vmapped DP pool {r['pool_models_per_s']:8.2f} models/s ({r['k']} models, {r['steps']} steps each, "
        f"{r['pool_s']:.1f} s)"
    )
    print(
        f"Opacus loop     {r['opacus_models_per_s']:8.2f} models/s ({r['opacus_models']} models, "
        f"{r['opacus_steps_per_model']:.0f} steps each, {r['opacus_s']:.1f} s)"
    )
    print(
        f"ratio {r['ratio']:.2f}x (target >= 5x; {r['ratio_per_step']:.2f}x per model-step)   "
        f"[non-private vmapped pool {r['plain_models_per_s']:.2f} models/s: "
        f"DP costs {r['plain_models_per_s'] / r['pool_models_per_s']:.2f}x]"
    )
    res = {"device": str(dev), "hardware": hw, "dataset": args.dataset, "model": args.model, **r}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == "__main__":
    main()
