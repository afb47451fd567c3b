"""Checkers for notebook 05 (classic architectures): a residual block written from scratch, and
the notes' first CNN with strided convolutions in place of max pooling."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from course_utils.exercises.verdict import Mistake, Verdict, attempt, checker, right
from course_utils.lessons.architectures import FirstCNN
from course_utils.lessons.conv import conv_output_size
from course_utils.lessons.summary import count_parameters

__all__ = ["check_residual_block", "check_strided_first_cnn"]


def _forward(block: nn.Module, x: torch.Tensor, call: str) -> torch.Tensor:
    with torch.no_grad():
        return attempt(block, x, call=call)


@checker
def check_residual_block(block_class: Callable[..., nn.Module]) -> Verdict:
    """Check a class ``Block(in_channels, out_channels, stride=1)``: ``relu(F(x) + shortcut(x))``."""
    same = attempt(block_class, 8, 8, call="Block(8, 8)")
    down = attempt(block_class, 8, 16, stride=2, call="Block(8, 16, stride=2)")
    if not isinstance(same, nn.Module) or not isinstance(down, nn.Module):
        raise Mistake("Block(...) must build an nn.Module: make your class inherit from nn.Module.")
    x = torch.randn(2, 8, 12, 12, generator=torch.Generator().manual_seed(0))
    out = _forward(same.eval(), x, "Block(8, 8)(x)")
    if tuple(out.shape) != tuple(x.shape):
        raise Mistake(f"Block(8, 8) turns {tuple(x.shape)} into {tuple(out.shape)}: with the same "
                      f"channels and stride 1 it must keep the shape (padding 1 for 3×3 kernels).")
    try:
        with torch.no_grad():
            out_down = down.eval()(x)
    except RuntimeError as error:
        if "size of tensor" in str(error):
            raise Mistake("Block(8, 16, stride=2) cannot add x to F(x), whose shape differs: give the "
                          "shortcut a 1×1 convolution with the new channels and stride.") from error
        raise Mistake(f"Block(8, 16, stride=2)(x) raised RuntimeError: {str(error).splitlines()[0]}") from error
    if tuple(out_down.shape) != (2, 16, 6, 6):
        raise Mistake(f"Block(8, 16, stride=2) gives {tuple(out_down.shape)}, not (2, 16, 6, 6): the "
                      f"first convolution has the stride, and both paths end with 16 channels.")
    if sum(isinstance(m, nn.Conv2d) for m in same.modules()) < 2:
        raise Mistake("F(x) is two 3×3 convolutions (each followed by BatchNorm, a ReLU between them).")
    if torch.allclose(out, torch.relu(x), atol=1e-6):
        raise Mistake("with random weights your block still returns relu(x): F(x) is not added.")
    for parameter in same.parameters():
        nn.init.zeros_(parameter)
    zeroed = _forward(same, x, "Block(8, 8)(x) with F(x) = 0")
    if torch.allclose(zeroed, torch.relu(x), atol=1e-6):
        return right("shapes kept and changed as they should, and with F(x) = 0 the block returns "
                     "relu(x): the identity path is there.")
    if torch.allclose(zeroed, x, atol=1e-6):
        raise Mistake("the block must end with a ReLU after the addition: relu(F(x) + x).")
    if any(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) for m in same.modules()):
        raise Mistake("when the shape does not change the shortcut must be the identity, not a 1×1 "
                      "convolution: only then does the block start as the identity, relu(x).")
    if torch.allclose(zeroed, torch.zeros_like(zeroed)):
        raise Mistake("with F(x) = 0 your block returns zeros, not relu(x): add the input back, "
                      "relu(F(x) + x), with an identity shortcut when the shape does not change.")
    raise Mistake("with F(x) = 0 your block should return relu(x): the shortcut must be the identity "
                  "when the shape does not change.")


@checker
def check_strided_first_cnn(model: nn.Module) -> Verdict:
    """Check the notes' first CNN with each ``MaxPool2d`` replaced by a stride-2 convolution."""
    if not isinstance(model, nn.Module):
        raise Mistake(f"give the network itself (an nn.Module), not {type(model).__name__}.")
    if any(isinstance(m, nn.MaxPool2d) for m in model.modules()):
        raise Mistake("there is still a MaxPool2d in your network: replace both poolings.")
    with torch.device("meta"):  # shapes and counts only: no memory, no random numbers drawn
        reference = FirstCNN()
    channels = [m.out_channels for m in reference.modules() if isinstance(m, nn.Conv2d)]
    strided = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    if len(strided) != len(channels):
        raise Mistake(f"expected {len(channels)} convolutions with stride 2 (one per pooling), "
                      f"found {len(strided)}.")
    side = 28
    for conv, width in zip(strided, channels, strict=True):
        if (conv.in_channels, conv.out_channels) != (width, width):
            raise Mistake(f"a convolution that replaces pooling keeps the number of maps: "
                          f"{width} in, {width} out, not {conv.in_channels} → {conv.out_channels}.")
        padding = conv.padding[0] if isinstance(conv.padding, tuple) else 0  # "same"/"valid" are strings
        halved = conv_output_size(side, conv.kernel_size[0], 2, padding)
        if halved != side // 2:
            raise Mistake(f"the strided convolution after {side}×{side} maps gives {halved}×{halved}, "
                          f"but the pooling it replaces gave {side // 2}×{side // 2}: use kernel 2, "
                          f"stride 2 (or kernel 3, stride 2, padding 1).")
        side //= 2
    out = _forward(model.eval(), torch.zeros(1, 1, 28, 28), "model(one 1×28×28 digit)")
    if tuple(out.shape) != (1, 10):
        raise Mistake(f"one digit gives scores of shape {tuple(out.shape)}, not (1, 10).")
    added = count_parameters(model) - count_parameters(reference)
    return right(f"no pooling left, one digit still gives 10 scores, and the strided convolutions "
                 f"add {added:,} parameters to the {count_parameters(reference):,} of FirstCNN.")
