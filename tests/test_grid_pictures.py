"""Windows on grids: the drawn cells and numbers are those of conv_geometry, F.pad and pool2d_by_hand."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F

from course_utils.lessons.conv import conv_geometry
from course_utils.lessons.grid_pictures import (
    draw_max_pooling,
    draw_padding,
    draw_stride_steps,
    grid_cells,
)
from course_utils.lessons.pooling import pool2d_by_hand


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _numbers(ax) -> list[float]:
    return [float(t.get_text()) for t in ax.texts]


@pytest.mark.parametrize("size, kernel_size, strides", [(7, 3, (1, 2)), (8, 3, (2, 3)), (9, 5, (1,))])
def test_each_stride_draws_an_output_grid_of_the_formulas_size(size, kernel_size, strides):
    fig = draw_stride_steps(size, kernel_size, strides)
    assert len(fig.axes) == 2 * len(strides)
    for (left, right), stride in zip(zip(fig.axes[::2], fig.axes[1::2], strict=True), strides, strict=True):
        n = conv_geometry(size, kernel_size, stride).output_size
        assert grid_cells(right, "output") == n * n
        assert right.get_title() == f"output {n}×{n}: one number per window"
        assert left.get_title().startswith(f"stride {stride}: {size}×{size} input")


def test_padding_draws_f_pad_and_the_formulas_size():
    fig = draw_padding(5, 1)
    left, right = fig.axes
    values = torch.arange(1, 26, dtype=torch.float32).view(5, 5)
    assert grid_cells(left, "input") == 25 and _numbers(left) == values.flatten().tolist()
    side = conv_geometry(5, 3, padding=1).padded_size
    assert grid_cells(right, "padded") == side * side == 49
    assert _numbers(right) == F.pad(values, (1, 1, 1, 1)).flatten().tolist()
    assert _numbers(right).count(0.0) == side * side - 25
    assert right.get_title().startswith(f"padding 1: {side}×{side}")
    assert grid_cells(draw_padding(3, 2).axes[1], "padded") == 49


@pytest.mark.parametrize("shape, kernel_size, stride", [((4, 4), 2, 2), ((5, 7), 2, 2), ((6, 6), 3, 3), ((5, 5), 2, 3)])
def test_pooling_draws_pool2d_by_hand_one_colour_per_window(shape, kernel_size, stride):
    x = torch.randint(0, 10, shape, generator=torch.Generator().manual_seed(1)).float()
    fig = draw_max_pooling(x, kernel_size, stride)
    source, maximum, average = fig.axes
    expected_max = pool2d_by_hand(x, kernel_size, stride, "max")
    expected_avg = pool2d_by_hand(x, kernel_size, stride, "avg")
    assert _numbers(maximum) == expected_max.flatten().tolist()
    assert _numbers(average) == pytest.approx(expected_avg.flatten().tolist(), abs=0.006)
    assert grid_cells(source, "maximum") == expected_max.numel()  # one circled maximum per window
    colours = {tuple(p.get_facecolor()) for p in source.patches if p.get_gid() == "input"}
    assert len(colours) == expected_max.numel() + (1 if expected_max.numel() * kernel_size**2 < x.numel() else 0)
    with pytest.raises(ValueError, match="overlap"):
        draw_max_pooling(x, 3, 2)
