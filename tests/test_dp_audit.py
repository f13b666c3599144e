"""Auditing DP (mia_lib.dp.audit): Steinke et al.'s one-run bound against exact enumerations and closed forms, its
ε̂ against planted randomized-response canaries, the Gaussian-DP trade-off and μ̂ audit against simulated Gaussian
attacks, and the mislabeled-canary pools against the ordinary trainers."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from mia_lib import config, dp, pool, train
from mia_lib.dp import audit


def _rr_tail_by_enumeration(m, r, eps, v):
    """P[W ≥ v] for randomized response on m canaries, the auditor guessing its output on the first r canaries:
    every inclusion vector S and every output O enumerated with its probability."""
    q = math.exp(eps) / (1 + math.exp(eps))
    total = 0.0
    for s in itertools.product((-1, 1), repeat=m):
        for o in itertools.product((-1, 1), repeat=m):
            agree = sum(a == b for a, b in zip(s, o))
            p = 0.5**m * q**agree * (1 - q) ** (m - agree)
            if sum(s[i] == o[i] for i in range(r)) >= v:
                total += p
    return total


@pytest.mark.parametrize("eps", [0.0, 0.7, 2.0])
def test_bound_is_the_exact_tail_of_randomized_response(eps):
    m, r = 5, 4
    for v in range(r + 1):
        assert audit.one_run_p_value(m, r, v, eps) == pytest.approx(_rr_tail_by_enumeration(m, r, eps, v), abs=1e-12)


def test_bound_holds_for_a_guesser_that_picks_its_guesses_from_the_output():
    """RR(ε) on m = 6 canaries; the auditor guesses +1 on (at most) the first k+ canaries whose output is +1 and −1
    on the last k− whose output is −1 (a post-processing that decides where to guess): exact P[W ≥ v] by
    enumeration, never above the bound for r = k+ + k−."""
    m, k_pos, k_neg, eps = 6, 2, 2, 1.0
    q = math.exp(eps) / (1 + math.exp(eps))
    tail = np.zeros(k_pos + k_neg + 2)
    for s in itertools.product((-1, 1), repeat=m):
        for o in itertools.product((-1, 1), repeat=m):
            agree = sum(a == b for a, b in zip(s, o))
            p = 0.5**m * q**agree * (1 - q) ** (m - agree)
            plus = [i for i in range(m) if o[i] == 1][:k_pos]
            minus = [i for i in range(m) if o[i] == -1][::-1][:k_neg]
            w = sum(s[i] == 1 for i in plus) + sum(s[i] == -1 for i in minus)
            tail[: w + 1] += p
    for v in range(1, k_pos + k_neg + 1):
        assert tail[v] <= audit.one_run_p_value(m, k_pos + k_neg, v, eps) + 1e-12


def test_delta_term_by_hand_and_against_an_eps_delta_mechanism():
    # r = 2, v = 2, ε = 0: tail 1/4; window max(P[B=1]/1, (P[B=1] + P[B=0])/2) = max(1/2, 3/8) = 1/2.
    assert audit.one_run_p_value(10, 2, 2, 0.0, 0.01) == pytest.approx(0.25 + 2 * 10 * 0.01 * 0.5)
    assert audit.one_run_p_value(10, 2, 2, 0.0, 1.0) == 1.0
    # "reveal S_i with probability δ, else randomized response": (ε, δ)-DP in each canary; the auditor guesses
    # its output on r canaries, so W ~ Binomial(r, δ + (1 − δ) q) exactly.
    m, r, eps, delta = 200, 100, 0.5, 0.01
    q = math.exp(eps) / (1 + math.exp(eps))
    for v in range(50, r + 1, 5):
        exact = stats.binom.sf(v - 1, r, delta + (1 - delta) * q)
        assert exact <= audit.one_run_p_value(m, r, v, eps, delta) + 1e-12
        assert audit.one_run_p_value(m, r, v, eps, delta) >= audit.one_run_p_value(m, r, v, eps)


@pytest.mark.parametrize("r,beta", [(10, 0.05), (40, 0.01), (3, 0.5)])
def test_all_correct_has_a_closed_form(r, beta):
    q = beta ** (1 / r)  # P[Binomial(r, q) ≥ r] = q^r = β
    assert audit.one_run_epsilon(r, r, r, 0.0, beta) == pytest.approx(math.log(q / (1 - q)), abs=1e-5)


def test_too_few_guesses_certify_nothing():
    assert audit.one_run_epsilon(1, 1, 1, 0.0, 0.2) == 0.0  # β^{1/r} = 0.2 < 1/2: not even ε = 0 is rejected


def test_eps_hat_is_monotone_in_correct_guesses_and_zero_at_chance():
    m, r = 1000, 200
    hats = [audit.one_run_epsilon(m, r, v, 1e-5, 0.05) for v in range(r + 1)]
    assert all(b >= a for a, b in zip(hats, hats[1:]))
    assert hats[r // 2] == 0.0 and hats[int(0.55 * r)] == 0.0  # chance, and a little above it, certify nothing
    first = next(v for v, h in enumerate(hats) if h > 0)
    assert all(b > a for a, b in zip(hats[first:], hats[first + 1 :]))
    assert hats[r] > hats[int(0.8 * r)] > 0
    assert audit.one_run_epsilon(m, 0, 0) == 0.0


def test_eps_hat_never_above_a_planted_epsilon():
    """m randomized-response canaries of a planted ε (scores: the output plus an independent tie-break): the
    one-run ε̂ at 95% exceeds the planted ε in at most about 5% of the audits, and it is not vacuous."""
    rng = np.random.default_rng(0)
    eps_true, m, n_audits = 1.0, 1000, 200
    q = math.exp(eps_true) / (1 + math.exp(eps_true))
    grid = audit.guess_grid(m, (0.1, 0.3), two_sided=True)
    hats = []
    for _ in range(n_audits):
        member = rng.random(m) < 0.5
        out = np.where(rng.random(m) < q, member, ~member)
        scores = out + 0.01 * rng.random(m)
        hats.append(audit.one_run_audit(scores, member, grid, 0.0, 0.05)["eps_hat"])
    hats = np.array(hats)
    assert (hats > eps_true).sum() <= stats.binom.ppf(0.999, n_audits, 0.05)
    assert hats.mean() > 0.5 * eps_true


def test_guesses_and_audit_by_hand():
    scores = np.array([0.9, 0.1, 0.5, 0.5, 0.3, 0.8])
    assert audit.one_run_guesses(scores, 2, 2).tolist() == [1, -1, 0, 0, -1, 1]
    assert audit.one_run_guesses(scores, 1, 0).tolist() == [1, 0, 0, 0, 0, 0]
    assert audit.one_run_guesses(np.zeros(4), 1, 1).tolist() == [1, 0, 0, -1]  # ties in index order
    with pytest.raises(ValueError):
        audit.one_run_guesses(scores, 4, 3)
    member = np.array([True, False, True, False, True, True])  # guesses: +0 ✓, −1 ✓, −4 ✗, +5 ✓
    res = audit.one_run_audit(scores, member, [(2, 2)], 0.0, 0.05)
    assert (res["guesses"], res["correct"], res["m"]) == (4, 3, 6)
    assert res["eps_hat"] == audit.one_run_epsilon(6, 4, 3, 0.0, 0.05)
    assert audit.guess_grid(50, (0.1, 0.2)) == [(5, 5), (10, 10)]
    assert audit.guess_grid(50, (0.1, 0.1), two_sided=False) == [(5, 0)]
    # a union bound over the grid: two tests each at β/2
    two = audit.one_run_audit(scores, member, [(2, 2), (1, 1)], 0.0, 0.05)
    assert two["eps_hat"] == max(audit.one_run_epsilon(6, 4, 3, 0.0, 0.025), audit.one_run_epsilon(6, 2, 2, 0.0, 0.025))
    per_model = audit.one_run_audits(np.stack([scores, -scores]), np.stack([member, member]), [(2, 2)])
    assert per_model[0] == res["eps_hat"] and per_model[1] == 0.0


def test_eligible_canaries_are_in_half_the_other_models():
    keep = train.balanced_keep(16, 5000, seed=3)
    elig = audit.eligible_canaries(keep[:8])
    assert 0 < elig.sum() < 5000
    assert (keep[8:, elig].sum(0) == 4).all()  # exactly half of the other models: P(IN) = 1/2 for each of them
    assert (keep[8:, ~elig].sum(0) != 4).all()
    with pytest.raises(ValueError):
        audit.eligible_canaries(keep[:3])
    c = audit.random_canaries(100, 10, seed=1)
    assert c.size == 10 and np.unique(c).size == 10 and np.array_equal(c, audit.random_canaries(100, 10, seed=1))


def test_gaussian_tradeoff_closed_forms():
    a = np.linspace(0, 1, 101)
    np.testing.assert_allclose(audit.gaussian_tradeoff(a, 0.0), 1 - a, atol=1e-12)
    assert audit.gaussian_tradeoff(0.5, 1.3) == pytest.approx(stats.norm.cdf(-1.3))
    inner = audit.gaussian_tradeoff(a[1:-1], 0.8)  # a symmetric trade-off function is its own inverse
    np.testing.assert_allclose(audit.gaussian_tradeoff(inner, 0.8), a[1:-1], atol=1e-9)
    # the optimal test between N(0, 1) and N(μ, 1) at threshold t: α = 1 − Φ(t), β = Φ(t − μ)
    t = np.linspace(-2, 3, 11)
    np.testing.assert_allclose(audit.gaussian_tradeoff(stats.norm.sf(t), 1.5), stats.norm.cdf(t - 1.5), atol=1e-12)
    assert (audit.gaussian_tradeoff(a, math.inf) == 0).all()


def test_gdp_accountant_and_conversion():
    sigma, q, steps = 1.1, 0.01, 1000
    assert audit.gdp_mu(sigma, q, steps) == pytest.approx(q * math.sqrt(steps) * math.sqrt(math.exp(sigma**-2) - 1))
    assert audit.gdp_mu(0.0, q, steps) == math.inf
    mu, delta = 1.2, 1e-5
    e = audit.gdp_epsilon(mu, delta)
    dual = stats.norm.cdf(-e / mu + mu / 2) - math.exp(e) * stats.norm.cdf(-e / mu - mu / 2)
    assert dual == pytest.approx(delta, rel=1e-4)
    assert audit.gdp_epsilon(0.0, delta) == 0.0 and audit.gdp_epsilon(math.inf, delta) == math.inf
    assert audit.gdp_epsilon(2.0, delta) > e


def test_tradeoff_points_by_counting():
    scores = np.array([3.0, 2.0, 1.0, 0.0, 2.0, -1.0])
    member = np.array([True, True, False, False, True, False])
    pts = audit.tradeoff_points(scores, member, 0.05, n_thresholds=4)
    for t, fpr, fnr in zip(pts["threshold"], pts["fpr"], pts["fnr"]):
        assert fpr == np.mean(scores[~member] >= t) and fnr == np.mean(scores[member] < t)
    assert (pts["fpr_lo"] <= pts["fpr"]).all() and (pts["fpr"] <= pts["fpr_hi"]).all()
    assert (pts["fnr_lo"] <= pts["fnr"]).all() and (pts["fnr"] <= pts["fnr_hi"]).all()
    assert pts["level"] == 0.05 / (2 * pts["threshold"].size)


def test_gdp_audit_recovers_a_planted_mu_and_stays_below_it():
    rng = np.random.default_rng(1)
    mu0 = 1.0
    big = rng.random(200_000) < 0.5
    res = audit.gdp_audit(rng.normal(mu0 * big, 1.0), big, 0.05)
    assert 0.85 * mu0 < res["mu_hat"] <= mu0
    chance = rng.random(20_000) < 0.5
    assert audit.gdp_audit(rng.normal(size=20_000), chance)["mu_hat"] == 0.0
    over = 0
    for _ in range(60):
        member = rng.random(2000) < 0.5
        over += audit.gdp_audit(rng.normal(mu0 * member, 1.0), member, 0.05)["mu_hat"] > mu0
    assert over <= stats.binom.ppf(0.999, 60, 0.05)


def test_mislabel_changes_only_the_canaries():
    y = np.arange(50) % 10
    can = np.array([0, 7, 13, 49])
    z = audit.mislabel(y, can, 10, seed=0)
    assert (z[can] != y[can]).all() and np.array_equal(np.delete(z, can), np.delete(y, can))
    assert z.min() >= 0 and z.max() < 10 and np.array_equal(z, audit.mislabel(y, can, 10, seed=0))
    assert np.array_equal(y, np.arange(50) % 10)  # the input is not modified


def _cfg(**kw):
    base = dict(
        dataset="digits", n_data=80, n_shadow=2, epochs=2, batch_size=16, n_queries=1, shard_size=2, device="cpu"
    )
    base.update(kw)
    return config.Experiment(**base)


def test_mislabeled_pool_with_true_labels_is_the_ordinary_pool(tmp_path):
    cfg = _cfg()
    ref = pool.load_or_train(cfg, progress=False, store=tmp_path)
    y = ref.y
    same = audit.load_or_train_mislabeled_pool(cfg, y, None, progress=False, store=tmp_path)
    assert np.array_equal(same.logits, ref.logits) and np.array_equal(same.keep, ref.keep)
    ref_dp = dp.load_or_train_dp_pool(cfg, 4.0, progress=False, store=tmp_path)
    same_dp = audit.load_or_train_mislabeled_pool(cfg, y, ref_dp.dp, progress=False, store=tmp_path)
    assert np.array_equal(same_dp.logits, ref_dp.logits) and same_dp.dp == ref_dp.dp
    can = audit.random_canaries(80, 10, seed=0)
    z = audit.mislabel(y, can, 10, seed=0)
    moved = audit.load_or_train_mislabeled_pool(cfg, z, None, progress=False, store=tmp_path)
    assert not np.array_equal(moved.logits, ref.logits)
    keys = {audit.mislabeled_key(cfg, y, None), audit.mislabeled_key(cfg, z, None)}
    keys |= {audit.mislabeled_key(cfg, z, ref_dp.dp), cfg.hash()}
    assert len(keys) == 4
    assert audit.canary_phi(moved.logits, z, can).shape == (2, 10)
