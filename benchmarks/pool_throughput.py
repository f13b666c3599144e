"""Pool-trainer throughput, measured side by side in one run.

Prints, for the same K models, same data, same recipe and same batches:

* models/s of the vmapped pool (:func:`mia_lib.train.train_vmapped`) and of a per-model loop
  (:func:`mia_lib.train.train_loop`), and their ratio (target ≥ 5× for the digits MLP on a 2-core CPU);
* the pool's utilization: useful FLOP/s (analytic forward + backward FLOPs) over this machine's large-GEMM
  FLOP/s measured in the same run (target ≥ 0.6 for the MNIST-sized MLP on CPU);
* the time to score LiRA (all variants) + memorization + privacy score from cached logits for K=256, N=5,000
  (target < 1 s).

Usage: ``python benchmarks/pool_throughput.py [--k 64] [--epochs 5] [--device auto] [--model mlp] [--json out]``.
On a GPU, ``--model cnn32 --dataset mnist5k`` measures the CNN on MNIST-sized data.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from mia_lib import data, memorization, models, signals, train
from mia_lib.attacks import lira


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def gemm_flops(dev: torch.device, n: int = 2048, reps: int = 10) -> float:
    """FLOP/s of a large square float32 matmul on ``dev`` (best of ``reps``)."""
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    a @ b
    best = float("inf")
    for _ in range(reps):
        _sync(dev)
        t = time.perf_counter()
        a @ b
        _sync(dev)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def time_pool_and_loop(ds: data.Dataset, model: str, k: int, recipe: train.Recipe, dev, loop: bool = True) -> dict:
    """Train the same K models vmapped and (optionally) one by one; return seconds and FLOP counts."""
    keep = train.balanced_keep(k, len(ds), 0)
    seeds = [train.model_seed(0, m) for m in range(k)]
    mods = train.init_states(model, tuple(ds.X.shape[1:]), ds.n_classes, seeds)
    sched = train.batch_schedule(keep, seeds, recipe.epochs, recipe.batch_size)
    warm = train.Recipe(**{**recipe.__dict__, "epochs": 1})
    train.train_vmapped(mods, ds.X, ds.y, sched[:1], warm, dev, progress=False)  # warm-up (vmap tracing, allocator)
    _sync(dev)
    t = time.perf_counter()
    train.train_vmapped(mods, ds.X, ds.y, sched, recipe, dev, progress=False)
    _sync(dev)
    out = {"pool_s": time.perf_counter() - t}
    if loop:
        train.train_loop(mods[:1], ds.X, ds.y, sched[:1, :, :1], warm, dev)
        _sync(dev)
        t = time.perf_counter()
        train.train_loop(mods, ds.X, ds.y, sched, recipe, dev)
        _sync(dev)
        out["loop_s"] = time.perf_counter() - t
    steps = sched.shape[0] * sched.shape[1]
    out["flops"] = models.train_flops_per_example(mods[0], tuple(ds.X.shape[1:])) * steps * k * recipe.batch_size
    return out


def time_scoring(k: int = 256, n: int = 5000, a: int = 1, c: int = 10, seed: int = 0) -> dict:
    """Seconds to go from cached logits [K,N,A,C] to all LiRA variants + memorization + privacy score."""
    rng = np.random.default_rng(seed)
    keep = train.balanced_keep(k, n, seed)
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(k, n, a, c)).astype(np.float32)
    logits[np.arange(k)[:, None], np.arange(n)[None], :, y[None]] += 2.0 + keep[..., None]
    t = time.perf_counter()
    phi = signals.phi(logits, y)
    t_phi = time.perf_counter() - t
    scores = lira.lira_scores(phi, keep)
    mem = memorization.memorization(signals.correct(logits[:, :, 0], y), keep)
    memorization.privacy_score(phi, keep)
    total = time.perf_counter() - t
    assert all(np.isfinite(s).all() for s in scores.values()) and np.isfinite(mem).all()
    return {"phi_s": t_phi, "total_s": total}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=64, help="models in the pool")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--model", default="mlp", help="architecture for the MNIST-sized utilization run")
    ap.add_argument("--dataset", default="mnist5k", help="dataset for the utilization run")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    dev = train.device(args.device)
    recipe = train.Recipe(epochs=args.epochs, batch_size=64)
    hw = (
        torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else f"{platform.processor() or 'CPU'}, {torch.get_num_threads()} threads"
    )
    print(f"device: {dev} ({hw}); torch {torch.__version__}; K={args.k}, epochs={args.epochs}, batch 64")
    peak = gemm_flops(dev)
    print(f"large GEMM: {peak / 1e9:.1f} GFLOP/s")
    res = {"device": str(dev), "hardware": hw, "k": args.k, "epochs": args.epochs, "gemm_gflops": peak / 1e9}

    digits = data.load("digits")
    r = time_pool_and_loop(digits, "mlp", args.k, recipe, dev)
    ratio = r["loop_s"] / r["pool_s"]
    print(
        f"digits MLP   pool {args.k / r['pool_s']:8.1f} models/s   loop {args.k / r['loop_s']:8.1f} models/s   "
        f"ratio {ratio:.2f}x (target >= 5x)   utilization {r['flops'] / r['pool_s'] / peak:.2f}"
    )
    res["digits_mlp"] = {**r, "ratio": ratio, "utilization": r["flops"] / r["pool_s"] / peak}

    big = data.load(args.dataset)
    r = time_pool_and_loop(
        big,
        args.model,
        args.k,
        train.Recipe(epochs=max(1, args.epochs // 5), batch_size=64),
        dev,
        loop=args.model == "mlp" or dev.type == "cuda",
    )
    util = r["flops"] / r["pool_s"] / peak
    line = f"{args.dataset} {args.model} pool {args.k / r['pool_s']:8.1f} models/s"
    if "loop_s" in r:
        line += f"   loop {args.k / r['loop_s']:8.1f} models/s   ratio {r['loop_s'] / r['pool_s']:.2f}x"
    print(
        line + f"   useful {r['flops'] / r['pool_s'] / 1e9:.1f} GFLOP/s   utilization {util:.2f} "
        f"(target >= 0.6 for the MLP on CPU)"
    )
    res[f"{args.dataset}_{args.model}"] = {**r, "utilization": util}

    for a in (1, 5):
        s = time_scoring(a=a)
        print(
            f"scoring K=256 N=5000 A={a}: phi {s['phi_s']:.3f} s, phi + LiRA (6 variants) + memorization + "
            f"privacy score {s['total_s']:.3f} s (target < 1 s)"
        )
        res[f"scoring_a{a}"] = s
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == "__main__":
    main()
