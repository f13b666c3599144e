"""Scoring a pool chunk by chunk from its logits on disk: LiRA (every variant), RMIA, memorization and the privacy
score, with the results of :mod:`mia_lib.attacks.lira`, :mod:`mia_lib.attacks.rmia` and :mod:`mia_lib.memorization`,
for pools whose logits [K, N, A, C] do not fit in memory (e.g. K = 1,024 models on N = 60,000 examples: 2.4 GB).

Why chunks work: given the keep matrix, every statistic of these attacks is a function of one example's column of
the pool: the shadow models' IN and OUT moments of φ (and of p = σ(φ), the true-class probability, for RMIA) at
example n, and the target's own φ there, which leave-one-model-out removes from its side's moments. Two things
couple examples, both within one target's row: LiRA's fixed variances (means over examples of the per-example
variances) and RMIA's population (the target's OUT examples). So scoring is two passes:

1. **over examples** (chunks of examples, every model needed): read the logits [R, n, A, C] of the R models needed
   (targets ∪ shadows ∪ memorization models), compute φ and correctness, reduce each example's column to its
   moments (float64), its memorization and privacy score, keep the targets' φ [T, N, A], and add up, per target,
   the leave-one-out variances behind LiRA's fixed variances (:func:`loo_var_sums`, a closed form);
2. **over targets** (a few rows at a time): leave-one-out moments per (target, example), every LiRA variant, RMIA
   (each target's population ratios sorted once per view, :func:`count_at_most`), written row by row.

Memory: pass 1 holds, per chunk of examples, φ and correctness of every model needed (about ``memory_mb``); the
logits pass through one cache-sized buffer per thread. Pass 2 holds a few rows per thread. With ``out``, each
[T, N] score goes to ``<out>/<attack>.npy`` by positioned file writes (no map stays open, so nothing of size T × N
is ever resident; the targets' φ waits in a temporary file there) and comes back as a read-only memory map;
without ``out`` everything is returned in memory. At K = T = 1,024, N = 60,000, A = 1 the peak resident growth is
about 0.6 GB (``benchmarks/scoring_at_scale.py``).

Precision: ``dtype=np.float64`` is the reference path: every step in float64 with the formulas of the attack modules
(sums over models in another order, leave-one-out by down-dating the moments, the fixed variances from their
closed form, which leaves out LiRA's 1e-12 floor on each variance: a difference only where the shadows' φ agree
to 1e-6), equal to them within 1e-9 relative. ``np.float32`` (default) computes φ, the per-(target, example)
arithmetic and the stored scores in float32, and the per-example moments in float64 (sums of φ accumulate in
float64, sums of squares in float32 cascade sums). ``tests/test_scoring.py`` bounds what that changes against the
float64 path (32 models, 2,000 examples): LiRA scores within 1e-4 of |s| + 1 (observed 3e-6), RMIA's fractions
within 2 population counts (one tie flip observed), memorization identical, the privacy score within 1e-5, AUROC
within 1e-6 and TPR at 0.1 % and 1 % FPR unchanged.

Determinism: the statistics of examples are taken in blocks at fixed positions and every sum in the same order,
so the results do not change by a bit with ``memory_mb`` or ``threads`` (worker threads, each with one torch
thread, share the blocks).

Used by ``benchmarks/scoring_at_scale.py`` (no chapter yet).
"""

from __future__ import annotations

import functools
import math
import os
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.special import log_ndtr

from . import train
from .attacks import lira
from .progress import bar

#: The [T, N] scores this module computes: LiRA's variants (the attack zoo's names) and RMIA offline / online.
LIRA = tuple(f"lira_{v}" for v in lira.VARIANTS)
ATTACKS = LIRA + ("rmia", "rmia_online")
DEFAULT_ATTACKS = LIRA + ("rmia",)

_LOG_2PI = math.log(2 * math.pi)
_MIN_VAR = 1e-12  # as in mia_lib.attacks.lira
_TAIL = -10.0  # float32 −log Φ(u) switches to the asymptotic series below this u
_BLOCK_LOGITS = 1 << 17  # logits read and reduced together in pass 1 (512 KB of float32, a core's L2 cache)
_COLUMN_ELEMENTS = 1 << 16  # (model, example, view) entries per pass-1 statistics block
_ROW_ELEMENTS = 1 << 19  # (target, example, view) entries per pass-2 block of rows
_PIECE = 1 << 16  # (target, example, view) entries computed together in pass 2 (about L2-sized)


@dataclass
class PoolScores:
    """What :func:`score` returns.

    Attributes:
        scores: {attack: [T, E] scores, higher = member}: arrays in memory, or read-only memory maps of
            ``<folder>/<attack>.npy``; float32 or float64 (the ``dtype`` of the run).
        mem: float64 [E] Feldman–Zhang memorization; privacy_score: float64 [E] (NaN where undefined).
        target_ids: int [T]; examples: int [E], the example indices scored (0..N-1 by default).
        is_member: bool [T, E] = ``keep[target_ids][:, examples]``.
        folder: where the [T, E] files are (None: in memory).
        seconds: wall and CPU seconds (all threads) of the steps: ``columns_s`` / ``columns_cpu_s`` (pass 1:
            reading the logits, φ, per-example statistics), ``fixed_s`` / ``fixed_cpu_s`` (pass 1: the sums behind
            LiRA's fixed variances), ``rows_s`` / ``rows_cpu_s`` (pass 2, writing the scores included).
    """

    scores: dict
    mem: np.ndarray
    privacy_score: np.ndarray
    target_ids: np.ndarray
    examples: np.ndarray
    is_member: np.ndarray
    folder: Path | None = None
    seconds: dict = field(default_factory=dict)


class _Clock:
    """Wall and CPU seconds spent in named steps."""

    def __init__(self):
        self.seconds = {}

    @contextmanager
    def __call__(self, step: str):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[f"{step}_s"] = self.seconds.get(f"{step}_s", 0.0) + time.perf_counter() - wall
            self.seconds[f"{step}_cpu_s"] = self.seconds.get(f"{step}_cpu_s", 0.0) + time.process_time() - cpu


def _ids(ids, k: int) -> np.ndarray:
    out = np.arange(k) if ids is None else np.asarray(ids, dtype=np.int64).ravel()
    if out.size and (out.min() < -k or out.max() >= k):
        raise IndexError(f"model ids must lie in [0, {k}), got {out.min()}..{out.max()}")
    return np.where(out < 0, out + k, out)


def _read(logits, rows: np.ndarray, cols, out: np.ndarray) -> None:
    """The logits of models ``rows`` on examples ``cols`` (slice or int array) into ``out`` [R, n, A, C] (a view
    of any strides and dtype: the copy converts and reorders)."""
    if hasattr(logits, "read"):  # mia_lib.pool.ShardedLogits: positioned reads, nothing stays mapped
        logits.read(rows, cols, out=out)
        return
    for j, r in enumerate(rows):
        out[j] = logits[r, cols]


def _take_rows(a: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``a[rows]``, a view (no copy) when rows are 0..len(a)-1."""
    return a if rows.size == len(a) and np.array_equal(rows, np.arange(rows.size)) else a[rows]


def _as_cols(ex: np.ndarray):
    """A slice when the example indices ``ex`` are consecutive (cheaper reads), else the indices."""
    if ex.size and ex[-1] - ex[0] == ex.size - 1 and (ex.size == 1 or (np.diff(ex) == 1).all()):
        return slice(int(ex[0]), int(ex[-1]) + 1)
    return ex


class _Inline:
    """An executor that runs each job at once in the calling thread (``threads=0``: profiling, tiny inputs)."""

    def submit(self, fn, *args):
        done = Future()
        done.set_result(fn(*args))
        return done

    def map(self, fn, items):
        return [fn(item) for item in items]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# --- pass 1: one block of examples, every model needed ----------------------------------------------------------


def _phi_in_place(zc: np.ndarray, y: np.ndarray, phi_out=None, correct_out=None):
    """φ [r, n, A] and correctness bool [r, n] (view 0) from logits ``zc`` [C, r, n, A] laid out classes first
    (``zc[c]`` contiguous), which it overwrites: each example's true-class logit is taken out and class 0's put in
    its place, so that ``zc[1:]`` holds exactly the other classes (no masking, no −inf in exp). The arithmetic is
    zc's dtype; results go to ``phi_out`` / ``correct_out`` (tensors of those shapes, any strides) when given."""
    z = torch.from_numpy(zc)
    c, r, n, a = z.shape
    lab = torch.from_numpy(np.asarray(y, dtype=np.int64))
    where = lab.view(1, 1, n, 1).expand(1, r, n, a)
    zy = z.gather(0, where)[0]
    z.scatter_(0, where, z[:1].clone())  # plane y now holds class 0; planes 1.. hold every other class
    others = z[1:]
    m = others.amax(0)
    correct = torch.gt(zy[..., 0], m[..., 0], out=correct_out)
    tie = zy[..., 0] == m[..., 0]
    if tie.any():  # z_y equals the best other class: argmax is the first maximal class
        r_i, n_i = tie.nonzero(as_tuple=True)
        hit = (others[:, r_i, n_i, 0] == m[r_i, n_i, 0]).numpy()  # [C-1, ties]
        yy = lab[n_i].numpy()
        cls = np.repeat(np.arange(1, c)[:, None], yy.size, 1)  # the class each plane holds
        moved = np.flatnonzero(yy > 0)
        cls[yy[moved] - 1, moved] = 0
        correct[r_i, n_i] = torch.from_numpy(yy < np.where(hit, cls, c).min(0))
    lse = others.sub_(m).exp_().sum(0).log_().add_(m)
    return torch.sub(zy, lse, out=phi_out), correct


def phi_and_correct(z: np.ndarray, y: np.ndarray, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    """φ and correctness of a block of logits, as :func:`mia_lib.signals.phi` and :func:`mia_lib.signals.correct`.

    Args:
        z: logits [R, b, A, C] (R models, b examples, A views); y: int [b] labels; dtype: arithmetic of φ.
    Returns:
        (phi [R, b, A] in ``dtype``: z_y − logsumexp_{j≠y} z_j; correct bool [R, b]: argmax over view 0's
        classes == y, ties going to the first maximal class). Used by :func:`score` (no chapter yet).
    """
    zc = np.empty((z.shape[3],) + z.shape[:3], np.dtype(dtype))
    np.copyto(zc.transpose(1, 2, 3, 0), z)
    phi, correct = _phi_in_place(zc, y)
    return phi.numpy(), correct.numpy()


def _side_moments(ph: torch.Tensor, w: torch.Tensor, n: torch.Tensor, total=None):
    """Sum [e, A], mean [e, A] and M2 [e, A] (float64) of ph [R, e, A] over the rows where w [R, e, 1] is 1 (n
    [e, 1] of them). ``total``: (the sum over every row, the sum over the complementary rows' w) to get this side's
    sum as their difference. Two passes: M2 is taken around the mean. The sum of φ accumulates in float64; M2, a
    sum of squares, in ph's dtype (torch's cascade summation, within 1e-7 relative in float32 and four times
    faster), then turns float64."""
    s1 = (ph * w).sum(0, dtype=torch.float64) if total is None else total
    mean = s1 / n
    return s1, mean, (ph - mean.to(ph.dtype)).square_().mul_(w).sum(0).double()


def _column_stats(phi, correct, keep, shadow, mem_rows, counts, rmia: bool) -> dict:
    """Per-example statistics of a block of examples from φ [R, e, A] and correct [R, e] (numpy) of the R models
    read, keep bool [R, e], counts {"n_in", "n_out", "mem_in", "mem_out": float64 [e]} (shadow and memorization
    models IN / OUT): means and M2 of φ over the IN / OUT shadow rows (:func:`_side_moments`), the
    sums of σ(φ) (for RMIA), memorization and the privacy score over the ``mem_rows``. Returns numpy arrays
    [e, ...] (the counts included)."""
    ph = torch.from_numpy(phi)
    kt = torch.from_numpy(keep)
    dt = ph.dtype
    all_rows = bool(shadow.all())
    sh = None if all_rows else torch.from_numpy(shadow).to(dt)[:, None, None]
    n = {side: torch.from_numpy(counts[f"n_{side}"])[:, None] for side in ("in", "out")}
    w_in = kt.to(dt)[..., None]
    w_out = 1 - w_in
    if sh is not None:
        w_in, w_out = w_in * sh, w_out * sh
    s_in, mean_in, m2_in = _side_moments(ph, w_in, n["in"])
    s_sh = ph.sum(0, dtype=torch.float64) if sh is None else (ph * sh).sum(0, dtype=torch.float64)
    _, mean_out, m2_out = _side_moments(ph, w_out, n["out"], s_sh - s_in)
    out = {"n_in": n["in"].numpy(), "n_out": n["out"].numpy(), "mean_in": mean_in.numpy(), "m2_in": m2_in.numpy()}
    out.update(mean_out=mean_out.numpy(), m2_out=m2_out.numpy())
    if rmia:
        p = torch.sigmoid(ph)
        p_in = (p * w_in).sum(0).double()
        p_sh = (p.sum(0) if sh is None else (p * sh).sum(0)).double()
        out["p_in"], out["p_out"] = p_in.numpy(), (p_sh - p_in).numpy()
    c = torch.from_numpy(correct)
    same = np.array_equal(mem_rows, shadow)
    if not (same and all_rows):
        c = c & torch.from_numpy(mem_rows)[:, None]
    c_in = (c & kt).sum(0).double()
    m_in, m_out = torch.from_numpy(counts["mem_in"]), torch.from_numpy(counts["mem_out"])
    out["mem"] = (c_in / m_in - (c.sum(0).double() - c_in) / m_out).numpy()
    if not same:
        mr = torch.from_numpy(mem_rows).to(dt)[:, None, None]
        k_in = w_in if all_rows else kt.to(dt)[..., None]
        _, mean_in, m2_in = _side_moments(ph, k_in * mr, m_in[:, None])
        _, mean_out, m2_out = _side_moments(ph, (1 - k_in) * mr, m_out[:, None])
        n = {"in": m_in[:, None], "out": m_out[:, None]}
    sd = (m2_in / n["in"]).clamp_min(0).sqrt() + (m2_out / n["out"]).clamp_min(0).sqrt()
    out["privacy_score"] = ((mean_in - mean_out).abs() / sd.clamp_min(1e-12)).mean(-1).numpy()
    return out


# --- pass 2: a few targets' rows --------------------------------------------------------------------------------

#: Abramowitz & Stegun 26.2.12: −log Φ(u) = u²/2 + log(−u) + ½ log 2π − log(1 − 1/u² + 3/u⁴ − 15/u⁶ + 105/u⁸)
#: for u → −∞; the first omitted term, 945/u¹⁰, is below float32's resolution for u < −10.
_TAIL_SERIES = (1.0, -1.0, 3.0, -15.0, 105.0)


def neg_log_ndtr(u: torch.Tensor) -> torch.Tensor:
    """−log Φ(u), elementwise (the offline LiRA score): SciPy's ``log_ndtr`` in float64; in float32 from ``erfc``,
    −log1p(−½ erfc(u/√2)) for u ≥ 0 and −log(½ erfc(−u/√2)) for −10 ≤ u < 0, and the asymptotic series of
    :data:`_TAIL_SERIES` (the one SciPy uses far out) below −10.

    Args:
        u: float tensor of any shape.
    Returns:
        a tensor of u's shape and dtype; in float32 within 2e-6 relative of SciPy's float64 value for u ≤ 5, within
        2e-5 beyond (where −log Φ(u) < 3e-7; it underflows to 0 past u ≈ 13). Used by :func:`score` (no chapter
        yet).
    """
    if u.dtype == torch.float64:
        return torch.from_numpy(-log_ndtr(u.numpy()))
    e = torch.erfc(u.abs().mul_(1 / math.sqrt(2))).mul_(0.5)  # Φ(−|u|)
    upper = torch.log1p(e.neg())  # log Φ(u) for u ≥ 0
    lower = e.clamp_min_(torch.finfo(u.dtype).tiny).log_()  # log Φ(u) for u < 0
    # upper + [u < 0]·(lower − upper), with [u < 0] = (1 − sign u)/2 (at u = 0 the two sides agree)
    out = torch.addcmul(upper, lower.sub_(upper), u.sign().sub_(1), value=-0.5)
    tail = (u < _TAIL).nonzero(as_tuple=True) if u.numel() and u.min() < _TAIL else None
    if tail is not None:
        v = u[tail].double()
        inv = v.square().reciprocal_()
        series = sum(coef * inv**k for k, coef in enumerate(_TAIL_SERIES))
        out[tail] = (-0.5 * v.square() - (-v).log() - 0.5 * _LOG_2PI + series.log()).to(u.dtype)
    return out.neg_()


def _loo(n, mean, m2, own, x):
    """Leave the target's own φ out of one side's moments where ``own`` is 1 (down-dating); elsewhere unchanged.

    n [e, 1], mean and m2 [e, A] (per example), own [t, e, 1] (0 or 1), x [t, e, A]. Returns (x − mean', var')
    [t, e, A], var' = max(M2'/n', 1e-12) as in :func:`mia_lib.attacks.lira.loo_moments`: with d = x − mean and
    n' = n − own, x − mean' = d·(1 + own/n') and M2' = M2 − own·d·(x − mean')."""
    n1 = n - own
    d = x - mean
    dx = torch.addcmul(d, own / n1, d)
    return dx, torch.sub(m2, (d * dx).mul_(own)).div_(n1).clamp_min_(_MIN_VAR)


def loo_var_sums(x, own, n, mean, m2) -> torch.Tensor:
    """Σ over each block of examples of one side's leave-one-out variance (:func:`_loo`'s var', without its 1e-12
    floor), per target: the numerator of LiRA's fixed variance, accumulated in pass 1 so that pass 2 needs a
    single sweep.

    With own ∈ {0, 1}, var' = M2/n + own·(M2/(n−1) − M2/n) − own·n/(n−1)²·(x − mean)². Examples whose side has
    fewer than 2 shadows count as if the target were not on that side (LiRA refuses them where it needs them).

    Args:
        x: [t, B, e, A] the targets' φ on B blocks of e examples; own: bool [t, B, e]; n: float64 [B, e, 1];
            mean, m2: float64 [B, e, A] (the side's per-example moments).
    Returns:
        float64 [t, B, A]: one sum per target and block. Used by :func:`score` (no chapter yet).
    """
    full = m2 / n
    ok = n >= 2
    c = torch.where(ok, m2 / (n - 1).clamp_min(1) - full, 0.0)
    b = torch.where(ok, n / (n - 1).clamp_min(1) ** 2, 0.0)
    o = own[..., None]
    total = full.sum(1) + (o * c).sum(2)
    d2 = (x - mean.to(x.dtype)).square_()
    return total - d2.mul_(o * b.to(x.dtype)).sum(2, dtype=torch.float64)


@functools.lru_cache(maxsize=8)
def _positions(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(0..n-1 as int64, the same with bit 31 set as uint64): :func:`count_at_most`'s query tags, made once."""
    ar = np.arange(n, dtype=np.int64)
    ar.flags.writeable = False
    tags = ar.astype(np.uint64) | np.uint64(1 << 31)
    tags.flags.writeable = False
    return ar, tags


def count_at_most(values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """How many ``values`` are ≤ each query: int64 [E], = ``searchsorted(sort(values), queries, "right")``.

    Args:
        values: float [P]; queries: float [E] (same dtype). Finite non-negative float32 inputs take one sort of
        both together, packed as (bits of the number, tag) in 64-bit keys (a non-negative float's bits order as
        the number does; a query's tag, 2³¹ + its index, puts it after the values equal to it): after the sort,
        the query at position p that is the j-th query has p − j values at or below it. Faster than E binary
        searches; other inputs take ``np.searchsorted``. Used by :func:`score` for RMIA (no chapter yet).
    """
    n_q, n_v = queries.size, values.size
    fast = values.dtype == np.float32 and queries.dtype == np.float32 and n_q < 1 << 31
    if not fast or values.min(initial=0) < 0 or queries.min(initial=0) < 0:
        return np.searchsorted(np.sort(values), queries, side="right")
    ar, tags = _positions(n_q)
    shift = np.uint64(32)
    keys = np.empty(n_v + n_q, np.uint64)
    np.left_shift(values.view(np.uint32), shift, out=keys[:n_v], dtype=np.uint64, casting="unsafe")
    np.left_shift(queries.view(np.uint32), shift, out=keys[n_v:], dtype=np.uint64, casting="unsafe")
    keys[n_v:] |= tags
    keys.sort()
    where = np.flatnonzero(keys & np.uint64(1 << 31))  # the queries' positions, in sorted order
    out = np.empty(n_q, np.int64)
    out[(keys[where] & np.uint64(0x7FFFFFFF)).astype(np.intp)] = where - ar
    return out


def _row_block(x, own_in, own_out, stats, fix, attacks, a, gamma, pops, member, out, width) -> None:
    """Scores [t, E] of one block of targets into ``out`` ({attack: array [t, E]}), computed ``width`` examples at
    a time (cache-sized pieces).

    x [t, E, A] the targets' φ; own_in / own_out [t, E] 1 where the target is an IN / OUT shadow of the example;
    stats: per-example tensors [E, A] (counts [E, 1]); fix: LiRA's fixed variances {"in", "out": [t, 1, A]};
    pops: RMIA's population per target (int arrays), or None for each target's OUT examples (from member, bool
    [t, E])."""
    t, n_e, n_a = x.shape
    dt = x.dtype
    names = [name for name in attacks if name in LIRA]
    online = any(name.startswith("lira_online") for name in names)
    fixed = any(name.endswith("_fixed") for name in names)
    if fixed:
        inv_fix = {side: v.reciprocal() for side, v in fix.items()}
        log_fix = {side: v.log() for side, v in fix.items()}
    rmia = [name for name in ("rmia", "rmia_online") if name in attacks]
    ratio = {name: torch.empty((t, n_e, n_a), dtype=dt) for name in rmia}
    floor = 1e-300 if dt == torch.float64 else torch.finfo(dt).tiny
    for j in range(0, n_e, width):
        sl = slice(j, min(n_e, j + width))
        xs, oi, oo = x[:, sl], own_in[:, sl, None], own_out[:, sl, None]
        st = {k: v[sl] for k, v in stats.items()}
        score = {}
        if names:
            dx_out, var_out = _loo(st["n_out"], st["mean_out"], st["m2_out"], oo, xs)
            z_out = dx_out * var_out.rsqrt()  # (x − mean_out') / σ_out'
            z2_out, log_out = z_out.square(), var_out.log_()
            if online:
                dx_in, var_in = _loo(st["n_in"], st["mean_in"], st["m2_in"], oi, xs)
                z2_in = (dx_in * var_in.rsqrt()).square_()
                log_in = var_in.log_()
            if fixed:
                zf2_out = dx_out.square().mul_(inv_fix["out"])
        for name in names:
            v = name.removeprefix("lira_")
            if v == "online":  # log N(x; in) − log N(x; out)
                s = (log_in - log_out).add_(z2_in).sub_(z2_out).mul_(-0.5)
            elif v == "online_fixed":
                s = dx_in.square().mul_(inv_fix["in"]).sub_(zf2_out).add_(log_fix["in"] - log_fix["out"]).mul_(-0.5)
            elif v == "offline":  # −log Pr[Z > x]
                s = neg_log_ndtr(z_out.neg())
            elif v == "offline_fixed":
                s = neg_log_ndtr(dx_out * fix["out"].rsqrt().neg_())
            elif v == "offline_two_sided":  # −log N(x; out)
                s = (log_out + z2_out).add_(_LOG_2PI).mul_(0.5)
            else:  # offline_two_sided_fixed
                s = (zf2_out + log_fix["out"]).add_(_LOG_2PI).mul_(0.5)
            score[name] = s
        for name, s in score.items():
            out[name][:, sl] = (s[..., 0] if n_a == 1 else s.mean(-1)).numpy()
        if rmia:
            p = torch.sigmoid(xs)  # p(y|x) = σ(φ)
            p_out = (st["p_out"] - oo * p).div_(st["n_out"] - oo)
        for name in rmia:
            if name == "rmia_online":
                prior = (st["p_in"] - oi * p).div_(st["n_in"] - oi).add_(p_out).mul_(0.5)
            else:
                prior = p_out.mul(0.5 * (1 + a)).add_(0.5 * (1 - a))
            ratio[name][:, sl] = p / prior.clamp_min_(floor)
    for name in rmia:
        r = ratio[name].numpy()
        q = (r / np.asarray(gamma, r.dtype)).astype(r.dtype)
        s = np.empty((t, n_e))
        for i in range(t):
            pop = np.flatnonzero(~member[i]) if pops is None else pops[i]
            frac = [count_at_most(np.ascontiguousarray(r[i, pop, v]), q[i, :, v].copy()) for v in range(n_a)]
            s[i] = np.mean(frac, axis=0) / pop.size
        out[name][...] = s


# --- the two passes ---------------------------------------------------------------------------------------------


class _Rows:
    """[T, E, ...] rows of one array, in memory or in a file written and read by offset (never mapped)."""

    def __init__(self, shape, dtype, path: Path | None = None, offset: int = 0):
        self.shape, self.dtype, self.path, self.offset = tuple(shape), np.dtype(dtype), path, offset
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self.array = np.empty(self.shape, self.dtype) if path is None else None
        self.fd = None if path is None else os.open(path, os.O_RDWR)

    def write_rows(self, i0: int, block: np.ndarray) -> None:
        if self.array is not None:
            self.array[i0 : i0 + len(block)] = block
        else:
            _pwrite(self.fd, np.ascontiguousarray(block, self.dtype), self.offset + i0 * self.row_bytes)

    def write_cols(self, j0: int, source: np.ndarray, rows: np.ndarray, n: int) -> None:
        """``source[rows[t], :n]`` into columns j0:j0+n of each row t (no copy of the whole block)."""
        inner = self.row_bytes // self.shape[1]
        for t, r in enumerate(rows):
            if self.array is not None:
                self.array[t, j0 : j0 + n] = source[r, :n]
            else:
                _pwrite(
                    self.fd,
                    np.ascontiguousarray(source[r, :n], self.dtype),
                    self.offset + t * self.row_bytes + j0 * inner,
                )

    def read_rows(self, i0: int, i1: int) -> np.ndarray:
        if self.array is not None:
            return self.array[i0:i1]
        buf = np.empty((i1 - i0,) + self.shape[1:], self.dtype)
        view, pos = memoryview(buf).cast("B"), self.offset + i0 * self.row_bytes
        while view.nbytes:
            got = os.preadv(self.fd, [view], pos)
            if got <= 0:
                raise OSError(f"short read from {self.path}")
            view, pos = view[got:], pos + got
        return buf

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _pwrite(fd: int, block: np.ndarray, pos: int) -> None:
    view = memoryview(block).cast("B")
    while view.nbytes:
        done = os.pwrite(fd, view, pos)
        view, pos = view[done:], pos + done


def _npy_rows(path: Path, shape, dtype) -> _Rows:
    """An empty ``.npy`` file [T, E] (sparse until written) and a row writer into it."""
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    offset = mm.offset
    del mm
    return _Rows(shape, dtype, path, offset)


def _in_order(executor, fn, items, window: int):
    """``executor.map(fn, items)`` with at most ``window`` results waiting: results in order, memory bounded."""
    items, pending = list(items), []
    for item in items:
        pending.append(executor.submit(fn, item))
        if len(pending) >= window:
            yield pending.pop(0).result()
    for job in pending:
        yield job.result()


def score(
    logits,
    keep: np.ndarray,
    y: np.ndarray,
    *,
    target_ids=None,
    shadow_ids=None,
    mem_ids=None,
    examples=None,
    attacks=DEFAULT_ATTACKS,
    a: float = 0.3,
    gamma: float = 2.0,
    population_ids=None,
    n_population: int | None = None,
    seed: int = 0,
    dtype=np.float32,
    out: str | Path | None = None,
    memory_mb: int = 256,
    threads: int | None = None,
    progress: bool | None = None,
) -> PoolScores:
    """LiRA (every variant), RMIA, memorization and the privacy score of a pool, chunk by chunk.

    The results are those of ``lira.lira_scores(phi, keep, target_ids, shadow_ids)`` (named ``lira_<variant>``),
    ``rmia.rmia(logits, keep, y, target_ids, shadow_ids, a=a, gamma=gamma, population_ids=..., n_population=...,
    seed=seed)`` (``"rmia"``; ``"rmia_online"`` with ``online=True``), ``memorization.memorization(correct, keep,
    mem_ids)`` and ``memorization.privacy_score(phi[mem_ids], keep[mem_ids])``, all applied to
    ``logits[:, examples]`` (see the module docstring for precision and memory).

    Args:
        logits: [K, N, A, C] (or [K, N, C]): a :class:`mia_lib.pool.ShardedLogits` (read chunk by chunk from the
            store by positioned reads: resident memory stays bounded), a memory map (the pages it touches count
            as resident while it is open) or an array. keep: bool [K, N]. y: int [N] labels.
        target_ids: models to attack (default all); shadow_ids: models whose statistics score them (default all;
            a target is always left out of its own); mem_ids: models for memorization and the privacy score
            (default: shadow_ids). Models in none of them are never read.
        examples: indices (or a slice, or a boolean mask) of the examples to score (default all); only their
            columns are read. population_ids refer to positions among them.
        attacks: names from :data:`ATTACKS`. a, gamma, population_ids, n_population, seed: RMIA's, as in
            :func:`mia_lib.attacks.rmia.rmia`.
        dtype: ``np.float32`` (default, fast) or ``np.float64`` (the reference path).
        out: a folder for the [T, E] scores as ``<attack>.npy`` (created; returned as read-only memory maps);
            None keeps them in memory.
        memory_mb: about how much memory one chunk of pass 1 may take. threads: worker threads (default: torch's
            thread count; 0 runs everything in the calling thread). Neither changes a bit of the results.
            progress: a bar over the chunks (None: :func:`mia_lib.progress.enabled` decides).
    Returns:
        :class:`PoolScores`.
    Raises:
        ValueError: unknown attacks, bad shapes, a or γ, or too few IN / OUT shadow models (the messages of the
            attack modules).

    Used by ``benchmarks/scoring_at_scale.py`` (no chapter yet).
    """
    unknown = set(attacks) - set(ATTACKS)
    if unknown:
        raise ValueError(f"Unknown attack(s) {sorted(unknown)}; choose from {ATTACKS}.")
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise ValueError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"a must lie in [0, 1], got {a}")
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    dtype = np.dtype(dtype)
    if not hasattr(logits, "read"):
        logits = logits if isinstance(logits, np.memmap) else np.asarray(logits)
        logits = logits[:, :, None, :] if logits.ndim == 3 else logits
    keep = np.asarray(keep, dtype=bool)
    y = np.asarray(y)
    k, n_all = keep.shape
    if len(logits.shape) != 4 or tuple(logits.shape[:2]) != (k, n_all) or y.shape != (n_all,):
        raise ValueError(f"logits {tuple(logits.shape)}, keep {keep.shape} and y {y.shape} do not match")
    n_views = logits.shape[2]
    ex = np.arange(n_all)[slice(None) if examples is None else examples].reshape(-1)
    targets, shadows = _ids(target_ids, k), _ids(shadow_ids, k)
    mems = shadows if mem_ids is None else _ids(mem_ids, k)
    rows = np.unique(np.concatenate([targets, shadows, mems]))
    shadow, mem_rows = np.isin(rows, shadows), np.isin(rows, mems)
    target_rows = np.searchsorted(rows, targets)
    cols_all = _as_cols(ex)
    keep_sel = _take_rows(keep, rows)[:, cols_all]  # [R, E] (a view when nothing is left out)
    y_sel = y[ex]
    n_t, n_e = targets.size, ex.size
    member_t = _take_rows(keep_sel, target_rows)  # [T, E]
    t_shadow = shadow[target_rows]

    def owned(i0, i1, cols=slice(None)):  # bool [t, e] (IN, OUT): where targets i0:i1 are IN / OUT shadows
        m = member_t[i0:i1, cols]
        if t_shadow[i0:i1].all():
            return m, ~m
        sh = t_shadow[i0:i1, None]
        return m & sh, ~m & sh

    def side_counts(rows_mask):  # IN and OUT models among rows_mask, per example
        n_rows = int(rows_mask.sum())
        n_in = (keep_sel.sum(0) if rows_mask.all() else (keep_sel & rows_mask[:, None]).sum(0)).astype(np.float64)
        return n_in, n_rows - n_in

    n_in_full, n_out_full = side_counts(shadow)
    counts = {"n_in": n_in_full, "n_out": n_out_full}
    mem_in, mem_out = (n_in_full, n_out_full) if np.array_equal(mem_rows, shadow) else side_counts(mem_rows)
    counts.update(mem_in=mem_in, mem_out=mem_out)
    any_in = (member_t[t_shadow]).any(0)  # some target is an IN shadow of the example: it leaves one IN out
    any_out = (~member_t[t_shadow]).any(0)
    least = {"n_in": n_in_full - any_in, "n_out": n_out_full - any_out}
    lira_asked = [v for v in attacks if v in LIRA]
    if lira_asked:
        lira._check_counts(least, online=any(v.startswith("lira_online") for v in lira_asked))
    for name in ("rmia", "rmia_online"):
        if name in attacks:
            for side, label in (("n_out", "OUT"), ("n_in", "IN"))[: 2 if name == "rmia_online" else 1]:
                if least[side].min(initial=1) < 1:
                    raise ValueError(
                        f"RMIA {'online' if name == 'rmia_online' else 'offline'} needs at least 1 {label} shadow "
                        f"model per example after leaving the target out; some example has none (use more shadow "
                        f"models)."
                    )
    rmia_asked = any(name.startswith("rmia") for name in attacks)
    pops = _populations(member_t, population_ids, n_population, seed, n_e) if rmia_asked else None
    threads = torch.get_num_threads() if threads is None else threads

    folder = None if out is None else Path(out)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-phi-", dir=folder)
        os.close(fd)
        x_buf = _Rows((n_t, n_e, n_views), dtype, Path(tmp))
    else:
        x_buf = _Rows((n_t, n_e, n_views), dtype)
    c = logits.shape[3]
    # Blocks: the statistics of examples in blocks of col_step, at fixed positions; chunks are whole numbers of
    # them and every sum is taken block by block in the same order, so neither memory_mb nor threads changes a bit.
    col_step = max(1, _COLUMN_ELEMENTS // (rows.size * n_views))
    per_example = rows.size * (n_views * dtype.itemsize + 1)  # the chunk's buffers
    chunk = min(n_e, (memory_mb << 20) // per_example, _BLOCK_LOGITS // (n_views * c))
    chunk = max(col_step, chunk // col_step * col_step)
    per_read = max(1, _BLOCK_LOGITS // (chunk * n_views * c))  # models read and reduced together (cache-sized)
    row_step = max(per_read, -(-rows.size // (4 * max(1, threads))) // per_read * per_read)  # models per job
    row_block = max(1, min(n_t, _ROW_ELEMENTS // max(1, n_e * n_views)))
    n_chunks, n_row_blocks = -(-n_e // chunk), -(-n_t // row_block)
    stats, writers, clock = {}, {}, _Clock()
    fixed_asked = any(name in LIRA and name.endswith("_fixed") for name in attacks)
    fix_sum = {side: np.zeros((n_t, n_views)) for side in ("in", "out")}
    fix_step = max(1, min(_COLUMN_ELEMENTS // max(1, col_step * n_views), -(-n_t // (4 * max(1, threads)))))
    try:
        with (
            train.torch_threads(1),
            ThreadPoolExecutor(threads) if threads else _Inline() as pool_,
            bar(total=n_chunks + n_row_blocks, progress=progress, desc="scoring", unit="chunk") as pbar,
        ):
            # pass 1: columns
            scratch = threading.local()  # each thread's logits buffer, classes first, reused (stays in cache)
            phi_buf = np.empty((rows.size, chunk, n_views), dtype)
            ok_buf = np.empty((rows.size, chunk), bool)
            for j0 in range(0, n_e, chunk):
                j1 = min(n_e, j0 + chunk)
                n, cols, ys = j1 - j0, _as_cols(ex[j0:j1]), y_sel[j0:j1]

                def read_phi(r0, n=n, cols=cols, ys=ys):  # rows r0, a few at a time: read (reordering), φ in place
                    if getattr(scratch, "buf", None) is None:
                        scratch.buf = np.empty((c, per_read, chunk, n_views), dtype)
                    for q0 in range(r0, min(rows.size, r0 + row_step), per_read):
                        q1 = min(rows.size, q0 + per_read, r0 + row_step)
                        zc = scratch.buf[:, : q1 - q0, :n]
                        _read(logits, rows[q0:q1], cols, zc.transpose(1, 2, 3, 0))
                        phi_out = torch.from_numpy(phi_buf[q0:q1, :n])
                        _phi_in_place(zc, ys, phi_out, torch.from_numpy(ok_buf[q0:q1, :n]))

                def stats_of(e0, n=n, j0=j0):  # examples e0: their columns' statistics
                    e1 = min(n, e0 + col_step)
                    keep_block = keep_sel[:, j0 + e0 : j0 + e1]
                    cnt = {key: v[j0 + e0 : j0 + e1] for key, v in counts.items()}
                    return _column_stats(
                        phi_buf[:, e0:e1], ok_buf[:, e0:e1], keep_block, shadow, mem_rows, cnt, rmia_asked
                    )

                with clock("columns"):
                    list(pool_.map(read_phi, range(0, rows.size, row_step)))
                    parts = list(pool_.map(stats_of, range(0, n, col_step)))
                    got = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
                    for key, v in got.items():
                        stats.setdefault(key, []).append(v)
                    x_buf.write_cols(j0, phi_buf, target_rows, n)
                if fixed_asked:
                    with clock("fixed"):  # LiRA's fixed variances: their sums over examples, chunk by chunk

                        def fix_of(i0, got=got, n=n, j0=j0):
                            i1 = min(n_t, i0 + fix_step)
                            total = {}
                            for side, own in zip(("in", "out"), owned(i0, i1, slice(j0, j0 + n))):
                                parts = [torch.from_numpy(fix_sum[side][i0:i1, None])]  # so far, then per block
                                for e0, e1 in ((0, n // col_step * col_step), (n // col_step * col_step, n)):
                                    if e1 == e0:
                                        continue
                                    b, e = (e1 - e0) // col_step or 1, min(col_step, e1 - e0)
                                    x = phi_buf[target_rows[i0:i1], e0:e1]
                                    xt = torch.from_numpy(x).view(i1 - i0, b, e, n_views)
                                    mine = torch.from_numpy(own[:, e0:e1]).view(i1 - i0, b, e)
                                    moments = [
                                        torch.from_numpy(got[f"{q}_{side}"][e0:e1]).view(b, e, -1)
                                        for q in ("n", "mean", "m2")
                                    ]
                                    parts.append(loo_var_sums(xt, mine, *moments))
                                # added block after block, in order: the same sums whatever the chunks
                                total[side] = torch.cat(parts, 1).cumsum(1)[:, -1].numpy()
                            return total

                        for i0, total in zip(range(0, n_t, fix_step), pool_.map(fix_of, range(0, n_t, fix_step))):
                            for side, v in total.items():
                                fix_sum[side][i0 : i0 + len(v)] = v
                pbar.update(1)
            phi_buf = ok_buf = scratch = None  # free the chunk buffers before pass 2
            stats = {key: np.concatenate(v) for key, v in stats.items()}
            mem, privacy = stats.pop("mem"), stats.pop("privacy_score")
            dt = torch.float64 if dtype == np.float64 else torch.float32
            st = {key: torch.from_numpy(np.ascontiguousarray(v)).to(dt) for key, v in stats.items()}  # [E, A] / [E, 1]

            # pass 2: rows
            names = [name for name in ATTACKS if name in attacks]
            shape = (n_t, n_e)
            for name in names:
                writers[name] = _npy_rows(folder / f"{name}.npy", shape, dtype) if folder else _Rows(shape, dtype)

            def rows_of(i0):
                i1 = min(n_t, i0 + row_block)
                x = torch.from_numpy(x_buf.read_rows(i0, i1))
                oi, oo = (torch.from_numpy(own).to(dt) for own in owned(i0, i1))
                member = member_t[i0:i1]
                pop = None if pops is None else pops[i0:i1]
                width = max(1, _PIECE // ((i1 - i0) * n_views))
                fix = {side: torch.from_numpy(v[i0:i1, None] / n_e).to(dt) for side, v in fix_sum.items()}
                if folder is None:  # straight into the results
                    out = {name: writers[name].array[i0:i1] for name in names}
                else:  # into this thread's buffers, then to the files from here (positioned writes)
                    if getattr(scratch, "rows", None) is None or scratch.rows.shape[1] != i1 - i0:
                        scratch.rows = np.empty((len(names), i1 - i0, n_e), dtype)
                    out = dict(zip(names, scratch.rows))
                _row_block(x, oi, oo, st, fix, names, a, gamma, pop, member, out, width)
                if folder is not None:
                    for name in names:
                        writers[name].write_rows(i0, out[name])

            starts = range(0, n_t, row_block)
            scratch = threading.local()
            with clock("rows"):
                for _ in _in_order(pool_, rows_of, starts, 2 * max(1, threads)):
                    pbar.update(1)
    finally:
        x_buf.close()
        for w in writers.values():
            w.close()
        if folder is not None:
            Path(x_buf.path).unlink(missing_ok=True)
    if folder is not None:
        scores = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in writers}
    else:
        scores = {name: w.array for name, w in writers.items()}
    is_member = _take_rows(keep, targets)[:, cols_all]
    return PoolScores(scores, mem, privacy, targets, ex, is_member, folder, clock.seconds)


def _populations(keep_t: np.ndarray, population_ids, n_population, seed: int, n_e: int) -> list[np.ndarray] | None:
    """RMIA's population z per target, as :func:`mia_lib.attacks.rmia.rmia` draws it (same generator, same order):
    the target's OUT examples, or ``population_ids``; at most ``n_population`` of them. None stands for each
    target's OUT examples (found row by row, not stored)."""
    if population_ids is None and n_population is None:
        if (~keep_t).sum(1).min(initial=1) == 0:
            raise ValueError("the RMIA population is empty")
        return None
    rng = np.random.default_rng(seed)
    out = []
    for row in keep_t:
        pop = np.flatnonzero(~row) if population_ids is None else np.asarray(population_ids).ravel()
        if n_population is not None and pop.size > n_population:
            pop = rng.choice(pop, n_population, replace=False)
        if pop.size == 0:
            raise ValueError("the RMIA population is empty")
        out.append(pop)
    return out


def score_pool(shadow, **kw) -> PoolScores:
    """:func:`score` of a :class:`mia_lib.pool.ShadowPool`: its logits as the store holds them when it was read
    from one (:meth:`~mia_lib.pool.ShadowPool.logits_on_disk`), else those in memory; its keep matrix and labels.

    Args:
        shadow: the pool; kw: :func:`score`'s keyword arguments.
    Returns:
        :class:`PoolScores`. No chapter uses it yet.
    """
    logits = shadow.logits if shadow.folder is None else shadow.logits_on_disk()
    return score(logits, shadow.keep, shadow.y, **kw)
