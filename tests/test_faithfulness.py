"""The occlusion test of Grad-CAM (course_utils/analysis/faithfulness.py) on a model whose evidence is known.

The model says "a bright square is here" (class 1) from the mean of a brightness detector's map: its
evidence is exactly the bright square. Grad-CAM's map points at it; hiding the hottest square must
lower the class probability more than hiding random squares, outside the noise. A map that points
at random places must not pass.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.analysis.faithfulness import hottest_square, occlusion_test
from course_utils.analysis.gradcam import grad_cam


def bright_square_model() -> nn.Sequential:
    conv = nn.Conv2d(3, 4, 3, padding=1)
    with torch.no_grad():
        conv.weight.fill_(1 / 27)
        conv.bias.fill_(-0.5)  # fires on bright pixels only
    head = nn.Linear(4, 2)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[-20.0] * 4, [20.0] * 4]))
        head.bias.copy_(torch.tensor([0.0, -1.0]))
    return nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), head).eval()


def photos(n: int = 60, size: int = 32, side: int = 8, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    images = 0.1 * torch.randn(n, 3, size, size, generator=generator)
    for image in images:
        top, left = (int(v) for v in torch.randint(0, size - side + 1, (2,), generator=generator))
        image[:, top:top + side, left:left + side] += 2.0
    return images


def test_the_hottest_square_is_where_the_heat_is():
    heat = torch.zeros(10, 12)
    heat[6:9, 2:5] = 1.0
    assert hottest_square(heat, 3) == (6, 2)
    with pytest.raises(ValueError, match="side"):
        hottest_square(heat, 11)


def test_a_map_of_the_evidence_passes_and_a_random_map_does_not(context):
    model, images = bright_square_model(), photos()
    cams = grad_cam(model, images, model[1], classes=1)
    faithful = occlusion_test(model, images, cams.heatmaps, cams.classes, square=8, context=context)
    assert faithful.difference.differs and faithful.difference.difference > 0.2, str(faithful)
    assert float(faithful.drop_hottest.mean()) > float(faithful.drop_random.mean())

    noise = torch.rand(images.shape[0], 32, 32, generator=torch.Generator().manual_seed(1))
    blind = occlusion_test(model, images, noise, cams.classes, square=8, context=context)
    assert not (blind.difference.differs and blind.difference.difference > 0), str(blind)
    assert "hottest minus random" in str(faithful)


def test_mismatched_shapes_are_refused(context):
    model, images = bright_square_model(), photos(4)
    with pytest.raises(ValueError, match="must match"):
        occlusion_test(model, images, torch.zeros(4, 16, 16), torch.ones(4), square=4, context=context)


def test_compare_paired_is_the_t_interval_of_the_differences():
    from scipy import stats

    from course_utils.analysis.seeds import compare_paired

    values = [0.2, 0.25, 0.15, 0.3, 0.1]
    found = compare_paired(values)
    sd = torch.tensor(values).std().item()
    assert found.difference == pytest.approx(0.2)
    assert found.half_width == pytest.approx(stats.t.ppf(0.975, 4) * sd / 5 ** 0.5)
    assert found.differs and not compare_paired([0.1, -0.1, 0.05, -0.05]).differs
    with pytest.raises(ValueError, match="two"):
        compare_paired([0.1])
