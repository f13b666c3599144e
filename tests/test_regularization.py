"""The training-time defenses (chapter 8): each recipe in the pool trainer equals its per-model loop, the draws
depend only on the model's seed, mix-up with λ = 1 is the plain recipe, the MMD penalty separates samples, and the
defender's reference set is disjoint from the attacked examples."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mia_lib import config, data, dp, models, pool, regularization, train

CPU = torch.device("cpu")


def _toy(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 1, 8, 8, generator=g)
    y = (X.flatten(1)[:, :10].argmax(1)).long()
    return X, y


def _train_both(recipe, name="mlp", reference=None, k=4):
    X, y = _toy()
    keep = train.balanced_keep(k, len(y), 0)
    seeds = [train.model_seed(3, m) for m in range(k)]
    modules = train.init_states(name, (1, 8, 8), 10, seeds)
    sched = train.batch_schedule(keep, seeds, recipe.epochs, recipe.batch_size)
    how = dict(seeds=seeds, reference=reference)
    params, _ = train.train_vmapped(modules, X, y, sched, recipe, CPU, progress=False, **how)
    looped = train.train_loop(modules, X, y, sched, recipe, CPU, **how)
    return modules, params, looped


@pytest.mark.parametrize(
    "defense,name",
    [
        ({"mixup_alpha": 1.0}, "mlp"),
        ({"dropout": 0.5}, "mlp"),
        ({"dropout": 0.3, "mixup_alpha": 0.4}, "cnn32"),
        ({"label_smoothing": 0.1}, "mlp"),
        ({"mixup_alpha": 1.0, "mmd_weight": 3.0}, "mlp"),
    ],
)
def test_each_defense_vmapped_equals_one_by_one(defense, name):
    recipe = train.Recipe(epochs=2, batch_size=16, lr=0.05, **defense)
    reference = (_toy(40, seed=9)[0], torch.arange(40) % 10) if "mmd_weight" in defense else None
    modules, params, looped = _train_both(recipe, name, reference)
    moved = 0.0
    for k, m in enumerate(looped):
        for pname, p in m.named_parameters():
            torch.testing.assert_close(params[pname][k], p.detach(), rtol=1e-4, atol=1e-5)
            moved = max(moved, (p.detach() - dict(modules[k].named_parameters())[pname]).abs().max().item())
    assert moved > 1e-3


def test_defenses_change_the_trained_models():
    plain = _train_both(train.Recipe(epochs=2, batch_size=16, lr=0.05))[1]
    for defense in ({"mixup_alpha": 1.0}, {"dropout": 0.5}, {"label_smoothing": 0.2}):
        other = _train_both(train.Recipe(epochs=2, batch_size=16, lr=0.05, **defense))[1]
        assert not torch.allclose(plain["fc1.weight"], other["fc1.weight"], atol=1e-4), defense


def test_mixup_with_lambda_one_is_the_plain_objective():
    X, y = _toy(16)
    model = models.MLP((1, 8, 8), 10)
    plain = F.cross_entropy(model(X), y)
    grads_plain = torch.autograd.grad(plain, list(model.parameters()))
    noise = {"lam": torch.tensor(1.0), "perm": torch.randperm(16, generator=torch.Generator().manual_seed(1))}
    mixed = regularization.loss(model, X, y, noise, train.Recipe(mixup_alpha=1.0))
    grads_mixed = torch.autograd.grad(mixed, list(model.parameters()))
    assert torch.equal(plain, mixed)
    for a, b in zip(grads_plain, grads_mixed):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)
    # and λ < 1 is not
    noise["lam"] = torch.tensor(0.6)
    assert not torch.allclose(plain, regularization.loss(model, X, y, noise, train.Recipe(mixup_alpha=1.0)))


def test_mmd_is_zero_for_identical_batches_and_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(torch.randn(32, 10, generator=g), -1)
    assert regularization.mmd2(p, p).item() == 0.0
    assert regularization.mmd2(p, p.clone()).item() == 0.0
    q = torch.softmax(3 * torch.randn(32, 10, generator=g), -1)
    assert regularization.mmd2(p, q).item() > 1e-3
    assert regularization.mmd2(p, q).item() > regularization.mmd2(p, 0.5 * (p + q)).item() > 0


def test_draws_depend_only_on_the_models_own_seed():
    X, y = _toy()
    keep = train.balanced_keep(6, len(y), 0)
    seeds = [train.model_seed(5, m) for m in range(6)]
    sched = train.batch_schedule(keep, seeds, 2, 8)
    recipe = train.Recipe(dropout=0.5, mixup_alpha=0.5, mmd_weight=1.0)
    ref_y = torch.arange(30) % 10
    everyone = regularization.Noise(seeds, recipe, y.numpy(), ref_y.numpy(), width=7)
    alone = regularization.Noise(seeds[2:4], recipe, y.numpy(), ref_y.numpy(), width=7)
    for e in range(2):
        a, b = everyone.epoch(sched[e].numpy()), alone.epoch(sched[e, :, 2:4].numpy())
        assert set(a) == {"lam", "perm", "drop", "ref"}
        for name in a:
            assert torch.equal(a[name][:, 2:4], b[name]), name
    # the class of every reference example matches its training example's class
    assert torch.equal(ref_y[a["ref"]], y[sched[1]])
    # dropout keeps about 1 − p of the features and rescales them
    assert set(torch.unique(a["drop"]).tolist()) == {0.0, 2.0}
    assert abs((a["drop"] > 0).float().mean().item() - 0.5) < 0.05


def test_reference_set_is_held_out_from_the_pool():
    cfg = config.Experiment(dataset="digits", n_data=1500, mixup_alpha=1.0, mmd_weight=3.0)
    ds = pool.load_data(cfg)
    ref = regularization.reference_set(cfg)
    assert len(ref) == 1797 - 1500 and ref.X.shape[1:] == ds.X.shape[1:]
    seen = {row.numpy().tobytes() for row in ds.X}
    assert not any(row.numpy().tobytes() in seen for row in ref.X)  # no attacked image is in the reference set
    assert set(ref.y.tolist()) == set(range(10))
    taken, total = data.subset_indices("digits", 1500)
    assert total == 1797 and torch.equal(data.load("digits").X[taken], ds.X)
    assert len(data.held_out("digits", 1500, limit=100)) == 100
    with pytest.raises(ValueError, match="n_data below"):
        regularization.reference_set(cfg.replace(n_data=None))


def test_defense_fields_enter_the_hash_only_when_on():
    base = config.Experiment()
    assert base.replace(label_smoothing=0.0, dropout=0.0, mixup_alpha=0.0, mmd_weight=0.0).hash() == base.hash()
    keys = {base.replace(**{f: 0.1}).hash() for f in config.DEFENSES}
    assert len(keys) == len(config.DEFENSES) and base.hash() not in keys
    assert base.replace(dropout=0.5, mixup_alpha=1.0).defenses() == {"dropout": 0.5, "mixup_alpha": 1.0}
    assert pool.recipe(base.replace(mixup_alpha=1.0)).regularized and not pool.recipe(base).regularized


def test_clear_errors():
    with pytest.raises(ValueError, match="dropout is available"):
        config.Experiment(model="resnet9", dropout=0.5)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        config.Experiment(dropout=1.0)
    with pytest.raises(ValueError, match="mixup_alpha must be >= 0"):
        config.Experiment(mixup_alpha=-1)
    with pytest.raises(ValueError, match="DP-SGD pools train without the other defenses"):
        dp.load_or_train_dp_pool(config.Experiment(mixup_alpha=1.0), math.inf)
    X, y = _toy()
    mods = train.init_states("mlp", (1, 8, 8), 10, [0, 1])
    sched = train.batch_schedule(train.balanced_keep(2, len(y), 0), [0, 1], 1, 8)
    with pytest.raises(ValueError, match="seeds"):
        train.train_vmapped(mods, X, y, sched, train.Recipe(epochs=1, dropout=0.5), CPU, progress=False)
    with pytest.raises(ValueError, match="reference set"):
        train.train_vmapped(mods, X, y, sched, train.Recipe(epochs=1, mmd_weight=1.0), CPU, False, seeds=[0, 1])


def test_a_pool_with_defenses_is_deterministic_and_cached(tmp_path):
    cfg = config.Experiment(
        n_data=300, n_shadow=4, epochs=2, shard_size=2, dropout=0.5, mixup_alpha=1.0, mmd_weight=1.0, device="cpu"
    )
    a = pool.load_or_train(cfg, progress=False, store=tmp_path / "a")
    np.testing.assert_array_equal(a.logits, pool.load_or_train(cfg, progress=False, store=tmp_path / "b").logits)
    wide = pool.load_or_train(cfg.replace(shard_size=4), progress=False, store=tmp_path / "b")
    np.testing.assert_allclose(a.logits, wide.logits, rtol=1e-4, atol=1e-5)  # a model does not depend on its shard
    plain = pool.load_or_train(cfg.replace(dropout=0.0, mixup_alpha=0.0, mmd_weight=0.0), False, tmp_path / "a")
    assert not np.array_equal(a.logits, plain.logits)


def test_adding_a_defense_leaves_the_others_draws_unchanged():
    _, y = _toy()
    keep = train.balanced_keep(2, len(y), 0)
    seeds = [11, 12]
    sched = train.batch_schedule(keep, seeds, 2, 8).numpy()
    ref_y = np.arange(30) % 10
    mix = regularization.Noise(seeds, train.Recipe(mixup_alpha=1.0), y.numpy())
    both = regularization.Noise(seeds, train.Recipe(mixup_alpha=1.0, mmd_weight=1.0, dropout=0.2), y.numpy(), ref_y, 5)
    for e in range(2):
        a, b = mix.epoch(sched[e]), both.epoch(sched[e])
        assert torch.equal(a["lam"], b["lam"]) and torch.equal(a["perm"], b["perm"])
