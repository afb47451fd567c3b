"""Plain and residual networks of any depth, for the degradation experiment of notebook 05.

A *plain* block is two 3×3 convolutions; a *residual* block adds its input back to their
output (``out = relu(F(x) + x)``), so that the block only has to learn the difference from
the identity. :func:`plain_net` and :func:`residual_net` stack such blocks exactly the same
way (the CIFAR-10 networks of He et al., 2015), so that the shortcut is the only difference:

    stem: 3×3 conv, ``width`` channels
    stage 1: n blocks, ``width`` channels,      full resolution
    stage 2: n blocks, ``2·width`` channels,    1/2 resolution  (channels double as the
    stage 3: n blocks, ``4·width`` channels,    1/4 resolution   resolution halves, as in VGG)
    head: global average pooling, one linear layer

Counting the layers with weights as the notes do, that is ``depth = 6n + 2``: 8, 14, 20, 26…
(the 1×1 projection shortcuts are not counted, as in the paper).
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

__all__ = ["FirstCNN", "PlainBlock", "ResidualBlock", "plain_net", "residual_net", "valid_depths"]


class FirstCNN(nn.Module):
    """The notes' hands-on network: (conv → ReLU → max-pool) twice, then a linear layer.

    Built for 1×28×28 digits (notebook 05 trains it; notebook 07 compares optimizers on it).
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels=1, out_channels=16, kernel_size=5, stride=1, padding=2),  # 16×28×28
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2),  # 16×14×14
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(in_channels=16, out_channels=32, kernel_size=5, stride=1, padding=2),  # 32×14×14
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=2),  # 32×7×7
        )
        self.out = nn.Linear(32 * 7 * 7, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv2(self.conv1(x))
        x = x.flatten(start_dim=1)  # (batch, 32, 7, 7) -> (batch, 1568)
        return self.out(x)


def _conv3x3(in_channels: int, out_channels: int, stride: int, bias: bool) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=bias)


def _norm(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


class PlainBlock(nn.Module):
    """conv 3×3 → (BN) → ReLU → conv 3×3 → (BN) → ReLU. No shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, batch_norm: bool = True):
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels, stride, bias=not batch_norm)
        self.bn1 = _norm(out_channels, batch_norm)
        self.conv2 = _conv3x3(out_channels, out_channels, 1, bias=not batch_norm)
        self.bn2 = _norm(out_channels, batch_norm)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)))


class ResidualBlock(nn.Module):
    """The basic residual block: ``relu(F(x) + shortcut(x))`` with F = two 3×3 convolutions.

    The shortcut is the **identity** when the block keeps the shape of its input. When it
    changes it (``stride=2`` halves the height and width, or the number of channels changes),
    ``x`` can no longer be added as it is, and a **projection** shortcut (a 1×1 convolution
    with the same stride, then BN) reshapes it. Same structure as torchvision's ``BasicBlock``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, batch_norm: bool = True):
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels, stride, bias=not batch_norm)
        self.bn1 = _norm(out_channels, batch_norm)
        self.conv2 = _conv3x3(out_channels, out_channels, 1, bias=not batch_norm)
        self.bn2 = _norm(out_channels, batch_norm)
        self.relu = nn.ReLU(inplace=True)
        if stride != 1 or in_channels != out_channels:
            self.shortcut: nn.Module = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=not batch_norm),
                _norm(out_channels, batch_norm),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


def valid_depths(up_to: int = 110) -> list[int]:
    """The depths these networks can have: 6n + 2 (8, 14, 20, 26, …)."""
    return list(range(8, up_to + 1, 6))


def plain_net(depth: int, *, in_channels: int = 1, num_classes: int = 10, width: int = 16,
              batch_norm: bool = True) -> nn.Sequential:
    """A plain (no shortcut) network with ``depth`` weight layers; see the module docstring."""
    return _stacked_net(PlainBlock, depth, in_channels, num_classes, width, batch_norm)


def residual_net(depth: int, *, in_channels: int = 1, num_classes: int = 10, width: int = 16,
                 batch_norm: bool = True) -> nn.Sequential:
    """The same network as :func:`plain_net` with a shortcut around every pair of convolutions."""
    return _stacked_net(ResidualBlock, depth, in_channels, num_classes, width, batch_norm)


def _stacked_net(block: type[nn.Module], depth: int, in_channels: int, num_classes: int,
                 width: int, batch_norm: bool) -> nn.Sequential:
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            f"depth must be 6n + 2 with n >= 1 (one of {valid_depths(56)}…), got {depth!r}: a stem "
            "convolution, three stages of n two-convolution blocks, and a linear layer."
        )
    for name, value in (("in_channels", in_channels), ("num_classes", num_classes), ("width", width)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    n = (depth - 2) // 6
    stages: list[tuple[str, nn.Module]] = [
        ("stem", nn.Sequential(_conv3x3(in_channels, width, 1, bias=not batch_norm),
                               _norm(width, batch_norm), nn.ReLU(inplace=True)))
    ]
    channels = width
    for i, out_channels in enumerate((width, 2 * width, 4 * width), start=1):
        blocks = []
        for j in range(n):
            stride = 2 if (i > 1 and j == 0) else 1
            blocks.append(block(channels, out_channels, stride, batch_norm))
            channels = out_channels
        stages.append((f"stage{i}", nn.Sequential(*blocks)))
    stages.append(("head", nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))))
    net = nn.Sequential(OrderedDict(stages))
    _init_weights(net)
    return net


def _init_weights(net: nn.Module) -> None:
    """He (Kaiming) initialisation for convolutions, as torchvision's ResNet does."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
