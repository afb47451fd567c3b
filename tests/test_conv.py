"""course_utils.lessons.conv: the output-size formula, window positions, convolution by hand."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from course_utils.lessons.conv import (
    FORMULA,
    conv2d_loops,
    conv2d_unfold,
    conv_geometry,
    conv_mult_adds,
    conv_output_size,
    hand_made_kernels,
    hwc,
)

GRID = list(
    itertools.product(range(1, 10), [1, 2, 3, 5], [1, 2, 3], [0, 1, 2], [1, 2])
)  # size, kernel, stride, padding, dilation


def _torch_size(size, kernel, stride, padding, dilation):
    x = torch.zeros(1, 1, size, size)
    w = torch.zeros(1, 1, kernel, kernel)
    return F.conv2d(x, w, stride=stride, padding=padding, dilation=dilation).shape[-1]


def test_output_size_matches_pytorch_over_a_grid():
    checked = floored = 0
    for size, kernel, stride, padding, dilation in GRID:
        if dilation * (kernel - 1) + 1 > size + 2 * padding:
            with pytest.raises(ValueError, match="kernel spans"):
                conv_output_size(size, kernel, stride, padding, dilation)
            with pytest.raises(RuntimeError):
                _torch_size(size, kernel, stride, padding, dilation)
            continue
        geometry = conv_geometry(size, kernel, stride, padding, dilation)
        assert geometry.output_size == _torch_size(size, kernel, stride, padding, dilation)
        checked += 1
        floored += not geometry.is_exact
    assert checked > 300 and floored > 50  # the grid really covers both cases


def test_the_notes_examples():
    assert conv_output_size(32, 5) == 28
    assert conv_output_size(28, 5) == 24
    assert conv_output_size(7, 3, stride=1) == 5
    assert conv_output_size(7, 3, stride=2) == 3
    assert conv_output_size(32, 5, stride=1, padding=2) == 32
    assert conv_geometry(5, 3, padding=1).padded_size == 7


def test_exact_and_floored_outputs():
    exact = conv_geometry(7, 3, stride=2)
    assert exact.is_exact and exact.exact_output == 3 and exact.warning() is None
    assert exact.unvisited == 0
    floored = conv_geometry(8, 3, stride=2)
    assert not floored.is_exact
    assert floored.exact_output == Fraction(7, 2) and floored.output_size == 3
    assert floored.unvisited == 1
    assert "3.5" in floored.warning() and "floors it to 3" in floored.warning()
    assert "warning" in floored.describe() and "warning" not in exact.describe()


def test_dilation_spreads_the_kernel():
    geometry = conv_geometry(9, 3, stride=1, padding=0, dilation=2)
    assert geometry.effective_kernel_size == 5
    assert geometry.window_taps(0) == [0, 2, 4]
    assert geometry.output_size == 5
    assert "FH = D×(F − 1) + 1 = 2×(3 − 1) + 1 = 5" in geometry.describe()


def test_formula_text_puts_in_the_numbers():
    text = conv_geometry(32, 5, stride=1, padding=2).formula()
    assert text.startswith(FORMULA)
    assert text.endswith("= (32 − 5 + 2×2) / 1 + 1 = 32")


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "dilation"),
    [(7, 3, 1, 0, 1), (7, 3, 2, 0, 1), (8, 3, 2, 1, 1), (9, 3, 2, 2, 2), (6, 2, 3, 0, 1)],
)
def test_window_positions_and_usage_match_unfold(size, kernel, stride, padding, dilation):
    geometry = conv_geometry(size, kernel, stride, padding, dilation)
    starts = geometry.window_starts()
    assert len(starts) == geometry.output_size
    assert all(b - a == stride for a, b in itertools.pairwise(starts))
    assert geometry.window_taps(len(starts) - 1)[-1] < geometry.padded_size
    # fold(unfold(ones)) counts how many windows cover each pixel: PyTorch's own answer
    ones = torch.ones(1, 1, size, size)
    kwargs = dict(kernel_size=kernel, dilation=dilation, padding=padding, stride=stride)
    counts = F.fold(F.unfold(ones, **kwargs), output_size=(size, size), **kwargs)
    assert torch.equal(geometry.usage(), counts[0, 0].long())
    assert geometry.usage(include_padding=True).shape == (size + 2 * padding,) * 2
    with pytest.raises(IndexError):
        geometry.window_taps(geometry.output_size)


def test_border_pixels_are_used_less_without_padding():
    usage = conv_geometry(5, 3).usage()
    assert usage[0, 0] == 1 and usage[2, 2] == 9
    padded = conv_geometry(5, 3, padding=1).usage()
    assert padded[0, 0] == 4 and padded[2, 2] == 9
    assert torch.all(conv_geometry(5, 3, padding=2).usage() == 9)


@pytest.mark.parametrize(
    "bad",
    [
        dict(size=0, kernel_size=3),
        dict(size=5, kernel_size=3, stride=0),
        dict(size=5, kernel_size=3, padding=-1),
        dict(size=5, kernel_size=3, dilation=0),
        dict(size=3, kernel_size=5),
    ],
)
def test_impossible_settings_raise_value_errors(bad):
    with pytest.raises(ValueError):
        conv_geometry(**bad)


def test_non_integers_raise_type_errors():
    with pytest.raises(TypeError, match="must be an int"):
        conv_output_size(7.0, 3)
    with pytest.raises(TypeError, match="must be an int"):
        conv_output_size(7, True)


@pytest.mark.parametrize("conv", [conv2d_loops, conv2d_unfold])
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(stride=2),
        dict(padding=2),
        dict(stride=(2, 1), padding=(1, 2), dilation=(2, 1)),
        dict(stride=3, padding=1, dilation=2),
    ],
)
def test_convolution_by_hand_equals_conv2d(conv, kwargs):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 11, 10, generator=generator)
    weight = torch.randn(4, 3, 3, 3, generator=generator)
    bias = torch.randn(4, generator=generator)
    expected = F.conv2d(x, weight, bias, **kwargs)
    result = conv(x, weight, bias, **kwargs)
    assert result.shape == expected.shape
    torch.testing.assert_close(result, expected, atol=1e-5, rtol=0)
    # one image without a batch axis, and no bias
    torch.testing.assert_close(conv(x[0], weight, **kwargs), F.conv2d(x[0], weight, **kwargs),
                               atol=1e-5, rtol=0)


@pytest.mark.parametrize("conv", [conv2d_loops, conv2d_unfold])
def test_kernel_depth_must_equal_input_depth(conv):
    with pytest.raises(ValueError, match=r"kernel depth \(2\) must equal the input depth \(3\)"):
        conv(torch.zeros(1, 3, 8, 8), torch.zeros(6, 2, 5, 5))
    with pytest.raises(ValueError, match="weight must have shape"):
        conv(torch.zeros(1, 3, 8, 8), torch.zeros(3, 5, 5))
    with pytest.raises(ValueError, match="x must have shape"):
        conv(torch.zeros(8, 8), torch.zeros(1, 1, 3, 3))


def test_hwc_reads_volumes_and_kernel_cubes():
    assert hwc(torch.zeros(1, 6, 28, 28)) == "28×28×6"
    assert hwc(torch.zeros(10, 6, 5, 5)[0]) == "5×5×6"
    with pytest.raises(ValueError, match="hwc"):
        hwc(torch.zeros(2, 3, 4, 4))


def test_mult_adds_match_pytorchs_flop_counter():
    conv = torch.nn.Conv2d(6, 16, 3, bias=False)
    x = torch.zeros(1, 6, 28, 28)
    with FlopCounterMode(display=False) as counter:
        y = conv(x)
    assert counter.get_total_flops() == 2 * conv_mult_adds(6, 16, 3, *y.shape[-2:])
    with pytest.raises(ValueError):
        conv_mult_adds(0, 16, 3, 26, 26)


def test_hand_made_kernels_do_what_they_say():
    kernels = hand_made_kernels()
    assert kernels["blur"].sum().item() == pytest.approx(1.0)
    # a vertical step (dark left, bright right) excites the vertical-edge kernel only
    step = torch.zeros(1, 1, 8, 8)
    step[..., 4:] = 1.0
    vertical = F.conv2d(step, kernels["vertical edges"].view(1, 1, 3, 3))
    horizontal = F.conv2d(step, kernels["horizontal edges"].view(1, 1, 3, 3))
    assert vertical.abs().max() == 4 and horizontal.abs().max() == 0
    flat = torch.ones(1, 1, 5, 5)
    for name in ("vertical edges", "horizontal edges"):
        assert F.conv2d(flat, kernels[name].view(1, 1, 3, 3)).abs().max() == 0
