"""Every outcome of the claims module, planted: a clear win, a clear loss, a tie at 1.0, equivalence inside and
outside the margin, too few samples, and the paired bootstrap of differences it rests on."""

import numpy as np
import pytest

from mia_lib import claims, metrics
from mia_lib.metrics import Interval


def _attack(rng, n, strength, t=4):
    """Scores [t, n] and membership [t, n] of an attack whose members score ``strength`` higher."""
    m = rng.random((t, n)) < 0.5
    return rng.normal(size=(t, n)) + strength * m, m


def test_paired_difference_finds_a_clear_win_and_a_clear_loss():
    rng = np.random.default_rng(0)
    s_strong, m = _attack(rng, 400, 2.0)
    s_weak = rng.normal(size=m.shape) + 0.3 * m  # same targets, same examples: paired
    win = metrics.bootstrap_diff((s_strong, m), (s_weak, m), "auroc", n_boot=100)
    assert win.value == pytest.approx(metrics.auroc(s_strong, m) - metrics.auroc(s_weak, m))
    assert claims.greater(win, "Δ AUROC").verdict == claims.SUPPORTED
    assert claims.compare(win) == "better"
    loss = metrics.bootstrap_diff((s_weak, m), (s_strong, m), "auroc", n_boot=100)
    assert claims.greater(loss, "Δ AUROC").verdict == claims.NOT_SUPPORTED
    assert claims.less(loss, "Δ AUROC").verdict == claims.SUPPORTED
    assert claims.compare(loss) == "worse"


def test_paired_interval_is_narrower_than_the_unpaired_one():
    rng = np.random.default_rng(1)
    s, m = _attack(rng, 600, 1.0)
    s2 = s + 0.1 * rng.normal(size=s.shape)  # nearly the same attack
    paired = metrics.bootstrap_diff((s, m), (s2, m), "auroc", n_boot=100)
    unpaired = metrics.bootstrap_diff((s, m), (s2, m), "auroc", n_boot=100, paired=False)
    assert paired.hi - paired.lo < 0.5 * (unpaired.hi - unpaired.lo)
    with pytest.raises(ValueError, match="same examples"):
        metrics.bootstrap_diff((s, m), (s[:, :10], m[:, :10]), "auroc")


def test_a_tie_at_one_is_a_tie_not_a_win():
    m = np.array([[True, True, False, False]] * 3)
    perfect = np.where(m, 1.0, 0.0)
    also_perfect = np.where(m, 5.0, -5.0)
    d = metrics.bootstrap_diff((perfect, m), (also_perfect, m), "auroc", n_boot=50)
    assert tuple(d) == (0.0, 0.0, 0.0)
    assert claims.greater(d, "Δ AUROC").verdict == claims.NOT_SUPPORTED
    assert claims.compare(d) == "no detectable difference"
    best = {"calibrated": Interval(0.0, 0.0, 0.0), "lira_online": d, "loss": Interval(-0.3, -0.4, -0.2)}
    assert claims.co_best(best) == ["calibrated", "lira_online"]


def test_equivalence_needs_the_whole_interval_inside_the_margin():
    assert claims.equivalent(Interval(0.01, -0.02, 0.03), 0.05, "Δ").verdict == claims.SUPPORTED
    assert claims.equivalent(Interval(0.0, -0.2, 0.2), 0.05, "Δ").verdict == claims.INCONCLUSIVE  # weak data
    assert claims.equivalent(Interval(0.2, 0.1, 0.3), 0.05, "Δ").verdict == claims.NOT_SUPPORTED
    assert claims.equivalent(Interval(0.0, 0.0, 0.0), 0.0, "Δ").verdict == claims.INCONCLUSIVE  # no effect


def test_reaches_and_too_few_samples():
    assert claims.reaches(Interval(0.75, 0.60, 0.91), 0.9, "precision").verdict == claims.INCONCLUSIVE
    assert claims.reaches(Interval(0.95, 0.92, 0.97), 0.9, "precision").verdict == claims.SUPPORTED
    assert claims.reaches(Interval(0.7, 0.6, 0.8), 0.9, "precision").verdict == claims.NOT_SUPPORTED
    few = claims.greater(Interval(0.3, 0.2, 0.4), "Δ", n=5, min_n=10)
    assert few.verdict == claims.INCONCLUSIVE and few.n == 5
    assert claims.greater(Interval(0.3, np.nan, np.nan), "Δ").verdict == claims.INCONCLUSIVE


def test_too_few_samples_from_data_give_an_inconclusive_verdict():
    rng = np.random.default_rng(2)
    s, m = _attack(rng, 16, 0.5, t=1)  # 16 examples: the interval is wide
    d = metrics.bootstrap_diff((s, m), (rng.normal(size=s.shape), m), "auroc", n_boot=200)
    assert d.lo < 0 < d.hi
    assert claims.greater(d, "Δ AUROC").verdict == claims.INCONCLUSIVE


def test_all_of_and_ledger_records():
    yes, no = claims.greater(Interval(1, 0.5, 1.5), "Δ"), claims.greater(Interval(-1, -1.5, -0.5), "Δ")
    maybe = claims.greater(Interval(0, -1, 1), "Δ")
    assert claims.all_of([yes, yes], "Δ").verdict == claims.SUPPORTED
    assert claims.all_of([yes, maybe], "Δ").verdict == claims.INCONCLUSIVE
    assert claims.all_of([yes, maybe, no], "Δ").verdict == claims.NOT_SUPPORTED
    # the number shown is a case that decides the verdict, not merely the smallest lower bound
    inside = claims.equivalent(Interval(0.0, -0.01, 0.01), 0.02, "Δ")
    outside = claims.equivalent(Interval(0.1, 0.08, 0.12), 0.02, "Δ")
    assert claims.all_of([inside, outside], "Δ").ci == outside.ci
    assert claims.all_of([yes, maybe], "Δ").ci == maybe.ci
    row = claims.record("X beats Y", "Paper, §1", yes, "digits", "01_lira_and_memorization")
    assert {"claim", "source", "verdict", "statistic", "value", "ci", "chapter", "setting"} <= set(row)
    assert yes.word() == "supports" and maybe.word() == "is inconclusive on"


def test_mean_difference_paired_and_unpaired():
    rng = np.random.default_rng(3)
    x = rng.normal(size=300)
    paired = metrics.mean_diff(x + 0.5, x, n_boot=100)
    assert paired.value == pytest.approx(0.5) and paired.hi - paired.lo < 1e-9  # identical noise cancels
    unpaired = metrics.mean_diff(x + 0.5, rng.normal(size=200), n_boot=100, paired=False)
    assert unpaired.lo < 0.5 < unpaired.hi
    assert all(np.isnan(metrics.mean_diff([1.0], [2.0])))


def test_some_of_and_holds():
    yes, no = claims.greater(Interval(1, 0.5, 1.5), "Δ"), claims.greater(Interval(-1, -1.5, -0.5), "Δ")
    maybe = claims.greater(Interval(0, -1, 1), "Δ")
    assert claims.some_of([maybe, yes], "Δ").verdict == claims.SUPPORTED
    assert claims.some_of([maybe, maybe], "Δ").verdict == claims.INCONCLUSIVE
    assert claims.some_of([yes, no], "Δ").verdict == claims.NOT_SUPPORTED
    assert claims.holds(True, "ε̂ ≤ ε", 0.3).verdict == claims.SUPPORTED
    assert claims.holds(False, "ε̂ ≤ ε", 2.0).verdict == claims.NOT_SUPPORTED


def test_a_shared_draw_compares_subsets_of_the_same_examples():
    rng = np.random.default_rng(4)
    s, m = _attack(rng, 500, 0.0)
    s[:, :100] += 3.0 * m[:, :100]  # the first 100 examples are exposed
    top, rest = np.arange(100), np.arange(100, 500)
    a, b = metrics.WeightedAttack(s, m, top), metrics.WeightedAttack(s, m, rest)
    edge = metrics.paired_bootstrap(lambda w: a.measure("auroc", w) - b.measure("auroc", w), 500, n_boot=100)
    assert edge.value == pytest.approx(metrics.auroc(s[:, top], m[:, top]) - metrics.auroc(s[:, rest], m[:, rest]))
    assert claims.greater(edge, "Δ AUROC").verdict == claims.SUPPORTED


def test_spearman_difference_is_paired_and_matches_scipy():
    from scipy import stats

    rng = np.random.default_rng(5)
    y = rng.normal(size=400)
    strong, weak = y + 0.3 * rng.normal(size=400), y + 3.0 * rng.normal(size=400)
    d = metrics.spearman_diff(strong, weak, y, n_boot=200)
    expected = stats.spearmanr(strong, y).statistic - stats.spearmanr(weak, y).statistic
    assert d.value == pytest.approx(expected) and d.lo > 0
    assert claims.greater(d, "Δ|ρ|").verdict == claims.SUPPORTED
    same = metrics.spearman_diff(strong, strong, y, n_boot=50)
    assert tuple(same) == (0.0, 0.0, 0.0)
    rho = metrics.spearman(weak, y, n_boot=200)
    assert claims.equivalent(rho, 0.6, "ρ").verdict == claims.SUPPORTED  # |ρ| clearly below 0.6


def test_at_most_a_limit():
    assert claims.at_most(Interval(0.03, 0.02, 0.045), 0.05, "share").verdict == claims.SUPPORTED
    assert claims.at_most(Interval(0.09, 0.07, 0.11), 0.05, "share").verdict == claims.NOT_SUPPORTED
    assert claims.at_most(Interval(0.05, 0.03, 0.08), 0.05, "share").verdict == claims.INCONCLUSIVE
