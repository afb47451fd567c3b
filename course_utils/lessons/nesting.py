"""A deeper net can compute everything a shallower one can: the construction, checked.

The ResNet paper's argument (He et al., 2015): take a trained shallow network, add layers that
compute the identity, and the deeper network computes exactly the same function, so its best
training error can be no higher. :func:`embed_shallower` builds that deeper network for the
course's :func:`~course_utils.lessons.architectures.plain_net` and
:func:`~course_utils.lessons.architectures.residual_net`, so a notebook can check the claim
with ``torch.allclose`` instead of taking it on trust.

How an extra block becomes the identity differs, and that is the point of residual networks:

- **residual** block ``relu(F(x) + x)``: set the last BatchNorm's scale and shift to 0, so that
  ``F(x) = 0``; on a non-negative input (the previous block ends in a ReLU) the block returns
  ``x``. Any weights *near zero* are close to the identity.
- **plain** block: both convolutions must be exact identity kernels (a 1 in the centre of the
  kernel for its own channel, 0 elsewhere) and both BatchNorms must undo their own
  normalisation. One precise setting, far from where training starts.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from course_utils.lessons.architectures import PlainBlock, ResidualBlock

__all__ = ["blocks_per_stage", "embed_shallower"]


def blocks_per_stage(net: nn.Module) -> list[int]:
    """How many blocks each of ``stage1``, ``stage2``, ``stage3`` holds (``[n, n, n]``)."""
    try:
        return [len(cast(nn.Sequential, net.get_submodule(f"stage{i}"))) for i in (1, 2, 3)]
    except AttributeError as error:
        raise ValueError(
            "Expected a network from plain_net(...) or residual_net(...), with sub-modules "
            f"stage1, stage2 and stage3; got {type(net).__name__}."
        ) from error


def _kind(net: nn.Module) -> type[nn.Module]:
    kinds = {type(m) for m in net.modules() if isinstance(m, (PlainBlock, ResidualBlock))}
    if len(kinds) != 1:
        raise ValueError("Expected a network from plain_net(...) or residual_net(...): all of its "
                         "blocks PlainBlock, or all ResidualBlock.")
    return kinds.pop()


@torch.no_grad()
def _make_identity(block: Any) -> None:
    """Turn an extra block (same channels in and out, stride 1) into the identity on x >= 0."""
    if isinstance(block, ResidualBlock):
        last = block.bn2 if isinstance(block.bn2, nn.BatchNorm2d) else block.conv2
        nn.init.zeros_(last.weight)
        if last.bias is not None:
            nn.init.zeros_(last.bias)
        return
    for conv, bn in ((block.conv1, block.bn1), (block.conv2, block.bn2)):
        channels, _, k, _ = conv.weight.shape
        conv.weight.zero_()
        conv.weight[range(channels), range(channels), k // 2, k // 2] = 1.0
        if conv.bias is not None:
            conv.bias.zero_()
        if isinstance(bn, nn.BatchNorm2d):  # evaluation mode: (x - mean) / std · γ + β = x
            mean, var = bn.running_mean, bn.running_var
            assert mean is not None and var is not None  # the blocks' BatchNorm tracks statistics
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.copy_(mean)


@torch.no_grad()
def embed_shallower(shallow: nn.Module, deep: nn.Module) -> nn.Module:
    """Give ``deep`` the weights of ``shallow`` and make its extra blocks the identity.

    Both must come from the same builder (both ``plain_net`` or both ``residual_net``) with the
    same ``width``, ``in_channels`` and ``num_classes``; ``deep`` must have at least as many
    blocks per stage. Block j of each stage of ``shallow`` goes to block j of the same stage of
    ``deep``; the remaining blocks keep their shape (stride 1, same channels), so they can be
    made the identity. Returns ``deep``, changed in place. Afterwards, in evaluation mode,
    ``deep(x)`` equals ``shallow(x)`` for every input.
    """
    kind = _kind(shallow)
    if _kind(deep) is not kind:
        raise ValueError("shallow and deep must be the same family: both plain_net or both residual_net.")
    n_shallow, n_deep = blocks_per_stage(shallow), blocks_per_stage(deep)
    if any(a > b for a, b in zip(n_shallow, n_deep, strict=True)):
        raise ValueError(f"deep has fewer blocks per stage ({n_deep}) than shallow ({n_shallow}): "
                         "swap the arguments.")
    deep_state = deep.state_dict()
    for key, value in shallow.state_dict().items():
        if key not in deep_state or deep_state[key].shape != value.shape:
            raise ValueError(f"shallow's {key!r} has no counterpart of the same shape in deep: build "
                             "both with the same width, in_channels and num_classes.")
        deep_state[key] = value.clone()
    deep.load_state_dict(deep_state)
    for stage, n in zip((1, 2, 3), n_shallow, strict=True):
        for block in list(cast(nn.Sequential, deep.get_submodule(f"stage{stage}")))[n:]:
            _make_identity(block)
    return deep
