"""The 3-D drawings: what they draw is what conv_output_size and receptive_fields compute."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F

from course_utils.lessons.conv import conv_output_size
from course_utils.lessons.receptive_field import conv, receptive_fields
from course_utils.lessons.volumes import draw_conv_volume, draw_stacked_fields, face_size


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _texts(fig) -> str:
    return " | ".join(t.get_text() for ax in fig.axes for t in ax.texts)


@pytest.mark.parametrize("size, channels, kernel_size, kernels", [(32, 3, 5, 1), (32, 3, 5, 6), (12, 2, 3, 4)])
def test_the_drawn_volumes_have_the_shapes_of_the_convolution(size, channels, kernel_size, kernels):
    fig = draw_conv_volume(size, channels, kernel_size, kernels, position=(1, 2))
    (ax,) = fig.axes
    out = conv_output_size(size, kernel_size)
    torch_shape = F.conv2d(torch.zeros(1, channels, size, size),
                           torch.zeros(kernels, channels, kernel_size, kernel_size)).shape
    assert tuple(torch_shape[1:]) == (kernels, out, out)
    assert face_size(ax, "input:front") == pytest.approx((size, size))
    assert face_size(ax, "kernel:front") == pytest.approx((kernel_size, kernel_size))
    assert face_size(ax, "output:front") == pytest.approx((out, out))
    assert face_size(ax, "output-cell:front") == pytest.approx((1, 1))
    written = _texts(fig)
    assert f"input {size}×{size}×{channels}" in written
    assert f"{out}×{out}×{kernels}" in written and f"{kernel_size}×{kernel_size}×{channels}" in written
    assert ("one number" in written) == (kernels == 1)
    assert ax.get_title().endswith(f"{out}×{out}×{kernels}")


def test_the_kernel_must_fit_where_it_is_drawn():
    with pytest.raises(ValueError, match="fits whole"):
        draw_conv_volume(position=(28, 0))
    with pytest.raises(TypeError):
        draw_conv_volume(size=32.0)


@pytest.mark.parametrize("layers, kernel_size", [(3, 3), (2, 5), (4, 3)])
def test_the_stacked_planes_are_the_fields_of_the_stack(layers, kernel_size):
    fig = draw_stacked_fields(layers, kernel_size)
    (ax,) = fig.axes
    table = receptive_fields([conv(kernel_size)] * layers)
    side = table.receptive_field
    names = ["input"] + [row.name for row in table]
    widths = []
    for name in names:
        width, _ = face_size(ax, f"plane:{name}")
        widths.append(width)
    # a plane of n units is drawn n wide plus its slant: compare the sides, layer by layer
    sides = [side]
    for _ in range(layers):
        sides.append(conv_output_size(sides[-1], kernel_size))
    assert sides[-1] == 1
    assert [w / widths[0] for w in widths] == pytest.approx([n / side for n in sides])
    written = _texts(fig)
    for name, n, row in zip(names[1:], sides[1:], table, strict=True):
        assert f"{name}: {n}×{n}  (each unit sees {row.receptive_field}×{row.receptive_field} of the input)" in written
    assert f"input: {side}×{side}" in written
    assert f"sees {side}×{side} input pixels" in ax.get_title()
