"""Chapter 8's measures and verdicts on synthetic pools whose answers are known: a leaky recipe, a private one,
and one that closes the generalization gap but still exposes its memorized examples."""

import numpy as np
import pytest

from mia_lib import claims, config, defenses, train

K, N, TOP = 16, 400, 40


def _exposure(rng, leak_all: float, leak_top: float, gap: float) -> defenses.Exposure:
    keep = train.balanced_keep(K, N, 0)
    shift = np.where(np.arange(N) < TOP, leak_top, leak_all)
    phi = rng.normal(size=(K, N, 1)) + (shift * keep)[..., None]
    correct = rng.random((K, N)) < 0.8 + gap * keep  # members right more often by `gap`
    return defenses.Exposure(keep, correct, phi, -phi[..., 0])


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(0)
    recipes = {
        "undefended": _exposure(rng, 0.5, 4.0, 0.15),
        "private": _exposure(rng, 0.0, 0.0, 0.0),
        "calibrated only": _exposure(rng, 0.5, 4.0, 0.0),
    }
    top = np.arange(N) < TOP
    return defenses.compare(recipes, np.arange(K // 2, K), top, "undefended", n_boot=100, seed=1)


def test_measures_see_the_planted_leaks(result):
    t = result["table"]
    assert t["undefended"]["lira_auroc"].value > 0.6 > t["private"]["lira_auroc"].value
    assert t["undefended"]["lira_tpr_top_mem"].value > 0.3
    assert t["undefended"]["gen_gap"].lo > 0.1 and t["private"]["gen_gap"].lo < 0 < t["private"]["gen_gap"].hi
    # with every example IN for half the models, mean memorization is the gap
    assert t["undefended"]["mem_mean"].value == pytest.approx(t["undefended"]["gen_gap"].value)
    assert t["undefended"]["baseline_bal_acc"].value > t["private"]["baseline_bal_acc"].value
    d = result["vs_undefended"]["private"]
    assert d["lira_tpr_top_mem"].hi < 0 and d["gen_gap"].hi < 0
    assert set(result["vs_undefended"]) == {"private", "calibrated only"}
    for name, row in defenses.frame(t).iterrows():
        assert row["lira_auroc"] == t[name]["lira_auroc"].value and row["lira_auroc_ci"] == t[name]["lira_auroc"]


def test_open_question_yes_when_the_gap_closing_defense_protects(result):
    answer = defenses.open_question(result, "undefended", ["private"])
    assert answer["closing"] == ["private"] and answer["verdict"].verdict == claims.SUPPORTED


def test_open_question_no_when_a_gap_closing_defense_leaves_the_memorized_exposed(result):
    answer = defenses.open_question(result, "undefended", ["private", "calibrated only"])
    assert answer["closes"]["calibrated only"].verdict == claims.SUPPORTED
    assert answer["protects"]["calibrated only"].verdict == claims.NOT_SUPPORTED
    assert answer["verdict"].verdict == claims.NOT_SUPPORTED
    # the verdict shows the case that decides it, not the strongest one
    assert "calibrated only" in answer["verdict"].statistic
    assert answer["verdict"].ci == answer["protects"]["calibrated only"].ci


def test_open_question_stays_open_when_nothing_closes_the_gap():
    rng = np.random.default_rng(2)
    recipes = {"undefended": _exposure(rng, 0.5, 4.0, 0.1), "same": _exposure(rng, 0.5, 4.0, 0.1)}
    r = defenses.compare(recipes, np.arange(K // 2, K), np.arange(N) < TOP, "undefended", n_boot=50)
    answer = defenses.open_question(r, "undefended", ["same"])
    assert answer["closing"] == [] and answer["verdict"].verdict == claims.INCONCLUSIVE
    assert "no defense closes the gap" in answer["verdict"].statistic
    assert answer["verdict"].ci == answer["closes"]["same"].ci


def test_recipes_must_share_their_examples():
    rng = np.random.default_rng(3)
    a = _exposure(rng, 0.5, 1.0, 0.1)
    b = defenses.Exposure(a.keep[:, :-1], a.correct[:, :-1], a.phi[:, :-1], a.loss[:, :-1])
    with pytest.raises(ValueError, match="same examples"):
        defenses.compare({"undefended": a, "b": b}, [8, 9], np.ones(N, bool), "undefended")
    with pytest.raises(ValueError, match="undefended recipe"):
        defenses.compare({"a": a}, [8, 9], np.ones(N, bool), "undefended")


def test_shared_columns_place_a_subset_inside_the_whole_source():
    small, big = config.Experiment(n_data=400), config.Experiment(n_data=1500)
    cols = defenses.shared_columns(small, big)
    full = defenses.shared_columns(big, config.Experiment())
    assert cols.shape == (400,) and np.all(np.diff(cols) > 0) and full.shape == (1500,)
    from mia_lib import pool

    np.testing.assert_array_equal(pool.load_data(big).X[cols].numpy(), pool.load_data(small).X.numpy())
    with pytest.raises(ValueError, match="not all among"):
        defenses.shared_columns(big, small)
    with pytest.raises(ValueError, match="same single source"):
        defenses.shared_columns(small, config.Experiment(dataset="mnist5k"))


def test_point_panels_draw_one_point_per_recipe(result):
    import matplotlib

    matplotlib.use("Agg")
    from mia_lib import plotting

    fig, axes = plotting.point_panels(
        defenses.frame(result["table"]), "test_acc", {"a": "lira_tpr", "b": "lira_auroc"}, "x", "y", ["undefended"]
    )
    assert len(axes) == 2 and [ax.get_title() for ax in axes] == ["a", "b"]
    assert len(fig.legends) == 1 and len(fig.legends[0].get_texts()) == 3
