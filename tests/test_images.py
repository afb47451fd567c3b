"""course_utils.lessons.pictures: the offline photograph and the plotting helpers."""

from __future__ import annotations

import matplotlib
import pytest
import torch

from course_utils.lessons.conv import conv_geometry
from course_utils.lessons.pictures import (
    draw_values,
    draw_windows,
    load_sample_photo,
    show_feature_maps,
    show_images,
    to_gray,
)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_sample_photo_is_a_real_rgb_image():
    photo = load_sample_photo(size=128)
    assert photo.dtype == torch.float32 and photo.shape[0] == 3
    assert min(photo.shape[1:]) == 128 and photo.shape[1] > photo.shape[2]  # a portrait
    assert 0 <= photo.min() and photo.max() <= 1
    assert photo.std() > 0.1  # a photograph, not a flat image
    full = load_sample_photo(size=None)
    assert full.shape == (3, 600, 512)


def test_sample_photo_errors_say_what_to_do():
    with pytest.raises(FileNotFoundError, match="reinstall"):
        load_sample_photo(name="no_such_picture.jpg")
    with pytest.raises(TypeError, match="name must be a file name"):
        load_sample_photo(128, 256)
    with pytest.raises(ValueError, match="size must be at least 1"):
        load_sample_photo(size=0)


def test_to_gray_keeps_a_gray_image_gray():
    gray = torch.rand(1, 4, 5)
    torch.testing.assert_close(to_gray(gray.expand(3, 4, 5)), gray)
    with pytest.raises(ValueError, match="RGB"):
        to_gray(gray)


def test_show_feature_maps_draws_one_panel_per_map():
    fig = show_feature_maps(torch.rand(1, 6, 10, 10), ncols=4)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 6 and shown[0].get_title() == "feature map 0"
    with pytest.raises(ValueError, match="Feature maps"):
        show_feature_maps(torch.rand(10, 10))
    with pytest.raises(ValueError, match="titles"):
        show_images([torch.rand(3, 4, 4)], titles=["a", "b"])


def test_draw_values_writes_every_number():
    ax = draw_values(torch.arange(6.0).view(2, 3))
    assert [t.get_text() for t in ax.texts] == ["0", "1", "2", "3", "4", "5"]


def test_draw_windows_marks_one_dot_per_output_and_unused_cells():
    geometry = conv_geometry(8, 3, stride=2)
    ax = draw_windows(geometry)
    (dots,) = ax.lines
    assert len(dots.get_xdata()) == geometry.output_size**2
    assert "floored" in ax.get_title()
    hatched = [p for p in ax.patches if p.get_hatch() == "///"]
    assert len(hatched) == 8 * 8 - 7 * 7  # the last row and column are never visited
