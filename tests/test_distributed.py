"""Pools on Dask (mia_lib.distributed): the same bits whatever ran them, nothing lost when a worker or the client
dies, and clear errors. A 2-worker LocalCluster on the loopback interface, one thread each; tiny pools, seconds.

The pool of these tests (CNN32 on 28×28 digits) is one whose CPU numerics depend on torch's thread count, so that
the bitwise comparisons also check that workers train with the client's thread count.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mia_lib import cache, config, distributed, dp, pool

distributed_ = pytest.importorskip("distributed")


def _cfg(**kw):
    base = dict(
        dataset="digits28",
        model="cnn32",
        n_data=64,
        n_shadow=6,
        epochs=1,
        batch_size=32,
        n_queries=1,
        shard_size=2,
        device="cpu",
    )
    base.update(kw)
    return config.Experiment(**base)


@pytest.fixture(scope="module")
def cluster():
    """An existing cluster, reached by its address: 2 worker processes of 1 thread, loopback only."""
    lc = distributed_.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = distributed_.Client(lc, set_as_default=False)
    client.wait_for_workers(2, timeout=120)
    yield lc, client
    client.close()
    lc.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The pool trained in this process, the classic way."""
    return pool.load_or_train(_cfg(), progress=False, store=tmp_path_factory.mktemp("reference"))


def _restore(client):
    """Undo what a test planted on the workers."""
    client.run(_unplant)


# --- planted shard trainers (module level: they pickle by reference, and the workers import this module) --------


class Counting:
    """The default trainer, logging each shard it trains to a file (one line per finished training)."""

    def __init__(self, log: Path):
        self.log = str(log)

    def __call__(self, cfg, ds, keep, ids, dev, progress, desc):
        out = pool.train_pool_shard(cfg, ds, keep, ids, dev, progress, desc)
        with open(self.log, "a") as f:
            f.write(f"{int(ids[0])}\n")
        return out


def _trained(log: Path) -> list[int]:
    return sorted(int(x) for x in log.read_text().split()) if log.exists() else []


class DieOnce:
    """Kills its own worker process (SIGKILL) in the middle of writing the shard starting at model ``start``, the
    first time only: the shard is trained, half of its file is written to a temporary name, then the process dies."""

    def __init__(self, marker: Path, folder: Path, start: int):
        self.marker, self.folder, self.start = str(marker), str(folder), start

    def __call__(self, cfg, ds, keep, ids, dev, progress, desc):
        logits, state = pool.train_pool_shard(cfg, ds, keep, ids, dev, progress, desc)
        if int(ids[0]) == self.start:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return logits, state  # the second attempt, on a fresh worker
            buf = io.BytesIO()
            np.savez(buf, logits=logits, ids=ids, seconds=np.float64(1.0))
            fd, _ = tempfile.mkstemp(prefix=cache.temp_prefix(), dir=self.folder)
            os.write(fd, buf.getvalue()[: len(buf.getvalue()) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        return logits, state


class FailOn:
    """Raises in the shard starting at model ``start``; trains the others."""

    def __init__(self, start: int):
        self.start = start

    def __call__(self, cfg, ds, keep, ids, dev, progress, desc):
        if int(ids[0]) == self.start:
            raise ValueError(f"planted failure in the shard of models {ids.tolist()}")
        return pool.train_pool_shard(cfg, ds, keep, ids, dev, progress, desc)


_ORIGINALS: dict = {}  # on a worker: {(module, name): the value a test planted over}


def _plant(module, name: str, value) -> None:
    _ORIGINALS.setdefault((module, name), getattr(module, name))
    setattr(module, name, value)


def _unplant() -> None:
    for (module, name), value in _ORIGINALS.items():
        setattr(module, name, value)
    _ORIGINALS.clear()


def _plant_torch_version():
    _plant(torch, "__version__", "0.0.0+planted")


class _Elsewhere:
    """``cache.root`` of a worker whose view of the store is another folder."""

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, path=None):
        return Path(self.folder)


def _plant_blind_store(elsewhere: str):
    _plant(cache, "root", _Elsewhere(elsewhere))


def _blind_probe(*args, **kwargs):
    return False


def _plant_blind_probe():
    _plant(distributed, "_sees_probe", _blind_probe)


# --- same pool, whatever ran it ---------------------------------------------------------------------------------


def test_local_cluster_gives_the_in_process_pool_bit_for_bit(reference, tmp_path):
    p = pool.load_or_train(_cfg(scheduler="local:2"), progress=False, store=tmp_path)
    assert np.array_equal(p.logits, reference.logits) and np.array_equal(p.keep, reference.keep)
    assert np.array_equal(p.train_acc, reference.train_acc)
    folder = tmp_path / _cfg().hash()
    sums = [cache.load_json(folder / f"shard_{i:04d}.json") for i in range(3)]
    assert all(s["worker"].startswith("tcp://127.0.0.1:") for s in sums)  # trained by the workers
    assert {s["threads"] for s in sums} == {torch.get_num_threads()}  # with the client's thread count
    assert not list(folder.glob(".tmp-*")) and not list(folder.glob("*.claim"))
    assert _cfg(scheduler="local:2").hash() == _cfg().hash()


def test_existing_cluster_resumes_after_the_client_is_interrupted(cluster, reference, tmp_path):
    _, client = cluster
    cfg = _cfg(scheduler=client.scheduler.address)
    log = tmp_path / "trained.log"

    def interrupt(shard):
        raise KeyboardInterrupt  # Ctrl-C on the client after the first finished shard

    with pytest.raises(KeyboardInterrupt):
        pool.load_or_train(cfg, progress=False, store=tmp_path, on_shard_done=interrupt, train_shard=Counting(log))
    folder = tmp_path / cfg.hash()
    after_first = {i for i in range(3) if (folder / f"shard_{i:04d}.json").exists()}
    assert after_first and not (folder / "manifest.json").exists()
    again = []
    p = pool.load_or_train(cfg, progress=False, store=tmp_path, on_shard_done=again.append, train_shard=Counting(log))
    assert not set(again) & after_first  # the finished shards were not trained again
    assert _trained(log) == [0, 2, 4]  # every shard trained exactly once over both runs
    assert np.array_equal(p.logits, reference.logits)


def test_a_worker_killed_mid_shard_loses_nothing(cluster, reference, tmp_path):
    _, client = cluster
    cfg = _cfg(scheduler=client.scheduler.address)
    folder = cache.entry(cfg.hash(), tmp_path)
    marker = tmp_path / "killed-once"
    p = pool.load_or_train(cfg, progress=False, store=tmp_path, train_shard=DieOnce(marker, folder, start=2))
    assert marker.exists()  # a worker did die in the middle of shard 1
    assert np.array_equal(p.logits, reference.logits)  # its half-written file was never read
    assert not list(folder.glob(".tmp-*")) and not list(folder.glob("*.claim"))
    client.wait_for_workers(2, timeout=120)  # the nanny restarted it


def test_dp_pool_with_saved_params_on_a_cluster_is_the_in_process_one(cluster, tmp_path):
    _, client = cluster
    cfg = config.Experiment(
        dataset="digits", n_data=80, n_shadow=4, epochs=2, batch_size=16, n_queries=2, shard_size=2, device="cpu"
    ).replace(save_params=True)
    here = dp.load_or_train_dp_pool(cfg, 4.0, progress=False, store=tmp_path / "here")
    there = dp.load_or_train_dp_pool(cfg.replace(scheduler=client.scheduler.address), 4.0, store=tmp_path / "there")
    assert np.array_equal(here.logits, there.logits) and here.dp == there.dp
    assert all(torch.equal(here.params[k], there.params[k]) for k in here.params)


# --- clear errors, nothing lost ---------------------------------------------------------------------------------


def test_unreachable_scheduler_is_named_within_the_timeout(tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket is closed
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT_S", 2.0)
    address = f"tcp://127.0.0.1:{port}"
    t0 = time.monotonic()
    with pytest.raises(distributed.SchedulerUnreachable, match=f"no Dask scheduler answered at {address} within 2 s"):
        pool.load_or_train(_cfg(scheduler=address), progress=False, store=tmp_path)
    assert time.monotonic() - t0 < 15


def test_a_task_that_fails_shows_its_traceback_and_keeps_the_finished_shards(cluster, reference, tmp_path):
    _, client = cluster
    cfg = _cfg(scheduler=client.scheduler.address)
    with pytest.raises(distributed.ShardFailed) as err:
        pool.load_or_train(cfg, progress=False, store=tmp_path, train_shard=FailOn(start=2))
    text = str(err.value)
    assert "shard 1 failed on its worker" in text and "Traceback" in text and "in __call__" in text
    assert "ValueError: planted failure in the shard of models [2, 3]" in text
    assert "the 2 shard(s) that finished are cached" in text
    trained = []
    p = pool.load_or_train(cfg, progress=False, store=tmp_path, on_shard_done=trained.append)
    assert trained == [1] and np.array_equal(p.logits, reference.logits)


def test_a_worker_with_other_versions_is_named(cluster, tmp_path):
    _, client = cluster
    worker = sorted(client.scheduler_info()["workers"])[0]
    client.run(_plant_torch_version, workers=[worker])
    try:
        with pytest.raises(distributed.WorkerMismatch, match=f"worker {worker} has torch '0.0.0\\+planted'"):
            pool.load_or_train(_cfg(scheduler=client.scheduler.address), progress=False, store=tmp_path)
    finally:
        _restore(client)
    assert not list((tmp_path / _cfg().hash()).glob("shard_*"))  # nothing ran
    env = distributed.environment()  # a worker that joins later is checked by the task itself
    with pytest.raises(distributed.WorkerMismatch, match="has torch"):
        distributed.shard_task(_cfg(), str(tmp_path), "k", 0, 0, 2, pool.train_pool_shard, "", 1, {**env, "torch": "0"})


def test_a_worker_that_cannot_see_the_store_is_named(cluster, tmp_path, monkeypatch):
    _, client = cluster
    cfg = _cfg(scheduler=client.scheduler.address)
    worker = sorted(client.scheduler_info()["workers"])[0]
    client.run(_plant_blind_probe, workers=[worker])
    try:  # before the first task: a probe file the client wrote into the store
        with pytest.raises(distributed.StoreNotShared, match=f"worker\\(s\\) {worker} do not see the store"):
            pool.load_or_train(cfg, progress=False, store=tmp_path)
    finally:
        _restore(client)
    monkeypatch.setattr(distributed, "VISIBILITY_GRACE_S", 1.0)
    client.run(_plant_blind_store, str(tmp_path / "elsewhere"))
    try:  # after a task: the shard it reported is not where the client looks
        with pytest.raises(
            distributed.StoreNotShared, match="reported shard . trained at .*elsewhere.* cannot read it"
        ):
            pool.load_or_train(cfg, progress=False, store=tmp_path / "store")
    finally:
        _restore(client)


def test_a_closure_cannot_be_a_trainer_on_a_cluster(cluster, tmp_path):
    _, client = cluster

    def closure(*args):
        return pool.train_pool_shard(*args)

    with pytest.raises(TypeError, match="does not pickle, so it cannot run on a Dask worker"):
        pool.load_or_train(_cfg(scheduler=client.scheduler.address), store=tmp_path, train_shard=closure)


def test_local_workers_get_one_gpu_each_and_passive_openmp(monkeypatch):
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert distributed.worker_envs(2, 0) == [{"OMP_WAIT_POLICY": "PASSIVE"}] * 2
    gpus = [e["CUDA_VISIBLE_DEVICES"] for e in distributed.worker_envs(4, 2)]
    assert gpus == ["0", "1", "0", "1"]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in distributed.worker_envs(2, 2, "3,5")] == ["3", "5"]
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # the user's choice wins
    assert distributed.worker_envs(1, 0) == [{}]


def test_scheduler_values_are_checked():
    assert config.scheduler_kind("local:2") == ("local", 2) and config.scheduler_kind("local") == ("local", None)
    assert config.scheduler_kind("tcp://10.0.0.1:8786") == ("address", "tcp://10.0.0.1:8786")
    for bad in ("local:0", "10.0.0.1:8786", "slurm"):
        with pytest.raises(ValueError, match="scheduler"):
            _cfg(scheduler=bad)
