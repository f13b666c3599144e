"""The pool trainer's fast path (mia_lib.stacked) against vmap(functional_call) and against plain autograd."""

import pytest
import torch
from torch.func import functional_call, stack_module_state, vmap

from mia_lib import config, stacked, train


def test_mlp_step_gradients_equal_autograd_of_vmapped_functional_call():
    mods = train.init_states("mlp", (1, 8, 8), 10, [3, 4, 5])
    params, buffers = stack_module_state(mods)
    cnn = train.init_states("cnn32", (1, 8, 8), 10, [1])[0]
    assert stacked.supports(mods[0], buffers) and not stacked.supports(cnn, {})
    g = torch.Generator().manual_seed(2)
    xb, yb = torch.randn(3, 6, 1, 8, 8, generator=g), torch.randint(0, 10, (3, 6), generator=g)
    fast = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    slow = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    step = stacked.MLPStep(fast)
    step(xb, yb)
    base = mods[0].to("meta")

    def loss(p, b, x, y):
        return torch.nn.functional.cross_entropy(functional_call(base, (p, b), (x,)), y)

    vmap(loss)(slow, buffers, xb, yb).sum().backward()
    for k in params:
        torch.testing.assert_close(fast[k].grad, slow[k].grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        stacked.mlp_logits(fast, xb), vmap(lambda p, x: functional_call(base, (p, {}), (x,)))(slow, xb)
    )
    # the buffers are kept and overwritten, not accumulated: a second call on the same batch gives the same grads
    kept = {k: v.grad for k, v in fast.items()}
    first = {k: v.grad.clone() for k, v in fast.items()}
    step(xb, yb)
    assert all(fast[k].grad is kept[k] and torch.equal(fast[k].grad, first[k]) for k in params)
    # model 0's gradient depends on model 0's batch only
    xb2 = xb.clone()
    xb2[1:] += 1.0
    step(xb2, yb)
    assert all(torch.equal(fast[k].grad[0], first[k][0]) for k in params)


def test_precision_is_validated_and_hashed_only_when_set():
    base = config.Experiment()
    assert config.Experiment(precision="fp32").hash() == base.hash()
    assert config.Experiment(precision="bf16").hash() != base.hash()
    with pytest.raises(ValueError, match="precision"):
        config.Experiment(precision="fp8")
    with pytest.raises(ValueError, match="precision"):
        with train.numerics("fp16", torch.device("cpu")):
            pass


def test_bf16_recipe_trains_and_differs_from_fp32():
    X = torch.randn(40, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    y = torch.arange(40) % 10
    keep = train.balanced_keep(2, 40, 0)
    seeds = [train.model_seed(0, m) for m in range(2)]
    sched = train.batch_schedule(keep, seeds, 2, 8)
    out = {}
    for precision in ("fp32", "bf16"):
        mods = train.init_states("mlp", (1, 8, 8), 10, seeds)
        recipe = train.Recipe(epochs=2, batch_size=8, precision=precision)
        out[precision] = train.train_vmapped(mods, X, y, sched, recipe, torch.device("cpu"), progress=False)[0]
    diff = max((out["fp32"][k] - out["bf16"][k]).abs().max().item() for k in out["fp32"])
    assert 0 < diff < 0.1  # rounded arithmetic: close, not equal
