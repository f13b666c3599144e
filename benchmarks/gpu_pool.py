"""The pool trainer on a GPU: models/s, utilization against the same GPU's GEMM, peak memory, the largest shard
that fits, and the projected wall time for the seed's 2,000 CNN32 models on MNIST-60k.

One short run (a few minutes on an H100/H200), on synthetic data of the real shapes (nothing is downloaded):

* the GPU's large-GEMM FLOP/s in float32, TF32 and bfloat16;
* CNN32 on MNIST-sized data (N = 60,000, 1×28×28, each model training on 30,000) and ResNet-9 on CIFAR-sized data
  (N = 50,000, 3×32×32), for each precision of :data:`mia_lib.config.PRECISIONS`: seconds per training step of a
  shard of K models, models/s for the whole 40-epoch recipe, utilization (useful FLOP/s over the GEMM FLOP/s of the
  same precision), peak GPU memory;
* the largest shard (K, doubling from 64) whose step fits in memory;
* the projection: 2,000 CNN32 models × 40 epochs on MNIST-60k on one GPU, from the measured step time (goal: ≤ 10
  minutes on one H100/H200).

Usage: ``python benchmarks/gpu_pool.py [--json out.json]``; ``--device cpu --smoke`` runs the same code on tiny
shapes on a CPU (the test suite does, so the script cannot rot where no GPU is lent).
"""

from __future__ import annotations

import argparse
import json
import time

import pool_throughput  # benchmarks/ is on sys.path when this file runs as a script
import torch

from mia_lib import config, models, train

SEED_MODELS, SEED_EPOCHS = 2000, 40  #: Why Train More?'s models per setting, and the book's recipe


def gemm_flops(dev: torch.device, precision: str, n: int = 8192, reps: int = 10) -> float:
    """FLOP/s of a large square matmul in ``precision`` (best of ``reps``)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    with train.numerics(precision if precision != "bf16" else "fp32", dev):
        return pool_throughput.gemm_flops(dev, n, reps, dtype)


def step_time(model: str, shape, n: int, k: int, precision: str, dev, steps: int, batch: int = 64) -> dict:
    """Seconds per training step of a shard of ``k`` models on synthetic data [n, *shape] (10 classes), measured
    over ``steps`` steps after as many warm-up steps; peak GPU memory of the run."""
    g = torch.Generator().manual_seed(0)
    X = torch.rand(n, *shape, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    seeds = [train.model_seed(0, m) for m in range(k)]
    mods = train.init_states(model, tuple(shape), 10, seeds)
    keep = train.balanced_keep(k, n, 0)
    sched = train.batch_schedule(keep, seeds, 1, batch)[:, : 2 * steps]
    recipe = train.Recipe(epochs=1, batch_size=batch, precision=precision)
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    train.train_vmapped(mods, X, y, sched[:, :steps], recipe, dev, progress=False)  # warm-up
    pool_throughput.sync(dev)
    t = time.perf_counter()
    train.train_vmapped(mods, X, y, sched[:, steps:], recipe, dev, progress=False)
    pool_throughput.sync(dev)
    seconds = (time.perf_counter() - t) / steps
    flops = models.train_flops_per_example(mods[0], tuple(shape)) * k * batch
    peak = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == "cuda" else float("nan")
    return {"k": k, "step_s": seconds, "flop_per_step": flops, "peak_gib": peak}


def largest_shard(model: str, shape, n: int, precision: str, dev, start: int, limit: int, steps: int) -> dict:
    """The largest K (doubling from ``start`` up to ``limit``) whose training steps fit in memory, with its
    :func:`step_time` (None when not even ``start`` fits)."""
    best, k = None, start
    while k <= limit:
        try:
            best = step_time(model, shape, n, k, precision, dev, steps=steps)
        except torch.OutOfMemoryError:
            break
        k *= 2
    if dev.type == "cuda":
        torch.cuda.empty_cache()
    return best


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--smoke", action="store_true", help="tiny shapes (a check of the script, not a measurement)")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    dev = train.device(args.device)
    smoke = args.smoke
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "CPU"
    print(f"device: {dev} ({name}); torch {torch.__version__}" + ("; SMOKE: tiny shapes" if smoke else ""))
    precisions = config.PRECISIONS if dev.type == "cuda" else ("fp32",) if smoke else ("fp32", "bf16")
    res = {"device": name, "smoke": smoke, "gemm_tflops": {}, "cases": {}}
    for p in precisions:
        res["gemm_tflops"][p] = gemm_flops(dev, p, n=256 if smoke else 8192) / 1e12
    print("large GEMM TFLOP/s: " + ", ".join(f"{p} {v:.1f}" for p, v in res["gemm_tflops"].items()))
    cases = {
        "cnn32_mnist": ("cnn32", (1, 28, 28), 60000, 30000, 64),
        "resnet9_cifar": ("resnet9", (3, 32, 32), 50000, 25000, 16),
    }
    for case, (model, shape, n, n_in, k) in cases.items():
        if smoke:
            shape, n, n_in, k = (shape[0], 16, 16), 128, 64, 2
        steps_per_epoch = -(-n_in // 64)
        for p in precisions:
            r = step_time(model, shape, n, k, p, dev, steps=2 if smoke else 20)
            r["utilization"] = r["flop_per_step"] / r["step_s"] / (res["gemm_tflops"][p] * 1e12)
            r["models_per_s"] = k / (r["step_s"] * steps_per_epoch * SEED_EPOCHS)
            res["cases"][f"{case}_{p}"] = r
            print(
                f"{case:<14} {p}: K={k} {r['step_s'] * 1e3:7.2f} ms/step, {r['models_per_s']:7.3f} models/s "
                f"({SEED_EPOCHS} epochs), utilization {r['utilization']:.2f}, peak {r['peak_gib']:.2f} GiB"
            )
    model, shape, n, n_in, _ = cases["cnn32_mnist"]
    if smoke:
        shape, n, n_in = (1, 16, 16), 128, 64
    for p in precisions:
        big = largest_shard(model, shape, n, p, dev, start=2 if smoke else 128, limit=4 if smoke else 4096, steps=2)
        measured = [res["cases"][f"cnn32_mnist_{p}"]] + ([big] if big else [])
        fastest = min(measured, key=lambda r: r["step_s"] / r["k"])
        minutes = SEED_MODELS * SEED_EPOCHS * -(-n_in // 64) * fastest["step_s"] / fastest["k"] / 60
        res[f"cnn32_largest_shard_{p}"] = big["k"] if big else None
        res[f"cnn32_projection_minutes_{p}"] = minutes
        print(
            f"cnn32 {p}: largest shard tried that fits {big['k'] if big else 'none'} "
            f"({big['peak_gib'] if big else float('nan'):.1f} GiB); projected {SEED_MODELS} models x {SEED_EPOCHS} "
            f"epochs on MNIST-60k: {minutes:.1f} min on this device at K={fastest['k']} (goal <= 10 min)"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == "__main__":
    main()
