"""Metric conventions: TPR at FPR ≤ t, AUROC, advantage, bootstrap CIs."""

import numpy as np
import pytest

from mia_lib import metrics


def test_perfect_and_random_attacks():
    m = np.array([1, 1, 0, 0], bool)
    assert metrics.auroc([4, 3, 2, 1], m) == 1.0
    s = metrics.summary([4, 3, 2, 1], m)
    assert s["tpr_at_0.1pct_fpr"] == 1.0 and s["advantage"] == 1.0
    rng = np.random.default_rng(0)
    scores, members = rng.normal(size=20000), rng.random(20000) < 0.5
    assert abs(metrics.auroc(scores, members) - 0.5) < 0.02


def test_tpr_at_fpr_uses_fpr_at_most_level():
    fpr = np.array([0.0, 0.001, 0.0011, 1.0])
    tpr = np.array([0.0, 0.3, 0.5, 1.0])
    assert metrics.tpr_at_fpr(fpr, tpr, 0.001) == 0.3
    assert metrics.tpr_at_fpr(fpr, tpr, 0.01) == 0.5
    assert metrics.level_name(0.001) == "tpr_at_0.1pct_fpr" and metrics.level_name(0.01) == "tpr_at_1pct_fpr"


def test_bootstrap_ci_brackets_the_estimate_and_shrinks_with_data():
    rng = np.random.default_rng(1)

    def sample(n):
        m = rng.random((4, n)) < 0.5
        return rng.normal(size=(4, n)) + m, m

    s, m = sample(400)
    out = metrics.summary_with_ci(s, m, n_boot=100)
    lo, hi = out["auroc_ci"]
    assert lo <= out["auroc"] <= hi
    s2, m2 = sample(4000)
    lo2, hi2 = metrics.bootstrap_ci(s2, m2, n_boot=100)["auroc"]
    assert hi2 - lo2 < hi - lo


def test_bad_inputs():
    with pytest.raises(ValueError, match="both members and non-members"):
        metrics.auroc([1, 2], [True, True])
    with pytest.raises(ValueError, match="NaN"):
        metrics.auroc([np.nan, 1], [True, False])
    with pytest.raises(ValueError, match="shape"):
        metrics.auroc([1, 2, 3], [True, False])


def test_weighted_replicate_equals_sklearn_on_the_resampled_data():
    rng = np.random.default_rng(3)
    s = np.round(rng.normal(size=(3, 60)), 1)  # ties on purpose
    m = rng.random((3, 60)) < 0.5
    cols = rng.integers(0, 60, size=60)
    flat_s, flat_m = s.ravel(), m.ravel()
    order = np.argsort(-flat_s, kind="stable")
    ends = np.flatnonzero(np.r_[flat_s[order][1:] != flat_s[order][:-1], True])
    fast = metrics._weighted_summary(flat_m[order], order % 60, ends, np.bincount(cols, minlength=60),
                                     metrics.FPR_LEVELS)
    slow = metrics.summary(s[:, cols], m[:, cols])
    for k in fast:
        assert np.isclose(fast[k], slow[k]), k


def test_tpr_at_fpr_keeps_collinear_roc_points():
    # Three tied groups (1 non-member + 10 members each) make collinear ROC points (0.0005, 0.35), (0.001, 0.4);
    # sklearn's drop_intermediate would drop them and report 0.3 at 0.1% FPR instead of 0.4.
    n_neg = 2000
    neg = np.r_[[10.0, 9.0, 8.0], np.zeros(n_neg - 3)]
    pos = np.r_[np.full(60, 11.0), np.full(10, 10.0), np.full(10, 9.0), np.full(10, 8.0), np.full(110, -1.0)]
    s = np.r_[pos, neg]
    m = np.r_[np.ones(pos.size, bool), np.zeros(n_neg, bool)]
    assert np.isclose(metrics.summary(s, m)["tpr_at_0.1pct_fpr"], 0.4)


def test_fast_roc_equals_sklearn():
    from sklearn.metrics import roc_auc_score, roc_curve

    rng = np.random.default_rng(0)
    for n, n_levels in ((50, 5), (5000, 40), (20000, 100000)):  # heavy ties, some ties, almost none
        s = rng.integers(0, n_levels, n) + rng.normal(0, 0.01, n) * (n_levels > 1000)
        m = rng.random(n) < 1 / (1 + np.exp(-(s - s.mean()) / s.std()))
        fpr, tpr = metrics.roc_fast(s, m)
        ref_fpr, ref_tpr, _ = roc_curve(m, s, drop_intermediate=False)
        np.testing.assert_array_equal(fpr, ref_fpr)
        np.testing.assert_array_equal(tpr, ref_tpr)
        assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc_score(m, s), abs=1e-12)
