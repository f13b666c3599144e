"""QMIA: k-NN quantiles equal a brute-force search, no example's quantile is fitted on its own score (nor on any
member's), a planted per-example difficulty is removed, null data stay at chance, and the zoo runs it on a pool."""

import numpy as np
import pytest
import torch

from mia_lib import config, data, metrics, pool, train
from mia_lib.attacks import qmia, zoo


def _planted(k=8, n=1000, shift=1.5, seed=0):
    """Scores [K, N] = 3·(feature 0) (how easy the example is) + noise + ``shift`` on members."""
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(n, 3))
    y = rng.integers(0, 3, n)
    keep = train.balanced_keep(k, n, seed)
    score = 3 * feats[:, 0][None] + rng.normal(size=(k, n)) + shift * keep
    return score, keep, feats, y


def test_knn_quantiles_equal_brute_force():
    score, keep, feats, y = _planted(k=4, n=150, seed=1)
    got = qmia.quantiles(score, keep, feats, y, target_ids=[0, 2], alpha=0.2, n_neighbors=5, seed=3)
    fold = qmia.folds(150, 2, seed=3)
    for i, t in enumerate([0, 2]):
        for n in range(150):
            ok = (fold != fold[n]) & ~keep[t] & (y == y[n])
            cand = np.flatnonzero(ok)
            assert cand.size >= 5  # every class holds enough public non-members for 5 neighbours
            nearest = cand[np.argsort(((feats[cand] - feats[n]) ** 2).sum(1))[:5]]
            assert got[i, n] == pytest.approx(np.quantile(score[t, nearest], 0.8))


def test_folds_are_balanced_and_seeded():
    f = qmia.folds(11, 3, seed=0)
    assert sorted(np.bincount(f)) == [3, 4, 4]
    np.testing.assert_array_equal(f, qmia.folds(11, 3, seed=0))
    with pytest.raises(ValueError, match="n_folds >= 2"):
        qmia.folds(10, 1)


@pytest.mark.parametrize("regressor", ["knn", "hgb"])
def test_no_quantile_is_fitted_on_its_own_score_or_on_members(regressor):
    score, keep, feats, y = _planted(k=2, n=200, seed=2)
    opts = dict(target_ids=[0], regressor=regressor, n_neighbors=8, seed=0, hgb={"max_iter": 10})
    base = qmia.quantiles(score, keep, feats, y, **opts)
    fold = qmia.folds(200, 2, seed=0)
    n = int(np.flatnonzero(~keep[0] & (fold == 0))[0])  # a public non-member for the other fold
    moved = score.copy()
    moved[0, n] += 50.0
    after = qmia.quantiles(moved, keep, feats, y, **opts)
    assert after[0, n] == base[0, n]  # its own quantile never saw its score
    assert not np.array_equal(after[0, fold == 1], base[0, fold == 1])  # the other fold's did
    members = score.copy()
    members[0, keep[0]] += 50.0
    np.testing.assert_array_equal(qmia.quantiles(members, keep, feats, y, **opts), base)  # members never read


@pytest.mark.parametrize("regressor", ["knn", "hgb"])
def test_qmia_removes_a_planted_difficulty(regressor):
    score, keep, feats, y = _planted()
    opts = dict(regressor=regressor, n_neighbors=16, hgb={"max_iter": 30})
    s = qmia.qmia(score, keep, feats, y, target_ids=range(4), **opts)
    raw = metrics.auroc(score[:4], keep[:4])  # about 0.64: the difficulty hides the membership shift
    got = metrics.auroc(s, keep[:4])  # a perfect quantile would give Φ(1.5 / √2) ≈ 0.86
    assert got > 0.7 and got > raw + 0.07


@pytest.mark.parametrize("regressor", ["knn", "hgb"])
def test_qmia_null_is_at_chance(regressor):
    score, keep, feats, y = _planted(shift=0.0, seed=4)
    s = qmia.qmia(score, keep, feats, y, regressor=regressor, hgb={"max_iter": 20})
    assert abs(metrics.auroc(s, keep) - 0.5) < 0.03


def test_features_are_the_standardized_principal_components():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 1, 3, 4)) * np.linspace(0.2, 3, 12).reshape(1, 1, 3, 4)
    f = qmia.features(X, n_components=3)
    assert f.shape == (200, 3)
    np.testing.assert_allclose(f.std(0), 1.0)
    flat = X.reshape(200, -1) - X.reshape(200, -1).mean(0)
    top = np.linalg.eigh(flat.T @ flat)[1][:, ::-1][:, :3]  # the top eigenvectors of the scatter matrix
    proj = flat @ top
    for j in range(3):
        assert abs(np.corrcoef(f[:, j], proj[:, j])[0, 1]) == pytest.approx(1.0)


def test_quantiles_errors():
    score, keep, feats, y = _planted(k=2, n=200)
    with pytest.raises(ValueError, match="unknown regressor"):
        qmia.quantiles(score, keep, feats, y, regressor="forest")
    with pytest.raises(ValueError, match="alpha"):
        qmia.quantiles(score, keep, feats, y, alpha=1.0)
    y[0] = 7  # a class of one example: nothing public to compare it with
    with pytest.raises(ValueError, match="class 7"):
        qmia.quantiles(score, keep, feats, y)


def test_zoo_qmia_on_a_pool():
    rng = np.random.default_rng(6)
    k, n, c = 6, 120, 3
    keep = train.balanced_keep(k, n, 0)
    y = np.arange(n) % c
    z = rng.normal(size=(k, n, 1, c)).astype(np.float32)
    z[np.arange(k)[:, None], np.arange(n)[None], 0, y[None]] += 2.0 * keep
    ds = data.Dataset(
        X=torch.as_tensor(rng.random((n, 1, 4, 4)), dtype=torch.float32), y=torch.as_tensor(y),
        group=torch.zeros(n, dtype=torch.int8), name="fake", n_classes=c, flippable=False,
    )  # fmt: skip
    p = pool.ShadowPool(config.Experiment(n_shadow=k), ds, keep, z, np.ones(k), np.ones(k), 0.0)
    got = zoo.attack_scores(p, ["qmia"], target_ids=[1, 3], options={"qmia": {"n_neighbors": 6}})["qmia"]
    feats = qmia.features(ds.X.numpy(), 16)
    want = qmia.qmia(p.phi[:, :, 0], keep, feats, y, [1, 3], n_neighbors=6)
    np.testing.assert_allclose(got, want)
    assert metrics.auroc(got, keep[[1, 3]]) > 0.7


def test_plot_zero_point_marks_k_zero_with_its_interval():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from mia_lib import efficiency

    table = pd.DataFrame(
        {"group": ["all", "memorized"], "auroc": [0.6, 0.8], "auroc_lo": [0.55, 0.7], "auroc_hi": [0.62, np.nan]}
    )
    fig, ax = plt.subplots()
    efficiency.plot_zero_point(ax, table, "auroc", colors={"all": "red"})
    points = [line.get_xydata()[0].tolist() for line in ax.lines if line.get_marker() == "D"]
    assert points == [[0.0, 0.6], [0.0, 0.8]]
    assert len(ax.collections) == 1  # one error bar: the second interval is NaN
    np.testing.assert_allclose(ax.collections[0].get_segments()[0][:, 1], [0.55, 0.62])
    assert ax.get_xscale() == "symlog" and ax.get_xlim()[0] < 0
    plt.close(fig)
