"""Theory: closed forms against numerical integration and Monte Carlo; the bounds on planted data."""

import numpy as np
import pytest
from scipy import stats
from scipy.integrate import quad

from mia_lib import memorization, metrics, theory, train

PAIRS = [(0.0, 1.0, 1.0, 1.0), (0.0, 1.0, 1.5, 0.25), (2.0, 4.0, -1.0, 0.5), (0.3, 1.0, 0.3, 2.0), (0.0, 1.0, 8.0, 1.0)]


def _quad_tv(m1, v1, m2, v2):
    def f(x):
        return 0.5 * abs(stats.norm.pdf(x, m1, np.sqrt(v1)) - stats.norm.pdf(x, m2, np.sqrt(v2)))

    return quad(f, -40, 40, limit=400, points=[m1, m2])[0]


def _quad_h2(m1, v1, m2, v2):
    def f(x):
        return 0.5 * (np.sqrt(stats.norm.pdf(x, m1, np.sqrt(v1))) - np.sqrt(stats.norm.pdf(x, m2, np.sqrt(v2)))) ** 2

    return quad(f, -40, 40, limit=400, points=[m1, m2])[0]


@pytest.mark.parametrize("m1,v1,m2,v2", PAIRS)
def test_gaussian_tv_and_hellinger_match_quadrature(m1, v1, m2, v2):
    assert theory.tv_gaussian(m1, v1, m2, v2) == pytest.approx(_quad_tv(m1, v1, m2, v2), abs=1e-7)
    assert theory.hellinger2_gaussian(m1, v1, m2, v2) == pytest.approx(_quad_h2(m1, v1, m2, v2), abs=1e-7)


def test_gaussian_closed_forms_are_vectorised_and_symmetric():
    m1, v1, m2, v2 = (np.array(c) for c in zip(*PAIRS))
    tv = theory.tv_gaussian(m1, v1, m2, v2)
    np.testing.assert_allclose(tv, [_quad_tv(*p) for p in PAIRS], atol=1e-7)
    np.testing.assert_allclose(tv, theory.tv_gaussian(m2, v2, m1, v1), atol=1e-12)
    np.testing.assert_allclose(theory.hellinger2_gaussian(m1, v1, m2, v2), theory.hellinger2_gaussian(m2, v2, m1, v1))
    # equal variances: TV = 2Φ(|Δ|/2σ) − 1
    assert theory.tv_gaussian(0, 4, 3, 4) == pytest.approx(2 * stats.norm.cdf(3 / 4) - 1, abs=1e-12)
    assert theory.tv_gaussian(1, 1, 1, 1) == 0 and theory.hellinger2_gaussian(1, 1, 1, 1) == pytest.approx(0)


def test_mvn_hellinger_reduces_to_univariate_and_factorises():
    h1 = theory.hellinger2_gaussian(0.5, 2.0, -1.0, 0.7)
    assert theory.hellinger2_mvn([0.5], [[2.0]], [-1.0], [[0.7]]) == pytest.approx(h1, abs=1e-12)
    # independent coordinates: Bhattacharyya coefficients multiply
    h2 = theory.hellinger2_gaussian(1.0, 1.0, 0.0, 3.0)
    got = theory.hellinger2_mvn([0.5, 1.0], np.diag([2.0, 1.0]), [-1.0, 0.0], np.diag([0.7, 3.0]))
    assert got == pytest.approx(1 - (1 - h1) * (1 - h2), abs=1e-12)
    # batched, correlated case against Monte Carlo: BC = E_P sqrt(q/p)
    rng = np.random.default_rng(0)
    mu1, mu2 = np.array([0.0, 1.0]), np.array([1.0, 0.0])
    c1, c2 = np.array([[1.0, 0.8], [0.8, 1.0]]), np.array([[2.0, -0.3], [-0.3, 0.5]])
    x = rng.multivariate_normal(mu1, c1, size=400_000)
    lp = stats.multivariate_normal(mu1, c1).logpdf(x)
    lq = stats.multivariate_normal(mu2, c2).logpdf(x)
    mc = 1 - np.exp(0.5 * (lq - lp)).mean()
    batch = theory.hellinger2_mvn(np.stack([mu1, mu1]), np.stack([c1, c1]), np.stack([mu2, mu1]), np.stack([c2, c1]))
    assert batch[0] == pytest.approx(mc, abs=5e-3) and batch[1] == pytest.approx(0, abs=1e-12)
    # a side fitted from too few models (NaN) gives NaN for that example only; one cov broadcasts over a batch
    nan_mu = np.stack([mu1, np.full(2, np.nan)])
    got = theory.hellinger2_mvn(nan_mu, np.stack([c1, c1]), np.stack([mu2, mu2]), c2)
    assert got[0] == pytest.approx(batch[0]) and np.isnan(got[1])


def test_tv_hellinger_inequalities_on_random_gaussians():
    rng = np.random.default_rng(1)
    m1, m2 = rng.normal(0, 2, 500), rng.normal(0, 2, 500)
    v1, v2 = rng.uniform(0.05, 4, 500), rng.uniform(0.05, 4, 500)
    tv, h2 = theory.tv_gaussian(m1, v1, m2, v2), theory.hellinger2_gaussian(m1, v1, m2, v2)
    lo, hi = theory.tv_bounds(h2)
    assert np.all(lo <= tv + 1e-12) and np.all(tv <= hi + 1e-12) and np.all(hi <= np.sqrt(2 * h2) + 1e-12)
    # the bounds are not vacuous: each side comes close to tight somewhere
    assert np.min(tv - lo) < 0.05 and np.min(hi - tv) < 0.05


def test_llr_test_attains_tv_and_soft_llr_sits_between_hellinger_bounds():
    rng = np.random.default_rng(2)
    m1, v1, m2, v2 = 1.5, 0.25, 0.0, 1.0  # IN narrow and shifted, OUT wide (the shape of φ for a memorized example)
    x_in, x_out = rng.normal(m1, np.sqrt(v1), 400_000), rng.normal(m2, np.sqrt(v2), 400_000)
    llr_in, llr_out = (theory.gaussian_llr(x, m1, v1, m2, v2) for x in (x_in, x_out))
    tv, h2 = theory.tv_gaussian(m1, v1, m2, v2), theory.hellinger2_gaussian(m1, v1, m2, v2)
    assert theory.advantage_from_llr_samples(llr_in, llr_out) == pytest.approx(tv, abs=5e-3)
    soft = theory.soft_llr_advantage(
        lambda x: stats.norm.logpdf(x, m1, np.sqrt(v1)), lambda x: stats.norm.logpdf(x, m2, np.sqrt(v2))
    )
    assert theory.advantage_from_llr_samples(llr_in, llr_out, soft=True) == pytest.approx(soft, abs=5e-3)
    assert h2 < soft < min(2 * h2, tv)
    # Neyman–Pearson: thresholding x itself is no better than the LLR at any FPR (much worse at low FPR, where the
    # LLR avoids the upper tail that belongs to the wide OUT distribution); no test's advantage exceeds TV
    is_member = np.r_[np.ones(x_in.size, bool), np.zeros(x_out.size, bool)]
    f_llr, t_llr = metrics.roc(np.r_[llr_in, llr_out], is_member)
    f_x, t_x = metrics.roc(np.r_[x_in, x_out], is_member)
    for level in (0.001, 0.01, 0.1, 0.3):
        assert metrics.tpr_at_fpr(f_llr, t_llr, level) >= metrics.tpr_at_fpr(f_x, t_x, level) - 2e-3
    assert metrics.tpr_at_fpr(f_x, t_x, 0.001) < 0.5 * metrics.tpr_at_fpr(f_llr, t_llr, 0.001)
    assert metrics.advantage(f_x, t_x) <= tv + 5e-3 and metrics.advantage(f_llr, t_llr) <= tv + 5e-3


def test_empirical_estimates_converge_to_closed_forms():
    rng = np.random.default_rng(3)
    x, y = rng.normal(0, 1, 200_000), rng.normal(1, 1.5, 200_000)
    assert theory.hellinger2_empirical(x, y, bins=200) == pytest.approx(
        theory.hellinger2_gaussian(0, 1, 1, 2.25), abs=0.01
    )
    assert theory.tv_empirical(x, y, bins=200) == pytest.approx(theory.tv_gaussian(0, 1, 1, 2.25), abs=0.01)
    same = theory.hellinger2_empirical(rng.normal(size=200_000), rng.normal(size=200_000), bins=100)
    assert 0 <= same < 0.002


def test_bernoulli_hellinger_and_corollary_bound():
    a, b = np.meshgrid(np.linspace(0, 1, 41), np.linspace(0, 1, 41))
    h2 = theory.hellinger2_bernoulli(a, b)
    ref = 0.5 * ((np.sqrt(a) - np.sqrt(b)) ** 2 + (np.sqrt(1 - a) - np.sqrt(1 - b)) ** 2)
    np.testing.assert_allclose(h2, ref, atol=1e-12)
    mem = np.abs(a - b)  # TV of the two Bernoullis
    lo, hi = theory.tv_bounds(h2)
    assert np.all(lo <= mem + 1e-12) and np.all(mem <= hi + 1e-12)
    # Corollary 1: 1/H² ≤ 2/mem²
    ok = mem > 0
    assert np.all(1 / h2[ok] <= theory.shadow_models_bound(mem[ok]) + 1e-9)
    assert np.isinf(theory.shadow_models_bound(0.0)) and theory.shadow_models_bound(0.5) == pytest.approx(8.0)


def test_sample_complexity_brackets_the_exact_gaussian_answer():
    delta = 0.05
    for mu in (0.1, 0.3, 1.0):
        # the optimal n-sample test between N(0,1) and N(mu,1) errs with probability Φ(−√n·mu/2)
        n_exact = int(np.ceil((2 * stats.norm.isf(delta) / mu) ** 2))
        assert stats.norm.cdf(-np.sqrt(n_exact) * mu / 2) <= delta
        lo, hi = theory.sample_complexity(theory.hellinger2_gaussian(0, 1, mu, 1), delta)
        assert lo <= n_exact <= np.ceil(hi)
    # Θ(1/H²): halving the separation multiplies the count by about four
    h2_a, h2_b = theory.hellinger2_gaussian(0, 1, 0.2, 1), theory.hellinger2_gaussian(0, 1, 0.1, 1)
    assert theory.sample_complexity(h2_b)[1] / theory.sample_complexity(h2_a)[1] == pytest.approx(4, rel=0.02)
    with pytest.raises(ValueError):
        theory.sample_complexity(0.1, delta=0.5)


def test_correctness_test_advantage_is_memorization_and_the_llr_test_beats_it():
    """Theorem 2 on a planted pool: correct ⇔ φ > 0, IN models are more confident on a few examples."""
    rng = np.random.default_rng(4)
    k, n = 400, 60
    keep = train.balanced_keep(k, n, 0)
    shift = np.where(np.arange(n) < 20, 3.0, 0.0)  # 20 memorized examples
    phi = rng.normal(-0.5, 1.0, (k, n)) + shift * keep
    correct = phi > 0
    adv_c, se_c = theory.per_example_advantage(correct, keep)
    np.testing.assert_allclose(adv_c, memorization.memorization(correct, keep), atol=1e-12)
    assert np.all(se_c > 0)
    # a Gaussian LLR test fitted on half of the models, evaluated on the other half
    fit, ev = np.arange(k // 2), np.arange(k // 2, k)
    g = theory.fit_gaussians(phi, keep, fit)
    llr = theory.gaussian_llr(phi[ev], g["mean_in"], g["var_in"], g["mean_out"], g["var_out"])
    adv, se = theory.per_example_advantage(llr > 0, keep[ev])
    mem_fit = memorization.memorization(correct, keep, fit)
    z = (adv - mem_fit) / np.hypot(se, theory.per_example_advantage(correct[fit], keep[fit])[1])
    assert np.mean(z < -1.645) <= 0.1  # adv ≥ mem up to sampling error
    tv = theory.tv_gaussian(3.0 - 0.5, 1.0, -0.5, 1.0)
    assert np.mean(adv[:20]) == pytest.approx(tv, abs=0.05) and np.mean(adv[:20]) > np.mean(mem_fit[:20]) + 0.05


def test_fits():
    rng = np.random.default_rng(5)
    keep = train.balanced_keep(200, 3, 0)
    phi = rng.normal(size=(200, 3, 2)) + 2.0 * keep[..., None]
    g = theory.fit_gaussians(phi, keep)
    x = phi.mean(-1)
    np.testing.assert_allclose(g["mean_in"], [x[keep[:, j], j].mean() for j in range(3)])
    np.testing.assert_allclose(g["var_out"], [x[~keep[:, j], j].var(ddof=1) for j in range(3)])
    assert np.isnan(theory.fit_gaussians(phi, keep, shadow_ids=[0])["var_in"]).all()
    m = theory.fit_mvn(phi, keep, ridge=0.0)
    np.testing.assert_allclose(m["cov_in"][1], np.cov(phi[keep[:, 1], 1].T), atol=1e-12)


@pytest.mark.slow
def test_notebook_quick_run_writes_results(quick_book):
    """notebooks/04_theory_bounds.py ran in the quick book (tiny pool, degenerate numbers) and saved its results."""
    import json

    assert quick_book.chapter("04_theory_bounds").ok
    out = json.loads((quick_book.root / "results" / "04_theory_bounds.json").read_text())
    assert out["demo"]["tv"] == pytest.approx(theory.tv_gaussian(1.5, 0.25, 0.0, 1.0))
    assert len(out["with_ci"]["share_adv_ge_mem"]) == 3 and 0 <= out["share_adv_ge_mem"] <= 1
