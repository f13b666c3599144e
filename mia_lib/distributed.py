"""Pool shards on a Dask cluster: the executor behind ``Experiment(scheduler=...)``.

:func:`mia_lib.pool.load_or_train` hands the shards that are missing to :func:`train_shards` when
``cfg.scheduler`` is set. Each missing shard becomes one task; the worker that runs it loads the data itself, trains
the shard with :func:`mia_lib.pool.ensure_shard` (under the shard's claim) and writes it atomically, with its
checksum, into the store, a folder that the client and every worker see at the same path (a shared filesystem).
The task returns a few hundred bytes; the client reads the shards from the store and assembles the pool exactly as
an in-process run does. Nothing big travels over the network, in either direction.

Same pool, whatever ran it: a model depends only on (master seed, model id), and a worker trains with the client's
torch thread count (CPU kernels of some layers sum in an order that depends on it), its packages and its
``mia_lib`` checked against the client's before the first task. A worker killed in the middle of a shard loses
nothing but that shard's time: Dask runs the task again elsewhere, the dead worker's temporary file is never read
and its claim is taken over.

Schedulers (:func:`mia_lib.config.scheduler_kind`):

* ``"local:N"``: a ``LocalCluster`` of N worker processes on this machine, one thread each, on the loopback
  interface only; with GPUs, worker w sees GPU ``w mod n_gpus`` alone (``CUDA_VISIBLE_DEVICES``). ``"local"``: one
  worker per GPU, else per CPU core. Started for the call and closed after it.
* ``"tcp://host:8786"`` (or another Dask protocol): an existing cluster's scheduler, reached within
  :data:`CONNECT_TIMEOUT_S`.

Errors name what is wrong and where: :class:`SchedulerUnreachable`, :class:`WorkerMismatch` (versions, data),
:class:`StoreNotShared` (a worker that cannot see the store, before the first task by a probe file and after each
task by reading its shard back), :class:`ShardFailed` (a task raised; its traceback is in the message, and every
shard that finished stays cached).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import logging
import os
import pickle
import platform
import time
import traceback
import uuid
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from . import cache, config, data, pool, train

#: Seconds to reach a scheduler given by address.
CONNECT_TIMEOUT_S = 20.0
#: Seconds to wait for the first worker of a cluster (all N of a local one).
WORKERS_TIMEOUT_S = 120.0
#: Seconds a shard a worker reported written may take to become visible to the client (NFS caches directory
#: listings) before :class:`StoreNotShared` is raised.
VISIBILITY_GRACE_S = 30.0


class ClusterError(RuntimeError):
    """A Dask cluster could not train the pool (the subclasses say why)."""


class SchedulerUnreachable(ClusterError):
    """No Dask scheduler answered at the address within the timeout."""


class WorkerMismatch(ClusterError):
    """A worker's Python, torch, NumPy, mia_lib or data differ from the client's: its shards would not be the same."""


class StoreNotShared(ClusterError):
    """A worker writes the store somewhere the client (or another worker) does not see."""


class ShardFailed(ClusterError):
    """A shard's task raised on a worker; the message carries the worker's traceback."""


# --- what must agree between the client and its workers --------------------------------------------------------


@lru_cache(maxsize=1)
def _source_fingerprint() -> str:
    """SHA-256 (12 hex digits) of the science library's source files (``mia_lib`` less the book machinery)."""
    lib = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(lib.rglob("*.py")):
        rel = path.relative_to(lib)
        if rel.parts[0] == "book":
            continue
        h.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def environment() -> dict:
    """What must be the same on the client and every worker for bitwise-identical shards: Python, torch, NumPy and
    ``mia_lib`` (its version and a fingerprint of its source)."""
    try:
        version = importlib.metadata.version("mia_lib")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "mia_lib": f"{version} (source {_source_fingerprint()})",
    }


def _differences(theirs: dict, ours: dict) -> list[str]:
    return [f"{k} {theirs.get(k)!r} (client: {v!r})" for k, v in ours.items() if theirs.get(k) != v]


def dataset_fingerprint(ds: data.Dataset) -> str:
    """SHA-256 (16 hex digits) of a dataset's arrays (X, y, group with their shapes and dtypes)."""
    h = hashlib.sha256()
    for t in (ds.X, ds.y, ds.group):
        a = np.ascontiguousarray(t.numpy())
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()[:16]


# --- connecting ------------------------------------------------------------------------------------------------


def worker_envs(n: int, n_gpus: int, visible: str | None = None) -> list[dict]:
    """Environment variables of the ``n`` workers of a local cluster: worker w sees GPU ``w mod n_gpus`` alone (of
    ``visible``, the client's ``CUDA_VISIBLE_DEVICES``, when set). ``OMP_WAIT_POLICY=PASSIVE`` (unless the client
    sets it): each worker trains with the client's thread count, and OpenMP threads that spin while waiting slow
    oversubscribed cores several times over; the policy changes no result."""
    gpu_ids = [g.strip() for g in visible.split(",") if g.strip()] if visible else [str(g) for g in range(n_gpus)]
    base = {} if "OMP_WAIT_POLICY" in os.environ else {"OMP_WAIT_POLICY": "PASSIVE"}
    if not n_gpus or not gpu_ids:
        return [dict(base) for _ in range(n)]
    return [{**base, "CUDA_VISIBLE_DEVICES": gpu_ids[w % len(gpu_ids)]} for w in range(n)]


def _local_cluster(n: int | None, device: str):
    """A LocalCluster on the loopback interface: ``n`` worker processes of one thread, one GPU each if any."""
    from distributed import LocalCluster
    from distributed.system import MEMORY_LIMIT

    n_gpus = torch.cuda.device_count() if device != "cpu" else 0
    n = n or n_gpus or os.cpu_count() or 1
    cluster = LocalCluster(
        n_workers=0,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    spec = cluster.new_spec
    for w, env in enumerate(worker_envs(n, n_gpus, os.environ.get("CUDA_VISIBLE_DEVICES"))):
        options = {**spec["options"], "memory_limit": MEMORY_LIMIT // n, "env": env}
        cluster.worker_spec[f"mia-{w}"] = {"cls": spec["cls"], "options": options}
    cluster.scale(n)
    return cluster


@contextlib.contextmanager
def connect(scheduler: str, device: str = "auto", timeout: float | None = None):
    """A Dask ``Client`` for ``scheduler`` (``"local:N"``, ``"local"`` or an address); a started local cluster is
    closed on exit. Raises :class:`SchedulerUnreachable` when an address does not answer within ``timeout``
    (default :data:`CONNECT_TIMEOUT_S`) and :class:`ClusterError` when the cluster has no worker."""
    from distributed import Client

    kind, arg = config.scheduler_kind(scheduler)
    timeout = CONNECT_TIMEOUT_S if timeout is None else timeout
    cluster = client = None
    try:
        if kind == "local":
            cluster = _local_cluster(arg, device)
            client = Client(cluster, timeout=timeout, set_as_default=False)
            n_workers = len(cluster.worker_spec)
        else:
            try:
                client = Client(arg, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise SchedulerUnreachable(
                    f"no Dask scheduler answered at {arg} within {timeout:g} s ({type(exc).__name__}: {exc}). "
                    f"Start one there (`dask scheduler`, then `dask worker {arg}` on each machine) or fix the address."
                ) from None
            n_workers = 1
        try:
            client.wait_for_workers(n_workers, timeout=WORKERS_TIMEOUT_S)
        except TimeoutError:
            raise ClusterError(
                f"the Dask cluster at {client.scheduler.address} has fewer than {n_workers} worker(s) after "
                f"{WORKERS_TIMEOUT_S:g} s. A script that starts a local cluster must call it under "
                f"`if __name__ == '__main__':` (worker processes are spawned and import the main module)."
            ) from None
        yield client
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def _sees_probe(path: str, token: str, wait_s: float = 10.0) -> bool:
    """On a worker: whether the client's probe file is there with its token (NFS may need a moment)."""
    deadline = time.monotonic() + wait_s
    while True:
        with contextlib.suppress(OSError):
            os.listdir(os.path.dirname(path))  # revalidates a cached directory listing
            if Path(path).read_text() == token:
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)


def check_workers(client, store_root: Path) -> dict:
    """Check every worker of ``client`` before the first task; returns :func:`environment` of each, by address.

    Raises :class:`WorkerMismatch` naming each worker whose :func:`environment` differs from the client's (or that
    cannot run ``mia_lib`` at all), and :class:`StoreNotShared` naming each worker that does not see a probe file
    the client wrote into ``store_root``.
    """
    ours = environment()
    address = client.scheduler.address
    try:
        theirs = client.run(environment)
    except Exception as exc:
        raise WorkerMismatch(
            f"the workers of {address} cannot run mia_lib ({type(exc).__name__}: {exc}); install the client's "
            f"mia_lib and packages (requirements.txt) on every worker"
        ) from exc
    bad = {w: d for w, env in theirs.items() if (d := _differences(env, ours))}
    if bad:
        lines = "; ".join(f"worker {w} has {', '.join(d)}" for w, d in sorted(bad.items()))
        raise WorkerMismatch(
            f"workers of {address} differ from the client, so their shards would not be bitwise identical: {lines}. "
            f"Install the same mia_lib and packages (requirements.txt) on every worker."
        )
    token = uuid.uuid4().hex
    probe = Path(store_root) / f".probe-{token}"
    probe.write_text(token)
    try:
        seen = client.run(_sees_probe, str(probe), token)
    finally:
        probe.unlink(missing_ok=True)
    blind = sorted(w for w, ok in seen.items() if not ok)
    if blind:
        raise StoreNotShared(
            f"worker(s) {', '.join(blind)} do not see the store {store_root}: a probe file the client wrote there is "
            f"not visible to them. The store (and the data directory) must be a folder that the client and every "
            f"worker see at the same path, on a shared filesystem; set it with store= or MIA_CACHE_DIR."
        )
    return theirs


# --- one task --------------------------------------------------------------------------------------------------

_DATA: dict = {}


def _worker_data(cfg: config.Experiment, fingerprint: str, worker: str):
    """The dataset and keep matrix of ``cfg``, loaded once per worker process, checked against the client's."""
    k = (cfg.dataset, cfg.under, cfg.n_under, cfg.n_data, cfg.data_dir, cfg.seed, cfg.n_shadow)
    if k not in _DATA:
        ds = pool.load_data(cfg)
        keep = train.balanced_keep(cfg.n_shadow, len(ds), cfg.seed)
        _DATA.clear()
        _DATA[k] = (ds, keep, dataset_fingerprint(ds))
    ds, keep, ours = _DATA[k]
    if ours != fingerprint:
        raise WorkerMismatch(
            f"worker {worker} (host {cache.host()}) loaded other data for dataset {cfg.dataset!r} (data_dir "
            f"{cfg.data_dir!r}) than the client (fingerprint {ours}, client {fingerprint}): the data directory must be "
            f"shared and identical"
        )
    return ds, keep


def shard_task(
    cfg: config.Experiment,
    store_root: str,
    key: str,
    i: int,
    start: int,
    stop: int,
    train_shard,
    fingerprint: str,
    threads: int,
    client_env: dict,
) -> dict:
    """The task of shard ``i`` (models ``start:stop``) on a Dask worker: checks the worker against the client, then
    :func:`mia_lib.pool.ensure_shard` into ``<store_root>/<key>``. Returns its small report (no arrays)."""
    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):
        worker = f"pid {os.getpid()}"
    d = _differences(environment(), client_env)
    if d:
        raise WorkerMismatch(f"worker {worker} (host {cache.host()}) has {', '.join(d)}")
    ds, keep = _worker_data(cfg, fingerprint, worker)
    folder = cache.entry(key, store_root)
    with train.torch_threads(threads):
        report = pool.ensure_shard(
            folder,
            i,
            np.arange(start, stop),
            cfg,
            ds,
            keep,
            train_shard,
            train.device(cfg.device),
            False,
            worker=worker,
        )
    return report


# --- the client's side -----------------------------------------------------------------------------------------


def _check_picklable(train_shard) -> None:
    try:
        pickle.dumps(train_shard)
    except Exception as exc:
        raise TypeError(
            f"the shard trainer {train_shard!r} does not pickle, so it cannot run on a Dask worker: pass a "
            f"module-level function or a picklable object (see mia_lib.dp.pools.DPShardTrainer), not a closure or "
            f"lambda ({type(exc).__name__}: {exc})"
        ) from None


def _read_back(folder: Path, i: int, ids: np.ndarray, n: int, cfg: config.Experiment, report: dict) -> dict:
    """The shard a worker reported, read from the store here (waiting out NFS caches); raises StoreNotShared."""
    deadline = time.monotonic() + VISIBILITY_GRACE_S
    while True:
        with contextlib.suppress(OSError):
            os.listdir(folder)
        state, shard, reason = pool.read_shard(folder, i, ids, n, cfg.save_params)
        if state == "ok":
            return shard
        if time.monotonic() > deadline:
            raise StoreNotShared(
                f"worker {report.get('worker')} (host {report.get('host')}) reported shard {i} {report['status']} at "
                f"{report.get('path')}, but this client (host {cache.host()}) cannot read it at "
                f"{folder / Path(report.get('path', '')).name} ({reason or state}). The store must be a folder that "
                f"the client and every worker see at the same path, on a shared filesystem."
            )
        time.sleep(0.5)


def _failure(i: int, future) -> tuple[BaseException, str]:
    """The exception of a task that did not finish, and a message with the worker's traceback."""
    try:
        exc = future.exception()
    except BaseException as cancelled:  # the scheduler cancelled the task (e.g. it lost its worker for good)
        return cancelled, f"shard {i} was cancelled by the scheduler ({type(cancelled).__name__}: {cancelled})"
    tb = "".join(traceback.format_exception(type(exc), exc, future.traceback()))
    return exc, f"shard {i} failed on its worker:\n{tb}"


def train_shards(cfg, store, key, folder, todo, ranges, ds, train_shard, shards_bar, on_shard_done) -> dict:
    """Train the shards ``todo`` of the entry ``folder`` on ``cfg.scheduler``'s cluster (called by
    :func:`mia_lib.pool.load_or_train`); the bar and ``on_shard_done`` advance as shards finish, in any order.
    Returns {shard index: shard read back from the store}. Workers train without progress bars.

    Every task runs to its end, even after another failed, so that all the shards that can be trained are cached;
    then the first failure is raised (:class:`ShardFailed` with the worker's traceback, or the
    :class:`ClusterError` the task raised).
    """
    from distributed import as_completed

    _check_picklable(train_shard)
    if cfg.data_dir:  # a worker's working directory is not the client's (the hash keeps the path as given)
        cfg = cfg.replace(data_dir=str(Path(cfg.data_dir).resolve()))
    store_root = cache.root(store).resolve()
    client_env = environment()
    fingerprint = dataset_fingerprint(ds)
    threads = torch.get_num_threads()
    with connect(cfg.scheduler, cfg.device) as client:
        check_workers(client, store_root)
        futures = {}
        for i in todo:
            ids = ranges[i]
            args = (cfg, str(store_root), key, i, int(ids[0]), int(ids[-1]) + 1, train_shard, fingerprint, threads)
            fut = client.submit(shard_task, *args, client_env, key=f"mia-shard-{key}-{i:04d}-{uuid.uuid4().hex[:8]}")
            futures[fut] = i
        failures, out = [], {}
        try:
            for fut in as_completed(list(futures), loop=client.loop):
                i = futures[fut]
                if fut.status != "finished":
                    failures.append(_failure(i, fut))
                    continue
                report = fut.result()
                for message in report["warnings"]:
                    cache.warn_corrupt(f"{message} (on worker {report.get('worker')})")
                out[i] = _read_back(folder, i, ranges[i], len(ds), cfg, report)
                shards_bar.update(1)
                if report["status"] == "trained" and on_shard_done is not None:
                    on_shard_done(i)
        finally:
            client.cancel([f for f in futures if not f.done()])
    if failures:
        exc, message = failures[0]
        others = f" ({len(failures) - 1} more shard(s) failed too)" if len(failures) > 1 else ""
        done = len(todo) - len(failures)
        text = f"{message}{others}; the {done} shard(s) that finished are cached and are not trained again"
        error = type(exc)(text) if isinstance(exc, ClusterError) else ShardFailed(text)
        error.remote_exception = exc
        raise error from None  # the message carries the worker's traceback
    return out
