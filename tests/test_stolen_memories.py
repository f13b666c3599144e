"""Stolen Memories: the linear Bayes-optimal attack against its closed form, slicing and local linearisation, and
the layer-wise attack on a tiny pool; the activation signals on the same pool."""

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import log_softmax

from mia_lib import config, metrics, models, pool
from mia_lib.attacks import activations
from mia_lib.attacks import stolen_memories as sm


def _gaussian_task(rng, d=40, c=5, n_per=20, n_aux=20000):
    mu = rng.normal(size=(c, d)) * 0.5
    sd = np.exp(rng.normal(size=d) * 0.3)

    def sample(m):
        y = np.repeat(np.arange(c), m // c)
        return mu[y] + rng.normal(size=(y.size, d)) * sd, y

    return mu, sd, sample(n_per * c), sample(n_per * c), sample(n_aux)


def test_gaussian_linear_model_is_the_bayes_posterior():
    rng = np.random.default_rng(0)
    mu, sd, (x, y), _, _ = _gaussian_task(rng, d=6, c=3, n_per=30)
    W, b, var = sm.gaussian_linear_model(x, y, 3)
    means = np.stack([x[y == k].mean(0) for k in range(3)])
    prior = np.bincount(y) / y.size
    np.testing.assert_allclose(var, ((x - means[y]) ** 2).mean(0))
    # posterior from the class-conditional Gaussian densities (naive Bayes, shared variance), by scipy
    logjoint = np.stack([stats.norm.logpdf(x, means[k], np.sqrt(var)).sum(1) + np.log(prior[k]) for k in range(3)], 1)
    np.testing.assert_allclose(log_softmax(x @ W.T + b, axis=1), log_softmax(logjoint, axis=1), atol=1e-9)


def test_weights_only_attack_equals_closed_form_with_exact_parameters():
    rng = np.random.default_rng(1)
    mu, sd, (xs, ys), (xo, yo), _ = _gaussian_task(rng)
    X, y = np.concatenate([xs, xo]), np.concatenate([ys, yo])
    W_t, _, _ = sm.gaussian_linear_model(xs, ys, 5, var=sd**2)
    mu_hat = np.stack([xs[ys == k].mean(0) for k in range(5)])
    ref = (stats.norm.logpdf(X, mu_hat[y], sd) - stats.norm.logpdf(X, mu[y], sd)).sum(1)
    closed = sm.bayes_membership_llr(X, y, mu_hat, mu, sd**2)
    np.testing.assert_allclose(closed, ref, rtol=1e-9, atol=1e-9)
    # a proxy that knows the population exactly turns the weights-only attack into the closed form
    np.testing.assert_allclose(sm.linear_attack(X, y, W_t, mu / sd**2, sd**2), closed, rtol=1e-9, atol=1e-8)


@pytest.mark.parametrize("seed", [2, 3])
def test_linear_attack_ranks_like_the_bayes_optimal_test(seed):
    rng = np.random.default_rng(seed)
    mu, sd, (xs, ys), (xo, yo), (xa, ya) = _gaussian_task(rng)
    X, y = np.concatenate([xs, xo]), np.concatenate([ys, yo])
    member = np.r_[np.ones(ys.size, bool), np.zeros(yo.size, bool)]
    W_t, _, _ = sm.gaussian_linear_model(xs, ys, 5, var=sd**2)
    W_p, _, var = sm.gaussian_linear_model(xa, ya, 5)  # the attacker only has auxiliary data
    scores = sm.linear_attack(X, y, W_t, W_p, var)
    mu_hat = np.stack([xs[ys == k].mean(0) for k in range(5)])
    closed = sm.bayes_membership_llr(X, y, mu_hat, mu, sd**2)
    assert stats.spearmanr(scores, closed).statistic >= 0.95
    _, lo, hi = metrics.bootstrap_ci(closed, member, n_boot=300, seed=seed)["auroc"]
    assert lo <= metrics.auroc(scores, member) <= hi
    assert metrics.auroc(scores, member) > 0.7  # the planted overfitting is really there


def test_gaussian_demo_matches_closed_form():
    demo = sm.gaussian_membership_demo(d=30, n_classes=4, n_per_class=15, n_aux=8000, seed=0)
    assert stats.spearmanr(demo["scores"], demo["closed_form"]).statistic >= 0.95
    assert demo["is_member"].sum() == (~demo["is_member"]).sum() == 60


def test_linear_attack_terms_by_hand():
    A = np.array([[1.0, 2.0], [0.5, -1.0]])
    wt = np.array([[1.0, 0.0], [2.0, 1.0]])
    wp = np.array([[0.0, 1.0], [1.0, 1.0]])
    lin, quad = sm.linear_attack_terms(A, wt, wp, np.array([2.0, 4.0]))
    np.testing.assert_allclose(lin, [1 * 1 + 2 * -1, 0.5 * 1 + 0.0])
    np.testing.assert_allclose(quad, [0.5 * (2 * 1 + 4 * -1), 0.5 * (2 * 3 + 0)])


@pytest.mark.parametrize("name,shape", [("mlp", (1, 8, 8)), ("cnn32", (1, 8, 8))])
def test_split_composes_to_the_model(name, shape):
    torch.manual_seed(0)
    model = models.build(name, shape, 10).eval()
    x = torch.rand(5, *shape)
    names = sm.layer_names(model)
    assert names[0] == "input" and len(names) == (2 if name == "mlp" else 4)
    for layer in range(len(names)):
        h, g = sm.split(model, layer)
        torch.testing.assert_close(g(h(x)), model(x))
    with pytest.raises(ValueError):
        sm.split(model, len(names))


def test_local_linear_is_the_centred_jacobian_row():
    torch.manual_seed(1)
    model = models.build("mlp", (1, 8, 8), 10).eval()
    x, y = torch.rand(7, 1, 8, 8), torch.randint(0, 10, (7,))
    for layer in (0, 1):
        h, g = sm.split(model, layer)
        a = h(x).detach()
        w, off = sm.local_linear(g, a, y, batch_size=3)
        for i in range(7):
            jac = torch.autograd.functional.jacobian(lambda v: g(v[None])[0], a[i]).flatten(1).double()
            row = (jac[y[i]] - jac.mean(0)).numpy()
            np.testing.assert_allclose(w[i], row, rtol=1e-5, atol=1e-6)
            z = g(a[i : i + 1])[0].double()
            # a ReLU network is exactly linear around a point: w·a + offset gives back the centred logit
            np.testing.assert_allclose(
                w[i] @ a[i].flatten().double().numpy() + off[i], (z[y[i]] - z.mean()).item(), rtol=1e-5, atol=1e-5
            )
    fc = sm.split(model, 1)[1]
    w, off = sm.local_linear(fc, torch.rand(4, 256), torch.tensor([0, 3, 3, 9]))
    W, b = fc.weight.detach().double(), fc.bias.detach().double()
    np.testing.assert_allclose(w[1], (W[3] - W.mean(0)).numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(off[3], (b[9] - b.mean()).item(), rtol=1e-5, atol=1e-6)


def test_pooled_variance_by_hand():
    A = np.array([[0.0], [2.0], [10.0], [14.0]])
    np.testing.assert_allclose(sm.pooled_variance(A, np.array([0, 0, 1, 1]), 2), [(1 + 1 + 4 + 4) / 4])


def test_aux_halves_split_exactly_and_deterministically():
    a, b, c = sm.aux_halves(101, 0), sm.aux_halves(101, 0), sm.aux_halves(101, 1)
    assert a.sum() == 50 and np.array_equal(a, b) and not np.array_equal(a, c)


def test_fewest_shadows_equals_brute_force():
    rng = np.random.default_rng(0)
    keep = rng.random((12, 30)) < 0.5
    ids = np.arange(12)
    n = sm.fewest_shadows(keep, ids)
    for k in range(1, 13):
        cin = keep[:k].sum(0)
        ok = (cin >= 2).all() and (k - cin >= 2).all()
        if k < (n or 13):
            assert not ok
    if n is not None:
        cin = keep[:n].sum(0)
        assert (cin >= 2).all() and (n - cin >= 2).all()
    assert sm.fewest_shadows(np.ones((4, 3), bool), np.arange(4)) is None


@pytest.fixture(scope="module")
def tiny_pool(tmp_path_factory):
    cfg = config.Experiment(
        dataset="digits", n_data=300, n_shadow=8, epochs=15, n_queries=1, shard_size=8, save_params=True, device="cpu"
    )
    return pool.load_or_train(cfg, progress=False, store=tmp_path_factory.mktemp("cache"))


def test_stolen_memories_finds_members_of_a_tiny_pool(tiny_pool):
    res = sm.stolen_memories(tiny_pool, target_ids=[4, 5, 6, 7], practice_ids=[0, 1, 2, 3])
    keep = tiny_pool.keep[4:]
    assert res["scores"].shape == (4, 300) and np.isfinite(res["scores"]).all()
    assert res["practice_scores"].shape == (4, 300) and res["layer_names"] == ["input", "hidden"]
    assert res["features"].shape == (4, 300, 2, 3) and res["layer_scores"].shape == (4, 300, 2)
    assert metrics.bootstrap_ci(res["scores"], keep, n_boot=100)["auroc"].lo > 0.5
    cal = res["calibration"]  # one scorer: fitted on practice models 1 and 3, scoring 0, 2 and the targets
    assert cal["practice_scores"].shape == (2, 300) and cal["target_scores"].shape == (4, 300)
    assert (cal["practice_member"] == tiny_pool.keep[[0, 2]]).all()
    np.testing.assert_allclose(cal["practice_scores"], res["practice_scores"][[0, 2]])
    with pytest.raises(ValueError):
        sm.stolen_memories(tiny_pool, target_ids=[4, 5], practice_ids=[3, 4])


def test_features_do_not_depend_on_chunking(tiny_pool):
    a = sm.stolen_memories_features(tiny_pool, [0, 5, 6], chunk=1)
    b = sm.stolen_memories_features(tiny_pool, [0, 5, 6], chunk=3)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_activation_signals_by_hand(tiny_pool):
    sig = activations.activation_signals(tiny_pool, model_ids=[2])
    m = tiny_pool.model(2)
    with torch.no_grad():
        a = torch.relu(m.fc1(tiny_pool.dataset.X.flatten(1))).double()
    np.testing.assert_allclose(sig["act_norm"][0], a.norm(dim=1).numpy(), rtol=1e-6)
    np.testing.assert_allclose(sig["act_active"][0], (a > 0).double().mean(1).numpy())
    with pytest.raises(ValueError):
        activations.activation_signals(tiny_pool, model_ids=[2], layer=0)


def test_each_example_is_compared_with_the_proxy_of_the_other_half(tiny_pool):
    torch.manual_seed(3)
    model = tiny_pool.model(1)
    h, g = sm.split(model, 1)
    a = h(tiny_pool.dataset.X).detach()
    proxy_a, proxy_b = torch.nn.Linear(256, 10), torch.nn.Linear(256, 10)  # trained on half A, half B
    half_a = sm.aux_halves(300, 0)
    terms = sm._slice_terms(tiny_pool, model, 1, a, [proxy_a, proxy_b], half_a)
    y = tiny_pool.dataset.y.numpy()

    def centred(lin):
        W, b = lin.weight.detach().double().numpy(), lin.bias.detach().double().numpy()
        return (W - W.mean(0))[y], (b - b.mean())[y]

    (w_t, b_t), (w_a, b_a), (w_b, b_b) = centred(g), centred(proxy_a), centred(proxy_b)
    w_p = np.where(half_a[:, None], w_b, w_a)
    A = a.double().numpy()
    var = sm.pooled_variance(A, y, 10)
    np.testing.assert_allclose(terms[:, 0], (A * (w_t - w_p)).sum(1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(terms[:, 1], 0.5 * (var * (w_t**2 - w_p**2)).sum(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(terms[:, 2], b_t - np.where(half_a, b_b, b_a), rtol=1e-5, atol=1e-5)
