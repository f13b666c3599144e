"""Every architecture runs on its input shape and under vmap over stacked parameters."""

import copy

import pytest
import torch
from torch.func import functional_call, stack_module_state, vmap

from mia_lib import models


@pytest.mark.parametrize(
    "name,shape",
    [
        ("mlp", (1, 8, 8)),
        ("cnn32", (1, 28, 28)),
        ("cnn64", (3, 32, 32)),
        ("resnet9", (3, 32, 32)),
        ("resnet18", (3, 32, 32)),
    ],
)
def test_shapes_and_vmap(name, shape):
    torch.manual_seed(0)
    mods = [models.build(name, shape, 10) for _ in range(2)]
    x = torch.rand(2, 3, *shape)
    params, buffers = stack_module_state(mods)
    base = copy.deepcopy(mods[0]).to("meta").eval()
    out = vmap(lambda p, b, xb: functional_call(base, (p, b), (xb,)))(params, buffers, x)
    assert out.shape == (2, 3, 10)
    torch.testing.assert_close(out[1], mods[1].eval()(x[1]), rtol=1e-4, atol=1e-5)
    assert models.train_flops_per_example(mods[0], shape) > 0


def test_unknown_model():
    with pytest.raises(ValueError, match="Unknown model"):
        models.build("vgg", (1, 8, 8), 10)


def test_mlp_flops_closed_form():
    assert models.train_flops_per_example(models.MLP((1, 8, 8), 10), (1, 8, 8)) == 3 * 2 * (64 * 256 + 256 * 10)
