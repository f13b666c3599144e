"""Model architectures for shadow pools.

Every model is a plain ``nn.Module`` with no global state, so :func:`torch.func.functional_call` can run it on
stacked parameters under ``vmap``. Convolutional models use GroupNorm-free, BatchNorm-free designs where possible;
the ResNets use BatchNorm (buffers are stacked per model like parameters).
"""

from __future__ import annotations

import math

import torch
from torch import nn


class MLP(nn.Module):
    """Flatten → Linear(d, hidden) → ReLU → Linear(hidden, n_classes). Input [B,C,H,W] → logits [B,n_classes].

    ``forward(x, drop)`` multiplies the hidden features by ``drop`` [B, hidden] (a dropout mask already scaled by
    1/(1 − p), :mod:`mia_lib.regularization`) before the classifier; ``drop=None`` (evaluation) leaves them as they
    are."""

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int, hidden: int = 256):
        super().__init__()
        self.fc1 = nn.Linear(math.prod(in_shape), hidden)
        self.fc2 = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.relu(self.fc1(x.flatten(1)))
        return self.fc2(h if drop is None else h * drop)


class SmallCNN(nn.Module):
    """Carlini et al.'s small CNN: three conv(3×3)+ReLU+maxpool blocks of width w, 2w, 2w, then a linear head.

    ``CNN32`` is width 32 and ``CNN64`` width 64. Input [B,C,H,W] (H, W ≥ 8) → logits [B,n_classes].
    ``forward(x, drop)``: as :class:`MLP`, the mask [B, features] on the flattened features before the head.
    """

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int, width: int = 32):
        super().__init__()
        c, h, w = in_shape
        layers, ch = [], c
        for out in (width, 2 * width, 2 * width):
            layers += [nn.Conv2d(ch, out, 3, padding=1), nn.ReLU()]
            if min(h, w) >= 2:
                layers.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            ch = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(ch * h * w, n_classes)

    def forward(self, x: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        f = self.features(x).flatten(1)
        return self.head(f if drop is None else f * drop)


def _conv_bn(c_in: int, c_out: int, pool: bool = False) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class _Residual(nn.Module):
    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, x):
        return x + self.block(x)


class ResNet9(nn.Module):
    """ResNet-9 (the DAWNBench/airbench family): prep, 3 stages with 2 residual blocks, global max-pool, linear."""

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int, width: int = 64):
        super().__init__()
        c = in_shape[0]
        w = width
        self.net = nn.Sequential(
            _conv_bn(c, w),
            _conv_bn(w, 2 * w, pool=True),
            _Residual(nn.Sequential(_conv_bn(2 * w, 2 * w), _conv_bn(2 * w, 2 * w))),
            _conv_bn(2 * w, 4 * w, pool=True),
            _conv_bn(4 * w, 8 * w, pool=True),
            _Residual(nn.Sequential(_conv_bn(8 * w, 8 * w), _conv_bn(8 * w, 8 * w))),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
            nn.Linear(8 * w, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18 (3×3 stem, no initial max-pool), 4 stages of 2 basic blocks."""

    def __init__(self, in_shape: tuple[int, int, int], n_classes: int, width: int = 64):
        super().__init__()
        c = in_shape[0]
        self.stem = nn.Sequential(nn.Conv2d(c, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        blocks, ch = [], width
        for i, out in enumerate((width, 2 * width, 4 * width, 8 * width)):
            stride = 1 if i == 0 else 2
            blocks += [_BasicBlock(ch, out, stride), _BasicBlock(out, out, 1)]
            ch = out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(ch, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(self.stem(x))
        return self.head(torch.flatten(nn.functional.adaptive_avg_pool2d(out, 1), 1))


def build(name: str, in_shape: tuple[int, int, int], n_classes: int) -> nn.Module:
    """Instantiate a model by name (``mlp``, ``cnn32``, ``cnn64``, ``resnet9``, ``resnet18``) for inputs [C,H,W]."""
    if name == "mlp":
        return MLP(in_shape, n_classes)
    if name in ("cnn32", "cnn64"):
        return SmallCNN(in_shape, n_classes, width=int(name[3:]))
    if name == "resnet9":
        return ResNet9(in_shape, n_classes)
    if name == "resnet18":
        return ResNet18(in_shape, n_classes)
    raise ValueError(f"Unknown model {name!r}; choose one of mlp, cnn32, cnn64, resnet9, resnet18.")


def features_width(model: nn.Module) -> int:
    """Width of the features that ``forward(x, drop)`` masks (the classifier layer's inputs): the dropout mask of
    one example is [width]. Raises ValueError for models without that argument (the ResNets)."""
    if isinstance(model, MLP):
        return model.fc2.in_features
    if isinstance(model, SmallCNN):
        return model.head.in_features
    raise ValueError(f"dropout is available for MLP and the small CNNs, not {type(model).__name__}")


def train_flops_per_example(model: nn.Module, in_shape: tuple[int, int, int]) -> int:
    """Analytic FLOPs of one forward + backward pass for one example (3 × forward multiply-adds × 2).

    Counts Linear and Conv2d layers only (they dominate); used by the benchmark's utilization figure.
    """
    flops = 0
    hooks = []

    def count(mod, inp, out):
        nonlocal flops
        if isinstance(mod, nn.Linear):
            flops += 2 * mod.in_features * mod.out_features
        elif isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            flops += 2 * k * out[0].numel()

    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            hooks.append(m.register_forward_hook(count))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *in_shape))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return 3 * flops
