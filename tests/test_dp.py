"""DP-SGD: the vmapped pool trainer against Opacus, the accountant, the DP pool cache, the DP bounds (which live in
mia_lib.theory), and the empirical ε lower bound."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn
from torch.func import stack_module_state

from mia_lib import config, dp, metrics, theory, train


def _data(n=48, shape=(1, 4, 4), classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=g), torch.randint(0, classes, (n,), generator=g)


def _stack(modules):
    params, buffers = stack_module_state([m for m in modules])
    return {k: v.detach() for k, v in params.items()}, buffers


def _opacus(module, n_train, q, max_grad_norm, lr=0.5):
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    gsm = GradSampleModule(module)
    opt = DPOptimizer(
        torch.optim.SGD(gsm.parameters(), lr=lr),
        noise_multiplier=0.0,
        max_grad_norm=max_grad_norm,
        expected_batch_size=dp.expected_batch_size(n_train, q),
    )
    return gsm, opt


@pytest.mark.parametrize("model,shape", [("mlp", (1, 4, 4)), ("cnn32", (1, 8, 8))])
def test_clipped_sums_equal_opacus(model, shape):
    x, y = _data(shape=shape)
    mods = train.init_states(model, shape, 3, [1, 2, 3])
    params, buffers = _stack(mods)
    idx = torch.tensor([[0, 5, 7, 9, 11, 2], [1, 3, 4, 8, 20, 0], [30, 31, 32, 33, 34, 35]])
    valid = torch.tensor([[1, 1, 1, 1, 1, 0], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool)
    _, norms = dp.clipped_grad_sum(mods[0], params, buffers, x[idx], y[idx], valid, 1.0)
    c = float(norms[valid].median())  # half the examples are clipped, half are not
    sums, _ = dp.clipped_grad_sum(mods[0], params, buffers, x[idx], y[idx], valid, c)
    for k, m in enumerate(train.init_states(model, shape, 3, [1, 2, 3])):
        gsm, opt = _opacus(m, 40, 0.1, c)
        b = idx[k][valid[k]]
        nn.functional.cross_entropy(gsm(x[b]), y[b]).backward()
        opt.clip_and_accumulate()
        for name, p in gsm._module.named_parameters():
            torch.testing.assert_close(sums[name][k], p.summed_grad, rtol=1e-5, atol=1e-6)


def test_factored_equals_materialized_torch_func():
    x, y = _data(shape=(1, 8, 8))
    for model in ("mlp", "cnn32"):
        mods = train.init_states(model, (1, 8, 8), 3, [4, 5])
        params, buffers = _stack(mods)
        idx = torch.randint(0, 48, (2, 7), generator=torch.Generator().manual_seed(1))
        valid = torch.ones(2, 7, dtype=torch.bool)
        a, na = dp.clipped_grad_sum(mods[0], params, buffers, x[idx], y[idx], valid, 0.5, method="factored")
        b, nb = dp.clipped_grad_sum(mods[0], params, buffers, x[idx], y[idx], valid, 0.5, method="materialize")
        torch.testing.assert_close(na, nb, rtol=1e-5, atol=1e-6)
        for name in a:
            torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6)


def test_noise_free_training_matches_opacus_step_by_step():
    x, y = _data(n=60)
    keep = train.balanced_keep(4, 60, 0)[:3]
    seeds = [11, 12, 13]
    q, steps, c = 0.3, 6, 0.5
    mods = train.init_states("mlp", (1, 4, 4), 3, seeds)
    recipe = train.Recipe(lr=0.5, momentum=0.0)
    params, _ = dp.train_dp_vmapped(
        mods, x, y, keep, seeds, recipe, c, 0.0, q, steps, torch.device("cpu"), progress=False
    )
    batches = list(dp.poisson_batches(keep, seeds, q, steps))
    for k, m in enumerate(train.init_states("mlp", (1, 4, 4), 3, seeds)):
        gsm, opt = _opacus(m, int(keep[k].sum()), q, c)
        for idx, valid in batches:
            b = idx[k][valid[k]]
            opt.zero_grad()
            nn.functional.cross_entropy(gsm(x[b]), y[b]).backward()
            opt.step()
        for name, p in gsm._module.named_parameters():
            torch.testing.assert_close(params[name][k], p.detach(), rtol=1e-5, atol=1e-6)


def test_poisson_batches_rate_members_and_independence_of_other_models():
    keep = train.balanced_keep(6, 400, 3)
    seeds = [train.model_seed(0, m) for m in range(6)]
    counts = np.zeros(6)
    for idx, valid in dp.poisson_batches(keep, seeds, 0.1, 200):
        for k in range(6):
            assert keep[k, idx[k][valid[k]].numpy()].all()
            assert (np.diff(idx[k][valid[k]].numpy()) > 0).all()
        counts += valid.sum(1).numpy()
    expected = 0.1 * 200 * keep.sum(1)
    assert np.all(np.abs(counts - expected) < 4 * np.sqrt(expected))
    alone = list(dp.poisson_batches(keep[4:5], seeds[4:5], 0.1, 20))
    together = list(dp.poisson_batches(keep, seeds, 0.1, 20))
    for (ia, va), (ib, vb) in zip(alone, together):
        assert torch.equal(ia[0][va[0]], ib[4][vb[4]])


def test_noise_has_opacus_scale_and_is_independent_per_model():
    x, y = _data(n=40)
    keep = np.ones((3, 40), dtype=bool)
    seeds = [7, 8, 9]
    mods = train.init_states("mlp", (1, 4, 4), 3, seeds)
    p0, _ = _stack(mods)
    sigma, c = 1.3, 0.7
    # q so small that every batch is empty: one step moves each parameter by -lr * sigma * C * z / max(1, ⌊nq⌋)
    p1, _ = dp.train_dp_vmapped(
        mods,
        x,
        y,
        keep,
        seeds,
        train.Recipe(lr=1.0, momentum=0.0),
        c,
        sigma,
        1e-9,
        1,
        torch.device("cpu"),
        progress=False,
    )
    z = torch.cat([((p0[n] - p1[n]) / (sigma * c)).flatten(1) for n in p0], dim=1).numpy()
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    assert abs(np.corrcoef(z)[0, 1]) < 0.05
    assert stats.kstest(z[0], "norm").pvalue > 1e-3
    again, _ = dp.train_dp_vmapped(
        mods,
        x,
        y,
        keep,
        seeds,
        train.Recipe(lr=1.0, momentum=0.0),
        c,
        sigma,
        1e-9,
        1,
        torch.device("cpu"),
        progress=False,
    )
    assert all(torch.equal(again[n], p1[n]) for n in p1)


def test_epsilon_is_opacus_accountant_of_the_same_run():
    x, y = _data(n=50)
    recipe = train.Recipe(epochs=2, batch_size=10, lr=0.1)
    for acc in ("rdp", "prv"):
        model, info = dp.train_opacus(
            train.init_states("mlp", (1, 4, 4), 3, [0])[0],
            x,
            y,
            recipe,
            noise_multiplier=1.1,
            accountant=acc,
            dev=torch.device("cpu"),
        )
        assert info["sample_rate"] == pytest.approx(0.2) and info["steps"] == 10
        assert info["epsilon"] == pytest.approx(dp.epsilon(1.1, 0.2, 10, 1e-5, acc), rel=1e-6)
        assert not model.training and not any(m._forward_hooks for m in model.modules())
    # the engine tracked exactly (sigma, q, steps): its RDP epsilon equals the closed-form history's
    from opacus.accountants import RDPAccountant

    ref = RDPAccountant()
    for _ in range(10):
        ref.step(noise_multiplier=1.1, sample_rate=0.2)
    assert dp.epsilon(1.1, 0.2, 10, 1e-5, "rdp") == pytest.approx(ref.get_epsilon(1e-5), rel=1e-9)


def test_noise_multiplier_for_target_epsilon_is_tight():
    q, steps, delta = 0.05, 400, 1e-5
    for target in (1.0, 4.0, 16.0):
        sigma = dp.noise_multiplier_for(target, delta, q, steps)
        assert dp.epsilon(sigma, q, steps, delta) <= target
        assert dp.epsilon(0.95 * sigma, q, steps, delta) > target - 0.01
    assert dp.noise_multiplier_for(math.inf, delta, q, steps) == 0.0
    assert dp.epsilon(0.0, q, steps, delta) == math.inf


def test_invalid_privacy_parameters_one_clear_error():
    with pytest.raises(ValueError) as e:
        dp.check_privacy(epsilon=0, delta=1.5, noise_multiplier=-1, sample_rate=0)
    msg = str(e.value)
    assert msg.startswith("Invalid privacy parameters") and all(w in msg for w in ("epsilon", "delta", "sigma", "q"))
    for bad in (
        dict(target_epsilon=-1.0, delta=1e-5, sample_rate=0.1, steps=10),
        dict(target_epsilon=1.0, delta=0.0, sample_rate=0.1, steps=10),
        dict(target_epsilon=1.0, delta=1e-5, sample_rate=1.5, steps=10),
    ):
        with pytest.raises(ValueError, match="Invalid privacy parameters"):
            dp.noise_multiplier_for(**bad)
    with pytest.raises(ValueError, match="Invalid privacy parameters"):
        dp.epsilon(-0.5, 0.1, 10, 1e-5)
    with pytest.raises(ValueError, match="No noise multiplier reaches"):
        dp.noise_multiplier_for(1e-3, 1e-5, 0.5, 100)
    with pytest.raises(ValueError, match="BatchNorm"):
        dp.PerSampleClipper(train.init_states("resnet9", (3, 8, 8), 3, [0])[0])


def _cfg(**kw):
    base = dict(
        dataset="digits", n_data=80, n_shadow=4, epochs=2, batch_size=16, n_queries=2, shard_size=2, device="cpu"
    )
    base.update(kw)
    return config.Experiment(**base)


def test_dp_pool_cache_resume_params_and_keys(tmp_path, monkeypatch):
    cfg = _cfg(save_params=True)
    ref = dp.load_or_train_dp_pool(cfg, 4.0, progress=False, store=tmp_path / "ref")
    assert ref.logits.shape == (4, 80, 2, 10) and ref.dp.noise_multiplier > 0
    assert ref.dp.epsilon_rdp <= 4.0 and ref.dp.steps == 2 * math.ceil(40 / 16)
    with torch.no_grad():
        np.testing.assert_allclose(ref.model(3)(ref.dataset.X).numpy(), ref.logits[3, :, 0], rtol=1e-5, atol=1e-5)

    def interrupt(shard):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dp.load_or_train_dp_pool(cfg, 4.0, progress=False, store=tmp_path / "run", on_shard_done=interrupt)
    done = []
    resumed = dp.load_or_train_dp_pool(cfg, 4.0, progress=False, store=tmp_path / "run", on_shard_done=done.append)
    assert done == [1] and np.array_equal(resumed.logits, ref.logits)
    monkeypatch.setattr(dp.pools, "_train_dp_shard", lambda *a, **k: pytest.fail("retrained a cached DP shard"))
    cached = dp.load_or_train_dp_pool(cfg, 4.0, progress=False, store=tmp_path / "run")
    assert np.array_equal(cached.logits, ref.logits)
    assert cached.dp == ref.dp == dp.dp_settings_for(cfg, 4.0)
    assert (
        len(
            {
                dp.dp_pool_key(cfg, 4.0),
                dp.dp_pool_key(cfg, 8.0),
                dp.dp_pool_key(cfg.replace(seed=1), 4.0),
                dp.dp_pool_key(cfg, 4.0, max_grad_norm=2.0),
                cfg.hash(),
            }
        )
        == 5
    )


def test_noise_destroys_what_clipping_alone_learns(tmp_path):
    cfg = _cfg(n_data=200, epochs=8, batch_size=25, n_shadow=2)
    clean = dp.load_or_train_dp_pool(cfg, math.inf, progress=False, store=tmp_path)
    noisy = dp.load_or_train_dp_pool(cfg, 0.3, progress=False, store=tmp_path)
    assert clean.dp.noise_multiplier == 0 and noisy.dp.noise_multiplier > 2
    assert clean.train_acc.mean() > 0.6 and noisy.train_acc.mean() < clean.train_acc.mean() - 0.3


def test_dp_bounds_closed_forms():
    assert theory.yeom_accuracy_bound(math.log(2)) == pytest.approx(1.0)
    assert theory.yeom_accuracy_bound(0.0) == pytest.approx(0.5)
    f = np.linspace(0, 1, 200001)
    for eps, delta in ((0.5, 0.0), (2.0, 1e-3), (0.0, 0.1)):
        t = theory.tpr_bound(f, eps, delta)
        assert np.all(t >= f - 1e-12) and t[-1] == 1
        assert theory.accuracy_bound(eps, delta) == pytest.approx((1 + np.max(t - f)) / 2, abs=1e-5)
    np.testing.assert_allclose(theory.tpr_bound(f, 0.0), f)
    assert theory.accuracy_bound(1.0) == pytest.approx(math.e / (1 + math.e))
    assert theory.posterior_bound(0.8, math.log(1.25), "pmp") == pytest.approx(0.84)  # Li's slide
    assert theory.posterior_bound(0.2, math.log(1.25), "pmp") == pytest.approx(0.25)
    assert theory.posterior_bound(0.5, 1.0) == pytest.approx(math.e / (1 + math.e))


# --- empirical epsilon lower bound (metrics.epsilon_lower_bound) ---------------------------------------------


def test_clopper_pearson_matches_binomial_tails():
    k, n, a = 7, 50, 0.05
    lo, hi = metrics.clopper_pearson(k, n, a, "lower"), metrics.clopper_pearson(k, n, a, "upper")
    assert stats.binom.sf(k - 1, n, lo) == pytest.approx(a)  # P[X >= k | p = lo] = a
    assert stats.binom.cdf(k, n, hi) == pytest.approx(a)  # P[X <= k | p = hi] = a
    assert metrics.clopper_pearson(0, n, a, "lower") == 0 and metrics.clopper_pearson(n, n, a, "upper") == 1
    assert metrics.clopper_pearson(0, n, a, "upper") == pytest.approx(1 - a ** (1 / n))


def _randomized_response(eps, n, rng):
    member = rng.random(n) < 0.5
    p_one = np.where(member, math.exp(eps) / (1 + math.exp(eps)), 1 / (1 + math.exp(eps)))
    return (rng.random(n) < p_one).astype(float), member


def test_eps_lower_bound_is_close_below_the_true_epsilon_of_randomized_response():
    rng = np.random.default_rng(0)
    s, m = _randomized_response(2.0, 400_000, rng)
    r = metrics.epsilon_lower_bound(s, m, alpha=0.05)
    assert 1.9 < r["eps_lower"] < 2.0 and r["confidence"] == 0.95


def test_eps_lower_bound_coverage():
    rng = np.random.default_rng(1)
    over = [
        metrics.epsilon_lower_bound(*_randomized_response(1.0, 400, rng), alpha=0.1)["eps_lower"] > 1.0
        for _ in range(300)
    ]
    assert np.mean(over) <= 0.1


def test_eps_lower_bound_delta_and_both_tails():
    rng = np.random.default_rng(2)
    n = 20_000
    member = rng.random(n) < 0.5
    leak = rng.random(n) < 0.1  # with probability delta = 0.1 the output reveals membership, otherwise nothing
    s = np.where(leak, np.where(member, 10.0, -10.0), rng.random(n))
    assert metrics.epsilon_lower_bound(s, member, delta=0.0)["eps_lower"] > 3
    assert metrics.epsilon_lower_bound(s, member, delta=0.1)["eps_lower"] < 0.1
    # only non-members are ever recognisable: the TPR inequality sees at most ln 2, the TNR one sees much more
    s2 = np.where(~member & (rng.random(n) < 0.5), -1.0, rng.random(n))
    tpr_only = metrics.epsilon_lower_bound(s2, member, tails=("tpr",))["eps_lower"]
    both = metrics.epsilon_lower_bound(s2, member)
    assert tpr_only < math.log(2) and both["eps_lower"] > 4 and both["tail"] == "tnr"
    one = metrics.epsilon_lower_bound(s2, member, thresholds=[both["threshold"]], tails=("tnr",))
    assert one["n_tests"] == 1 and one["eps_lower"] > both["eps_lower"]  # fewer comparisons, tighter bound


def test_opacus_twin_check_same_accounting_and_comparable_models(tmp_path):
    cfg = _cfg(n_shadow=6, n_data=120, epochs=4)
    p = dp.load_or_train_dp_pool(cfg, 8.0, progress=False, store=tmp_path)
    rows = dp.opacus_twin_check(p, [0, 3])
    assert [r["model"] for r in rows] == [0, 3]
    for r in rows:
        assert r["opacus_eps"] == pytest.approx(r["pool_eps"], rel=1e-9)
        assert abs(r["opacus_test_acc"] - r["pool_test_acc"]) < 0.25
        assert 0 <= r["opacus_lira_auroc"] <= 1 and 0 <= r["pool_lira_auroc"] <= 1
