"""Checkers for notebook 02 (pooling): an overlapping pool's shape, average pooling without loops,
where max pooling sends its gradient, and the notebook's three predictions (a pooling layer's
parameters, an odd side pooled, what pooling first saves the next convolution). Every expected
value comes from PyTorch's own layers or the course's formulas. Every sentence goes through ``_()``
(:mod:`course_utils.i18n`): the Chinese notebook's checks answer in Chinese."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import nn

from course_utils.exercises.prediction import compare_prediction
from course_utils.exercises.verdict import Mistake, Verdict, attempt, checker, right
from course_utils.i18n import gettext as _
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
        raise Mistake(_("give the shape as a tuple (C, H, W), not {type}.").format(type=type(shape).__name__)) from None
    if answer == expected:
        return right(_("{size}×{size}×{channels} → {height}×{width}×{channels}, the maps pooled one by one.").format(
            size=size, channels=channels, height=expected[1], width=expected[2]))
    geometry = conv_geometry(size, window, stride)
    if len(answer) == 4:
        raise Mistake(_("leave out the batch dimension: the question asks for (C, H, W)."))
    if len(answer) == 2:
        raise Mistake(_("give all three numbers (C, H, W): pooling keeps the {channels} maps, so C stays.").format(
            channels=channels))
    if len(answer) != 3:
        raise Mistake(_("a stack of feature maps has three numbers (C, H, W), your shape has {count}.").format(
            count=len(answer)))
    if answer[-1] == channels and answer[0] != channels:
        raise Mistake(_("PyTorch puts the channels first: write the shape as (C, H, W)."))
    if answer[0] != channels:
        raise Mistake(_("pooling works on each map on its own, so the {channels} maps stay {channels}.").format(
            channels=channels))
    sides = answer[1:]
    if any(not isinstance(side, Integral) for side in sides):
        raise Mistake(_("{formula} is not a whole number, and PyTorch floors it.").format(formula=geometry.formula()))
    if sides == (geometry.output_size + 1,) * 2:
        raise Mistake(_("{formula}: PyTorch floors it to {size}, it does not round up.").format(
            formula=geometry.formula(), size=geometry.output_size))
    raise Mistake(_("use the formula H2 = (H1 − F) / S + 1 with H1 = {size}, F = {window}, S = {stride}.").format(
        size=size, window=window, stride=stride))


@checker
def check_avg_pool_2x2(avg_pool_2x2: Callable[[torch.Tensor], torch.Tensor]) -> Verdict:
    """Check ``avg_pool_2x2(x)``: 2×2 average pooling, stride 2, of an ``(N, C, H, W)`` batch."""
    generator = torch.Generator().manual_seed(0)
    for shape in [(2, 3, 8, 8), (1, 2, 7, 9)]:
        x = torch.randn(*shape, generator=generator)
        call = _("avg_pool_2x2(x) for x of shape {shape}").format(shape=shape)
        value = attempt(avg_pool_2x2, x.clone(), call=call)
        if not isinstance(value, torch.Tensor):
            raise Mistake(_("{call} returned {type}, not a tensor.").format(call=call, type=type(value).__name__))
        expected = F.avg_pool2d(x, 2)
        if value.shape != expected.shape:
            if value.shape[:2] != expected.shape[:2]:
                raise Mistake(
                    _("{call} has shape {shape}: pooling works on each map on its own, so N and C stay "
                      "{kept}.").format(call=call, shape=tuple(value.shape), kept=tuple(expected.shape[:2]))
                )
            raise Mistake(
                _("{call} has shape {shape}, PyTorch {expected}: an odd side is floored, the last row or "
                  "column that fills no window is dropped.").format(
                    call=call, shape=tuple(value.shape), expected=tuple(expected.shape))
            )
        if torch.allclose(value, expected, atol=1e-5):
            continue
        if torch.allclose(value, F.max_pool2d(x, 2), atol=1e-5):
            raise Mistake(_("{call} gives max pooling's values: average each window instead.").format(call=call))
        raise Mistake(
            _("{call} has the right shape but not F.avg_pool2d's values: each output must be the mean of "
              "one 2×2 block of neighbouring pixels (check the order of your reshape).").format(call=call)
        )
    return right(_("your pooling equals F.avg_pool2d on even and odd sizes."))


@checker
def check_max_pool_gradient(count: int, size: int = 4) -> Verdict:
    """Check how many of a ``size×size`` input's gradients are non-zero after 2×2 max pooling."""
    x = torch.randn(1, 1, size, size, generator=torch.Generator().manual_seed(0), requires_grad=True)
    with torch.enable_grad():
        nn.MaxPool2d(2)(x).sum().backward()
    assert x.grad is not None  # backward() above filled it
    expected = int((x.grad != 0).sum())
    if isinstance(count, bool) or not isinstance(count, Integral):
        raise Mistake(_("give a whole number of entries, not {type}.").format(type=type(count).__name__))
    if count == expected:
        return right(_("{count} of {total}: one input per window receives the gradient, the largest, because "
                       "only it changes the output.").format(count=expected, total=size * size))
    if count == size * size:
        raise Mistake(
            _("that is every input: max pooling passes the gradient only to the largest value in each "
              "window, since the others do not change the output.")
        )
    raise Mistake(_("{count} is not what autograd gives: count the non-zero entries of x.grad.").format(count=count))


# --- predictions: the learner answers before the cell that shows it ---------------------------


def _pair(answer: Sequence[float], what: str) -> tuple[float, float]:
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Mistake(_("give two numbers in a tuple, {what}; got {answer}.").format(what=what, answer=repr(answer)))
    if any(isinstance(a, bool) or not isinstance(a, (int, float)) for a in answer):
        raise Mistake(_("both answers are numbers; got {answer}.").format(answer=repr(answer)))
    return answer[0], answer[1]


@checker
def check_pooling_parameters(counts: tuple[int, int], channels: int = 6) -> Verdict:
    """Predict the parameters of ``nn.MaxPool2d(2, 2)`` and of ``nn.Conv2d(6, 6, 2, stride=2)``."""
    pooling, convolution = _pair(counts, _("(max pooling's parameters, the convolution's)"))
    pool_count = count_parameters(nn.MaxPool2d(2, 2))
    conv_count = count_parameters(nn.Conv2d(channels, channels, 2, stride=2, device="meta"))
    if pooling != pool_count:
        raise Mistake(_("a pooling window is not a kernel: it holds no weights and no bias, it only picks the "
                        "largest number it covers."))
    weights = 2 * 2 * channels * channels
    verdict = compare_prediction(
        convolution, conv_count, what=_("the convolution's count"),
        because=_("{c} kernels of 2×2×{c} and {c} biases.").format(c=channels),
        slips=[
            (weights, _("you forgot the biases: one per kernel, {count} of them.").format(count=channels)),
            (2 * 2 * channels + channels, _("each kernel is 2×2×{c}, as deep as its input, and there are {c} "
                                            "kernels: multiply by C_out too.").format(c=channels)),
            (2 * 2 * channels, _("each kernel is 2×2×{c}, as deep as its input, there are {c} of them, and each "
                                 "has a bias.").format(c=channels)),
            (2 * 2, _("each kernel is as deep as its input: 2×2×C_in weights, times C_out kernels, plus biases.")),
        ],
        hint=_("F·F·C_in·C_out + C_out, with F = 2 and C_in = C_out = {c}.").format(c=channels))
    return right(_("max pooling has {count}; {rest}").format(count=pool_count, rest=verdict.message))


@checker
def check_pooled_side(side: int, size: int = 7) -> Verdict:
    """Predict the side of a 7×7 map after 2×2 max pooling with stride 2."""
    geometry = conv_geometry(size, 2, 2)
    start = geometry.output_size * 2
    return compare_prediction(
        side, geometry.output_size, what=_("the pooled side"),
        because=_("windows start at {starts}; the last row and column fill no window.").format(
            starts=geometry.window_starts()),
        slips=[
            (size / 2, _("there is no half window: {size} / 2 = {half:g}, and a window is placed whole or not "
                         "at all.").format(size=size, half=size / 2)),
            (geometry.output_size + 1, _("a window starting at {start} would need rows {start} and {next}, and "
                                         "the map ends at row {last}: PyTorch rounds down.").format(
                start=start, next=start + 1, last=size - 1)),
            ((size - 2) // 2, _("you counted the steps between windows, not the windows: add 1, for the first.")),
            (size - 2 + 1, _("that is stride 1; with stride 2 the windows sit side by side, so the side halves.")),
        ],
        hint=_("list the rows where each window starts (0, 2, ...) and keep those where it fits whole."))


@checker
def check_pooling_savings(ratios: tuple[float, float], size: int = 28, c_in: int = 6,
                          c_out: int = 16) -> Verdict:
    """Predict (work without pooling / work with, parameters without / parameters with) for the
    3×3 convolution from 6 to 16 maps (padding 1) after a 2×2 max pooling of 28×28 maps."""
    work, parameters = _pair(ratios, _("(how many times less work, how many times fewer parameters)"))
    half = conv_geometry(size, 2, 2).output_size
    work_ratio = conv_mult_adds(c_in, c_out, 3, size, size) / conv_mult_adds(c_in, c_out, 3, half, half)
    layer = nn.Conv2d(c_in, c_out, 3, padding=1, device="meta")
    parameter_ratio = count_parameters(layer) / count_parameters(layer)  # the same layer either way
    if work == size // half:
        raise Mistake(_("each side is halved, and a map has two sides: {size}×{size} positions become "
                        "{half}×{half}.").format(size=size, half=half))
    if work != work_ratio:
        raise Mistake(_("the work is one inner product per output number: compare the numbers of output "
                        "positions before and after pooling."))
    if parameters != parameter_ratio:
        raise Mistake(_("a convolution's parameters do not depend on its input's size: the same {c_out} "
                        "kernels of 3×3×{c_in} slide over a map of any size.").format(c_out=c_out, c_in=c_in))
    return right(_("{ratio:g} times less work (1/{ratio:g} of the positions) and the same {count:,} parameters: "
                   "pooling saves arithmetic, not weights.").format(ratio=work_ratio, count=count_parameters(layer)))
