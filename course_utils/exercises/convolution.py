"""Checkers for notebook 01 (convolution arithmetic): the output-size formula, exact strides, a blur,
and the notebook's three predictions (one kernel's map, a stride that does not divide, a 1×1 layer).

The expected sizes come from running ``F.conv2d`` on small tensors and from the course's
``conv_geometry``; the checkers recognise the usual slips (the + 1 forgotten, padding counted
once, rounding up instead of down, dilation or stride ignored) and name them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from numbers import Integral, Real

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises.prediction import compare_prediction
from course_utils.exercises.verdict import Mistake, Verdict, attempt, checker, right
from course_utils.lessons.conv import conv_geometry, conv_output_size
from course_utils.lessons.summary import count_parameters

__all__ = [
    "check_blur_kernel",
    "check_exact_strides",
    "check_one_map_shape",
    "check_output_size",
    "check_pointwise_parameters",
    "check_strided_side",
]

Setting = tuple[int, int, int, int, int]  # size, kernel_size, stride, padding, dilation


def _settings() -> list[Setting]:
    grid = itertools.product(range(5, 13), (1, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2))
    return [s for s in grid if s[4] * (s[1] - 1) + 1 <= s[0] + 2 * s[3]]


def _pytorch_size(size: int, kernel_size: int, stride: int, padding: int, dilation: int) -> int:
    ones = torch.ones(1, 1, size, size)
    weight = torch.ones(1, 1, kernel_size, kernel_size)
    return F.conv2d(ones, weight, stride=stride, padding=padding, dilation=dilation).shape[-1]


def _span(kernel_size: int, dilation: int) -> int:
    return dilation * (kernel_size - 1) + 1


# Slips learners make, each as the formula it computes and the sentence that explains it.
_SLIPS: list[tuple[Callable[[int, int, int, int, int], float], str]] = [
    (lambda h, k, s, p, d: (h - _span(k, d) + 2 * p) // s,
     "your sizes are 1 too small everywhere: the formula ends with + 1, the first window's position."),
    (lambda h, k, s, p, d: (h - _span(k, d) + 2 * p) // s + 2,
     "your sizes are 1 too large everywhere: only one + 1, for the first window's position."),
    (lambda h, k, s, p, d: (h - _span(k, d) + p) // s + 1,
     "padding is added on both sides of the input, so the formula has 2P, not P."),
    (lambda h, k, s, p, d: -(-(h - _span(k, d) + 2 * p) // s) + 1,
     "you round up where S does not divide (H1 − FH + 2P): PyTorch floors, because a window "
     "that would stick out of the padded input is never placed."),
    (lambda h, k, s, p, d: (h - k + 2 * p) // s + 1,
     "you ignore dilation: a kernel of size F with dilation D spans FH = D×(F − 1) + 1 pixels."),
    (lambda h, k, s, p, d: h - _span(k, d) + 2 * p + 1,
     "you ignore the stride: the windows move S pixels at a time, so divide by S."),
]


def _show(setting: Setting) -> str:
    size, kernel_size, stride, padding, dilation = setting
    return f"output_size({size}, {kernel_size}, stride={stride}, padding={padding}, dilation={dilation})"


@checker
def check_output_size(output_size: Callable[..., int]) -> Verdict:
    """Check ``output_size(size, kernel_size, stride=1, padding=0, dilation=1)`` against PyTorch."""
    settings = _settings()
    answers = {}
    for setting in settings:
        size, kernel_size, stride, padding, dilation = setting
        value = attempt(output_size, size, kernel_size, stride=stride, padding=padding,
                        dilation=dilation, call=_show(setting))
        if value is None:
            raise Mistake(f"{_show(setting)} returned None: end your function with `return` and the size.")
        if isinstance(value, bool) or not isinstance(value, Real):
            raise Mistake(f"{_show(setting)} returned {type(value).__name__}; a size is a whole number.")
        if not isinstance(value, Integral) and not float(value).is_integer():
            raise Mistake(
                f"{_show(setting)} returned {value:g}: where S does not divide (H1 − FH + 2P) "
                f"PyTorch floors the result, so use // (integer division) instead of /."
            )
        answers[setting] = value
    expected = {setting: _pytorch_size(*setting) for setting in settings}
    wrong = [s for s in settings if answers[s] != expected[s]]
    if not wrong:
        if any(not isinstance(v, Integral) for v in answers.values()):
            raise Mistake("your sizes are right but are floats: use // so that they are ints, as sizes are.")
        return right(f"your formula gives PyTorch's output size in all {len(settings)} settings tried.")
    for formula, sentence in _SLIPS:
        if all(answers[s] == formula(*s) for s in settings):
            raise Mistake(sentence)
    first = wrong[0]
    raise Mistake(f"{_show(first)} gives {answers[first]} but PyTorch gives {expected[first]}.")


@checker
def check_exact_strides(strides: Iterable[int], size: int = 224, kernel_size: int = 7,
                        padding: int = 3) -> Verdict:
    """Check the strides from 1 to 4 for which the output-size formula gives a whole number."""
    try:
        chosen = sorted(set(strides))
    except TypeError:
        raise Mistake(f"give the strides as a list, e.g. [1, 3]; got {type(strides).__name__}.") from None
    candidates = range(1, 5)
    exact = [s for s in candidates if conv_geometry(size, kernel_size, s, padding).is_exact]
    for stride in chosen:
        if stride not in candidates:
            raise Mistake(f"the question is about strides 1 to 4; {stride!r} is not one of them.")
        if stride not in exact:
            geometry = conv_geometry(size, kernel_size, stride, padding)
            raise Mistake(
                f"with stride {stride}, {geometry.formula()} is not a whole number, so PyTorch "
                f"floors it to {geometry.output_size}."
            )
    missing = [s for s in exact if s not in chosen]
    if missing:
        geometry = conv_geometry(size, kernel_size, missing[0], padding)
        raise Mistake(f"stride {missing[0]} is missing: {geometry.formula()}, a whole number.")
    return right(f"of the strides 1 to 4 only {exact} divide H1 − FH + 2P = "
                 f"{size - kernel_size + 2 * padding}; PyTorch floors the others.")


def _edge_strength(image: torch.Tensor) -> float:
    return float((image[..., 1:, :] - image[..., :-1, :]).abs().mean()
                 + (image[..., :, 1:] - image[..., :, :-1]).abs().mean())


@checker
def check_blur_kernel(kernel: torch.Tensor, size: int = 5) -> Verdict:
    """Check a ``size × size`` blur kernel: non-negative weights that sum to 1 and soften edges."""
    if not isinstance(kernel, torch.Tensor):
        raise Mistake(f"make the kernel a tensor (torch.tensor or torch.ones...), not {type(kernel).__name__}.")
    if tuple(kernel.shape) != (size, size):
        raise Mistake(f"your kernel has shape {tuple(kernel.shape)}: make it a {size}×{size} tensor.")
    kernel = kernel.detach().float()
    if (kernel < 0).any():
        raise Mistake(
            "a blur only averages, so no weight may be negative: a negative weight subtracts a "
            "neighbour, as an edge detector does."
        )
    total = float(kernel.sum())
    if not math.isclose(total, 1.0, abs_tol=1e-4):
        raise Mistake(
            f"your kernel sums to {total:.4g}, not 1, so it multiplies the brightness by "
            f"{total:.4g}: divide it by its sum."
        )
    checkerboard = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2
    image = checkerboard.float()[None, None]
    blurred = F.conv2d(image, kernel[None, None])
    before, after = _edge_strength(image[..., 2:-2, 2:-2]), _edge_strength(blurred)
    if after > 0.9 * before:
        raise Mistake(
            "your kernel does not blur: a checkerboard's edges are as strong after it as before; "
            "spread the weight over several neighbours."
        )
    return right(f"non-negative weights that sum to 1, and a checkerboard's edges lose "
                 f"{100 * (1 - after / before):.0f} % of their strength.")


# --- predictions: the learner answers before the cell that shows it ---------------------------


@checker
def check_one_map_shape(shape: tuple[int, int, int], size: int = 32, kernel_size: int = 5,
                        channels: int = 3) -> Verdict:
    """Predict the shape h × w × c of what ONE 5×5×3 kernel makes of a 32×32×3 input (no padding)."""
    side = conv_output_size(size, kernel_size)
    out = F.conv2d(torch.zeros(1, channels, size, size), torch.zeros(1, channels, kernel_size, kernel_size))
    expected = (out.shape[2], out.shape[3], out.shape[1])
    return compare_prediction(
        shape, expected, what="the shape h × w × c of one kernel's output",
        because=f"{side} positions per side, and one number per position, however deep the kernel.",
        slips=[
            ((side, side, channels), f"the kernel is as deep as the input and adds up all {channels} "
             f"channels into one number per position: one kernel makes one map, not {channels}."),
            ((size, size, 1), f"without padding a {kernel_size}×{kernel_size} window cannot be centred "
             f"on the border pixels: count the positions where it fits whole."),
            ((side - 1, side - 1, 1), "you counted the steps between the first and the last position, "
             "not the positions: add 1, for the first one."),
            ((1, side, side), "that is PyTorch's order (C, H, W); write the shape as the notes do, h × w × c."),
        ],
        hint="count the positions where the window fits whole along a side, and the maps one kernel makes.")


@checker
def check_strided_side(side: int, size: int = 8, kernel_size: int = 3, stride: int = 2) -> Verdict:
    """Predict the output side of a 3×3 kernel with stride 2 and no padding on an 8×8 input."""
    geometry = conv_geometry(size, kernel_size, stride)
    return compare_prediction(
        side, geometry.output_size, what="the output side",
        because=f"windows start at {geometry.window_starts()}; one more would stick out of the input.",
        slips=[
            (float(geometry.exact_output), f"there is no part of a window: (H1 − FH) / S + 1 = "
             f"{float(geometry.exact_output):g}, and a window is placed whole or not at all."),
            (geometry.output_size + 1, f"window {geometry.output_size + 1} would start at column "
             f"{geometry.output_size * stride} and need columns up to {geometry.output_size * stride + kernel_size - 1}, "
             f"but the input ends at column {size - 1}: stride {stride} does not simply divide the side by "
             f"{stride}, and PyTorch places only whole windows."),
            ((size - kernel_size) // stride, "you counted the steps between windows, not the windows: "
             "the formula ends with + 1, for the first window."),
            (size - kernel_size + 1, f"that is stride 1; with stride {stride} the window moves "
             f"{stride} pixels at a time, so divide (H1 − FH) by S."),
        ],
        hint="list the columns where each window starts (0, 2, ...) and keep those where it fits whole.")


@checker
def check_pointwise_parameters(count: int, in_channels: int = 64, out_channels: int = 32) -> Verdict:
    """Predict the parameters of a 1×1 convolution from 64 to 32 channels, with biases."""
    expected = count_parameters(nn.Conv2d(in_channels, out_channels, kernel_size=1, device="meta"))
    weights = in_channels * out_channels
    return compare_prediction(
        count, expected, what="the number of parameters",
        because=f"{out_channels} kernels of 1×1×{in_channels} = {weights} weights, + {out_channels} biases.",
        slips=[
            (2 * out_channels, f"a 1×1 kernel is not one number: it is 1×1×C_in, as deep as its input, "
             f"so each of the {out_channels} kernels has {in_channels} weights."),
            (out_channels, f"a 1×1 kernel is 1×1×C_in, as deep as its input: {in_channels} weights "
             f"each, and one bias each."),
            (weights, f"you forgot the biases: one per kernel, {out_channels} of them."),
            (weights + in_channels, "there is one bias per kernel, that is per output channel: "
             "C_out biases, not C_in."),
        ],
        hint="F·F·C_in·C_out + C_out holds for F = 1 too.")
