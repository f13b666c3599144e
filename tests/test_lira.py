"""LiRA: the vectorised leave-one-out statistics equal a brute-force loop; the attack finds planted signal."""

import numpy as np
import pytest
from scipy import stats

from mia_lib import metrics, train
from mia_lib.attacks import lira as L


def _brute(phi, keep, t, shadows):
    """Per-example IN/OUT mean and variance of the shadows other than t (the textbook loop)."""
    s = [k for k in shadows if k != t]
    ph, kp = phi[s], keep[s]
    out = {}
    for side, mask in (("in", kp), ("out", ~kp)):
        w = mask[..., None]
        n = w.sum(0)
        mean = (ph * w).sum(0) / n
        out["mean_" + side] = mean
        out["var_" + side] = np.maximum(((ph - mean) ** 2 * w).sum(0) / n, L._MIN_VAR)
    return out


def _planted(k=16, n=300, a=2, shift=1.0, seed=0):
    rng = np.random.default_rng(seed)
    keep = train.balanced_keep(k, n, seed)
    base = rng.normal(size=(1, n, 1)) * 3
    phi = base + rng.normal(size=(k, n, a)) + shift * keep[..., None]
    return phi, keep


@pytest.mark.parametrize("targets,shadows", [(None, None), ([0, 3], list(range(4, 16)))])
def test_moments_equal_brute_force(targets, shadows):
    phi, keep = _planted()
    m = L.loo_moments(phi, keep, targets, shadows)
    centre = phi[shadows if shadows is not None else slice(None)].mean(0)
    for i, t in enumerate(targets if targets is not None else range(16)):
        ref = _brute(phi, keep, t, shadows if shadows is not None else range(16))
        for key in ("mean_in", "mean_out"):
            np.testing.assert_allclose(m[key][i] + centre, ref[key], rtol=1e-9, atol=1e-9)
        for key in ("var_in", "var_out"):
            np.testing.assert_allclose(m[key][i], ref[key], rtol=1e-7, atol=1e-9)


def test_scores_match_formulas_for_one_target():
    phi, keep = _planted(k=8, n=50)
    scores = L.lira_scores(phi, keep, target_ids=[2])
    ref = _brute(phi, keep, 2, range(8))
    x = phi[2]
    lp_in = stats.norm.logpdf(x, ref["mean_in"], np.sqrt(ref["var_in"]))
    lp_out = stats.norm.logpdf(x, ref["mean_out"], np.sqrt(ref["var_out"]))
    np.testing.assert_allclose(scores["online"][0], (lp_in - lp_out).mean(-1), rtol=1e-6)
    np.testing.assert_allclose(
        scores["offline"][0], -stats.norm.logsf(x, ref["mean_out"], np.sqrt(ref["var_out"])).mean(-1), rtol=1e-6
    )
    np.testing.assert_allclose(scores["offline_two_sided"][0], -lp_out.mean(-1), rtol=1e-6)
    sd_fixed = np.sqrt(ref["var_out"].mean(0))
    np.testing.assert_allclose(
        scores["offline_fixed"][0], -stats.norm.logsf(x, ref["mean_out"], sd_fixed).mean(-1), rtol=1e-6
    )
    # online, fixed variance: one global σ_in and one global σ_out (TF Privacy's compute_score_lira), kept apart
    sd_in_fixed = np.sqrt(ref["var_in"].mean(0))
    fixed = stats.norm.logpdf(x, ref["mean_in"], sd_in_fixed) - stats.norm.logpdf(x, ref["mean_out"], sd_fixed)
    np.testing.assert_allclose(scores["online_fixed"][0], fixed.mean(-1), rtol=1e-6)


def test_planted_signal_is_found_near_the_optimum():
    phi, keep = _planted(k=64, n=400, a=1, shift=1.0)
    scores = L.lira_scores(phi, keep)
    optimum = stats.norm.cdf(1 / np.sqrt(2))  # AUROC of the best test between N(0,1) and N(1,1)
    for v in ("online", "online_fixed", "offline", "offline_fixed"):
        assert abs(metrics.auroc(scores[v], keep) - optimum) < 0.03, v
    assert metrics.auroc(scores["offline_two_sided"], keep) < metrics.auroc(scores["offline"], keep)
    noise = L.lira(phi - keep[..., None], keep)  # no signal left
    assert abs(metrics.auroc(noise, keep) - 0.5) < 0.03


def test_too_few_shadow_models_and_unknown_variant():
    phi, keep = _planted(k=4, n=20)
    with pytest.raises(ValueError, match="at least 2 IN"):
        L.lira(phi, keep)
    with pytest.raises(ValueError, match="Unknown LiRA variant"):
        L.lira_scores(phi, keep, variants=["online", "magic"])
    with pytest.raises(ValueError, match="at least 2 OUT"):
        L.lira(phi, keep, online=False)
    phi6, keep6 = _planted(k=6, n=20)
    assert L.lira(phi6, keep6).shape == (6, 20)  # leave-one-out leaves 2 IN and 2 OUT models


def test_pool_size_is_checked_before_training():
    L.check_n_shadow(6)
    L.check_n_shadow(4, online=False)
    with pytest.raises(ValueError, match="n_shadow ≥ 6"):
        L.check_n_shadow(4)
