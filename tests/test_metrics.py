"""Metric conventions: TPR at FPR ≤ t, AUROC, advantage, bootstrap CIs."""

import numpy as np
import pytest
from scipy import stats

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
    value, lo, hi = out["auroc_ci"]
    assert value == out["auroc"] and lo <= out["auroc"] <= hi
    s2, m2 = sample(4000)
    ci2 = metrics.bootstrap_ci(s2, m2, n_boot=100)["auroc"]
    assert isinstance(ci2, metrics.Interval) and ci2.value == metrics.auroc(s2, m2)
    assert ci2.hi - ci2.lo < hi - lo


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
    fast = metrics._weighted_summary(
        flat_m[order], order % 60, ends, np.bincount(cols, minlength=60), metrics.FPR_LEVELS
    )
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


# --- calibration for precision (metrics.calibrate_threshold, precision_recall_at, calibrated_precision) ---------


def _brute_threshold(s, m, p, min_pos):
    best = np.inf
    for t in np.unique(s):
        pred = s >= t
        if pred.sum() >= min_pos and m[pred].mean() >= p - 1e-12:
            best = min(best, t)
    return best


@pytest.mark.parametrize("seed", range(4))
def test_calibrate_threshold_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    m = rng.random(300) < 0.5
    s = np.round(rng.normal(size=300) + 1.2 * m, 1)  # rounding makes ties
    for p in (0.6, 0.8, 0.95, 1.0):
        for min_pos in (1, 10):
            assert metrics.calibrate_threshold(s, m, p, min_pos) == _brute_threshold(s, m, p, min_pos)
    assert metrics.calibrate_threshold(np.zeros(10), np.r_[np.ones(5), np.zeros(5)].astype(bool), 0.9) == np.inf


def test_precision_recall_and_calibrated_precision():
    s = np.array([[0.9, 0.8, 0.7, 0.1], [0.95, 0.2, 0.6, 0.3]])
    m = np.array([[True, False, True, False], [True, True, False, False]])
    r = metrics.precision_recall_at(s, m, 0.65)
    assert (r["n_positive"], r["n_true_positive"]) == (4, 3)
    assert r["precision"] == 0.75 and r["recall"] == 0.75
    assert np.isnan(metrics.precision_recall_at(s, m, 2.0)["precision"])
    rows = metrics.calibrated_precision(s, m, s, m, [0.75, 1.0], n_boot=50)
    assert rows[0]["threshold"] == 0.7 and rows[0]["precision_achieved"] == 0.75
    assert rows[1]["threshold"] == 0.9 and rows[1]["precision_achieved"] == 1.0
    value, lo, hi = rows[0]["precision_achieved_ci"]
    assert value == 0.75 and 0 <= lo <= hi <= 1


def test_spearman_matches_scipy_with_a_bootstrap_interval():
    rng = np.random.default_rng(6)
    x = rng.normal(size=300)
    y = x + rng.normal(size=300)
    y[3] = np.nan
    r = metrics.spearman(x, y, n_boot=200, seed=1)
    ok = np.isfinite(y)
    assert isinstance(r, metrics.Interval)
    assert r.value == pytest.approx(stats.spearmanr(x[ok], y[ok]).statistic)
    assert r.lo < r.value < r.hi and r.hi - r.lo < 0.2
    assert np.isnan(metrics.spearman(x, y).lo)  # no bootstrap, no bounds
    assert all(np.isnan(metrics.spearman(np.ones(10), np.arange(10))))  # constant input: undefined


def test_share_is_a_wilson_interval():
    share, lo, hi = metrics.share(np.zeros(10, bool))
    assert share == 0 and lo == 0 and hi == pytest.approx(0.2775, abs=1e-4)  # Wilson, 0/10
    assert metrics.share([True, False, True, True]).value == 0.75
    assert all(np.isnan(metrics.share([])))


def test_interval_text_and_nan_rows_of_by_subset():
    assert metrics.Interval(0.6021, 0.5923, 0.6114).text() == "0.602 [0.592, 0.611]"
    assert metrics.Interval(0.5, np.nan, np.nan).text("{:.0%}") == "50%"
    assert metrics.NAN_INTERVAL.text() == "–"
    s, m = np.arange(8.0).reshape(2, 4), np.array([[True, False, True, False], [False, True, False, True]])
    rows = metrics.by_subset(s, m, {"one column": [0]}, n_boot=10)
    assert np.isnan(rows[0]["auroc"]) and all(np.isnan(rows[0]["auroc_ci"]))


def test_retained_share_of_an_effect():
    assert metrics.retained(0.6, 0.7, chance=0.5) == pytest.approx(0.5)
    assert np.isnan(metrics.retained(0.6, 0.5, chance=0.5))  # no effect to keep
    np.testing.assert_allclose(metrics.retained(np.array([0.0, 1.0]), 2.0), [0.0, 0.5])
    assert metrics.n_boot_for(200, quick=True) == metrics.QUICK_N_BOOT and metrics.n_boot_for(200, False) == 200
