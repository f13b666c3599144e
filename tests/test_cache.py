"""A store you can trust (mia_lib.cache): checksums, corrupt shards moved aside and retrained, entries of older code,
fsync before rename, stale temporaries, claims, and two clients asking for the same pool at once."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from mia_lib import cache, config, pool

REPO = Path(__file__).resolve().parents[1]


def _cfg(**kw):
    base = dict(
        dataset="digits", n_data=120, n_shadow=6, epochs=2, batch_size=32, n_queries=2, shard_size=2, device="cpu"
    )
    base.update(kw)
    return config.Experiment(**base)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return pool.load_or_train(_cfg(save_params=True), progress=False, store=tmp_path_factory.mktemp("reference"))


def _fresh(tmp_path, cfg=None):
    cfg = cfg or _cfg(save_params=True)
    p = pool.load_or_train(cfg, progress=False, store=tmp_path)
    return p, tmp_path / cfg.hash()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --- checksums: a bad file is named, moved aside and trained again, never misread --------------------------------


def _truncate(f: Path):
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _flip_a_byte(f: Path):
    b = bytearray(f.read_bytes())
    b[len(b) // 2] ^= 0xFF
    f.write_bytes(bytes(b))


def _garble(f: Path):
    f.write_text("{not json")


DAMAGE = {
    "truncated shard": ("shard_0001.npz", _truncate),
    "altered shard": ("shard_0001.npz", _flip_a_byte),
    "truncated params": ("params_0001.pt", _truncate),
    "missing params": ("params_0001.pt", Path.unlink),
    "garbled checksum file": ("shard_0001.json", _garble),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_shard_is_named_moved_aside_and_retrained(reference, tmp_path, damage):
    _, folder = _fresh(tmp_path)
    victim, harm = DAMAGE[damage]
    harm(folder / victim)
    trained = []
    with pytest.warns(cache.CorruptEntryWarning, match=f"shard 1 of .* is corrupt: .*{victim}.*moved aside"):
        p = pool.load_or_train(_cfg(save_params=True), progress=False, store=tmp_path, on_shard_done=trained.append)
    assert trained == [1]
    assert np.array_equal(p.logits, reference.logits)
    assert all(np.array_equal(p.params[k].numpy(), reference.params[k].numpy()) for k in p.params)
    aside = sorted(f.name.rsplit(".", 1)[0] for f in (folder / "corrupt").iterdir())
    assert "shard_0001.npz" in aside and (victim in aside or harm is Path.unlink)
    assert cache.verify_checksums(folder / "shard_0001.json")[1] == []


def test_without_damage_nothing_warns_and_nothing_trains(tmp_path, monkeypatch):
    first, _ = _fresh(tmp_path)
    monkeypatch.setattr(pool, "train_pool_shard", lambda *a, **k: pytest.fail("retrained an intact shard"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", cache.CorruptEntryWarning)
        again = pool.load_or_train(_cfg(save_params=True), progress=False, store=tmp_path)
    assert np.array_equal(first.logits, again.logits)


def test_verify_checksums_says_what_is_wrong(tmp_path):
    a = tmp_path / "a.bin"
    a.write_bytes(b"x" * 100)
    cache.write_checksums(tmp_path / "a.json", [a], note="planted")
    assert cache.verify_checksums(tmp_path / "a.json") == (cache.load_json(tmp_path / "a.json"), [])
    assert cache.load_json(tmp_path / "a.json")["note"] == "planted"
    a.write_bytes(b"x" * 99)
    assert "has 99 bytes, its checksum file says 100" in cache.verify_checksums(tmp_path / "a.json")[1][0]
    a.write_bytes(b"y" * 100)
    assert "does not match its SHA-256" in cache.verify_checksums(tmp_path / "a.json")[1][0]
    a.unlink()
    assert "is missing" in cache.verify_checksums(tmp_path / "a.json")[1][0]
    assert cache.verify_checksums(tmp_path / "none.json") == (None, [])


# --- entries written before checksums --------------------------------------------------------------------------


def test_an_entry_of_the_previous_code_still_loads_without_training(tmp_path, monkeypatch):
    first, folder = _fresh(tmp_path)
    for f in folder.glob("shard_*.json"):  # the layout the code before checksums wrote: no checksum files
        f.unlink()
    monkeypatch.setattr(pool, "train_pool_shard", lambda *a, **k: pytest.fail("retrained a readable legacy shard"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", cache.CorruptEntryWarning)
        again = pool.load_or_train(_cfg(save_params=True), progress=False, store=tmp_path)
    assert np.array_equal(first.logits, again.logits)
    assert all(cache.load_json(folder / f"shard_{i:04d}.json")["adopted"] for i in range(3))  # checksummed now


def test_a_truncated_shard_of_the_previous_code_is_retrained_not_misread(tmp_path):
    first, folder = _fresh(tmp_path)
    for f in folder.glob("shard_*.json"):
        f.unlink()
    npz = folder / "shard_0002.npz"
    npz.write_bytes(npz.read_bytes()[:300])  # what used to end in a bare zipfile.BadZipFile
    trained = []
    with pytest.warns(cache.CorruptEntryWarning, match="shard_0002.npz cannot be read"):
        again = pool.load_or_train(_cfg(save_params=True), progress=False, store=tmp_path, on_shard_done=trained.append)
    assert trained == [2] and np.array_equal(first.logits, again.logits)


def test_a_shard_of_another_pool_is_not_adopted(tmp_path):
    _, folder = _fresh(tmp_path, _cfg())
    for f in folder.glob("shard_*.json"):
        f.unlink()
    os.replace(folder / "shard_0000.npz", folder / "shard_0001.npz")  # models 0-1 where models 2-3 belong
    with pytest.warns(cache.CorruptEntryWarning, match=r"holds models \[0, 1\], not \[2, 3\]"):
        pool.load_or_train(_cfg(), progress=False, store=tmp_path)


# --- atomic, durable writes and their leftovers -----------------------------------------------------------------


def test_files_are_fsynced_before_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        return real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", str(src), str(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    cache.save_arrays(tmp_path / "a.npz", x=np.arange(3))
    (_, tmp), (_, src, dst), (_, folder) = events
    assert tmp == src and Path(src).name.startswith(cache.temp_prefix()) and dst == str(tmp_path / "a.npz")
    assert folder == str(tmp_path)  # the folder too, after the rename
    assert oct((tmp_path / "a.npz").stat().st_mode & 0o777) == "0o644"


def test_only_stale_temporaries_are_removed(tmp_path):
    def tmp(name, age=0.0):
        f = tmp_path / name
        f.write_bytes(b"half a file")
        if age:
            os.utime(f, (time.time() - age, time.time() - age))
        return f

    mine = tmp(f"{cache.temp_prefix()}abc")  # a live writer of this host (this very process)
    dead = tmp(f".tmp-{_dead_pid()}@{cache.host()}~abc")
    legacy = tmp(".tmp-k2j4h5g6")  # the previous code's names carry no owner
    remote_fresh = tmp(".tmp-1@another-host~abc")
    remote_old = tmp(".tmp-1@another-host~def", age=cache.CLAIM_TIMEOUT_S + 10)
    assert sorted(cache.remove_stale_temporaries(tmp_path)) == sorted([dead, legacy, remote_old])
    assert mine.exists() and remote_fresh.exists()


# --- claims -----------------------------------------------------------------------------------------------------


def test_a_claim_is_exclusive_until_released(tmp_path):
    path = tmp_path / "x.claim"
    held = cache.try_claim(path)
    assert held is not None and cache.claim_owner(path)["pid"] == os.getpid()
    assert cache.try_claim(path) is None and not cache.claim_is_stale(path)
    held.release()
    assert not path.exists()
    with cache.try_claim(path) as again:
        assert again is not None and path.exists()
    assert not path.exists()


def test_a_claim_of_a_dead_process_or_without_heartbeat_is_taken_over(tmp_path):
    dead = tmp_path / "dead.claim"
    dead.write_text(json.dumps({"host": cache.host(), "pid": _dead_pid(), "token": "t", "since": 0}))
    assert cache.claim_is_stale(dead)
    with cache.try_claim(dead) as c:
        assert c is not None and cache.claim_owner(dead)["token"] == c.token
    silent = tmp_path / "silent.claim"  # another host's claim whose heartbeat stopped
    silent.write_text(json.dumps({"host": "another-host", "pid": 1, "token": "t", "since": 0}))
    assert not cache.claim_is_stale(silent)
    os.utime(silent, (time.time() - cache.CLAIM_TIMEOUT_S - 10,) * 2)
    assert cache.claim_is_stale(silent) and cache.try_claim(silent) is not None


def test_a_held_claim_beats_its_heart(tmp_path):
    path = tmp_path / "x.claim"
    with cache.try_claim(path, heartbeat=0.05):
        os.utime(path, (time.time() - 1000,) * 2)
        time.sleep(0.3)
        assert time.time() - path.stat().st_mtime < 5


# --- two clients, one pool --------------------------------------------------------------------------------------

_CLIENT = textwrap.dedent(
    """
    import hashlib, json, sys, time
    from pathlib import Path
    from mia_lib import config, pool
    store, me, other = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    (store / f"ready-{me}").touch()
    while not (store / f"ready-{other}").exists():  # start together
        time.sleep(0.05)
    cfg = config.Experiment(**json.loads(sys.argv[4]))
    trained = []
    p = pool.load_or_train(cfg, progress=False, store=store, on_shard_done=trained.append)
    out = {"trained": trained, "logits": hashlib.sha256(p.logits.tobytes()).hexdigest()}
    (store / f"out-{me}.json").write_text(json.dumps(out))
    """
)


def test_two_clients_at_once_end_with_one_copy_and_train_each_shard_once(tmp_path):
    cfg = _cfg(n_shadow=8, shard_size=1, epochs=3)
    ref = pool.load_or_train(cfg, progress=False, store=tmp_path / "ref")
    store = tmp_path / "shared"
    store.mkdir()
    fields = cfg.to_dict()
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLIENT, str(store), me, other, json.dumps(fields)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for me, other in (("a", "b"), ("b", "a"))
    ]
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out
    a, b = (json.loads((store / f"out-{x}.json").read_text()) for x in "ab")
    want = hashlib.sha256(ref.logits.tobytes()).hexdigest()
    assert a["logits"] == b["logits"] == want
    assert sorted(a["trained"] + b["trained"]) == list(range(8))  # each shard trained once, by one of them
    folder = store / cfg.hash()
    assert len(list(folder.glob("shard_*.npz"))) == 8 and not list(folder.glob("*.claim"))
    assert not (folder / "corrupt").exists() and not list(folder.glob(".tmp-*"))


# --- logits left on disk: the same files, mapped in place --------------------------------------------------------


def test_npz_member_maps_the_array_that_save_arrays_stored(tmp_path):
    for a in (np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.arange(70_000.0), np.asfortranarray(np.eye(3))):
        path = cache.save_arrays(tmp_path / "a.npz", logits=a, ids=np.arange(3), seconds=np.float64(1))
        m = cache.npz_member(path, "logits")
        assert m.shape == a.shape and m.dtype == a.dtype and m.nbytes == a.nbytes
        assert np.array_equal(m.map(), a) and np.array_equal(cache.npz_member(path, "ids").map(), np.arange(3))
    assert cache.load_arrays(path, names=["ids"]).keys() == {"ids"}
    with pytest.raises(ValueError, match="no array"):
        cache.npz_member(path, "params")
    np.savez_compressed(tmp_path / "c.npz", logits=a)
    with pytest.raises(ValueError, match="compressed"):
        cache.npz_member(tmp_path / "c.npz", "logits")


def test_size_only_verification_catches_a_truncation_not_an_alteration(tmp_path):
    a = tmp_path / "a.bin"
    a.write_bytes(b"x" * 100)
    cache.write_checksums(tmp_path / "a.json", [a])
    a.write_bytes(b"y" * 100)
    assert cache.verify_checksums(tmp_path / "a.json", sha256=False)[1] == []  # what "size" does not see
    assert "does not match its SHA-256" in cache.verify_checksums(tmp_path / "a.json")[1][0]
    a.write_bytes(b"y" * 99)
    assert "has 99 bytes" in cache.verify_checksums(tmp_path / "a.json", sha256=False)[1][0]


def _as_main_wrote_it(folder, i, ids, logits):
    """A shard as the store's code before ShardedLogits wrote it (pool._produce): npz, then its checksum file."""
    npz = folder / f"shard_{i:04d}.npz"
    cache.save_arrays(npz, logits=logits, ids=ids, seconds=np.float64(0.5))
    cache.write_checksums(folder / f"shard_{i:04d}.json", [npz], shard=i, ids=[int(ids[0]), int(ids[-1]) + 1])


def test_an_entry_of_the_previous_code_loads_on_disk_without_training(reference, tmp_path, monkeypatch):
    cfg = _cfg()
    folder = cache.entry(cfg.hash(), tmp_path)
    for i, ids in enumerate(pool.shard_ranges(cfg.n_shadow, cfg.shard_size)):
        _as_main_wrote_it(folder, i, ids, reference.logits[ids])
    monkeypatch.setattr(pool, "train_pool_shard", lambda *a, **k: pytest.fail("retrained a readable shard"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", cache.CorruptEntryWarning)
        lazy = pool.load_or_train(cfg, progress=False, store=tmp_path, in_memory=False)
        mem = pool.load_or_train(cfg, progress=False, store=tmp_path)
    assert np.array_equal(np.asarray(lazy.logits), reference.logits) and np.array_equal(mem.logits, reference.logits)
    view = pool.open_logits(folder, cfg.n_shadow, cfg.shard_size, 120)
    assert np.array_equal(view[[5, 1], 3:9], reference.logits[[5, 1], 3:9])


def test_on_disk_a_shard_without_checksums_is_adopted_and_a_damaged_one_retrained(reference, tmp_path, monkeypatch):
    first, folder = _fresh(tmp_path)
    (folder / "shard_0000.json").unlink()  # written by code older than checksum files
    with pytest.raises(cache.CacheError, match="shard 0 .* is unchecked.*load_or_train repairs it"):
        pool.open_logits(folder, 6, 2, 120)  # opening only reads: it never adopts or trains
    _flip_a_byte(folder / "shard_0002.npz")
    trained = []
    with pytest.warns(cache.CorruptEntryWarning, match="shard 2 of .* is corrupt: .*shard_0002.npz"):
        lazy = pool.load_or_train(
            _cfg(save_params=True), progress=False, store=tmp_path, in_memory=False, on_shard_done=trained.append
        )
    assert trained == [2] and np.array_equal(np.asarray(lazy.logits), reference.logits)
    assert cache.load_json(folder / "shard_0000.json")["adopted"]
