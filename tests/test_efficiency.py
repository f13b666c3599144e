"""The k-sweep: exact per-example subsets, scores equal to LiRA on the full pool and to a brute-force loop on
subsets, and a planted signal whose easy examples need fewer shadow models than its hard ones."""

import numpy as np
import pytest
from scipy import stats

from mia_lib import efficiency as E
from mia_lib import metrics, train
from mia_lib.attacks import lira


def _planted(k=64, n=300, a=2, seed=0, strong=30, shift_strong=4.0, shift_weak=0.5):
    rng = np.random.default_rng(seed)
    keep = train.balanced_keep(k, n, seed)
    shift = np.where(np.arange(n) < strong, shift_strong, shift_weak)
    phi = rng.normal(size=(1, n, 1)) * 3 + rng.normal(size=(k, n, a)) + (shift[:, None] * keep[..., None])
    return phi, keep


def test_pick_per_example_gives_exactly_k_per_side():
    _, keep = _planted(k=32, n=200)
    rng = np.random.default_rng(0)
    for k in (1, 3, 8):
        m_in, m_out = E.pick_per_example(keep, k, rng)
        assert (m_in.sum(0) == k).all() and (m_out.sum(0) == k).all()
        assert not (m_in & ~keep).any() and not (m_out & keep).any()
    a = E.pick_per_example(keep, 4, np.random.default_rng(1))
    b = E.pick_per_example(keep, 4, np.random.default_rng(1))
    c = E.pick_per_example(keep, 4, np.random.default_rng(2))
    assert (a[0] == b[0]).all() and (a[0] != c[0]).any()
    m_in, m_out = E.pick_per_example(keep, 5, rng, side="out")
    assert not m_in.any() and (m_out.sum(0) == 5).all()
    # every candidate is picked about equally often (uniform draws)
    counts = sum(E.pick_per_example(keep, 2, rng)[0].astype(int) for _ in range(400))
    share = counts[keep] / 400
    assert abs(share.mean() - 2 / 16) < 0.01 and share.std() < 0.05
    with pytest.raises(ValueError, match="k must be between 1 and 16"):
        E.pick_per_example(keep, 17, rng)


def test_full_pool_scores_equal_lira():
    phi, keep = _planted(k=40, n=120)
    targets, shadows = np.arange(30, 40), np.arange(30)
    ref = lira.lira_scores(
        phi,
        keep,
        target_ids=targets,
        shadow_ids=shadows,
        variants=["online", "online_fixed", "offline", "offline_fixed"],
    )
    got = E.lira_from_masks(phi[targets], phi[shadows], keep[shadows], ~keep[shadows], E.VARIANTS)
    for v in E.VARIANTS:
        np.testing.assert_allclose(got[v], ref[v], rtol=1e-8, atol=1e-8, err_msg=v)


def test_subset_scores_equal_brute_force_loop():
    phi, keep = _planted(k=24, n=40, a=2)
    targets, shadows = np.arange(20, 24), np.arange(20)
    m_in, m_out = E.pick_per_example(keep[shadows], 3, np.random.default_rng(0))
    got = E.lira_from_masks(phi[targets], phi[shadows], m_in, m_out, ["online", "offline", "online_fixed"])
    ps = phi[shadows]
    var_in, var_out = np.empty((40, 2)), np.empty((40, 2))
    online, offline = np.empty((4, 40)), np.empty((4, 40))
    for j in range(40):
        xi, xo = ps[m_in[:, j], j], ps[m_out[:, j], j]  # [3, A]
        var_in[j], var_out[j] = xi.var(0), xo.var(0)
        x = phi[targets, j]
        lp = stats.norm.logpdf(x, xi.mean(0), xi.std(0)) - stats.norm.logpdf(x, xo.mean(0), xo.std(0))
        online[:, j] = lp.mean(-1)
        offline[:, j] = -stats.norm.logsf(x, xo.mean(0), xo.std(0)).mean(-1)
    np.testing.assert_allclose(got["online"], online, rtol=1e-7)
    np.testing.assert_allclose(got["offline"], offline, rtol=1e-7)
    sd_in, sd_out = np.sqrt(var_in.mean(0)), np.sqrt(var_out.mean(0))  # one global σ_in and one σ_out per view
    mu_in = np.stack([ps[m_in[:, j], j].mean(0) for j in range(40)])
    mu_out = np.stack([ps[m_out[:, j], j].mean(0) for j in range(40)])
    x = phi[targets]
    fixed = (stats.norm.logpdf(x, mu_in, sd_in) - stats.norm.logpdf(x, mu_out, sd_out)).mean(-1)
    np.testing.assert_allclose(got["online_fixed"], fixed, rtol=1e-7)


def test_one_model_per_side_works_with_fixed_variance_only():
    phi, keep = _planted(k=24, n=60)
    m_in, m_out = E.pick_per_example(keep[:20], 1, np.random.default_rng(0))
    s = E.lira_from_masks(phi[20:], phi[:20], m_in, m_out, ["online_fixed", "offline_fixed"])
    assert all(np.isfinite(v).all() for v in s.values())
    assert metrics.auroc(s["online_fixed"], keep[20:]) > 0.6
    with pytest.raises(ValueError, match="at least 2"):
        E.lira_from_masks(phi[20:], phi[:20], m_in, m_out, ["online"])
    with pytest.raises(ValueError, match="Unknown"):
        E.lira_from_masks(phi[20:], phi[:20], m_in, m_out, ["magic"])


def test_sweep_easy_examples_need_fewer_shadow_models():
    phi, keep = _planted(k=96, n=400, a=1, strong=40, shift_strong=4.0, shift_weak=0.4)
    targets, shadows = np.arange(64, 96), np.arange(64)
    groups = {"strong": np.arange(400) < 40, "weak": np.arange(400) >= 40}
    table = E.sweep(phi, keep, targets, shadows, groups, n_rep=4, seed=0, variants=("online_fixed", "online"))
    again = E.sweep(phi, keep, targets, shadows, groups, n_rep=4, seed=0, variants=("online_fixed", "online"))
    assert table.equals(again)
    assert set(table["k"]) >= {1, 2, 4, 8, 16}
    assert not ((table["variant"] == "online") & (table["k"] == 1)).any()
    full = table[table["full"]].set_index(["variant", "group"])["auroc"]
    # the full pool reaches the optimum for N(0,1) vs N(shift,1): Φ(shift/√2)
    assert full["online_fixed", "weak"] == pytest.approx(stats.norm.cdf(0.4 / np.sqrt(2)), abs=0.03)
    assert full["online_fixed", "strong"] > 0.99
    k95 = E.k_to_reach(table, "auroc", chance=0.5).set_index(["variant", "group"])["k"]
    assert k95["online_fixed", "strong"] <= 2 and k95["online_fixed", "weak"] >= 4 * k95["online_fixed", "strong"]
    c = E.curves(table)
    row = c[(c["variant"] == "online_fixed") & (c["group"] == "weak") & (c["k"] == 1)].iloc[0]
    assert row["auroc_lo"] <= row["auroc"] <= row["auroc_hi"] and row["auroc_hi"] < full["online_fixed", "weak"]
    per_rep = E.k_to_reach(table, "auroc", chance=0.5, per_rep=True)
    assert len(per_rep) == 2 * 2 * 4
    with pytest.raises(ValueError, match="disjoint"):
        E.sweep(phi, keep, targets, [0, 64], groups)


def test_k_to_reach_on_a_hand_made_table():
    import pandas as pd

    rows = [{"variant": "v", "group": "g", "k": 20, "rep": 0, "full": True, "auroc": 0.80}]
    for k, vals in ((1, (0.60, 0.62)), (2, (0.70, 0.74)), (4, (0.77, 0.78)), (8, (0.79, 0.75))):
        rows += [
            {"variant": "v", "group": "g", "k": k, "rep": r, "full": False, "auroc": a} for r, a in enumerate(vals)
        ]
    t = pd.DataFrame(rows)
    assert E.k_to_reach(t, fraction=0.95).iloc[0]["k"] == 4  # 0.76 needed; means 0.61, 0.72, 0.775, 0.77
    assert E.k_to_reach(t, fraction=0.9, chance=0.5).iloc[0]["k"] == 4  # 0.77 needed
    strict = E.k_to_reach(t, fraction=0.95, chance=0.5).iloc[0]  # 0.785 needed: only the full pool
    assert strict["k"] == 20 and not strict["reached_before_full"]
    assert list(E.k_to_reach(t, fraction=0.9, per_rep=True)["k"]) == [4, 2]  # 0.72 needed, per repetition
    assert E.k_grid(40) == [1, 2, 4, 8, 16, 32] and E.k_grid(1) == [1]


@pytest.mark.slow
def test_notebook_quick_run_writes_k95(quick_book):
    """notebooks/05_shadow_efficiency.py ran in the quick book and saved k95 per group and the curves."""
    import json

    assert quick_book.chapter("05_shadow_efficiency").ok
    out = json.loads((quick_book.root / "results" / "05_shadow_efficiency.json").read_text())
    assert set(out["k95_auroc"]) == {"all", "under-represented", "memorized"}
    assert out["curves"] and {"variant", "group", "k", "auroc"} <= set(out["curves"][0])


def test_k_at_and_share_of_full_read_the_tables():
    import pandas as pd

    k_table = pd.DataFrame(
        {"criterion": ["AUROC", "AUROC"], "group": ["all", "memorized"], "variant": ["online_fixed"] * 2, "k": [8, 2]}
    )
    assert E.k_at(k_table, "AUROC", "memorized") == 2.0
    with pytest.raises(KeyError):
        E.k_at(k_table, "AUROC", "nobody")
    curve_table = pd.DataFrame(
        {
            "variant": ["online_fixed"] * 3,
            "group": ["all"] * 3,
            "k": [2, 4, 16],
            "full": [False, False, True],
            "auroc": [0.6, 0.65, 0.7],
        }
    )
    assert E.share_of_full(curve_table, "all", "auroc", k=2, chance=0.5) == pytest.approx(0.5)
    assert E.share_of_full(curve_table, "all", "auroc", k=4) == pytest.approx(0.65 / 0.7)
    assert np.isnan(E.share_of_full(curve_table, "all", "auroc", k=3))  # no such budget


def test_share_at_k_over_repeated_draws():
    import pandas as pd

    rows = [{"variant": "online_fixed", "group": "g", "k": 64, "rep": 0, "full": True, "auroc": 0.9}]
    rows += [
        {"variant": "online_fixed", "group": "g", "k": 2, "rep": r, "full": False, "auroc": a}
        for r, a in enumerate([0.86, 0.88, 0.90, 0.82])
    ]
    share = E.share_at_k(pd.DataFrame(rows), "g", "auroc", k=2, chance=0.5)
    assert share.value == pytest.approx(np.mean([0.9, 0.95, 1.0, 0.8]))
    assert 0.8 <= share.lo < share.value < share.hi <= 1.0
    assert all(np.isnan(E.share_at_k(pd.DataFrame(rows), "g", "auroc", k=8)))
