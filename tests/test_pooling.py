"""course_utils.lessons.pooling: max and average pooling by hand, and the explorer's worked example."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.lessons.pooling import pool2d_by_hand, pooling_example

SETTINGS = [(2, None), (2, 2), (3, 2), (3, 1), (2, 3), (4, 4)]


@pytest.mark.parametrize(("kernel_size", "stride"), SETTINGS)
def test_max_pooling_by_hand_equals_maxpool2d(kernel_size, stride):
    x = torch.randn(2, 3, 9, 8, generator=torch.Generator().manual_seed(1))
    expected = nn.MaxPool2d(kernel_size, stride)(x)
    assert torch.equal(pool2d_by_hand(x, kernel_size, stride, "max"), expected)


@pytest.mark.parametrize(("kernel_size", "stride"), SETTINGS)
def test_average_pooling_by_hand_equals_avgpool2d(kernel_size, stride):
    x = torch.randn(2, 3, 9, 8, generator=torch.Generator().manual_seed(2))
    expected = nn.AvgPool2d(kernel_size, stride)(x)
    torch.testing.assert_close(pool2d_by_hand(x, kernel_size, stride, "avg"), expected)


def test_pooling_keeps_the_number_of_maps_and_halves_each_side():
    x = torch.randn(6, 28, 28)
    assert pool2d_by_hand(x).shape == (6, 14, 14)
    assert pool2d_by_hand(torch.randn(28, 28)).shape == (14, 14)
    assert pool2d_by_hand(torch.randn(1, 3, 7, 7)).shape == (1, 3, 3, 3)  # floored


def test_max_pooling_only_selects():
    x = torch.randn(4, 10, 10)
    y = pool2d_by_hand(x, 2, 2, "max")
    assert torch.isin(y, x).all()


def test_bad_settings_raise_clear_errors():
    with pytest.raises(ValueError, match="mode must be one of"):
        pool2d_by_hand(torch.zeros(4, 4), mode="median")
    with pytest.raises(ValueError, match="kernel spans"):
        pool2d_by_hand(torch.zeros(2, 2), kernel_size=3)
    with pytest.raises(ValueError, match="at least two axes"):
        pool2d_by_hand(torch.zeros(4))
    with pytest.raises(ValueError, match="stride must be at least 1"):
        pool2d_by_hand(torch.zeros(4, 4), stride=0)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pooling_example_is_checked_against_pytorch(mode):
    example = pooling_example(size=7, kernel_size=3, stride=2, mode=mode, seed=3)
    assert example.matches_torch and example.parameters == 0
    assert example.input.shape == (7, 7) and example.output.shape == (3, 3)
    assert example.input.min() >= 0 and example.input.max() <= 9
    text = example.describe()
    assert "7×7 → 3×3" in text and "parameters: 0" in text
    assert "warning" not in text
    assert "warning" in pooling_example(size=6, kernel_size=3, stride=2).describe()
    # the same seed gives the same map; another seed another one
    assert torch.equal(example.input, pooling_example(7, 3, 2, mode, seed=3).input)
    assert not torch.equal(example.input, pooling_example(7, 3, 2, mode, seed=4).input)
