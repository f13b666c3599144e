"""The attack zoo: each attack against brute force / closed forms / planted signals; the zoo's checks and tables."""

import numpy as np
import pytest
import torch

from mia_lib import config, data, metrics, models, pool, signals, train
from mia_lib.attacks import calibrated, gradnorm, lira, rmia, shokri, threshold, zoo

K, N, C = 12, 240, 4


def _planted_logits(k=K, n=N, c=C, shift=3.0, seed=0, a=2):
    """Logits [K,N,A,C] whose true-class logit is ``shift`` higher when the model trained on the example."""
    rng = np.random.default_rng(seed)
    keep = train.balanced_keep(k, n, seed)
    y = np.arange(n) % c
    boost = 2 + 2 * rng.normal(size=(1, n)) + shift * keep  # [K, N]: easy/hard examples, members get more
    z = rng.normal(size=(k, n, a, c))
    z[np.arange(k)[:, None], np.arange(n)[None], :, y[None]] += boost[..., None]
    return z.astype(np.float32), keep, y


def _fake_pool(k=K, n=N, c=C, seed=0, group=None, shift=3.0):
    z, keep, y = _planted_logits(k, n, c, shift, seed)
    g = np.zeros(n, dtype=np.int8) if group is None else group.astype(np.int8)
    ds = data.Dataset(
        X=torch.zeros(n, 1, 2, 2),
        y=torch.as_tensor(y),
        group=torch.as_tensor(g),
        name="fake",
        n_classes=c,
        flippable=False,
    )
    cfg = config.Experiment(n_shadow=k)
    return pool.ShadowPool(cfg, ds, keep, z, np.ones(k), np.ones(k), 0.0)


# ---------------------------------------------------------------------------------------------------------------
# Song & Mittal


def test_class_thresholds_maximise_tpr_minus_fpr_brute_force():
    rng = np.random.default_rng(1)
    keep = rng.random((5, 60)) < 0.5
    y = np.arange(60) % 3
    stat = np.round(rng.normal(size=(5, 60)) - keep, 1)  # ties on purpose
    tau = threshold.class_thresholds(stat, keep, y)
    for c in range(3):
        v, m = stat[:, y == c].ravel(), keep[:, y == c].ravel()
        gains = [(m & (v <= t)).sum() / m.sum() - (~m & (v <= t)).sum() / (~m).sum() for t in np.unique(v)]
        got = (m & (v <= tau[c])).sum() / m.sum() - (~m & (v <= tau[c])).sum() / (~m).sum()
        assert got == pytest.approx(max(gains))
        assert not np.isin(tau[c], v) or tau[c] == v.max()  # strictly between two observed values


def test_class_thresholds_missing_class_and_one_sided_class():
    keep = np.array([[True, False, True], [False, True, False]])
    tau = threshold.class_thresholds(np.ones((2, 3)), keep, np.array([0, 0, 2]), n_classes=4)
    assert np.isnan(tau[1]) and np.isnan(tau[3]) and np.isfinite(tau[[0, 2]]).all()
    keep[1, 2] = True
    with pytest.raises(ValueError, match="class 2 has 2 IN and 0 OUT"):
        threshold.class_thresholds(np.ones((2, 3)), keep, np.array([0, 0, 2]))


@pytest.mark.parametrize("modified", [True, False])
def test_entropy_attack_leaves_target_out_and_finds_planted_signal(modified):
    z, keep, y = _planted_logits()
    scores = threshold.entropy_attack(z, keep, y, target_ids=[0, 5], modified=modified)
    stat = (signals.modified_entropy if modified else lambda z_, _: signals.entropy(z_))(z[:, :, 0], y)
    for i, t in enumerate([0, 5]):
        others = [k for k in range(K) if k != t]
        tau = threshold.class_thresholds(stat[others], keep[others], y)
        np.testing.assert_allclose(scores[i], tau[y] - stat[t])
    assert metrics.auroc(scores, keep[[0, 5]]) > 0.75


# ---------------------------------------------------------------------------------------------------------------
# Sablayrolles / Watson


@pytest.mark.parametrize("reference", ["both", "out"])
def test_calibrated_loss_equals_brute_force(reference):
    rng = np.random.default_rng(2)
    keep = train.balanced_keep(8, 50, 0)
    loss = rng.exponential(size=(8, 50)) + 2.0 * ~keep
    scores = calibrated.calibrated_loss(loss, keep, target_ids=[1, 6], shadow_ids=range(1, 8), reference=reference)
    for i, t in enumerate([1, 6]):
        s = [k for k in range(1, 8) if k != t]
        ls, kp = loss[s], keep[s]
        mu_in = np.array([ls[kp[:, n], n].mean() for n in range(50)])
        mu_out = np.array([ls[~kp[:, n], n].mean() for n in range(50)])
        offset = 0.5 * (mu_in + mu_out) if reference == "both" else mu_out
        np.testing.assert_allclose(scores[i], offset - loss[t], atol=1e-10)
    assert metrics.auroc(scores, keep[[1, 6]]) > 0.9


def test_calibrated_loss_errors():
    keep = train.balanced_keep(2, 10, 0)
    with pytest.raises(ValueError, match="at least 1 IN"):
        calibrated.calibrated_loss(np.ones((2, 10)), keep, reference="both")
    with pytest.raises(ValueError, match="reference must be"):
        calibrated.calibrated_loss(np.ones((2, 10)), keep, reference="median")


# ---------------------------------------------------------------------------------------------------------------
# Shokri


def test_shokri_features_are_true_class_then_sorted_log_probs():
    z = np.array([[[[1.0, 3.0, 2.0]]]])  # [K=1, N=1, A=1, C=3]
    f = shokri.features(z, np.array([0]))
    logp = torch.log_softmax(torch.tensor([1.0, 3.0, 2.0], dtype=torch.float64), 0).numpy()
    np.testing.assert_allclose(f[0, 0], [logp[0], logp[1], logp[2]])


@pytest.mark.parametrize("per_class", [False, True])
def test_shokri_learns_planted_signal(per_class):
    z, keep, y = _planted_logits(shift=4.0)
    scores = shokri.shokri(z, keep, y, target_ids=range(6, 12), per_class=per_class, n_train=2000, max_iter=100)
    assert scores.shape == (6, N) and np.isfinite(scores).all()
    assert metrics.auroc(scores, keep[6:]) > 0.8


def test_shokri_never_trains_on_the_targets():
    z, keep, y = _planted_logits()
    kw = dict(target_ids=[0, 1], shadow_ids=range(2, K), n_folds=1, n_train=1000, max_iter=50, seed=3)
    a = shokri.shokri(z, keep, y, **kw)
    flipped = keep.copy()
    flipped[:2] = ~flipped[:2]  # the targets' membership labels must not matter
    b = shokri.shokri(z, flipped, y, **kw)
    np.testing.assert_array_equal(a, b)
    c = shokri.shokri(z, keep, y, **{**kw, "shadow_ids": range(0, K)})  # targets dropped from their fold's training
    np.testing.assert_array_equal(a, c)


def test_shokri_logit_matches_predict_proba():
    z, keep, y = _planted_logits()
    rng = np.random.default_rng(0)
    feats = shokri.features(z, y)
    net = shokri._fit(feats[2:], keep[2:], 1000, 16, 50, rng)
    logit = shokri._logit(net, feats[:2])
    proba = net.predict_proba(feats[:2].reshape(-1, C))[:, 1].reshape(2, N)
    np.testing.assert_allclose(1 / (1 + np.exp(-logit)), proba, rtol=1e-6, atol=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# RMIA


def _rmia_brute(p, keep, t, a, gamma, online):
    """The paper's definition, one (x, z) pair at a time, population = the target's OUT examples."""
    k, n, views = p.shape
    s = [j for j in range(k) if j != t]
    score = np.zeros(n)
    for v in range(views):
        pr = np.empty(n)
        for x in range(n):
            outs = [p[j, x, v] for j in s if not keep[j, x]]
            ins = [p[j, x, v] for j in s if keep[j, x]]
            pr[x] = 0.5 * (np.mean(ins) + np.mean(outs)) if online else 0.5 * ((1 + a) * np.mean(outs) + 1 - a)
        ratio = p[t, :, v] / pr
        pop = np.flatnonzero(~keep[t])
        for x in range(n):
            score[x] += np.mean([ratio[x] / ratio[zz] >= gamma for zz in pop]) / views
    return score


@pytest.mark.parametrize("online", [False, True])
def test_rmia_equals_the_definition(online):
    z, keep, y = _planted_logits(k=6, n=40)
    p = rmia.true_class_prob(z, y)
    scores = rmia.rmia(z, keep, y, target_ids=[2, 4], a=0.4, gamma=1.5, online=online)
    for i, t in enumerate([2, 4]):
        np.testing.assert_allclose(scores[i], _rmia_brute(p, keep, t, 0.4, 1.5, online), atol=1e-12)


def test_rmia_finds_planted_signal_and_tunes_a():
    z, keep, y = _planted_logits()
    scores = rmia.rmia(z, keep, y, target_ids=range(6, 12))
    assert ((scores >= 0) & (scores <= 1)).all()
    assert metrics.auroc(scores, keep[6:]) > 0.75
    best, aucs = rmia.tune_offline_a(z, keep, y, reference_id=0)
    assert best in aucs and aucs[best] == max(aucs.values()) and len(aucs) == 11


def test_rmia_population_and_errors():
    z, keep, y = _planted_logits(k=4, n=30)
    s = rmia.rmia(z, keep, y, target_ids=[0], population_ids=[3], gamma=1.0)
    assert set(np.unique(s)) <= {0.0, 0.5, 1.0}  # one z, two views: fractions of 1/2
    with pytest.raises(ValueError, match="a must lie"):
        rmia.rmia(z, keep, y, a=1.5)
    with pytest.raises(ValueError, match="RMIA online needs at least 1"):
        rmia.rmia(z[:2], train.balanced_keep(2, 30, 0), y, online=True)


# ---------------------------------------------------------------------------------------------------------------
# Gradient norm (white-box)


@pytest.mark.parametrize("name", ["mlp", "cnn32", "resnet9"])
def test_per_example_grad_norm_equals_autograd_loop(name, monkeypatch):
    if name != "resnet9":  # Opacus's ghost norms must serve the models it supports (100x faster on the MLP)
        monkeypatch.setattr(gradnorm, "_functorch_norms", lambda *a: pytest.fail("fell back to functorch"))
    torch.manual_seed(0)
    m = models.build(name, (1, 8, 8), 10)
    if name == "resnet9":  # give BatchNorm non-trivial running statistics (the functorch path)
        m.train()
        m(torch.rand(16, 1, 8, 8))
    m.eval()
    X, y = torch.rand(11, 1, 8, 8), torch.randint(0, 10, (11,))
    got = gradnorm.per_example_grad_norm(m, X, y, batch_size=4)
    ref = []
    for i in range(11):
        m.zero_grad()
        torch.nn.functional.cross_entropy(m(X[i : i + 1]), y[i : i + 1]).backward()
        ref.append(torch.sqrt(sum(p.grad.pow(2).sum() for p in m.parameters())).item())
    np.testing.assert_allclose(got, ref, rtol=1e-4)
    assert not any(mod._forward_hooks or mod._backward_hooks for mod in m.modules())  # the caller's model is untouched


@pytest.fixture(scope="module")
def tiny_pool(tmp_path_factory):
    cfg = config.Experiment(
        dataset="digits", n_data=160, n_shadow=6, epochs=25, batch_size=32, n_queries=2, save_params=True, device="cpu"
    )
    return pool.load_or_train(cfg, progress=False, store=tmp_path_factory.mktemp("pool"))


def test_gradient_norm_on_a_pool(tiny_pool):
    s = gradnorm.gradient_norm(tiny_pool, target_ids=[1, 4], batch_size=64)
    assert s.shape == (2, 160) and (s <= 0).all()
    ref = gradnorm.per_example_grad_norm(tiny_pool.model(4), tiny_pool.dataset.X, tiny_pool.dataset.y)
    np.testing.assert_allclose(s[1], -ref)
    assert metrics.auroc(s, tiny_pool.keep[[1, 4]]) > 0.55  # members have smaller gradients


def test_gradient_norm_needs_params():
    with pytest.raises(ValueError, match="save_params=True"):
        gradnorm.gradient_norm(_fake_pool())


# ---------------------------------------------------------------------------------------------------------------
# The zoo


def test_zoo_scores_match_the_attack_functions():
    p = _fake_pool()
    t = np.arange(6, 12)
    got = zoo.attack_scores(
        p,
        ["lira_online", "lira_offline", "loss", "calibrated_out", "rmia"],
        target_ids=t,
        options={"rmia": {"gamma": 1.0}},
    )
    ref = lira.lira_scores(p.phi, p.keep, t, variants=["online", "offline"])
    np.testing.assert_array_equal(got["lira_online"], ref["online"])
    np.testing.assert_array_equal(got["lira_offline"], ref["offline"])
    np.testing.assert_array_equal(got["loss"], -p.loss[t])
    np.testing.assert_array_equal(got["calibrated_out"], calibrated.calibrated_loss(p.loss, p.keep, t, None, "out"))
    np.testing.assert_array_equal(got["rmia"], rmia.rmia(p.logits, p.keep, p.y, t, gamma=1.0))


def test_zoo_run_gives_a_tidy_table():
    group = np.arange(N) % 5 == 0
    p = _fake_pool(group=group)
    table = zoo.run(p, ["loss", "mentr", "calibrated", "lira_online"], target_ids=range(6, 12), n_boot=20)
    assert list(table["attack"].unique()) == ["loss", "mentr", "calibrated", "lira_online"]
    assert list(table["group"].unique()) == ["All", "Under-represented"]
    assert len(table) == 8
    under = table[table.group == "Under-represented"]
    assert (under["n_examples"] == group.sum()).all() and (under["n_members"] == p.keep[6:, group].sum()).all()
    assert ((table["auroc_lo"] <= table["auroc"]) & (table["auroc"] <= table["auroc_hi"])).all()
    lira_all = table[(table.attack == "lira_online") & (table.group == "All")].iloc[0]
    s = lira.lira(p.phi, p.keep, range(6, 12))
    assert lira_all["auroc"] == pytest.approx(metrics.auroc(s, p.keep[6:]))
    assert lira_all["tpr_at_0.1pct_fpr"] == pytest.approx(metrics.summary(s, p.keep[6:])["tpr_at_0.1pct_fpr"])
    ci = metrics.bootstrap_ci(s, p.keep[6:], n_boot=20, seed=0)
    assert (lira_all["auroc"], lira_all["auroc_lo"], lira_all["auroc_hi"]) == ci["auroc"]
    assert lira_all["auroc"] > table[(table.attack == "loss") & (table.group == "All")].iloc[0]["auroc"]
    no_ci = zoo.evaluate({"lira_online": s}, p.keep[6:], n_boot=0)
    assert no_ci.loc[0, "auroc"] == lira_all["auroc"] and np.isnan(no_ci.loc[0, "auroc_lo"])


def test_zoo_one_class_group_gives_nan_row():
    p = _fake_pool()
    s = {"loss": threshold.loss_attack(p.loss, [0])}
    row = zoo.evaluate(s, p.keep[[0]], {"one": [int(np.flatnonzero(p.keep[0])[0])]}, n_boot=5).iloc[0]
    assert row["n_members"] == 1 and np.isnan(row["auroc"])


def test_zoo_errors():
    p = _fake_pool()
    with pytest.raises(ValueError, match="unknown attack"):
        zoo.run(p, ["loss", "lira"])
    with pytest.raises(ValueError, match="needs at least 2 IN and 2 OUT shadow models"):
        zoo.run(p, ["lira_online"], shadow_ids=[0, 1, 2, 3])
    small = _fake_pool(k=4)
    with pytest.raises(ValueError, match="'lira_online' needs at least 2 IN"):
        zoo.attack_scores(small, ["loss", "lira_online"])
    zoo.check(small, ["loss", "calibrated", "rmia", "rmia_online"])  # one IN and one OUT shadow suffice
    with pytest.raises(ValueError, match="group 'empty' has no examples"):
        zoo.run(p, ["loss"], groups={"All": np.ones(N, bool), "empty": np.zeros(N, bool)})
    with pytest.raises(ValueError, match="white-box"):
        zoo.run(p, ["gradnorm"])
    assert zoo.shadow_counts(p.keep, [0]) == (K // 2 - 1, K // 2 - 1)


def test_by_setting_and_seed_layout():
    group = np.arange(N) % 4 == 0
    p = _fake_pool(group=group)
    t = zoo.evaluate(
        zoo.attack_scores(p, ["loss", "lira_online"], target_ids=range(6, 12)),
        p.keep[6:],
        {"All": np.ones(N, bool), "random": group, "few": np.arange(N) < 8},
        n_boot=10,
    )
    long = zoo.by_setting(t, {"X (random)": "random", "X (few)": "few"})
    assert len(long) == 8 and set(long.group) == {"All", "Under-represented"}
    got = long[(long.setting == "X (few)") & (long.group == "Under-represented") & (long.attack == "loss")]
    want = t[(t.group == "few") & (t.attack == "loss")]
    assert got["auroc"].item() == want["auroc"].item()
    nums = zoo.seed_layout(long, ci=False)
    assert list(nums.index) == [
        ("Yeom et al. (loss)", "X (random)"),
        ("Yeom et al. (loss)", "X (few)"),
        ("LiRA online", "X (random)"),
        ("LiRA online", "X (few)"),
    ]
    assert nums.loc[("LiRA online", "X (few)"), ("AUROC", "Under-represented")] == pytest.approx(
        t[(t.group == "few") & (t.attack == "lira_online")]["auroc"].item()
    )
    assert nums.loc[("LiRA online", "X (few)"), ("TPR @ 0.1% FPR", "All")] == pytest.approx(
        t[(t.group == "All") & (t.attack == "lira_online")]["tpr_at_0.1pct_fpr"].item()
    )
    text = zoo.seed_layout(long)
    assert text.iloc[0, 0].startswith(f"{nums.iloc[0, 0]:.2f} [") and text.iloc[0, 2].endswith("]")
    with pytest.raises(ValueError, match="no group 'missing'"):
        zoo.by_setting(t, {"Y": "missing"})


def _kept_fixture(tie: bool = False):
    """One planted pool: 600 examples, the first 200 'random' under-represented, 50 of them 'singletons'; LiRA is
    strong on them, the loss attack weak everywhere; with ``tie`` a second attack is perfect wherever LiRA is."""
    rng = np.random.default_rng(0)
    t, n = 6, 600
    m = rng.random((t, n)) < 0.5
    random_, singles = np.arange(n) < 200, np.arange(n) < 50
    lira = rng.normal(size=(t, n)) + m * (0.3 + 1.5 * random_ + 8.0 * singles)
    loss = rng.normal(size=(t, n)) + 0.2 * m
    scores = {"loss": loss, "lira_online": lira}
    if tie:
        scores["calibrated"] = np.where(singles, lira + 100.0 * m, loss)
    groups = {"All": np.ones(n, bool), "random": random_, "singletons": singles}
    return {"a": (scores, m, groups)}


def test_claims_are_paired_verdicts():
    from mia_lib import claims as cl

    out = zoo.claims(_kept_fixture(), n_boot=100)
    under = out["under_beats_all"].set_index(["selection", "attack"])
    assert under.loc[("singletons", "lira_online"), "verdict"].verdict == cl.SUPPORTED
    assert under.loc[("random", "loss"), "verdict"].verdict != cl.SUPPORTED  # no planted edge for the loss attack
    assert out["verdicts"]["under_beats_all"].verdict != cl.SUPPORTED
    pairs = out["singletons_beat_random"].set_index("attack")
    assert pairs.loc["lira_online", "verdict"].verdict == cl.SUPPORTED
    best = out["strongest"].set_index("selection")
    assert best.loc["singletons", "verdict"].verdict == cl.SUPPORTED and best.loc["singletons", "rivals"] == []
    assert out["verdicts"]["strongest_everywhere"].verdict == cl.SUPPORTED


def test_claims_a_tie_at_one_is_not_a_win():
    from mia_lib import claims as cl

    best = zoo.claims(_kept_fixture(tie=True), n_boot=100)["strongest"].set_index("selection")
    assert best.loc["singletons", "rivals"] == ["calibrated"]  # both perfect: tied, not beaten
    assert best.loc["singletons", "verdict"].verdict == cl.NOT_SUPPORTED
    assert tuple(best.loc["singletons", "diff"]) == (0.0, 0.0, 0.0)


def test_cells_flattens_by_setting():
    group = np.arange(N) % 4 == 0
    p = _fake_pool(group=group)
    t = zoo.evaluate(
        zoo.attack_scores(p, ["loss"], target_ids=range(6, 12)),
        p.keep[6:],
        {"All": np.ones(N, bool), "random": group},
        n_boot=5,
    )
    c = zoo.cells(zoo.by_setting(t, {"X (random)": "random"}).assign(source="x"))
    assert len(c) == 1 and c.loc[0, "selection"] == "random" and c.loc[0, "source"] == "x"
    assert c.loc[0, "auroc_under"] == t[t.group == "random"]["auroc"].item()
    assert c.loc[0, "tpr_all_hi"] == t[t.group == "All"]["tpr_at_0.1pct_fpr_hi"].item()


def test_zoo_options_reach_the_attack():
    p = _fake_pool()
    with pytest.raises(TypeError):
        zoo.attack_scores(p, ["loss"], options={"loss": {"bogus": 1}})
    a = zoo.attack_scores(p, ["shokri"], target_ids=[7], options={"shokri": {"n_train": 400, "seed": 1}})
    b = shokri.shokri(p.logits, p.keep, p.y, [7], n_train=400, seed=1)
    np.testing.assert_array_equal(a["shokri"], b)


# ---------------------------------------------------------------------------------------------------------------
# the lecture's baseline (member iff classified correctly) and its two claims


def test_baseline_is_correctness_and_finds_a_generalization_gap():
    from mia_lib.attacks import baseline

    rng = np.random.default_rng(0)
    keep = rng.random((8, 2000)) < 0.5
    correct = rng.random((8, 2000)) < np.where(keep, 0.95, 0.7)  # train accuracy 95%, test accuracy 70%
    s = baseline.correctness_attack(correct, [2, 5])
    np.testing.assert_array_equal(s, correct[[2, 5]].astype(float))
    auc = metrics.auroc(s, keep[[2, 5]])
    assert auc == pytest.approx(0.5 + (0.95 - 0.7) / 2, abs=0.02)  # one ROC point: (1 + TPR − FPR) / 2
    null = baseline.correctness_attack(rng.random((8, 2000)) < 0.8)
    assert abs(metrics.auroc(null, keep) - 0.5) < 0.03
    p = _fake_pool()
    np.testing.assert_array_equal(zoo.attack_scores(p, ["baseline"], target_ids=[3])["baseline"], p.correct[[3]])


def _baseline_kept(gap: float, strong: float):
    """Per-pair scores: the baseline (correct with 90% / 80%), an attack ``gap`` better in balanced accuracy on
    average, and LiRA whose members include a share ``strong`` far above every non-member."""
    rng = np.random.default_rng(1)
    t, n = 6, 1500
    m = rng.random((t, n)) < 0.5
    base = (rng.random((t, n)) < np.where(m, 0.9, 0.8)).astype(float)
    other = base + rng.normal(scale=0.01, size=(t, n)) + 2 * gap * np.where(m, 1.0, 0.0) * (rng.random((t, n)) < 0.5)
    lira = rng.normal(size=(t, n)) + np.where(m & (rng.random((t, n)) < strong), 50.0, 0.0)
    return {"x": ({"baseline": base, "loss": other, "lira_online": lira}, m, {"All": np.ones(n, bool)})}


def test_baseline_claims_verdicts_follow_planted_gaps():
    from mia_lib import claims as cl

    near = zoo.baseline_claims(_baseline_kept(gap=0.0, strong=0.05), n_boot=100)
    row = near["table"].iloc[0]
    assert row["tpr_baseline"] == 0.0 and row["tpr_strongest"] > 0.03
    assert near["verdicts"]["beats_at_low_fpr"].verdict == cl.SUPPORTED
    assert near["verdicts"]["hard_to_beat"].verdict == cl.SUPPORTED  # the best attack is the baseline plus noise
    assert row["best"] == "loss" and abs(row["bacc_diff"].value) < 0.01
    far = zoo.baseline_claims(_baseline_kept(gap=0.15, strong=0.0), n_boot=100)
    assert far["verdicts"]["hard_to_beat"].verdict == cl.NOT_SUPPORTED
    assert far["verdicts"]["beats_at_low_fpr"].verdict == cl.NOT_SUPPORTED  # LiRA at chance: TPR ≈ FPR ≤ 0.01
    assert far["table"].iloc[0]["bacc_diff"].lo > 0.05
