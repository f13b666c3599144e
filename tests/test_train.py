"""The pool trainer trains the same models as a one-by-one loop, deterministically."""

import numpy as np
import pytest
import torch

from mia_lib import train


def _toy(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 1, 8, 8, generator=g)
    y = (X.flatten(1)[:, :10].argmax(1)).long()  # learnable labels
    return X, y


def test_balanced_keep_each_example_in_half_the_models():
    keep = train.balanced_keep(10, 57, seed=3)
    assert keep.shape == (10, 57) and keep.dtype == bool
    assert (keep.sum(0) == 5).all()
    assert np.array_equal(keep, train.balanced_keep(10, 57, seed=3))
    assert not np.array_equal(keep, train.balanced_keep(10, 57, seed=4))
    with pytest.raises(ValueError, match="even"):
        train.balanced_keep(5, 10, 0)


def test_batch_schedule_visits_only_in_examples_and_covers_them():
    keep = train.balanced_keep(4, 50, 0)
    seeds = [train.model_seed(0, m) for m in range(4)]
    sched = train.batch_schedule(keep, seeds, epochs=2, batch_size=8)
    e, s, k, b = sched.shape
    assert (e, k, b) == (2, 4, 8) and s == -(-keep.sum(1).max() // 8)
    for m in range(4):
        for ep in range(2):
            seen = sched[ep, :, m].flatten().numpy()
            assert set(seen) == set(np.flatnonzero(keep[m]))  # every IN example, nothing else
    # a model's schedule does not depend on the other models it is trained with
    alone = train.batch_schedule(keep[1:2], seeds[1:2], 2, 8, n_in_max=int(keep.sum(1).max()))
    assert torch.equal(alone[:, :, 0], sched[:, :, 1])


@pytest.mark.parametrize("name,optimizer", [("mlp", "sgd"), ("cnn32", "adam")])
def test_vmapped_training_equals_one_by_one(name, optimizer):
    X, y = _toy()
    keep = train.balanced_keep(4, len(y), 0)
    seeds = [train.model_seed(1, m) for m in range(4)]
    modules = train.init_states(name, (1, 8, 8), 10, seeds)
    recipe = train.Recipe(epochs=3, batch_size=16, lr=0.05 if optimizer == "sgd" else 1e-3, optimizer=optimizer)
    sched = train.batch_schedule(keep, seeds, recipe.epochs, recipe.batch_size)
    params, _ = train.train_vmapped(modules, X, y, sched, recipe, torch.device("cpu"), progress=False)
    looped = train.train_loop(modules, X, y, sched, recipe, torch.device("cpu"))
    moved = 0.0
    for k, m in enumerate(looped):
        for pname, p in m.named_parameters():
            torch.testing.assert_close(params[pname][k], p.detach(), rtol=1e-4, atol=1e-5)
            moved = max(moved, (p.detach() - dict(modules[k].named_parameters())[pname]).abs().max().item())
    assert moved > 1e-3  # training actually changed the weights


def test_predict_vmapped_matches_each_model():
    X, y = _toy(40)
    modules = train.init_states("mlp", (1, 8, 8), 10, [1, 2, 3])
    params, buffers = torch.func.stack_module_state(modules)
    logits = train.predict_vmapped(modules[0], params, buffers, X, lambda x: torch.stack([x, x.flip(-1)]), chunk=16)
    assert logits.shape == (3, 40, 2, 10)
    for k, m in enumerate(modules):
        torch.testing.assert_close(logits[k, :, 1], m.eval()(X.flip(-1)).detach())


def test_same_seed_same_weights_bitwise():
    X, y = _toy()
    keep = train.balanced_keep(2, len(y), 0)

    def run():
        seeds = [train.model_seed(7, m) for m in range(2)]
        mods = train.init_states("mlp", (1, 8, 8), 10, seeds)
        sched = train.batch_schedule(keep, seeds, 2, 16)
        return train.train_vmapped(mods, X, y, sched, train.Recipe(epochs=2, batch_size=16), progress=False)[0]

    a, b = run(), run()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_device_choice():
    assert train.device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert train.device("auto").type == "cpu"
        with pytest.raises(ValueError, match="CUDA"):
            train.device("cuda")
