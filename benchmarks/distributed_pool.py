"""Pool training in-process and on a Dask LocalCluster, side by side in one run.

Trains the same pool twice into two fresh stores, first in this process (``scheduler=None``), then on a
``LocalCluster`` of ``--workers`` processes of one thread each (``scheduler="local:N"``), and prints:

* models/s of each (wall time of :func:`mia_lib.pool.load_or_train`, cluster start and stop included) and the ratio;
* the cluster's start + stop time, measured on its own;
* the time per shard not spent training (scheduling, data loading on the workers, writing and checking shards);
* whether the two pools are bitwise identical (they must be).

On one 2-core machine the honest result is a ratio near 1× (or below: two workers share the cores that one process
uses alone, each with the client's torch thread count so that the bits are the same); the point of the cluster is
more machines or GPUs, where shards scale with workers (see ARCHITECTURE.md for a paper estimate).

Usage: ``python benchmarks/distributed_pool.py [--k 32] [--shard-size 4] [--epochs 10] [--model mlp]
[--dataset digits] [--workers 2] [--threads T] [--json out.json]``; ``--model cnn32 --dataset mnist5k`` measures the
CNN. ``--threads 1`` gives this process (and so every worker) one torch thread: then W workers use W cores where the
in-process run uses one, which shows how shards scale when workers do not share cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mia_lib import cache, config, distributed, pool


def _train(cfg: config.Experiment, store: Path) -> dict:
    t = time.perf_counter()
    p = pool.load_or_train(cfg, progress=False, store=store)
    wall = time.perf_counter() - t
    folder = store / cfg.hash()
    n_shards = -(-cfg.n_shadow // cfg.shard_size)
    train_s = [cache.load_json(folder / f"shard_{i:04d}.json")["seconds"] for i in range(n_shards)]
    return {"wall_s": wall, "train_s": float(sum(train_s)), "n_shards": n_shards, "logits": p.logits}


def _start_stop(scheduler: str, store: Path) -> float:
    """Seconds to start a cluster, check its workers and close it, with no task."""
    t = time.perf_counter()
    with distributed.connect(scheduler) as client:
        distributed.check_workers(client, store)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--k", type=int, default=32, help="models in the pool")
    ap.add_argument("--shard-size", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--n-data", type=int, default=None)
    ap.add_argument("--data-dir", default=None, help="torchvision data (mnist, cifar10, ...), shared with the workers")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of this process (and so of each worker)")
    ap.add_argument("--json", default=None, help="also write the numbers to this file")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    cfg = config.Experiment(
        dataset=args.dataset,
        n_data=args.n_data,
        data_dir=args.data_dir,
        model=args.model,
        n_shadow=args.k,
        epochs=args.epochs,
        shard_size=args.shard_size,
        device=args.device,
    )
    scheduler = f"local:{args.workers}"
    pool.load_data(cfg)  # the client's data cache is warm for both runs; the workers load theirs inside the run
    with tempfile.TemporaryDirectory(prefix="mia-bench-") as tmp:
        tmp = Path(tmp)
        here = _train(cfg, tmp / "in-process")
        there = _train(cfg.replace(scheduler=scheduler), tmp / "cluster")
        start_stop = _start_stop(scheduler, tmp)
    n, w = here["n_shards"], args.workers
    same = bool(np.array_equal(here["logits"], there["logits"]))
    out = {
        "machine": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}",
        "pool": f"{args.k} × {args.model} on {args.dataset} (N={len(pool.load_data(cfg))}), {args.epochs} epochs, "
        f"{n} shards of {args.shard_size}",
        "in_process_models_per_s": args.k / here["wall_s"],
        "cluster_models_per_s": args.k / there["wall_s"],
        "ratio_cluster_over_in_process": here["wall_s"] / there["wall_s"],
        "in_process_wall_s": here["wall_s"],
        "cluster_wall_s": there["wall_s"],
        "cluster_start_stop_s": start_stop,
        "in_process_train_s_per_shard": here["train_s"] / n,
        "cluster_train_s_per_shard": there["train_s"] / n,
        "in_process_overhead_s_per_shard": (here["wall_s"] - here["train_s"]) / n,
        "cluster_overhead_s_per_shard": (w * (there["wall_s"] - start_stop) - there["train_s"]) / n,
        "bitwise_identical": same,
    }
    print(f"pool: {out['pool']}; {out['machine']}")
    print(f"in-process          : {out['in_process_models_per_s']:8.2f} models/s  ({here['wall_s']:.1f} s)")
    print(
        f"{scheduler} cluster    : {out['cluster_models_per_s']:8.2f} models/s  ({there['wall_s']:.1f} s, of which "
        f"start + stop {start_stop:.1f} s)"
    )
    print(f"ratio cluster / in-process: {out['ratio_cluster_over_in_process']:.2f}×")
    print(
        f"training per shard  : in-process {out['in_process_train_s_per_shard']:.2f} s, on a worker "
        f"{out['cluster_train_s_per_shard']:.2f} s"
    )
    print(
        f"overhead per shard  : in-process {out['in_process_overhead_s_per_shard']:.2f} s; cluster "
        f"{out['cluster_overhead_s_per_shard']:.2f} worker-s (scheduling, data loading, writing; start/stop excluded)"
    )
    print(f"bitwise identical   : {same}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    if not same:
        raise SystemExit("the two pools differ: the distributed executor broke determinism")


if __name__ == "__main__":
    main()
