"""The pool: load-or-train through the cache, resumable after an interruption, bitwise deterministic."""

import json

import numpy as np
import pytest
import torch

from mia_lib import cache, config, pool


def _cfg(**kw):
    base = dict(
        dataset="digits", n_data=120, n_shadow=6, epochs=2, batch_size=32, n_queries=3, shard_size=2, device="cpu"
    )
    base.update(kw)
    return config.Experiment(**base)


def test_pool_shapes_and_contents(tmp_path):
    p = pool.load_or_train(_cfg(), progress=False, store=tmp_path)
    k, n = p.keep.shape
    assert (k, n) == (6, 120)
    assert p.logits.shape == (6, 120, 3, 10) and p.logits.dtype == np.float32
    assert (p.keep.sum(0) == 3).all()
    assert p.phi.shape == (6, 120, 3) and np.isfinite(p.phi).all()
    assert p.train_acc.shape == (6,) and (p.train_acc > p.test_acc).mean() >= 0.5
    folder = tmp_path / _cfg().hash()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["complete"] and manifest["n_shards"] == 3
    assert not list(folder.glob(".tmp-*"))


def test_cache_hit_does_not_retrain(tmp_path, monkeypatch):
    first = pool.load_or_train(_cfg(), progress=False, store=tmp_path)
    monkeypatch.setattr(pool, "train_pool_shard", lambda *a, **k: pytest.fail("retrained a cached shard"))
    again = pool.load_or_train(_cfg(), progress=False, store=tmp_path)
    assert np.array_equal(first.logits, again.logits)


def test_same_seed_identical_other_seed_different(tmp_path):
    a = pool.load_or_train(_cfg(), progress=False, store=tmp_path / "a")
    b = pool.load_or_train(_cfg(), progress=False, store=tmp_path / "b")
    c = pool.load_or_train(_cfg(seed=1), progress=False, store=tmp_path / "c")
    assert np.array_equal(a.logits, b.logits) and np.array_equal(a.keep, b.keep)
    assert not np.array_equal(a.logits, c.logits)


def test_interrupted_run_resumes_bitwise_identical(tmp_path):
    cfg = _cfg()
    reference = pool.load_or_train(cfg, progress=False, store=tmp_path / "ref")

    def interrupt(shard):
        if shard == 1:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C after the second shard

    with pytest.raises(KeyboardInterrupt):
        pool.load_or_train(cfg, progress=False, store=tmp_path / "run", on_shard_done=interrupt)
    folder = tmp_path / "run" / cfg.hash()
    assert sorted(p.name for p in folder.glob("shard_*.npz")) == ["shard_0000.npz", "shard_0001.npz"]
    assert not (folder / "manifest.json").exists()
    (folder / ".tmp-partial").write_bytes(b"half a file")  # a write killed mid-way
    trained = []
    resumed = pool.load_or_train(cfg, progress=False, store=tmp_path / "run", on_shard_done=trained.append)
    assert trained == [2]  # only the missing shard was trained
    assert np.array_equal(resumed.logits, reference.logits)
    assert not (folder / ".tmp-partial").exists()


def test_shard_layout_does_not_change_the_models(tmp_path):
    a = pool.load_or_train(_cfg(shard_size=2), progress=False, store=tmp_path)
    b = pool.load_or_train(_cfg(shard_size=3), progress=False, store=tmp_path)
    np.testing.assert_allclose(a.logits, b.logits, rtol=1e-4, atol=1e-4)


def test_saved_params_reproduce_logits(tmp_path):
    p = pool.load_or_train(_cfg(save_params=True), progress=False, store=tmp_path)
    m = p.model(4)
    with torch.no_grad():
        out = m(p.dataset.X).numpy()
    np.testing.assert_allclose(out, p.logits[4, :, 0], rtol=1e-5, atol=1e-5)
    without = pool.load_or_train(_cfg(), progress=False, store=tmp_path)
    with pytest.raises(ValueError, match="save_params"):
        without.model(0)


def test_config_validation_and_hash():
    with pytest.raises(ValueError, match="n_shadow must be an even"):
        _cfg(n_shadow=5)
    with pytest.raises(ValueError, match="model must be one of"):
        _cfg(model="vgg")
    assert _cfg().hash() == _cfg(device="auto").hash()  # where it runs is not what it is
    assert _cfg().hash() != _cfg(epochs=3).hash()
    q = config.Experiment().quick()
    assert q.n_shadow <= 8 and q.epochs <= 3 and config.Experiment().quick_if(False) == config.Experiment()


def test_cache_roundtrip(tmp_path):
    path = cache.save_arrays(tmp_path / "a.npz", x=np.arange(3))
    assert cache.load_arrays(path)["x"].tolist() == [0, 1, 2]
    t = cache.save_tensors(tmp_path / "t.pt", {"w": torch.ones(2)})
    assert torch.equal(cache.load_tensors(t)["w"], torch.ones(2))
    assert cache.load_json(tmp_path / "missing.json") is None


# --- pools left on disk ------------------------------------------------------------------------------------------


def test_a_pool_left_on_disk_gives_what_the_pool_in_memory_gives(tmp_path):
    cfg = _cfg()
    mem = pool.load_or_train(cfg, progress=False, store=tmp_path)
    disk = pool.load_or_train(cfg, progress=False, store=tmp_path, in_memory=False)
    assert isinstance(disk.logits, pool.ShardedLogits) and disk.logits.shape == mem.logits.shape
    assert np.array_equal(np.asarray(disk.logits), mem.logits) and disk.logits.dtype == np.float32
    assert np.array_equal(disk.train_acc, mem.train_acc) and np.array_equal(disk.test_acc, mem.test_acc)
    keys = [
        (slice(None),),
        (4,),
        ([5, 0, 3], slice(10, 50)),
        (slice(1, 5), [7, 2, 99], 1),
        (-1, 3),
        (2, slice(0, 90, 7)),
    ]
    for key in keys:
        assert np.array_equal(disk.logits[key], mem.logits[key]), key
    assert np.array_equal(disk.phi, mem.phi) and np.array_equal(disk.correct, mem.correct)
    assert np.array_equal(mem.logits_on_disk().read([2, 3], slice(0, 30)), mem.logits[[2, 3], :30])
    transposed = np.empty((10, 3, 40, 6), np.float64)  # read() reorders and converts into any destination
    disk.logits.read(None, slice(0, 40), out=transposed.transpose(3, 2, 1, 0))
    assert np.array_equal(transposed.transpose(3, 2, 1, 0), mem.logits[:, :40])


def test_reading_some_models_touches_only_their_shards(tmp_path):
    cfg = _cfg()
    mem = pool.load_or_train(cfg, progress=False, store=tmp_path)
    view = mem.logits_on_disk()
    (tmp_path / cfg.hash() / "shard_0000.npz").unlink()  # models 0 and 1 are gone from the disk
    assert np.array_equal(view.read([4, 5, 2]), mem.logits[[4, 5, 2]])
    assert np.array_equal(view[3:6, 7:9], mem.logits[3:6, 7:9])
    with pytest.raises(FileNotFoundError):
        view.read([1])


def test_a_pool_built_in_memory_has_no_logits_on_disk():
    p = pool.ShadowPool(_cfg(), None, np.ones((2, 3), bool), np.zeros((2, 3, 1, 4), np.float32), None, None, 0.0)
    with pytest.raises(ValueError, match="not read from the store"):
        p.logits_on_disk()


def test_write_shard_writes_what_read_shard_verifies(tmp_path):
    logits = np.random.default_rng(0).standard_normal((3, 7, 2, 4)).astype(np.float32)
    record = pool.write_shard(tmp_path, 5, np.arange(15, 18), logits, 1.5, note="planted")
    assert set(record["files"]) == {"shard_0005.npz"} and record["note"] == "planted"
    for in_memory in (True, False):
        for verify in pool.VERIFY:
            state, shard, _ = pool.read_shard(
                tmp_path, 5, np.arange(15, 18), 7, False, in_memory=in_memory, verify=verify
            )
            assert state == "ok" and shard["seconds"] == 1.5
            got = shard["logits"] if in_memory else shard["logits"].map()
            assert np.array_equal(got, logits)
    with pytest.raises(ValueError, match="verify must be one of"):
        pool.read_shard(tmp_path, 5, np.arange(15, 18), 7, False, verify="none")
