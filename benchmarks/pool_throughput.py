"""Pool-trainer throughput, measured side by side in one run (these machines are noisy: only ratios count).

For the same K models, same data, same recipe and same batches, each case prints models/s of the pool
(:func:`mia_lib.train.train_vmapped`) and of the per-model loop (:func:`mia_lib.train.train_loop`), their ratio, and
the pool's utilization: useful FLOP/s (analytic forward + backward FLOPs of Linear and Conv2d layers) over the
large-GEMM FLOP/s of this device measured in the same run. Pool and loop run alternately ``--repeat`` times and the
best of each counts, so a burst of load hits both. Targets (issue 14, idle 2-core CPU):

* digits MLP (64-256-10, K = 64, batch 64): pool ≥ 5× the loop;
* MNIST-sized MLP (784-256-10, K = 64, batch 64): utilization ≥ 0.5 (stretch 0.6) and pool ≥ 1.5× the loop;
* CNN32 on 28×28 (K = 16): utilization and ratio reported;
* scoring (``benchmarks/scoring_at_scale.py``): LiRA, RMIA, memorization and the privacy score for K = 1,024,
  N = 60,000 from logits on disk in < 20 s with peak RSS growth < 2 GB (``--scoring`` to include it: it writes
  2.4 GB to a temporary folder).

Usage: ``python benchmarks/pool_throughput.py [--k 64] [--epochs 5] [--device auto] [--scoring] [--json out.json]``.
The GPU measurements are in ``benchmarks/gpu_pool.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from mia_lib import data, models, train


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def gemm_flops(dev: torch.device, n: int = 2048, reps: int = 10, dtype=torch.float32) -> float:
    """FLOP/s of a large square matmul on ``dev`` (best of ``reps``)."""
    a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(reps):
        sync(dev)
        t = time.perf_counter()
        a @ b
        sync(dev)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def setup(ds: data.Dataset, model: str, k: int, recipe: train.Recipe):
    """The K initial models and their batch schedule (what the pool and the loop both train)."""
    keep = train.balanced_keep(k, len(ds), 0)
    seeds = [train.model_seed(0, m) for m in range(k)]
    mods = train.init_states(model, tuple(ds.X.shape[1:]), ds.n_classes, seeds)
    return mods, train.batch_schedule(keep, seeds, recipe.epochs, recipe.batch_size)


def time_pool(ds, mods, sched, recipe, dev) -> float:
    """Seconds for the vmapped pool (after a one-epoch warm-up)."""
    warm = train.Recipe(**{**recipe.__dict__, "epochs": 1})
    train.train_vmapped(mods, ds.X, ds.y, sched[:1], warm, dev, progress=False)
    sync(dev)
    t = time.perf_counter()
    train.train_vmapped(mods, ds.X, ds.y, sched, recipe, dev, progress=False)
    sync(dev)
    return time.perf_counter() - t


def time_loop(ds, mods, sched, recipe, dev) -> float:
    """Seconds for the per-model loop of the same models and batches (after a short warm-up)."""
    warm = train.Recipe(**{**recipe.__dict__, "epochs": 1})
    train.train_loop(mods[:1], ds.X, ds.y, sched[:1, :, :1], warm, dev, progress=False)
    sync(dev)
    t = time.perf_counter()
    train.train_loop(mods, ds.X, ds.y, sched, recipe, dev, progress=False)
    sync(dev)
    return time.perf_counter() - t


def case(ds, model: str, k: int, recipe: train.Recipe, dev, peak: float, repeat: int, loop: bool = True) -> dict:
    """Pool and loop, alternately ``repeat`` times; the best of each, their ratio and the pool's utilization."""
    mods, sched = setup(ds, model, k, recipe)
    pool_s, loop_s = [], []
    for _ in range(repeat):
        pool_s.append(time_pool(ds, mods, sched, recipe, dev))
        if loop:
            loop_s.append(time_loop(ds, mods, sched, recipe, dev))
    steps = sched.shape[0] * sched.shape[1]
    flops = models.train_flops_per_example(mods[0], tuple(ds.X.shape[1:])) * steps * k * recipe.batch_size
    out = {"k": k, "pool_s": min(pool_s), "pool_models_per_s": k / min(pool_s), "flops": flops}
    out["utilization"] = flops / min(pool_s) / peak
    if loop:
        out.update(loop_s=min(loop_s), loop_models_per_s=k / min(loop_s), pool_vs_loop=min(loop_s) / min(pool_s))
    return out


def _line(name: str, r: dict, targets: str) -> str:
    text = f"{name:<22} pool {r['pool_models_per_s']:8.1f} models/s"
    if "loop_s" in r:
        text += f"   loop {r['loop_models_per_s']:8.1f} models/s   pool/loop {r['pool_vs_loop']:5.2f}x"
    return text + f"   utilization {r['utilization']:.2f}   ({targets})"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=64, help="models in the MLP pools")
    ap.add_argument("--epochs", type=int, default=5, help="epochs of the digits MLP (MNIST-sized: a fifth)")
    ap.add_argument("--repeat", type=int, default=2, help="alternate pool and loop this many times; best counts")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--scoring", action="store_true", help="also score K=1,024 x N=60,000 from disk")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    dev = train.device(args.device)
    hw = (
        torch.cuda.get_device_name(dev)
        if dev.type == "cuda"
        else f"{platform.processor() or 'CPU'}, {torch.get_num_threads()} threads"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"device: {dev} ({hw}); torch {torch.__version__}; load average {load:.2f} (benchmarks need an idle machine)")
    peak = gemm_flops(dev)
    print(f"large GEMM: {peak / 1e9:.1f} GFLOP/s")
    res = {"device": str(dev), "hardware": hw, "load_average": load, "gemm_gflops": peak / 1e9}

    mlp = train.Recipe(epochs=args.epochs, batch_size=64)
    res["digits_mlp"] = case(data.load("digits"), "mlp", args.k, mlp, dev, peak, args.repeat)
    print(_line(f"digits MLP K={args.k}", res["digits_mlp"], "target: pool/loop >= 5x"))

    mnist = data.load("mnist5k")
    short = train.Recipe(epochs=max(1, args.epochs // 5), batch_size=64)
    res["mnist_mlp"] = case(mnist, "mlp", args.k, short, dev, peak, args.repeat)
    print(_line(f"MNIST MLP K={args.k}", res["mnist_mlp"], "targets: utilization >= 0.5, pool/loop >= 1.5x"))

    small = mnist.subset(torch.arange(1000))
    res["cnn32"] = case(small, "cnn32", 16, train.Recipe(epochs=1, batch_size=64), dev, peak, 1)
    print(_line("CNN32 28x28 K=16", res["cnn32"], "reported"))

    if args.scoring:
        from scoring_at_scale import measure  # benchmarks/ is on sys.path when this file runs as a script

        s = measure(k=1024, n=60000, a=1, c=10)
        res["scoring"] = s
        print(
            f"scoring K={s['k']} N={s['n']} from disk: {s['seconds']:.1f} s (target < 20 s), "
            f"peak RSS growth {s['peak_rss_growth_gb']:.2f} GB (target < 2 GB)"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == "__main__":
    main()
