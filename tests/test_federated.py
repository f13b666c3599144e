"""The federated simulation (mia_lib.federated) and the gradient-orthogonality attack (mia_lib.attacks.federated):
FedAvg against plain SGD, the closed-form per-example statistics against torch.func, the attack on a planted
member, determinism and the cache."""

from __future__ import annotations

import copy
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from mia_lib import cache, config, federated, train
from mia_lib.attacks import federated as fed_attack

CPU = torch.device("cpu")


def _toy(n=60, seed=0, d=8):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 1, d, d, generator=g)
    y = (X.flatten(1)[:, :10].argmax(1)).long()  # learnable labels
    return X, y


def _tiny(**changes) -> federated.Federation:
    cfg = config.Experiment(dataset="digits", n_data=120, n_shadow=4, seed=3, device="cpu")
    fed = federated.Federation(cfg, client_shares=(0.25, 0.75), hidden=16, rounds=3, local_steps=2, lr=0.3)
    return fed.replace(**changes)


# --- who holds what ----------------------------------------------------------------------------------------------


def test_client_groups_membership_and_client_masks():
    group = federated.client_groups(200, (0.1, 0.3, 0.6), seed=1)
    assert group.shape == (200,) and np.bincount(group).tolist() == [20, 60, 120]
    assert np.array_equal(group, federated.client_groups(200, (0.1, 0.3, 0.6), seed=1))
    assert not np.array_equal(group, federated.client_groups(200, (0.1, 0.3, 0.6), seed=2))
    keep = federated.membership(6, 200, seed=1)
    assert (keep.sum(0) == 3).all()
    masks = federated.client_keep(keep, group, 3).reshape(6, 3, 200)
    assert (masks.sum(1) == keep).all()  # disjoint clients whose union is the run's data
    for c in range(3):
        assert not masks[:, c, group != c].any()  # a client only holds its own candidates


def test_full_batches_weigh_each_client_to_its_mean():
    masks = np.array([[1, 0, 1, 1, 0], [0, 1, 0, 0, 0]], dtype=bool)
    idx, w = federated.full_batches(masks)
    assert idx.shape == (2, 3) and idx[0].tolist() == [0, 2, 3] and idx[1, 0] == 1
    assert torch.allclose(w.sum(1), torch.ones(2)) and (w[1, 1:] == 0).all()
    with pytest.raises(ValueError, match="no data"):
        federated.full_batches(np.zeros((1, 4), dtype=bool))


def test_federation_validation_and_key():
    fed = _tiny()
    assert fed.key() == _tiny().key() and fed.key().startswith("fed-")
    assert fed.key() != _tiny(hidden=17).key() and fed.key() != _tiny(batch_size=8).key()
    assert fed.key() == fed.replace(experiment=fed.experiment.replace(device="auto")).key()  # where, not what
    with pytest.raises(ValueError, match="sum to 1"):
        _tiny(client_shares=(0.5, 0.4))
    with pytest.raises(ValueError, match="MLP"):
        _tiny(experiment=fed.experiment.replace(model="cnn32"))
    quick = federated.Federation(config.Experiment()).quick()
    assert quick.n_runs == 8 and quick.rounds <= 12 and quick.local_steps <= 4


# --- FedAvg ------------------------------------------------------------------------------------------------------


def _params_close(a: dict, b: dict, atol=1e-6):
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=atol)


def test_fedavg_with_one_client_and_one_step_is_sgd_on_the_same_batches():
    X, y = _toy()
    keep = train.balanced_keep(2, len(y), 0)  # 2 runs, 1 client each
    seeds = federated.client_seeds(5, 2, 1)
    modules = federated.init_models(32, (1, 8, 8), 10, [11, 12])
    out = federated.fedavg(
        modules,
        X,
        y,
        keep,
        rounds=7,
        local_steps=1,
        lr=0.2,
        batch_size=8,
        seeds=seeds,
        dev=CPU,
        progress=False,
    )
    sched = federated.minibatches(keep, seeds, 7, 8).unsqueeze(0)  # [epochs=1, steps, K, B]
    recipe = train.Recipe(lr=0.2, momentum=0.0, batch_size=8)
    ref, _ = train.train_vmapped(modules, X, y, sched, recipe, CPU, progress=False)
    _params_close(out, ref)
    start, _ = stack_module_state(modules)
    assert max((out[k] - start[k]).abs().max().item() for k in out) > 1e-3  # it trained


def test_fedsgd_equals_full_batch_gradient_descent_on_the_union_of_the_clients():
    """FedSGD (one full-batch step per round) averages the clients' mean gradients with weights n_c / n: the mean
    gradient on all their data, so R rounds are R steps of centralized gradient descent."""
    X, y = _toy(n=50)
    group = federated.client_groups(50, (0.2, 0.3, 0.5), seed=0)
    keep = federated.membership(2, 50, seed=0)
    masks = federated.client_keep(keep, group, 3)
    modules = federated.init_models(16, (1, 8, 8), 10, [1, 2])
    out = federated.fedavg(modules, X, y, masks, rounds=5, local_steps=1, lr=0.5, dev=CPU, progress=False)
    recipe = train.Recipe(lr=0.5, momentum=0.0)
    for r in range(2):
        idx = torch.from_numpy(np.flatnonzero(keep[r]))
        sched = idx.view(1, 1, 1, -1).expand(1, 5, 1, -1)  # every step: the run's whole data
        ref, _ = train.train_vmapped(modules[r : r + 1], X, y, sched, recipe, CPU, progress=False)
        _params_close({k: v[r : r + 1] for k, v in out.items()}, ref)


def test_observer_sees_the_updates_that_are_averaged():
    X, y = _toy(n=40)
    group = federated.client_groups(40, (0.5, 0.5), seed=0)
    keep = federated.membership(2, 40, seed=0)
    masks = federated.client_keep(keep, group, 2)
    sizes = masks.reshape(2, 2, 40).sum(-1)
    seen = []
    modules = federated.init_models(8, (1, 8, 8), 10, [1, 2])
    federated.fedavg(
        modules,
        X,
        y,
        masks,
        3,
        2,
        0.3,
        observe=lambda t, g, u: seen.append((t, dict(g), dict(u))),
        dev=CPU,
        progress=False,
    )
    assert [t for t, _, _ in seen] == [0, 1, 2]
    for (_, g0, u0), (_, g1, _) in zip(seen, seen[1:]):
        for k in g0:
            w = torch.as_tensor(sizes / sizes.sum(1, keepdims=True), dtype=torch.float32)
            expect = g0[k] + (w.view(2, 2, *([1] * (u0[k].ndim - 2))) * u0[k]).sum(1)
            torch.testing.assert_close(g1[k], expect)


# --- the attack's statistics ---------------------------------------------------------------------------------------


def test_round_statistics_match_per_example_gradients_from_torch_func():
    X, y = _toy(n=30)
    r, c = 3, 2
    modules = federated.init_models(12, (1, 8, 8), 10, [1, 2, 3])
    params, _ = stack_module_state(modules)
    params = {k: v.detach() for k, v in params.items()}
    gen = torch.Generator().manual_seed(0)
    updates = {k: torch.randn(r, c, *v.shape[1:], generator=gen) for k, v in params.items()}
    group = torch.randint(0, c, (30,), generator=gen)
    stats = fed_attack.round_statistics(params, updates, X, y, group)
    base = copy.deepcopy(modules[0]).to("meta")

    def loss(p, x, t):
        return nn.functional.cross_entropy(functional_call(base, p, (x[None],)), t[None])

    for i in range(r):
        g = vmap(grad(loss), in_dims=(None, 0, 0))({k: v[i] for k, v in params.items()}, X, y)
        flat = torch.cat([g[k].flatten(1) for k in fed_attack.MLP_KEYS], 1)  # [N, P]
        u = torch.stack([torch.cat([updates[k][i, j].flatten() for k in fed_attack.MLP_KEYS]) for j in range(c)])
        cos = -(flat * u[group]).sum(1) / (flat.norm(dim=1) * u[group].norm(dim=1))
        torch.testing.assert_close(stats["cos"][i], cos, rtol=0, atol=1e-5)
        torch.testing.assert_close(stats["grad_norm"][i], flat.norm(dim=1), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(stats["update_norm"][i], u.norm(dim=1))
        logits = functional_call(base, {k: v[i] for k, v in params.items()}, (X,))
        torch.testing.assert_close(stats["loss"][i], nn.functional.cross_entropy(logits, y, reduction="none"))
        assert torch.equal(stats["correct"][i], logits.argmax(1) == y)


def test_orthogonality_separates_a_planted_member_in_an_over_parameterized_model():
    """One client holds a planted example and 5 others; 30 non-members are drawn from the same distribution. In a
    wide MLP on random 64-dimensional inputs with random labels, per-example gradients are nearly orthogonal, so
    the client's updates point along the planted member's negative gradient and across the non-members'."""
    gen = torch.Generator().manual_seed(0)
    n = 36
    X = torch.randn(n, 1, 8, 8, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    keep = np.zeros((1, n), dtype=bool)
    keep[0, :6] = True  # example 0 is the planted member
    modules = federated.init_models(512, (1, 8, 8), 10, [7])
    seen = []

    def observe(t, g, u):
        seen.append(fed_attack.round_statistics(g, u, X, y, torch.zeros(n, dtype=torch.long))["cos"].numpy())

    federated.fedavg(modules, X, y, keep, rounds=4, local_steps=1, lr=0.1, observe=observe, dev=CPU, progress=False)
    cos = np.stack(seen, axis=1)  # [R=1, T, N]
    scores = fed_attack.orthogonality_scores(cos, fed_attack.select_rounds(4, "all", 4))[0]
    non = scores[~keep[0]]
    assert scores[0] > non.max()
    assert np.abs(non).max() < 0.2 < scores[0]  # nearly orthogonal to non-members, clearly not to the member


def test_aggregation_over_rounds():
    cos = np.array([[[0.1, 0.5], [0.3, -0.1], [0.2, 0.0]]])  # [R=1, T=3, N=2]
    assert fed_attack.select_rounds(3, "early", 2).tolist() == [0, 1]
    assert fed_attack.select_rounds(3, "late", 2).tolist() == [1, 2]
    assert fed_attack.select_rounds(3, slice(0, 3, 2), 1).tolist() == [0, 2]
    np.testing.assert_allclose(fed_attack.orthogonality_scores(cos, [1, 2]), [[0.25, -0.05]])
    np.testing.assert_allclose(fed_attack.orthogonality_scores(cos, [0, 1], "max"), [[0.3, 0.5]])
    with pytest.raises(ValueError, match="mean"):
        fed_attack.orthogonality_scores(cos, [0], "median")
    keep = np.array([[True, False], [False, True], [True, True]])
    stat = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    mean_in, mean_out = fed_attack.side_means(stat, keep)
    np.testing.assert_allclose(mean_in, [3.0, 5.0])
    np.testing.assert_allclose(mean_out, [3.0, 2.0])
    # exposure |μ_in − μ_out| / (σ_in + σ_out): example 0 IN {1, 5}, OUT {3}: 0 / 2; example 1 IN {4, 6}, OUT {2}: 3 / 1
    np.testing.assert_allclose(fed_attack.exposure(stat, keep), [0.0, 3.0])
    assert np.isnan(fed_attack.exposure(stat, keep, run_ids=[2])).all()  # no OUT run: undefined


# --- the simulation: determinism and the cache --------------------------------------------------------------------


def _assert_runs_equal(a: federated.FederatedRun, b: federated.FederatedRun):
    for name in federated._ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name


def test_simulation_is_deterministic_and_cached(tmp_path):
    fed = _tiny(batch_size=8)
    a, b = federated.simulate(fed, progress=False), federated.simulate(fed, progress=False)
    _assert_runs_equal(a, b)  # same seed: bitwise-identical updates and statistics
    r, t, n = fed.n_runs, fed.rounds, len(a.y)
    assert a.cos.shape == (r, t, n) and a.final_logits.shape == (r, n, 10) and a.update_norm.shape == (r, t, 2)
    assert (a.n_examples.sum(1) == a.keep.sum(1)).all() and np.isfinite(a.cos).all()
    other = federated.simulate(fed.replace(experiment=fed.experiment.replace(seed=4)), progress=False)
    assert not np.array_equal(a.cos, other.cos)

    first = federated.load_or_run(fed, store=tmp_path, progress=False)
    _assert_runs_equal(first, a)
    again = federated.load_or_run(fed, store=tmp_path, progress=False)
    _assert_runs_equal(again, a)
    assert again.seconds == first.seconds  # read back, not run again

    path = cache.entry(fed.key(), tmp_path) / "run.npz"
    path.write_bytes(path.read_bytes()[:-10])  # truncate: the checksum must catch it
    with pytest.warns(cache.CorruptEntryWarning):
        redone = federated.load_or_run(fed, store=tmp_path, progress=False)
    _assert_runs_equal(redone, a)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _assert_runs_equal(federated.load_or_run(fed, store=tmp_path, progress=False), a)


def test_simulation_does_not_depend_on_the_callers_thread_count():
    fed = _tiny(rounds=2, batch_size=8)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        a = federated.simulate(fed, progress=False)
        assert torch.get_num_threads() == 2  # restored
        torch.set_num_threads(1)
        b = federated.simulate(fed, progress=False)
    finally:
        torch.set_num_threads(before)
    _assert_runs_equal(a, b)


def test_full_batch_simulation_records_accuracies():
    run = federated.simulate(_tiny(rounds=4), progress=False)
    assert run.train_acc().shape == (4, 4) and run.test_acc().shape == (4, 4)
    assert run.final_correct.shape == run.keep.shape
    assert run.train_acc()[:, -1].mean() > run.train_acc()[:, 0].mean()  # the federation learns
