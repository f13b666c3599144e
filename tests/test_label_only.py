"""Label-only attacks: they see labels only (every oracle here is a plain function that never computes a logit),
keep their query budget, find planted signals, stay at chance on null data, and run from a pool through the zoo."""

import zlib

import numpy as np
import pytest
import torch

from mia_lib import config, data, metrics, pool, train
from mia_lib.attacks import label_only, zoo


class CountingLabels:
    """A label oracle from a rule ``x [M, D] -> labels [M]``: counts every input it answers, returns labels only."""

    def __init__(self, rule):
        self.rule, self.queries, self.calls = rule, 0, []

    def __call__(self, x):
        x = torch.as_tensor(x)
        self.queries += x.shape[0]
        self.calls.append(x.shape[0])
        return torch.as_tensor(self.rule(x.reshape(x.shape[0], -1)), dtype=torch.int64)


def _linear_rule(w):
    return lambda x: (x.double() @ w.double() > 0).long()


def _margin_data(n, dim, member_margin, seed=0):
    """Examples of a linear rule w·x > 0 in ``dim`` dimensions: members at distance ``member_margin`` from the
    boundary, non-members at distance U(0.05, 2); every example on its label's side. Images [N, 1, 1, dim]."""
    rng = np.random.default_rng(seed)
    w = torch.as_tensor(rng.normal(size=dim))
    w /= w.norm()
    is_member = rng.random(n) < 0.5
    margin = np.where(is_member, member_margin(rng, n), rng.uniform(0.05, 2.0, n))
    y = rng.integers(0, 2, n)
    x = torch.as_tensor(rng.normal(size=(n, dim)))
    x -= (x @ w)[:, None] * w  # onto the boundary, then out to the margin on the label's side
    x += torch.as_tensor((2 * y - 1) * margin)[:, None] * w
    return x.float().view(n, 1, 1, dim), torch.as_tensor(y), w, is_member


# ---------------------------------------------------------------------------------------------------------------
# the oracle


def test_label_oracle_returns_argmax_labels_and_counts_inputs():
    lin = torch.nn.Linear(4, 3)
    oracle = label_only.LabelOracle(lambda x: lin(x.flatten(1)), chunk=3)
    x = torch.randn(7, 1, 2, 2)
    got = oracle(x)
    assert got.dtype == torch.int64 and got.shape == (7,)
    np.testing.assert_array_equal(got, lin(x.flatten(1)).argmax(-1).detach())
    oracle(x[:2])
    assert oracle.queries == 9
    assert not [a for a in vars(oracle) if not a.startswith("_") and a != "queries"]  # nothing else is public


# ---------------------------------------------------------------------------------------------------------------
# augmentations


def test_augmentation_attack_equals_brute_force_and_counts_queries():
    rng = np.random.default_rng(0)
    X = torch.as_tensor(rng.random((30, 1, 4, 4)), dtype=torch.float32)
    y = torch.as_tensor(rng.integers(0, 2, 30))
    rule = _linear_rule(torch.as_tensor(rng.normal(size=16)))
    oracle = CountingLabels(rule)
    got = label_only.augmentation_attack(oracle, X, y, n_views=5, chunk=7)
    views = data.query_views(X, 5, False)
    want = np.mean([(rule(views[a].flatten(1)) == y).numpy() for a in range(5)], axis=0)
    np.testing.assert_allclose(got, want)
    assert oracle.queries == 30 * 5
    cached = label_only.augmentation_from_labels(np.stack([rule(views[a].flatten(1)) for a in range(5)], -1)[None], y)
    np.testing.assert_allclose(cached[0], want)


def test_augmentation_attack_finds_a_memorizing_model():
    """The oracle memorizes the members: exact look-up of their views returns the true label; any other input gets
    a label drawn from its bytes. Members score 1; non-members about 1/C."""
    rng = np.random.default_rng(1)
    n, c = 400, 5
    X = torch.as_tensor(rng.random((n, 1, 4, 4)), dtype=torch.float32)
    y = torch.as_tensor(rng.integers(0, c, n))
    member = rng.random(n) < 0.5
    views = data.query_views(X[member], 5, False)
    table = {v.numpy().tobytes(): int(lab) for a in range(5) for v, lab in zip(views[a], y[member])}

    def rule(x):
        return [table.get(r.float().numpy().tobytes(), zlib.crc32(r.numpy().tobytes()) % c) for r in x]

    s = label_only.augmentation_attack(CountingLabels(rule), X, y, n_views=5)
    assert (s[member] == 1).all()
    assert metrics.auroc(s, member) > 0.9


def test_augmentation_attack_null_is_at_chance():
    rng = np.random.default_rng(2)
    n = 6000
    X = torch.as_tensor(rng.random((n, 1, 4, 4)), dtype=torch.float32)
    y = torch.as_tensor(rng.integers(0, 2, n))
    member = rng.random(n) < 0.5  # the model never saw anything: membership is a coin flip
    s = label_only.augmentation_attack(CountingLabels(_linear_rule(torch.as_tensor(rng.normal(size=16)))), X, y)
    assert abs(metrics.auroc(s, member) - 0.5) < 0.03


# ---------------------------------------------------------------------------------------------------------------
# boundary distance


def test_boundary_distance_brackets_the_true_crossing_in_one_dimension():
    """1-D inputs, rule x > 0, one direction u = ±1 per example: the boundary is at r* = |x| along −sign(x) and
    never along +sign(x). The estimate is r_max (censored) or within one bisection step above r*."""
    rng = np.random.default_rng(3)
    n, r_max, steps = 500, 1.0, 6
    x = rng.uniform(-0.9, 0.9, n)
    X = torch.as_tensor(x, dtype=torch.float32).view(n, 1, 1, 1)
    y = torch.as_tensor((x > 0).astype(np.int64))
    y[:5] = 1 - y[:5]  # five misclassified examples: distance 0
    oracle = CountingLabels(lambda z: (z[:, 0] > 0).long())
    dist, used = label_only.boundary_distance(
        oracle, X, y, n_directions=1, max_queries=2 + steps, r_max=r_max, clip=None, seed=0, chunk=64
    )
    assert (dist[:5] == 0).all() and (used[:5] == 1).all()
    rest, r_true = dist[5:], np.abs(x[5:])
    censored = rest == r_max
    assert 0.3 < censored.mean() < 0.7  # half the directions point away from the boundary
    ok = (rest[~censored] >= r_true[~censored] - 1e-6) & (rest[~censored] <= r_true[~censored] + r_max / 2**steps)
    assert ok.all()
    assert (used[5:][censored] == 2).all() and (used[5:][~censored] == 2 + steps).all()


@pytest.mark.parametrize("n_directions,max_queries", [(1, 3), (4, 25), (3, 20)])
def test_boundary_distance_keeps_its_query_budget(n_directions, max_queries):
    X, y, w, _ = _margin_data(300, 8, lambda rng, n: rng.uniform(0.05, 2.0, n), seed=4)
    oracle = CountingLabels(_linear_rule(w))
    _, used = label_only.boundary_distance(
        oracle, X, y, n_directions=n_directions, max_queries=max_queries, r_max=3.0, clip=None, chunk=50
    )
    assert used.max() <= max_queries and used.sum() == oracle.queries
    for i in range(5):  # one example at a time: the oracle itself counts that example's queries
        single = CountingLabels(_linear_rule(w))
        label_only.boundary_distance(
            single, X[i : i + 1], y[i : i + 1], n_directions, max_queries, r_max=3.0, clip=None, seed=i
        )
        assert 1 <= single.queries <= max_queries


def test_boundary_budget_too_small_is_refused():
    with pytest.raises(ValueError, match="at least 9"):
        label_only.n_bisection_steps(4, 8)
    assert label_only.n_bisection_steps(4, 25) == 5


def test_boundary_distance_finds_members_far_from_the_boundary():
    X, y, w, member = _margin_data(2000, 8, lambda rng, n: rng.uniform(2.0, 4.0, n), seed=5)
    dist, _ = label_only.boundary_distance(
        CountingLabels(_linear_rule(w)), X, y, n_directions=4, max_queries=25, r_max=6.0, clip=None
    )
    assert metrics.auroc(dist, member) > 0.7


def test_boundary_distance_null_is_at_chance():
    X, y, w, member = _margin_data(6000, 8, lambda rng, n: rng.uniform(0.05, 2.0, n), seed=6)
    dist, _ = label_only.boundary_distance(
        CountingLabels(_linear_rule(w)), X, y, n_directions=4, max_queries=25, r_max=3.0, clip=None
    )
    assert abs(metrics.auroc(dist, member) - 0.5) < 0.03


def test_boundary_distance_is_deterministic_and_clips_queries():
    X, y, w, _ = _margin_data(50, 8, lambda rng, n: rng.uniform(0.05, 2.0, n), seed=7)
    seen = []

    def rule(x):
        seen.append(x.clone())
        return _linear_rule(w)(x)

    a, _ = label_only.boundary_distance(CountingLabels(rule), X, y, clip=(-0.5, 0.5), r_max=2.0, seed=1)
    b, _ = label_only.boundary_distance(CountingLabels(_linear_rule(w)), X, y, clip=(-0.5, 0.5), r_max=2.0, seed=1)
    np.testing.assert_array_equal(a, b)
    assert all(s.min() >= -0.5 and s.max() <= 0.5 for s in seen[1:])  # every perturbed query is a valid input


# ---------------------------------------------------------------------------------------------------------------
# from a pool, through the zoo


@pytest.fixture(scope="module")
def tiny_pool(tmp_path_factory):
    cfg = config.Experiment(
        dataset="digits", n_data=160, n_shadow=6, epochs=25, batch_size=32, n_queries=2, save_params=True, device="cpu"
    )
    return pool.load_or_train(cfg, progress=False, store=tmp_path_factory.mktemp("pool"))


def test_zoo_label_only_attacks_on_a_pool(tiny_pool):
    p = tiny_pool
    got = zoo.attack_scores(
        p,
        ["label_only_aug", "label_only_boundary"],
        target_ids=[1, 4],
        options={"label_only_aug": {"n_views": 2}, "label_only_boundary": {"max_queries": 13, "n_directions": 2}},
    )
    assert got["label_only_aug"].shape == got["label_only_boundary"].shape == (2, 160)
    cached = label_only.augmentation_from_labels(p.logits[[1, 4]].argmax(-1), p.y)  # the pool's two cached views
    np.testing.assert_allclose(got["label_only_aug"], cached)
    oracle = label_only.LabelOracle(p.model(4))
    want, used = label_only.boundary_distance(oracle, p.dataset.X, p.y, n_directions=2, max_queries=13)
    np.testing.assert_allclose(got["label_only_boundary"][1], want)
    assert used.max() <= 13 and oracle.queries == used.sum()
    assert (want[~p.correct[4]] == 0).all() and (want[p.correct[4]] > 0).all()


def test_zoo_label_only_needs_views_or_params():
    k, n = 4, 20
    ds = data.Dataset(
        X=torch.zeros(n, 1, 2, 2), y=torch.zeros(n, dtype=torch.int64), group=torch.zeros(n, dtype=torch.int8),
        name="fake", n_classes=2, flippable=False,
    )  # fmt: skip
    keep = train.balanced_keep(k, n, 0)
    one_view = pool.ShadowPool(config.Experiment(n_shadow=k), ds, keep, np.zeros((k, n, 1, 2), np.float32), *[1] * 3)
    with pytest.raises(ValueError, match="needs query views"):
        zoo.check(one_view, ["label_only_aug"])
    with pytest.raises(ValueError, match="save_params=True"):
        zoo.check(one_view, ["label_only_boundary"])
    views = pool.ShadowPool(config.Experiment(n_shadow=k), ds, keep, np.zeros((k, n, 3, 2), np.float32), *[1] * 3)
    zoo.check(views, ["label_only_aug"])  # cached views are enough for the augmentation attack
    assert zoo.attack_scores(views, ["label_only_aug"], target_ids=[0])["label_only_aug"].shape == (1, n)
