"""Checkers for notebook 02 (pooling): an overlapping pool's shape, average pooling without loops,
where max pooling sends its gradient, and the notebook's three predictions (a pooling layer's
parameters, an odd side pooled, what pooling first saves the next convolution). Every expected
value comes from PyTorch's own layers or the course's formulas."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises.prediction import compare_prediction
from course_utils.exercises.verdict import Mistake, Verdict, attempt, checker, right
from course_utils.lessons.conv import conv_geometry, conv_mult_adds
from course_utils.lessons.summary import count_parameters

__all__ = [
    "check_avg_pool_2x2",
    "check_max_pool_gradient",
    "check_overlap_shape",
    "check_pooled_side",
    "check_pooling_parameters",
    "check_pooling_savings",
]


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


# --- predictions: the learner answers before the cell that shows it ---------------------------


def _pair(answer: Sequence[float], what: str) -> tuple[float, float]:
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Mistake(f"give two numbers in a tuple, {what}; got {answer!r}.")
    if any(isinstance(a, bool) or not isinstance(a, (int, float)) for a in answer):
        raise Mistake(f"both answers are numbers; got {answer!r}.")
    return answer[0], answer[1]


@checker
def check_pooling_parameters(counts: tuple[int, int], channels: int = 6) -> Verdict:
    """Predict the parameters of ``nn.MaxPool2d(2, 2)`` and of ``nn.Conv2d(6, 6, 2, stride=2)``."""
    pooling, convolution = _pair(counts, "(max pooling's parameters, the convolution's)")
    pool_count = count_parameters(nn.MaxPool2d(2, 2))
    conv_count = count_parameters(nn.Conv2d(channels, channels, 2, stride=2, device="meta"))
    if pooling != pool_count:
        raise Mistake("a pooling window is not a kernel: it holds no weights and no bias, it only "
                      "picks the largest number it covers.")
    weights = 2 * 2 * channels * channels
    verdict = compare_prediction(
        convolution, conv_count, what="the convolution's count",
        because=f"{channels} kernels of 2×2×{channels} and {channels} biases.",
        slips=[
            (weights, f"you forgot the biases: one per kernel, {channels} of them."),
            (2 * 2 * channels + channels, f"each kernel is 2×2×{channels}, as deep as its input, "
             f"and there are {channels} kernels: multiply by C_out too."),
            (2 * 2 * channels, f"each kernel is 2×2×{channels}, as deep as its input, there are "
             f"{channels} of them, and each has a bias."),
            (2 * 2, "each kernel is as deep as its input: 2×2×C_in weights, times C_out kernels, plus biases."),
        ],
        hint="F·F·C_in·C_out + C_out, with F = 2 and C_in = C_out = 6.")
    return right(f"max pooling has {pool_count}; {verdict.message}")


@checker
def check_pooled_side(side: int, size: int = 7) -> Verdict:
    """Predict the side of a 7×7 map after 2×2 max pooling with stride 2."""
    geometry = conv_geometry(size, 2, 2)
    return compare_prediction(
        side, geometry.output_size, what="the pooled side",
        because=f"windows start at {geometry.window_starts()}; the last row and column fill no window.",
        slips=[
            (size / 2, f"there is no half window: {size} / 2 = {size / 2:g}, and a window is placed "
             f"whole or not at all."),
            (geometry.output_size + 1, f"a window starting at {geometry.output_size * 2} would need "
             f"rows {geometry.output_size * 2} and {geometry.output_size * 2 + 1}, and the map ends "
             f"at row {size - 1}: PyTorch rounds down."),
            ((size - 2) // 2, "you counted the steps between windows, not the windows: add 1, for the first."),
            (size - 2 + 1, "that is stride 1; with stride 2 the windows sit side by side, so the side halves."),
        ],
        hint="list the rows where each window starts (0, 2, ...) and keep those where it fits whole.")


@checker
def check_pooling_savings(ratios: tuple[float, float], size: int = 28, c_in: int = 6,
                          c_out: int = 16) -> Verdict:
    """Predict (work without pooling / work with, parameters without / parameters with) for the
    3×3 convolution from 6 to 16 maps (padding 1) after a 2×2 max pooling of 28×28 maps."""
    work, parameters = _pair(ratios, "(how many times less work, how many times fewer parameters)")
    half = conv_geometry(size, 2, 2).output_size
    work_ratio = conv_mult_adds(c_in, c_out, 3, size, size) / conv_mult_adds(c_in, c_out, 3, half, half)
    layer = nn.Conv2d(c_in, c_out, 3, padding=1, device="meta")
    parameter_ratio = count_parameters(layer) / count_parameters(layer)  # the same layer either way
    if work == size // half:
        raise Mistake(f"each side is halved, and a map has two sides: {size}×{size} positions "
                      f"become {half}×{half}.")
    if work != work_ratio:
        raise Mistake("the work is one inner product per output number: compare the numbers of "
                      "output positions before and after pooling.")
    if parameters != parameter_ratio:
        raise Mistake(f"a convolution's parameters do not depend on its input's size: the same "
                      f"{c_out} kernels of 3×3×{c_in} slide over a map of any size.")
    return right(f"{work_ratio:g} times less work (1/{work_ratio:g} of the positions) and the same "
                 f"{count_parameters(layer):,} parameters: pooling saves arithmetic, not weights.")
