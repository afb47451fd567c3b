"""Checkers for notebook 01 (convolution arithmetic): the output-size formula, exact strides, a blur,
and the notebook's three predictions (one kernel's map, a stride that does not divide, a 1×1 layer).

The expected sizes come from running ``F.conv2d`` on small tensors and from the course's
``conv_geometry``; the checkers recognise the usual slips (the + 1 forgotten, padding counted
once, rounding up instead of down, dilation or stride ignored) and name them. Every sentence goes
through ``_()`` (:mod:`course_utils.i18n`): the Chinese notebook's checks answer in Chinese.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from numbers import Integral, Real

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises.prediction import compare_prediction, compare_side
from course_utils.exercises.verdict import Mistake, Verdict, attempt, checker, right
from course_utils.i18n import gettext as _
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


# Slips learners make, each as the formula it computes and the sentence that explains it (a
# function, so that the sentence is translated when the check runs).
def _slips() -> list[tuple[Callable[[int, int, int, int, int], float], str]]:
    return [
        (lambda h, k, s, p, d: (h - _span(k, d) + 2 * p) // s,
         _("your sizes are 1 too small everywhere: the formula ends with + 1, the first window's position.")),
        (lambda h, k, s, p, d: (h - _span(k, d) + 2 * p) // s + 2,
         _("your sizes are 1 too large everywhere: only one + 1, for the first window's position.")),
        (lambda h, k, s, p, d: (h - _span(k, d) + p) // s + 1,
         _("padding is added on both sides of the input, so the formula has 2P, not P.")),
        (lambda h, k, s, p, d: -(-(h - _span(k, d) + 2 * p) // s) + 1,
         _("you round up where S does not divide (H1 − FH + 2P): PyTorch floors, because a window "
           "that would stick out of the padded input is never placed.")),
        (lambda h, k, s, p, d: (h - k + 2 * p) // s + 1,
         _("you ignore dilation: a kernel of size F with dilation D spans FH = D×(F − 1) + 1 pixels.")),
        (lambda h, k, s, p, d: h - _span(k, d) + 2 * p + 1,
         _("you ignore the stride: the windows move S pixels at a time, so divide by S.")),
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
            raise Mistake(_("{call} returned None: end your function with `return` and the size.").format(
                call=_show(setting)))
        if isinstance(value, bool) or not isinstance(value, Real):
            raise Mistake(_("{call} returned {type}; a size is a whole number.").format(
                call=_show(setting), type=type(value).__name__))
        if not isinstance(value, Integral) and not float(value).is_integer():
            raise Mistake(
                _("{call} returned {value:g}: where S does not divide (H1 − FH + 2P) PyTorch floors the "
                  "result, so use // (integer division) instead of /.").format(call=_show(setting), value=value)
            )
        answers[setting] = value
    expected = {setting: _pytorch_size(*setting) for setting in settings}
    wrong = [s for s in settings if answers[s] != expected[s]]
    if not wrong:
        if any(not isinstance(v, Integral) for v in answers.values()):
            raise Mistake(_("your sizes are right but are floats: use // so that they are ints, as sizes are."))
        return right(_("your formula gives PyTorch's output size in all {count} settings tried.").format(
            count=len(settings)))
    for formula, sentence in _slips():
        if all(answers[s] == formula(*s) for s in settings):
            raise Mistake(sentence)
    first = wrong[0]
    raise Mistake(_("{call} gives {value} but PyTorch gives {expected}.").format(
        call=_show(first), value=answers[first], expected=expected[first]))


@checker
def check_exact_strides(strides: Iterable[int], size: int = 224, kernel_size: int = 7,
                        padding: int = 3) -> Verdict:
    """Check the strides from 1 to 4 for which the output-size formula gives a whole number."""
    try:
        chosen = sorted(set(strides))
    except TypeError:
        raise Mistake(_("give the strides as a list, e.g. [1, 3]; got {type}.").format(
            type=type(strides).__name__)) from None
    candidates = range(1, 5)
    exact = [s for s in candidates if conv_geometry(size, kernel_size, s, padding).is_exact]
    for stride in chosen:
        if stride not in candidates:
            raise Mistake(_("the question is about strides 1 to 4; {stride} is not one of them.").format(
                stride=repr(stride)))
        if stride not in exact:
            geometry = conv_geometry(size, kernel_size, stride, padding)
            raise Mistake(
                _("with stride {stride}, {formula} is not a whole number, so PyTorch floors it to {size}.").format(
                    stride=stride, formula=geometry.formula(), size=geometry.output_size)
            )
    missing = [s for s in exact if s not in chosen]
    if missing:
        geometry = conv_geometry(size, kernel_size, missing[0], padding)
        raise Mistake(_("stride {stride} is missing: {formula}, a whole number.").format(
            stride=missing[0], formula=geometry.formula()))
    return right(_("of the strides 1 to 4 only {exact} divide H1 − FH + 2P = {total}; PyTorch floors the "
                   "others.").format(exact=exact, total=size - kernel_size + 2 * padding))


def _edge_strength(image: torch.Tensor) -> float:
    return float((image[..., 1:, :] - image[..., :-1, :]).abs().mean()
                 + (image[..., :, 1:] - image[..., :, :-1]).abs().mean())


@checker
def check_blur_kernel(kernel: torch.Tensor, size: int = 5) -> Verdict:
    """Check a ``size × size`` blur kernel: non-negative weights that sum to 1 and soften edges."""
    if not isinstance(kernel, torch.Tensor):
        raise Mistake(_("make the kernel a tensor (torch.tensor or torch.ones...), not {type}.").format(
            type=type(kernel).__name__))
    if tuple(kernel.shape) != (size, size):
        raise Mistake(_("your kernel has shape {shape}: make it a {size}×{size} tensor.").format(
            shape=tuple(kernel.shape), size=size))
    kernel = kernel.detach().float()
    if (kernel < 0).any():
        raise Mistake(
            _("a blur only averages, so no weight may be negative: a negative weight subtracts a "
              "neighbour, as an edge detector does.")
        )
    total = float(kernel.sum())
    if not math.isclose(total, 1.0, abs_tol=1e-4):
        raise Mistake(
            _("your kernel sums to {total:.4g}, not 1, so it multiplies the brightness by {total:.4g}: "
              "divide it by its sum.").format(total=total)
        )
    checkerboard = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2
    image = checkerboard.float()[None, None]
    blurred = F.conv2d(image, kernel[None, None])
    before, after = _edge_strength(image[..., 2:-2, 2:-2]), _edge_strength(blurred)
    if after > 0.9 * before:
        raise Mistake(
            _("your kernel does not blur: a checkerboard's edges are as strong after it as before; "
              "spread the weight over several neighbours.")
        )
    return right(_("non-negative weights that sum to 1, and a checkerboard's edges lose {loss:.0f} % of "
                   "their strength.").format(loss=100 * (1 - after / before)))


# --- predictions: the learner answers before the cell that shows it ---------------------------


@checker
def check_one_map_shape(shape: tuple[int, int, int], size: int = 32, kernel_size: int = 5,
                        channels: int = 3) -> Verdict:
    """Predict the shape h × w × c of what ONE 5×5×3 kernel makes of a 32×32×3 input (no padding)."""
    side = conv_output_size(size, kernel_size)
    out = F.conv2d(torch.zeros(1, channels, size, size), torch.zeros(1, channels, kernel_size, kernel_size))
    expected = (out.shape[2], out.shape[3], out.shape[1])
    return compare_prediction(
        shape, expected, what=_("the shape h × w × c of one kernel's output"),
        because=_("{side} positions per side, and one number per position, however deep the kernel.").format(
            side=side),
        slips=[
            ((side, side, channels), _("the kernel is as deep as the input and adds up all {channels} channels "
                                       "into one number per position: one kernel makes one map, not "
                                       "{channels}.").format(channels=channels)),
            ((size, size, 1), _("without padding a {k}×{k} window cannot be centred on the border pixels: "
                                "count the positions where it fits whole.").format(k=kernel_size)),
            ((side - 1, side - 1, 1), _("you counted the steps between the first and the last position, "
                                        "not the positions: add 1, for the first one.")),
            ((1, side, side), _("that is PyTorch's order (C, H, W); write the shape as the notes do, h × w × c.")),
        ],
        hint=_("count the positions where the window fits whole along a side, and the maps one kernel makes."))


@checker
def check_strided_side(side: int, size: int = 8, kernel_size: int = 3, stride: int = 2) -> Verdict:
    """Predict the output side of a 3×3 kernel with stride 2 and no padding on an 8×8 input."""
    return compare_side(
        side, conv_geometry(size, kernel_size, stride),
        because=_("windows start at {starts}; one more would stick out of the input."),
        fraction=_("there is no part of a window: (H1 − FH) / S + 1 = {exact:g}, and a window is placed whole "
                   "or not at all."),
        one_more=_("window {number} would start at column {start} and need columns up to {end}, but the input "
                   "ends at column {last}: stride {stride} does not simply divide the side by {stride}, and "
                   "PyTorch places only whole windows."),
        steps=_("you counted the steps between windows, not the windows: the formula ends with + 1, for the "
                "first window."),
        stride_one=_("that is stride 1; with stride {stride} the window moves {stride} pixels at a time, so "
                     "divide (H1 − FH) by S."),
        hint=_("list the columns where each window starts (0, 2, ...) and keep those where it fits whole."))


@checker
def check_pointwise_parameters(count: int, in_channels: int = 64, out_channels: int = 32) -> Verdict:
    """Predict the parameters of a 1×1 convolution from 64 to 32 channels, with biases."""
    expected = count_parameters(nn.Conv2d(in_channels, out_channels, kernel_size=1, device="meta"))
    weights = in_channels * out_channels
    return compare_prediction(
        count, expected, what=_("the number of parameters"),
        because=_("{c_out} kernels of 1×1×{c_in} = {weights} weights, + {c_out} biases.").format(
            c_out=out_channels, c_in=in_channels, weights=weights),
        slips=[
            (2 * out_channels, _("a 1×1 kernel is not one number: it is 1×1×C_in, as deep as its input, so "
                                 "each of the {c_out} kernels has {c_in} weights.").format(
                c_out=out_channels, c_in=in_channels)),
            (out_channels, _("a 1×1 kernel is 1×1×C_in, as deep as its input: {c_in} weights each, and one "
                             "bias each.").format(c_in=in_channels)),
            (weights, _("you forgot the biases: one per kernel, {count} of them.").format(count=out_channels)),
            (weights + in_channels, _("there is one bias per kernel, that is per output channel: C_out biases, "
                                      "not C_in.")),
        ],
        hint=_("F·F·C_in·C_out + C_out holds for F = 1 too."))
