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
    monkeypatch.setattr(pool, "_train_shard", lambda *a, **k: pytest.fail("retrained a cached shard"))
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
