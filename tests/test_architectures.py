"""Plain and residual networks: depth counted as the notes count layers; blocks shaped like torchvision's."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock

from course_utils.lessons.architectures import PlainBlock, ResidualBlock, plain_net, residual_net
from course_utils.lessons.summary import count_parameters


def weight_layers(net: nn.Module) -> int:
    """Convolutions and linear layers, leaving out the 1×1 projection shortcuts (as the paper does)."""
    return sum(
        1 for name, m in net.named_modules()
        if isinstance(m, (nn.Conv2d, nn.Linear)) and ".shortcut" not in name
    )


@pytest.mark.parametrize("depth", [8, 14, 26])
def test_depth_counts_the_layers_with_weights(depth):
    for build in (plain_net, residual_net):
        net = build(depth, width=4)
        assert weight_layers(net) == depth
        assert net(torch.randn(2, 1, 16, 16)).shape == (2, 10)


def test_plain_and_residual_nets_differ_only_by_the_shortcuts():
    plain, residual = plain_net(14, width=8), residual_net(14, width=8)
    projections = sum(count_parameters(m) for n, m in residual.named_modules() if n.endswith("shortcut"))
    assert projections > 0
    assert count_parameters(residual) == count_parameters(plain) + projections


def test_bad_depth_is_explained():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        plain_net(10)


def test_residual_block_matches_torchvision_basic_block():
    x = torch.randn(2, 64, 14, 14)
    identity, theirs = ResidualBlock(64, 64), BasicBlock(64, 64)
    assert isinstance(identity.shortcut, nn.Identity)
    assert identity(x).shape == theirs(x).shape == (2, 64, 14, 14)
    assert count_parameters(identity) == count_parameters(theirs)

    downsample = nn.Sequential(nn.Conv2d(64, 128, 1, stride=2, bias=False), nn.BatchNorm2d(128))
    projection, theirs = ResidualBlock(64, 128, stride=2), BasicBlock(64, 128, stride=2, downsample=downsample)
    assert not isinstance(projection.shortcut, nn.Identity)
    assert projection(x).shape == theirs(x).shape == (2, 128, 7, 7)
    assert count_parameters(projection) == count_parameters(theirs)


def test_a_residual_block_can_be_the_identity_and_a_plain_block_cannot_easily():
    """With the last BatchNorm's scale at 0, F(x) = 0 and the block passes relu(x) = x through."""
    block = ResidualBlock(8, 8).eval()
    nn.init.zeros_(block.bn2.weight)
    x = torch.rand(1, 8, 6, 6)
    assert torch.allclose(block(x), x)
    plain = PlainBlock(8, 8).eval()
    nn.init.zeros_(plain.bn2.weight)
    assert torch.count_nonzero(plain(x)) == 0  # a plain block then outputs zeros, not x
