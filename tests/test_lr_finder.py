"""The learning-rate range test on problems whose right rate is known."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_utils.env import run_context
from course_utils.training.lr_finder import lr_range_test


class Quadratic(nn.Module):
    """loss = mean((w * scale)^2) over 8 weights: curvature 2·scale²/8 per weight, best SGD rate 1/curvature."""

    def __init__(self, scale: float):
        super().__init__()
        self.w = nn.Parameter(torch.linspace(1.0, 2.0, 8))
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.w * self.scale).expand(x.shape[0], -1)


def _quadratic_test(scale: float):
    """Noisy targets, as in real training: the loss cannot fall to 0, so divergence shows at once."""
    context = run_context(device="cpu")
    model = Quadratic(scale)
    g = torch.Generator().manual_seed(0)
    batches = [(torch.zeros(1, 1), 0.1 * scale * torch.randn(1, 8, generator=g)) for _ in range(20)]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    result = lr_range_test(model, batches, optimizer, criterion=nn.MSELoss(), start_lr=1e-6, end_lr=1e6,
                           steps=300, progress=False, context=context)
    curvature = 2 * scale ** 2 / 8  # d²/dw² of mean over 8 of (w·scale)²
    return result, 1 / curvature


@pytest.mark.parametrize("scale", [0.5, 3.0, 30.0])
def test_range_test_finds_the_scale_of_a_quadratic(scale):
    result, best = _quadratic_test(scale)
    # SGD on a quadratic diverges above 2/curvature: the lowest loss is just below it
    assert best < result.lr_at_min <= 2.5 * best
    assert best / 3 < result.suggestion < best
    # the loss falls fastest (per factor of rate) where rate × curvature × steps per e-fold ≈ 1
    assert best / 100 < result.steepest < best / 3
    assert result.diverged


def test_suggestion_scales_with_the_curvature():
    a, best_a = _quadratic_test(1.0)
    b, best_b = _quadratic_test(10.0)
    ratio = a.suggestion / b.suggestion
    assert math.isclose(best_a / best_b, 100.0)
    assert 50 < ratio < 200


def test_model_and_optimizer_are_restored(context):
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = [(torch.randn(16, 4), torch.randint(0, 3, (16,))) for _ in range(4)]
    result = lr_range_test(model, batches, optimizer, steps=20, end_lr=1.0, progress=False, context=context)
    assert len(result.lrs) == len(result.losses) == len(result.smoothed) == 20
    assert all(b > a for a, b in zip(result.lrs, result.lrs[1:], strict=False))  # rates grow (cycling the 4 batches)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert optimizer.param_groups[0]["lr"] == 1e-3 and not optimizer.state


def test_bad_arguments_say_what_to_do(context):
    model = nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="start_lr < end_lr"):
        lr_range_test(model, [], optimizer, start_lr=1.0, end_lr=0.1, context=context)
    with pytest.raises(ValueError, match="no batches"):
        lr_range_test(model, [], optimizer, progress=False, context=context)
