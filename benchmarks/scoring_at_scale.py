"""Scoring at scale: LiRA (every variant), RMIA, memorization and the privacy score of a pool scored from disk.

Writes a synthetic pool of K models on N examples (A views, C classes; float32 logits, 2.4 GB at the default
K = 1,024, N = 60,000) into a temporary store entry exactly as :func:`mia_lib.pool.write_shard` writes trained
shards (``shard_XXXX.npz`` + checksum file, 64 models each), then, in a fresh Python process, opens it with
:func:`mia_lib.pool.open_logits` (``--verify sha256``: SHA-256 of every shard, streamed; ``size``: sizes and headers
only) and scores it with :func:`mia_lib.scoring.score` (all six LiRA variants, RMIA offline, memorization, privacy
score; every model a target) into ``.npy`` files. Prints the scoring's wall and CPU seconds (``seconds``: from the
opened pool; opening it, ``seconds_open``, is reported apart) and the peak resident-memory growth of that process
over its state after the imports and inputs (``getrusage`` peak minus the resident size before opening), against
the targets < 20 s and < 2 GB on a 2-core CPU, with the load average before and after (the machine may be shared).
The files are in the page cache (just written): this measures the scoring, not the disk.

Usage: ``python benchmarks/scoring_at_scale.py [--k 1024] [--n 60000] [--a 1] [--c 10] [--folder DIR] [--json F]``.
``measure(...)`` returns the numbers as a dict (``benchmarks/pool_throughput.py --scoring`` calls it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mia_lib import pool, train

SHARD = 64
TARGETS = {"seconds": 20.0, "peak_rss_growth_gb": 2.0}


def write_pool(folder: Path, k: int, n: int, a: int, c: int, seed: int = 0) -> None:
    """A synthetic pool in ``folder``: shards of :data:`SHARD` models as the store holds them, plus keep.npy, y.npy.

    Logits: Gaussian noise with the true class raised by an example-dependent margin, more for the models that
    trained on the example (so that the attacks have something to find and the scores are not degenerate).
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    keep = train.balanced_keep(k, n, seed)
    y = rng.integers(0, c, n)
    ease, gap = rng.random(n).astype(np.float32) * 4, rng.gamma(2.0, 1.0, n).astype(np.float32)
    for i, ids in enumerate(pool.shard_ranges(k, SHARD)):
        z = rng.standard_normal((ids.size, n, a, c), dtype=np.float32)
        lift = ease + gap * keep[ids] + 0.5 * rng.standard_normal((ids.size, n), dtype=np.float32)
        z[:, np.arange(n), :, y] += lift.T[:, :, None]  # [n, k, a] by advanced indexing on (examples, classes)
        pool.write_shard(folder, i, ids, z, 0.0, synthetic=True)
    np.save(folder / "keep.npy", keep)
    np.save(folder / "y.npy", y)
    (folder / "pool.json").write_text(json.dumps({"k": k, "n": n, "a": a, "c": c, "shard_size": SHARD}))


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _child(folder: Path, verify: str, threads: int | None) -> dict:
    """The measurement, in a process of its own: open the pool, score it, report time and memory."""
    import torch

    from mia_lib import metrics, scoring

    meta = json.loads((folder / "pool.json").read_text())
    keep, y = np.load(folder / "keep.npy"), np.load(folder / "y.npy")
    out = folder / "scores"
    shutil.rmtree(out, ignore_errors=True)
    rss0 = _rss_bytes()
    t0 = time.perf_counter()
    view = pool.open_logits(folder, meta["k"], meta["shard_size"], meta["n"], verify=verify)
    t1, cpu1 = time.perf_counter(), time.process_time()
    res = scoring.score(view, keep, y, out=out, threads=threads, progress=False)
    t2, cpu2 = time.perf_counter(), time.process_time()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    few = slice(0, 8)  # a sanity check on 8 targets: the attacks find the planted signal
    auc = {name: metrics.auroc(np.asarray(s[few]), res.is_member[few]) for name, s in res.scores.items()}
    return {
        **{key: meta[key] for key in ("k", "n", "a", "c")},
        "seconds": t2 - t1,
        "seconds_open": t1 - t0,
        "seconds_total": t2 - t0,
        "cpu_seconds_score": cpu2 - cpu1,
        "steps": {k: round(v, 2) for k, v in res.seconds.items()},
        "verify": verify,
        "peak_rss_growth_gb": (peak - rss0) / 2**30,
        "rss_before_gb": rss0 / 2**30,
        "logits_gb": view.nbytes / 2**30,
        "outputs_gb": sum(s.nbytes for s in res.scores.values()) / 2**30,
        "attacks": sorted(res.scores),
        "auroc_8_targets": auc,
        "threads": torch.get_num_threads() if threads is None else threads,
    }


def measure(
    k: int = 1024, n: int = 60000, a: int = 1, c: int = 10, folder=None, verify: str = "sha256", threads=None
) -> dict:
    """Write a synthetic pool of that size (unless ``folder`` already holds one), score it from disk in a fresh
    process, and return {"k", "n", "a", "c", "seconds" (scoring, wall), "cpu_seconds_score", "seconds_open",
    "seconds_total", "peak_rss_growth_gb", "steps", "load_average", "load_average_after", "cpus", "threads",
    "auroc_8_targets", ...}. A temporary folder is removed afterwards; a given ``folder`` is kept."""
    tmp = None
    if folder is None:
        tmp = Path(tempfile.mkdtemp(prefix="scoring-at-scale-"))
        folder = tmp
    folder = Path(folder)
    try:
        meta = json.loads((folder / "pool.json").read_text()) if (folder / "pool.json").exists() else None
        t = time.perf_counter()
        if meta != {"k": k, "n": n, "a": a, "c": c, "shard_size": SHARD}:
            write_pool(folder, k, n, a, c)
        writing = time.perf_counter() - t
        load = os.getloadavg()
        cmd = [sys.executable, __file__, "--child", str(folder), "--verify", verify]
        if threads is not None:
            cmd += ["--threads", str(threads)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"the scoring process failed:\n{done.stdout}\n{done.stderr}")
        out = json.loads(done.stdout.strip().splitlines()[-1])
        out.update(
            seconds_writing=writing,
            load_average=[round(x, 2) for x in load],
            load_average_after=[round(x, 2) for x in os.getloadavg()],
            cpus=os.cpu_count(),
            targets=TARGETS,
        )
        return out
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=1024, help="models")
    ap.add_argument("--n", type=int, default=60000, help="examples")
    ap.add_argument("--a", type=int, default=1, help="query views")
    ap.add_argument("--c", type=int, default=10, help="classes")
    ap.add_argument("--folder", help="where to write the pool (kept; reused when it holds one of that size)")
    ap.add_argument("--verify", default="sha256", choices=pool.VERIFY, help="checks when opening the pool")
    ap.add_argument("--threads", type=int, help="scoring threads (default: torch's thread count)")
    ap.add_argument("--json", help="also write the numbers to this JSON file")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(Path(args.child), args.verify, args.threads)))
        return {}
    r = measure(args.k, args.n, args.a, args.c, args.folder, args.verify, args.threads)
    ok = {key: r[key] < limit for key, limit in TARGETS.items()}
    print(
        f"scoring K={r['k']} N={r['n']} A={r['a']} C={r['c']} ({r['logits_gb']:.2f} GB of logits on disk, "
        f"{len(r['attacks'])} [T, N] scores + memorization + privacy score, {r['threads']} threads; "
        f"load average {r['load_average'][0]:.2f} before, {r['load_average_after'][0]:.2f} after, {r['cpus']} CPUs)"
    )
    print(
        f"  scoring {r['seconds']:.1f} s ({r['cpu_seconds_score']:.1f} CPU s)   (target < {TARGETS['seconds']:.0f} s: "
        f"{'met' if ok['seconds'] else 'NOT met'});   before it, opening the pool (verify={r['verify']}) "
        f"{r['seconds_open']:.1f} s"
    )
    print("  steps (wall and CPU s): " + ", ".join(f"{k} {v}" for k, v in r["steps"].items()))
    print(
        f"  peak RSS growth {r['peak_rss_growth_gb']:.2f} GB   (target < {TARGETS['peak_rss_growth_gb']:.0f} GB: "
        f"{'met' if ok['peak_rss_growth_gb'] else 'NOT met'})"
    )
    print("  AUROC on 8 targets: " + ", ".join(f"{k} {v:.3f}" for k, v in r["auroc_8_targets"].items()))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2))
    return r


if __name__ == "__main__":
    main()
