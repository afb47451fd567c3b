"""Checkers for notebook 02 (pooling): an overlapping pool's shape, average pooling without loops,
and where max pooling sends its gradient. Every expected value comes from PyTorch's own layers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises.verdict import Mistake, Verdict, attempt, checker, right
from course_utils.lessons.conv import conv_geometry

__all__ = ["check_avg_pool_2x2", "check_max_pool_gradient", "check_overlap_shape"]


@checker
def check_overlap_shape(shape: Sequence[int], channels: int = 6, size: int = 28,
                        window: int = 3, stride: int = 2) -> Verdict:
    """Check the (C, H, W) shape of a ``size×size×channels`` stack after overlapping max pooling."""
    expected = tuple(nn.MaxPool2d(window, stride)(torch.zeros(1, channels, size, size)).shape[1:])
    try:
        answer = tuple(shape)
    except TypeError:
        raise Mistake(f"give the shape as a tuple (C, H, W), not {type(shape).__name__}.") from None
    if answer == expected:
        return right(f"{size}×{size}×{channels} → {expected[1]}×{expected[2]}×{expected[0]}, "
                     f"the maps pooled one by one.")
    geometry = conv_geometry(size, window, stride)
    if len(answer) == 4:
        raise Mistake("leave out the batch dimension: the question asks for (C, H, W).")
    if len(answer) == 2:
        raise Mistake(f"give all three numbers (C, H, W): pooling keeps the {channels} maps, so C stays.")
    if len(answer) != 3:
        raise Mistake(f"a stack of feature maps has three numbers (C, H, W), your shape has {len(answer)}.")
    if answer[-1] == channels and answer[0] != channels:
        raise Mistake("PyTorch puts the channels first: write the shape as (C, H, W).")
    if answer[0] != channels:
        raise Mistake(f"pooling works on each map on its own, so the {channels} maps stay {channels}.")
    sides = answer[1:]
    if any(not isinstance(side, Integral) for side in sides):
        raise Mistake(f"{geometry.formula()} is not a whole number, and PyTorch floors it.")
    if sides == (geometry.output_size + 1,) * 2:
        raise Mistake(f"{geometry.formula()}: PyTorch floors it to {geometry.output_size}, it does not round up.")
    raise Mistake(f"use the formula H2 = (H1 − F) / S + 1 with H1 = {size}, F = {window}, S = {stride}.")


@checker
def check_avg_pool_2x2(avg_pool_2x2: Callable[[torch.Tensor], torch.Tensor]) -> Verdict:
    """Check ``avg_pool_2x2(x)``: 2×2 average pooling, stride 2, of an ``(N, C, H, W)`` batch."""
    generator = torch.Generator().manual_seed(0)
    for shape in [(2, 3, 8, 8), (1, 2, 7, 9)]:
        x = torch.randn(*shape, generator=generator)
        call = f"avg_pool_2x2(x) for x of shape {shape}"
        value = attempt(avg_pool_2x2, x.clone(), call=call)
        if not isinstance(value, torch.Tensor):
            raise Mistake(f"{call} returned {type(value).__name__}, not a tensor.")
        expected = F.avg_pool2d(x, 2)
        if value.shape != expected.shape:
            if value.shape[:2] != expected.shape[:2]:
                raise Mistake(
                    f"{call} has shape {tuple(value.shape)}: pooling works on each map on its own, "
                    f"so N and C stay {tuple(expected.shape[:2])}."
                )
            raise Mistake(
                f"{call} has shape {tuple(value.shape)}, PyTorch {tuple(expected.shape)}: an odd "
                f"side is floored, the last row or column that fills no window is dropped."
            )
        if torch.allclose(value, expected, atol=1e-5):
            continue
        if torch.allclose(value, F.max_pool2d(x, 2), atol=1e-5):
            raise Mistake(f"{call} gives max pooling's values: average each window instead.")
        raise Mistake(
            f"{call} has the right shape but not F.avg_pool2d's values: each output must be the "
            f"mean of one 2×2 block of neighbouring pixels (check the order of your reshape)."
        )
    return right("your pooling equals F.avg_pool2d on even and odd sizes.")


@checker
def check_max_pool_gradient(count: int, size: int = 4) -> Verdict:
    """Check how many of a ``size×size`` input's gradients are non-zero after 2×2 max pooling."""
    x = torch.randn(1, 1, size, size, generator=torch.Generator().manual_seed(0), requires_grad=True)
    with torch.enable_grad():
        nn.MaxPool2d(2)(x).sum().backward()
    assert x.grad is not None  # backward() above filled it
    expected = int((x.grad != 0).sum())
    if isinstance(count, bool) or not isinstance(count, Integral):
        raise Mistake(f"give a whole number of entries, not {type(count).__name__}.")
    if count == expected:
        return right(f"{expected} of {size * size}: one input per window receives the gradient, the "
                     f"largest, because only it changes the output.")
    if count == size * size:
        raise Mistake(
            "that is every input: max pooling passes the gradient only to the largest value in each "
            "window, since the others do not change the output."
        )
    raise Mistake(f"{count} is not what autograd gives: count the non-zero entries of x.grad.")
